//! What a run does: dependencies and parallel branches, outputs flowing into later
//! arguments, conditions both ways, retries with backoff to success and to
//! exhaustion, timeouts, cancel mid-step, pause and resume, approvals, the run
//! acting as its starter, tenants kept apart, a caller waiting for the run with each
//! step's end reported as progress, and old runs deleted. Every test runs on each
//! store.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, store::testing::test_stores};

use super::{Probe, Server, ctx, operator, quick, step};
use crate::toolkits::{testing::RecordedProgress, workflows::settings::WorkflowsConfig};

#[tokio::test]
async fn branches_run_in_parallel_after_their_needs_and_outputs_flow_on() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "fan", "name": "Fan out and in",
                    "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
                    "steps": [
                        {"id": "first", "tool": "probe_echo", "arguments": {"value": "{{ input.word }}"}},
                        {"id": "left", "needs": ["first"], "tool": "probe_read_slowly",
                         "arguments": {"label": "left-{{ steps.first.output.label }}", "ms": 400}},
                        {"id": "right", "needs": ["first"], "tool": "probe_read_slowly",
                         "arguments": {"label": "right", "ms": 400}},
                        {"id": "last", "needs": ["left", "right"], "tool": "probe_echo",
                         "arguments": {"value": {"left": "{{ steps.left.output.label }}", "calls": "{{ steps.right.output.calls }}"}}}
                    ]
                }),
            )
            .await
            .expect("saved");
        let id = server
            .start_run(&acme, "fan", json!({"word": "tide"}))
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            step(&run, "last")["output"]["label"],
            json!({"left": "left-tide", "calls": 1}),
            "outputs reach later arguments, typed"
        );
        let left = &server.probe.calls_of("left-tide")[0];
        let right = &server.probe.calls_of("right")[0];
        let (left_end, right_end) = (left.ended.expect("ended"), right.ended.expect("ended"));
        assert!(
            left.started < right_end && right.started < left_end,
            "the branches overlapped"
        );
        let first = &server.probe.calls_of("\"tide\"")[0];
        assert!(first.ended.expect("ended") <= left.started.min(right.started));
        let last = server
            .probe
            .calls
            .lock()
            .expect("lock")
            .iter()
            .find(|call| call.label.contains("left-tide") && call.tool == "echo")
            .cloned()
            .expect("the last step ran");
        assert!(
            last.started >= left_end.max(right_end),
            "the join waited for both"
        );
        assert!(
            step(&run, "left")["attempt"] == 1 && step(&run, "last")["attempt"] == 1,
            "each step ran once: {run:#}"
        );
    }
}

/// A step is given the steps its expressions name, or every step when one reads
/// `steps` as a whole; a wide fan-in still waits for every branch.
#[tokio::test]
async fn a_step_sees_the_steps_it_reads_and_a_wide_join_waits_for_every_branch() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let mut steps =
            vec![json!({"id": "first", "tool": "probe_echo", "arguments": {"value": "one"}})];
        let branches: Vec<String> = (0..30).map(|n| format!("b{n}")).collect();
        for branch in &branches {
            steps.push(
                json!({"id": branch, "needs": ["first"], "tool": "probe_echo",
                              "arguments": {"value": "{{ steps.first.output.label }}"}}),
            );
        }
        steps.push(
            json!({"id": "count", "needs": branches, "tool": "probe_echo",
                          "arguments": {"value": "{{ steps | length }}"}}),
        );
        steps.push(json!({"id": "last", "needs": ["count"], "tool": "probe_echo",
                          "arguments": {"value": "{{ steps.count.output.label }} after {{ steps.b29.status }}"}}));
        let run = server
            .run_template(
                &acme,
                json!({"id": "wide", "name": "Wide", "steps": steps}),
                json!({}),
            )
            .await;
        let run = server.finished(&acme, &run).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "b7")["output"]["label"], "one");
        assert_eq!(
            step(&run, "count")["output"]["label"],
            33,
            "every step of the run: {run:#}"
        );
        assert_eq!(step(&run, "last")["output"]["label"], "33 after succeeded");
        let count = &server.probe.calls_of("33")[0];
        // `first` and its thirty branches all echo "one".
        let before = server.probe.calls_of("\"one\"");
        assert_eq!(before.len(), 31);
        assert!(
            before
                .iter()
                .all(|call| call.ended.is_some_and(|end| end <= count.started)),
            "the join waited for every branch"
        );
        for step in run["steps"].as_array().expect("steps") {
            assert_eq!(step["attempt"], 1, "{step:#}");
        }
    }
}

