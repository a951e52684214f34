//! Runs outlive the server running them: a server dies with a step in flight and
//! another (sharing the store) carries the run on, repeating the step only when its
//! tool only reads, and leaving a step that writes `unknown` until a person retries
//! it; completed steps never run again. Two engines on one store run every step of a
//! wide fan-out exactly once between them.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::json;
use tideway_core::store::testing::test_stores;

use super::{Probe, Server, operator, quick, step};

#[tokio::test]
async fn a_step_in_flight_on_a_stopped_server_is_taken_over() {
    for test in test_stores().await {
        let first_server = Server::start(&test.store).await;
        let acme = operator("acme");
        for (id, tool) in [
            ("reads", "probe_read_slowly"),
            ("writes", "probe_write_slowly"),
        ] {
            first_server
                .save(
                    &acme,
                    json!({
                        "id": id, "name": id,
                        "steps": [
                            {"id": "before", "tool": "probe_echo", "arguments": {"value": format!("before-{id}")}},
                            {"id": "hold", "needs": ["before"], "tool": tool,
                             "arguments": {"label": format!("hold-{id}"), "ms": 1500}},
                            {"id": "after", "needs": ["hold"], "tool": "probe_echo", "arguments": {"value": format!("after-{id}")}}
                        ]
                    }),
                )
                .await
                .expect("saved");
        }
        let reads = first_server.start_run(&acme, "reads", json!({})).await;
        let writes = first_server.start_run(&acme, "writes", json!({})).await;
        for id in [&reads, &writes] {
            first_server
                .wait_until(&acme, id, "the held step to start", |run| {
                    step(run, "hold")["status"] == "running"
                })
                .await;
        }
        first_server.kill();

        let second_server = Server::start(&test.store).await;
        let run = second_server.finished(&acme, &reads).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "hold")["attempt"], 2, "{run:#}");
        assert_eq!(
            second_server.probe.calls_of("hold-reads").len(),
            1,
            "the read-only step ran again on the second server"
        );
        assert!(
            second_server.probe.calls_of("\"before-reads\"").is_empty()
                && first_server.probe.calls_of("\"before-reads\"").len() == 1,
            "the finished step did not run again"
        );

        let run = second_server
            .wait_until(
                &acme,
                &writes,
                "the writing step to need a decision",
                |run| step(run, "hold")["status"] == "unknown",
            )
            .await;
        assert_eq!(run["status"], "running");
        assert_eq!(run["needs_attention"], json!(["hold"]));
        assert!(
            step(&run, "hold")["error"]
                .as_str()
                .is_some_and(|e| e.contains("neither read-only nor idempotent")),
            "{run:#}"
        );
        assert!(second_server.probe.calls_of("hold-writes").is_empty());
        assert_eq!(step(&run, "after")["status"], "pending");
        second_server
            .call(&acme, "retry_execution", json!({"execution_id": writes}))
            .await
            .expect("retried");
        let run = second_server.finished(&acme, &writes).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(second_server.probe.calls_of("hold-writes").len(), 1);
        assert_eq!(second_server.probe.calls_of("\"after-writes\"").len(), 1);
        second_server.shut_down().await;
    }
}

#[tokio::test]
async fn two_engines_on_one_store_run_each_step_exactly_once() {
    for test in test_stores().await {
        let shared = Arc::new(Probe::default());
        let one = Server::start_with(&test.store, shared.clone(), quick()).await;
        let two = Server::start_with(&test.store, shared.clone(), quick()).await;
        let acme = operator("acme");
        let mut steps =
            vec![json!({"id": "start", "tool": "probe_echo", "arguments": {"value": "start"}})];
        for n in 0..40 {
            steps.push(json!({
                "id": format!("s{n}"), "needs": ["start"], "tool": "probe_write_slowly",
                "arguments": {"label": format!("fan-{n}"), "ms": 20}
            }));
        }
        one.save(&acme, json!({"id": "fan", "name": "Fan", "steps": steps}))
            .await
            .expect("saved");
        let ids = [
            one.start_run(&acme, "fan", json!({})).await,
            two.start_run(&acme, "fan", json!({})).await,
        ];
        for id in &ids {
            let run = one.finished(&acme, id).await;
            assert_eq!(run["status"], "succeeded", "{run:#}");
            for step in run["steps"].as_array().expect("steps") {
                assert_eq!(step["attempt"], 1, "{step:#}");
            }
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for call in shared.calls.lock().expect("lock").iter() {
            *counts.entry(call.label.clone()).or_default() += 1;
        }
        for n in 0..40 {
            assert_eq!(counts[&format!("fan-{n}")], 2, "fan-{n}: once per run");
        }
        one.shut_down().await;
        two.shut_down().await;
    }
}

#[tokio::test]
async fn a_graceful_shutdown_lets_the_step_in_flight_finish_and_starts_no_other() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "drain", "name": "Drain",
                    "steps": [
                        {"id": "write", "tool": "probe_write_slowly", "arguments": {"label": "drain", "ms": 400}},
                        {"id": "after", "needs": ["write"], "tool": "probe_echo", "arguments": {"value": "after-drain"}}
                    ]
                }),
                json!({}),
            )
            .await;
        server.wait_for_call("drain").await;
        server.shut_down().await;
        let run = server.execution(&acme, &id).await;
        assert_eq!(step(&run, "write")["status"], "succeeded", "{run:#}");
        assert!(server.probe.calls_of("drain")[0].ended.is_some());
        assert_eq!(step(&run, "after")["status"], "ready", "{run:#}");
        assert!(server.probe.calls_of("\"after-drain\"").is_empty());
    }
}