#[tokio::test]
async fn a_condition_runs_or_skips_its_step_and_the_run_goes_on_either_way() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "maybe", "name": "Maybe",
                    "steps": [
                        {"id": "check", "tool": "probe_echo", "arguments": {"value": "{{ input.tier }}"}},
                        {"id": "escalate", "needs": ["check"], "if": "steps.check.output.label == 'enterprise'",
                         "tool": "probe_echo", "arguments": {"value": "escalated {{ execution.id }}"}},
                        {"id": "after", "needs": ["escalate"], "tool": "probe_echo",
                         "arguments": {"value": "after: {{ steps.escalate.status }}"}}
                    ]
                }),
            )
            .await
            .expect("saved");
        for (tier, expected) in [("enterprise", "succeeded"), ("free", "skipped")] {
            let id = server
                .start_run(&acme, "maybe", json!({"tier": tier}))
                .await;
            let run = server.finished(&acme, &id).await;
            assert_eq!(run["status"], "succeeded", "{run:#}");
            assert_eq!(step(&run, "escalate")["status"], expected, "{run:#}");
            assert_eq!(
                step(&run, "after")["output"]["label"],
                format!("after: {expected}")
            );
            let escalated = server.probe.calls_of(&format!("\"escalated {id}\"")).len();
            assert_eq!(escalated, usize::from(expected == "succeeded"));
        }
    }
}

#[tokio::test]
async fn retries_back_off_until_success_or_until_the_attempts_are_spent() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let template = |label: &str, failures: u32, attempts: u32| {
            json!({
                "id": format!("retry-{label}"), "name": "Retry",
                "steps": [
                    {"id": "call", "tool": "probe_flaky", "arguments": {"label": label, "failures": failures},
                     "retry": {"attempts": attempts, "backoff_secs": 0.2, "backoff_factor": 2}},
                    {"id": "then", "needs": ["call"], "tool": "probe_echo", "arguments": {"value": label}}
                ]
            })
        };
        server
            .save(&acme, template("mends", 2, 3))
            .await
            .expect("saved");
        server
            .save(&acme, template("breaks", 5, 2))
            .await
            .expect("saved");

        let id = server.start_run(&acme, "retry-mends", json!({})).await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "call")["attempt"], 3);
        let calls = server.probe.calls_of("mends");
        assert_eq!(calls.len(), 3);
        let first_wait = calls[1].started - calls[0].started;
        let second_wait = calls[2].started - calls[1].started;
        assert!(
            first_wait.as_millis() >= 190 && second_wait.as_millis() >= 390,
            "waits of {first_wait:?} then {second_wait:?} follow the backoff"
        );

        let id = server.start_run(&acme, "retry-breaks", json!({})).await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "failed", "{run:#}");
        assert_eq!(step(&run, "call")["status"], "failed");
        assert_eq!(step(&run, "call")["attempt"], 2);
        assert!(
            step(&run, "call")["error"]
                .as_str()
                .is_some_and(|error| error.contains("fails")),
            "{run:#}"
        );
        assert_eq!(step(&run, "then")["status"], "cancelled");
        assert_eq!(run["error"], "step 'call' failed");
        assert_eq!(server.probe.calls_of("breaks").len(), 2);
    }
}

#[tokio::test]
async fn a_failed_step_runs_its_compensation_before_the_run_fails_and_not_otherwise() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let template = |label: &str, failures: u32| {
            json!({
                "id": format!("saga-{label}"), "name": "Saga",
                "steps": [
                    {"id": "charge", "tool": "probe_echo", "arguments": {"value": format!("charge-{label}")}},
                    {"id": "ship", "needs": ["charge"], "tool": "probe_flaky",
                     "arguments": {"label": label, "failures": failures},
                     "on_error": {"compensate": "refund"}},
                    {"id": "notify", "needs": ["ship"], "tool": "probe_echo", "arguments": {"value": format!("notify-{label}")}},
                    {"id": "refund", "needs": ["charge", "ship"], "tool": "probe_echo",
                     "arguments": {"value": "refund {{ steps.charge.output.label }}: {{ steps.ship.error }}"}}
                ]
            })
        };
        for (label, failures) in [("breaks", 1), ("holds", 0)] {
            server
                .save(&acme, template(label, failures))
                .await
                .expect("saved");
        }

        let id = server.start_run(&acme, "saga-breaks", json!({})).await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "failed", "{run:#}");
        assert_eq!(
            run["error"], "step 'ship' failed; 'refund' compensated for it",
            "{run:#}"
        );
        assert_eq!(step(&run, "notify")["status"], "cancelled");
        assert_eq!(step(&run, "refund")["status"], "succeeded");
        let refund = step(&run, "refund")["output"]["label"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            refund.starts_with("refund charge-breaks: ") && refund.contains("fails"),
            "the compensation read the failure: {refund}"
        );
        assert!(server.probe.calls_of("\"notify-breaks\"").is_empty());
        let retried = server
            .call(&acme, "retry_execution", json!({"execution_id": id}))
            .await
            .expect_err("a compensated run is not retried");
        assert!(
            matches!(&retried, HubError::Conflict(message) if message.contains("'refund'")),
            "{retried}"
        );

        let id = server.start_run(&acme, "saga-holds", json!({})).await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "refund")["status"], "skipped");
        assert_eq!(server.probe.calls_of("\"notify-holds\"").len(), 1);
        assert!(
            server
                .probe
                .calls
                .lock()
                .expect("lock")
                .iter()
                .all(|call| !call.label.contains("refund charge-holds")),
            "no compensation ran for a run that succeeded"
        );
    }
}

#[tokio::test]
async fn a_step_past_its_timeout_fails_and_a_continue_step_lets_the_run_go_on() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "slow", "name": "Slow",
                    "steps": [
                        {"id": "late", "tool": "probe_read_slowly", "arguments": {"label": "late", "ms": 5000},
                         "timeout_secs": 1, "on_error": "continue"},
                        {"id": "after", "needs": ["late"], "tool": "probe_echo",
                         "arguments": {"value": "{{ steps.late.status }}"}}
                    ]
                }),
                json!({}),
            )
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        let late = step(&run, "late");
        assert_eq!(late["status"], "failed");
        assert!(
            late["error"]
                .as_str()
                .is_some_and(|e| e.contains("deadline")),
            "{late:#}"
        );
        assert_eq!(step(&run, "after")["output"]["label"], "failed");
    }
}

#[tokio::test]
async fn cancel_stops_the_step_in_flight_and_starts_nothing_more() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "long", "name": "Long",
                    "steps": [
                        {"id": "wait", "tool": "probe_write_slowly", "arguments": {"label": "long-wait", "ms": 20000}},
                        {"id": "never", "needs": ["wait"], "tool": "probe_echo", "arguments": {"value": "never"}}
                    ]
                }),
                json!({}),
            )
            .await;
        server
            .wait_until(&acme, &id, "the step to start", |run| {
                step(run, "wait")["status"] == "running"
            })
            .await;
        server.wait_for_call("long-wait").await;
        let cancelled = server
            .call(&acme, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect("cancelled");
        assert_eq!(cancelled["status"], "cancelled");
        let run = server
            .wait_until(&acme, &id, "the step to stop", |run| {
                step(run, "wait")["status"] == "cancelled"
            })
            .await;
        assert_eq!(run["status"], "cancelled");
        assert_eq!(step(&run, "never")["status"], "cancelled");
        assert!(server.probe.calls_of("\"never\"").is_empty());
        let calls = server.probe.calls_of("long-wait");
        assert!(
            calls.len() == 1 && calls[0].ended.is_none(),
            "the call was cut short: {calls:?}"
        );
        let again = server
            .call(&acme, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect_err("already cancelled");
        assert!(matches!(again, HubError::Conflict(_)), "{again}");
    }
}