#[tokio::test]
async fn a_run_cancelled_while_its_server_was_dead_starts_nothing_more() {
    for test in test_stores().await {
        let first_server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = first_server
            .run_template(
                &acme,
                json!({
                    "id": "orphan", "name": "Orphan",
                    "steps": [
                        {"id": "read", "tool": "probe_read_slowly", "arguments": {"label": "orphan", "ms": 5000}},
                        {"id": "after", "needs": ["read"], "tool": "probe_echo", "arguments": {"value": "after-orphan"}}
                    ]
                }),
                json!({}),
            )
            .await;
        first_server
            .wait_until(&acme, &id, "the step to start", |run| {
                step(run, "read")["status"] == "running"
            })
            .await;
        first_server.kill();
        let second_server = Server::start(&test.store).await;
        let cancelled = second_server
            .call(&acme, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect("cancelled");
        assert_eq!(cancelled["status"], "cancelled");
        let run = second_server
            .wait_until(&acme, &id, "the orphaned step to be cancelled", |run| {
                step(run, "read")["status"] == "cancelled"
            })
            .await;
        assert_eq!(run["status"], "cancelled", "{run:#}");
        assert_eq!(step(&run, "after")["status"], "cancelled");
        assert!(second_server.probe.calls_of("orphan").is_empty());
        second_server.shut_down().await;
    }
}

#[tokio::test]
async fn a_wait_until_step_holds_its_run_until_the_time_even_across_a_restart() {
    for test in test_stores().await {
        let first_server = Server::start(&test.store).await;
        let acme = operator("acme");
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
        let id = first_server
            .run_template(
                &acme,
                json!({
                    "id": "later", "name": "Later",
                    "input_schema": {"type": "object", "properties": {"at": {"type": "string"}}, "required": ["at"]},
                    "steps": [
                        {"id": "past", "kind": "wait_until", "until": "2020-01-01T00:00:00Z"},
                        {"id": "wait", "needs": ["past"], "kind": "wait_until", "until": "{{ input.at }}"},
                        {"id": "then", "needs": ["wait"], "tool": "probe_echo", "arguments": {"value": "then"}}
                    ]
                }),
                json!({ "at": at.to_rfc3339() }),
            )
            .await;
        // A time already past goes straight on; a later one is put off, holding no
        // worker, and the server keeping it stops.
        let run = first_server
            .wait_until(&acme, &id, "the wait to be put off", |run| {
                step(run, "wait")["attempt"] == 1 && step(run, "wait")["status"] == "ready"
            })
            .await;
        assert_eq!(step(&run, "past")["status"], "succeeded", "{run:#}");
        first_server.kill();

        let second_server = Server::start(&test.store).await;
        let run = second_server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        let waited: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(step(&run, "wait")["output"]["waited_until"].clone())
                .expect("waited_until");
        assert_eq!(waited.timestamp_millis(), at.timestamp_millis());
        let then_started: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(step(&run, "then")["started_at"].clone()).expect("started");
        assert!(then_started >= at, "{then_started} began before {at}");
        assert_eq!(second_server.probe.calls_of("\"then\"").len(), 1);
        assert!(first_server.probe.calls_of("\"then\"").is_empty());
    }
}