#[tokio::test]
async fn a_paused_run_starts_no_step_until_resumed() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "pausable", "name": "Pausable",
                    "steps": [
                        {"id": "one", "tool": "probe_read_slowly", "arguments": {"label": "one", "ms": 300}},
                        {"id": "two", "needs": ["one"], "tool": "probe_echo", "arguments": {"value": "two"}}
                    ]
                }),
                json!({}),
            )
            .await;
        server
            .wait_until(&acme, &id, "the first step to start", |run| {
                step(run, "one")["status"] == "running"
            })
            .await;
        let paused = server
            .call(&acme, "pause_execution", json!({"execution_id": id}))
            .await
            .expect("paused");
        assert_eq!(paused["status"], "paused");
        let run = server
            .wait_until(&acme, &id, "the step in flight to finish", |run| {
                step(run, "one")["status"] == "succeeded"
            })
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let run_later = server.execution(&acme, &id).await;
        assert_eq!(run_later["status"], "paused", "{run:#}");
        assert_eq!(step(&run_later, "two")["status"], "ready");
        assert!(server.probe.calls_of("\"two\"").is_empty());
        server
            .call(&acme, "resume_execution", json!({"execution_id": id}))
            .await
            .expect("resumed");
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(server.probe.calls_of("\"two\"").len(), 1);
    }
}

#[tokio::test]
async fn an_approval_waits_for_a_person_who_approves_or_rejects() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "gated", "name": "Gated",
                    "steps": [
                        {"id": "ask", "kind": "approval", "message": "Send the refund?"},
                        {"id": "pay", "needs": ["ask"], "tool": "probe_echo",
                         "arguments": {"value": "paid, approved by {{ steps.ask.output.by }}"}}
                    ]
                }),
            )
            .await
            .expect("saved");
        for approve in [true, false] {
            let id = server.start_run(&acme, "gated", json!({})).await;
            let run = server
                .wait_until(&acme, &id, "the approval to wait", |run| {
                    step(run, "ask")["status"] == "waiting"
                })
                .await;
            assert_eq!(run["needs_attention"], json!(["ask"]));
            let wrong = server
                .call(
                    &acme,
                    "approve_step",
                    json!({"execution_id": id, "step_id": "pay", "approve": true}),
                )
                .await
                .expect_err("pay is not an approval");
            assert!(matches!(wrong, HubError::Conflict(_)), "{wrong}");
            let manager = ctx("acme", Role::Admin);
            server
                .call(
                    &manager,
                    "approve_step",
                    json!({"execution_id": id, "step_id": "ask", "approve": approve, "comment": "checked"}),
                )
                .await
                .expect("answered");
            let run = server.finished(&acme, &id).await;
            if approve {
                assert_eq!(run["status"], "succeeded", "{run:#}");
                assert_eq!(
                    step(&run, "pay")["output"]["label"],
                    "paid, approved by acme-admin"
                );
            } else {
                assert_eq!(run["status"], "failed", "{run:#}");
                assert_eq!(step(&run, "pay")["status"], "cancelled");
                assert!(
                    step(&run, "ask")["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("rejected by acme-admin: checked"))
                );
            }
        }
    }
}

#[tokio::test]
async fn a_run_acts_as_its_starter_and_tenants_see_only_their_runs() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let admin = ctx("acme", Role::Admin);
        let acme = operator("acme");
        // An admin saves a template that an operator may start but whose step the
        // operator may not call: the start is refused, naming the step.
        let template = json!({
            "id": "admin-only", "name": "Admin only",
            "steps": [{"id": "change", "tool": "probe_manage", "arguments": {"value": 1}}]
        });
        server
            .save(&admin, template)
            .await
            .expect("saved by the admin");
        let refused = server
            .call(
                &acme,
                "start_workflow",
                json!({"template_id": "admin-only"}),
            )
            .await
            .expect_err("the operator cannot call probe_manage");
        assert!(
            refused.to_string().contains("steps.change.tool"),
            "{refused}"
        );
        let id = server.start_run(&admin, "admin-only", json!({})).await;
        let run = server.finished(&admin, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["started_by"], "acme-admin");

        // A viewer reads runs but may not start one.
        let viewer = ctx("acme", Role::Viewer);
        assert_eq!(server.execution(&viewer, &id).await["status"], "succeeded");
        let refused = server
            .call(
                &viewer,
                "start_workflow",
                json!({"template_id": "admin-only"}),
            )
            .await
            .expect_err("viewers do not start runs");
        assert!(matches!(refused, HubError::Forbidden(_)), "{refused}");

        // Another tenant sees neither the template nor the run.
        let globex = ctx("globex", Role::Admin);
        let missing = server
            .call(&globex, "get_execution", json!({"execution_id": id}))
            .await
            .expect_err("another tenant's run");
        assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
        let listed = server
            .call(&globex, "list_executions", json!({}))
            .await
            .expect("list");
        assert_eq!(listed["executions"], json!([]));
        let missing = server
            .call(
                &globex,
                "start_workflow",
                json!({"template_id": "admin-only"}),
            )
            .await
            .expect_err("another tenant's template");
        assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
        let own: Value = server
            .call(&acme, "list_executions", json!({"status": "succeeded"}))
            .await
            .expect("list");
        assert_eq!(own["executions"][0]["execution_id"], json!(id));
    }
}

#[tokio::test]
async fn the_input_is_checked_against_the_templates_schema() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "typed", "name": "Typed",
                    "input_schema": {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}},
                                     "required": ["count"], "additionalProperties": false},
                    "steps": [{"id": "one", "tool": "probe_echo", "arguments": {"value": "{{ input.count }}"}}]
                }),
            )
            .await
            .expect("saved");
        for (input, field) in [
            (json!({}), "input.count"),
            (json!({"count": 0}), "input.count"),
            (json!({"count": 1, "extra": true}), "input.extra"),
        ] {
            let error = server
                .call(
                    &acme,
                    "start_workflow",
                    json!({"template_id": "typed", "input": input}),
                )
                .await
                .expect_err("bad input");
            match error {
                HubError::InvalidArguments { field: named, .. } => assert_eq!(named, field),
                other => panic!("{input}: {other}"),
            }
        }
        let listed = server
            .call(&acme, "list_executions", json!({}))
            .await
            .expect("list");
        assert_eq!(listed["executions"], json!([]), "no run was created");
    }
}

#[tokio::test]
async fn for_each_runs_the_tool_per_item_at_most_concurrency_at_once_in_order() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "each", "name": "Each",
                    "steps": [
                        {"id": "all", "tool": "probe_read_slowly", "for_each": "input.names", "concurrency": 2,
                         "arguments": {"label": "each-{{ index }}-{{ item }}", "ms": 150}},
                        {"id": "count", "needs": ["all"], "tool": "probe_echo",
                         "arguments": {"value": "{{ steps.all.output | map(attribute='label') | join(',') }}"}}
                    ]
                }),
            )
            .await
            .expect("saved");
        let names = ["ada", "bo", "cy", "di", "ed"];
        let id = server
            .start_run(&acme, "each", json!({"names": names}))
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            step(&run, "count")["output"]["label"],
            "each-0-ada,each-1-bo,each-2-cy,each-3-di,each-4-ed",
            "outputs in the items' order"
        );
        let calls: Vec<_> = (0..names.len())
            .map(|n| server.probe.calls_of(&format!("each-{n}-{}", names[n]))[0].clone())
            .collect();
        let most_at_once = calls
            .iter()
            .map(|call| {
                calls
                    .iter()
                    .filter(|other| {
                        other.started <= call.started && other.ended.expect("ended") > call.started
                    })
                    .count()
            })
            .max()
            .unwrap_or(0);
        assert_eq!(most_at_once, 2, "two items ran at once, never more");

        // A value that is not a list fails the step, naming for_each.
        let id = server
            .start_run(&acme, "each", json!({"names": "ada"}))
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "failed", "{run:#}");
        assert!(
            step(&run, "all")["error"]
                .as_str()
                .is_some_and(|e| e.contains("for_each must give a list, not a string")),
            "{run:#}"
        );
    }
}

#[tokio::test]
async fn a_caller_who_waits_hears_each_step_end_and_gets_the_run_as_it_then_is() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "chain", "name": "Chain",
                    "steps": [
                        {"id": "one", "tool": "probe_read_slowly", "arguments": {"label": "one", "ms": 100}},
                        {"id": "two", "needs": ["one"], "tool": "probe_read_slowly",
                         "arguments": {"label": "{{ input.label }}", "ms": "{{ input.ms }}"}},
                        {"id": "three", "needs": ["two"], "if": "false", "tool": "probe_echo",
                         "arguments": {"value": "never"}}
                    ]
                }),
            )
            .await
            .expect("saved");

        let reported = |steps: &[(&str, &str)]| -> Vec<(f64, Option<f64>, String)> {
            steps
                .iter()
                .enumerate()
                .map(|(index, (id, status))| {
                    let message = format!("step '{id}' {status}");
                    ((index + 1) as f64, Some(3.0), message)
                })
                .collect()
        };
        // Waiting long enough: the finished run, and one report per step that ended.
        // Waiting less than the run takes: the run as it is when the wait ends, still
        // going, and nothing reported of the step that has not ended.
        let cases = [
            (
                json!({"label": "two", "ms": 100}),
                60,
                "succeeded",
                reported(&[
                    ("one", "succeeded"),
                    ("two", "succeeded"),
                    ("three", "skipped"),
                ]),
            ),
            (
                json!({"label": "long", "ms": 60_000}),
                1,
                "running",
                reported(&[("one", "succeeded")]),
            ),
        ];
        let mut run = Value::Null;
        for (input, wait_secs, status, reports) in cases {
            let watcher = Arc::new(RecordedProgress::default());
            let watched = operator("acme").with_client(watcher.clone());
            run = server
                .call(
                    &watched,
                    "start_workflow",
                    json!({"template_id": "chain", "input": input, "wait_secs": wait_secs}),
                )
                .await
                .expect("waited");
            assert_eq!(run["status"], status, "{run:#}");
            assert_eq!(watcher.reports(), reports, "{run:#}");
        }
        assert_eq!(step(&run, "two")["status"], "running", "{run:#}");
        let id = run["execution_id"].as_str().expect("id");
        server
            .call(&acme, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect("cancelled");
        let run = server.finished(&acme, id).await;
        assert_eq!(run["status"], "cancelled", "{run:#}");
    }
}

#[tokio::test]
async fn runs_past_their_keeping_time_are_deleted_and_no_others() {
    for test in test_stores().await {
        let keeping = WorkflowsConfig {
            keep_finished_days: 1,
            ..quick()
        };
        let server = Server::start_with(&test.store, Arc::new(Probe::default()), keeping).await;
        let acme = operator("acme");
        let quick_run = json!({"id": "quick", "name": "Quick", "steps": [
            {"id": "one", "tool": "probe_echo", "arguments": {"value": "{{ input.n }}"}}]});
        let old = server.run_template(&acme, quick_run, json!({"n": 1})).await;
        let recent = server.start_run(&acme, "quick", json!({"n": 2})).await;
        for id in [&old, &recent] {
            server.finished(&acme, id).await;
        }
        let held = server
            .run_template(
                &acme,
                json!({"id": "held", "name": "Held", "steps": [
                    {"id": "wait", "tool": "probe_read_slowly", "arguments": {"label": "held-on", "ms": 60_000}}]}),
                json!({}),
            )
            .await;
        server.wait_for_call("held-on").await;
        let two_days_ago = tideway_core::store::now() - chrono::Duration::days(2);
        tideway_core::on_store!(&test.store, pool => {
            sqlx::query("UPDATE workflow_executions SET finished_at = $2 WHERE id = $1")
                .bind(&old)
                .bind(two_days_ago)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .expect("aged");

        // A server that keeps every run deletes nothing.
        let keeper = Server::start_with(
            &test.store,
            Arc::new(Probe::default()),
            WorkflowsConfig {
                keep_finished_days: 0,
                ..quick()
            },
        )
        .await;
        assert_eq!(
            keeper.workflows.state.engine.sweep().await.expect("swept"),
            0
        );
        keeper.shut_down().await;

        // Only the run that finished two days ago goes, with its steps and attempts.
        let deleted = server.workflows.state.engine.sweep().await.expect("swept");
        assert_eq!(deleted, 1);
        let gone = server
            .call(&acme, "get_execution", json!({"execution_id": old}))
            .await
            .expect_err("deleted");
        assert!(matches!(gone, HubError::NotFound(_)), "{gone}");
        let (steps, attempts): (i64, i64) = tideway_core::on_store!(&test.store, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM workflow_steps WHERE execution_id = $1), \
                 (SELECT COUNT(*) FROM workflow_attempts WHERE execution_id = $1)",
            )
            .bind(&old)
            .fetch_one(pool)
            .await
        })
        .expect("counted");
        assert_eq!((steps, attempts), (0, 0));
        assert_eq!(
            server.execution(&acme, &recent).await["status"],
            "succeeded"
        );
        assert_eq!(server.execution(&acme, &held).await["status"], "running");
        server
            .call(&acme, "cancel_execution", json!({"execution_id": held}))
            .await
            .expect("cancelled");
    }
}
