//! Child runs: a workflow step runs another template with an input made from its
//! own run, waits for it and ends as it ended; a cancelled parent cancels its child;
//! nesting stops at its limit. Every test runs on each store.

use serde_json::json;
use tideway_core::{HubError, store::testing::test_stores};

use super::{Server, operator, step};

#[tokio::test]
async fn a_child_run_takes_its_input_from_the_parent_and_its_outputs_flow_back() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "greet", "name": "Greet",
                    "input_schema": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
                    "steps": [{"id": "hello", "tool": "probe_echo", "arguments": {"value": "hello {{ input.who }}"}}]
                }),
            )
            .await
            .expect("saved");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "welcome", "name": "Welcome",
                    "steps": [
                        {"id": "child", "kind": "workflow", "workflow": "greet", "arguments": {"who": "{{ input.name }}"}},
                        {"id": "after", "needs": ["child"], "tool": "probe_echo",
                         "arguments": {"value": "{{ steps.child.output.steps.hello.label }}!"}}
                    ]
                }),
                json!({"name": "ada"}),
            )
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "after")["output"]["label"], "hello ada!");
        let child_id = step(&run, "child")["output"]["execution_id"]
            .as_str()
            .expect("the child's id")
            .to_string();
        let child = server.execution(&acme, &child_id).await;
        assert_eq!(child["status"], "succeeded", "{child:#}");
        assert_eq!(child["parent_execution_id"], id.as_str());
        assert_eq!(child["input"], json!({"who": "ada"}));
        assert_eq!(child["started_by"], run["started_by"]);
        let listed = server
            .call(&acme, "list_executions", json!({}))
            .await
            .expect("listed");
        assert_eq!(listed["executions"].as_array().map(Vec::len), Some(2));
    }
}

#[tokio::test]
async fn a_failed_child_fails_its_step_unless_the_step_continues() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "broken", "name": "Broken",
                    "steps": [{"id": "try", "tool": "probe_flaky", "arguments": {"label": "broken", "failures": 9}}]
                }),
            )
            .await
            .expect("saved");
        for on_error in ["fail", "continue"] {
            let id = server
                .run_template(
                    &acme,
                    json!({
                        "id": format!("uses-broken-{on_error}"), "name": "Uses broken",
                        "steps": [
                            {"id": "child", "kind": "workflow", "workflow": "broken", "on_error": on_error},
                            {"id": "after", "needs": ["child"], "tool": "probe_echo",
                             "arguments": {"value": "after {{ steps.child.status }}"}}
                        ]
                    }),
                    json!({}),
                )
                .await;
            let run = server.finished(&acme, &id).await;
            let child = step(&run, "child");
            assert_eq!(child["status"], "failed", "{run:#}");
            assert!(
                child["error"]
                    .as_str()
                    .is_some_and(|error| error.contains("child run") && error.contains("failed")),
                "{run:#}"
            );
            // The child's failed step gives the problem that failed it as its output.
            assert_eq!(child["output"]["steps"]["try"]["status"], json!(503));
            if on_error == "fail" {
                assert_eq!(run["status"], "failed", "{run:#}");
                assert_eq!(step(&run, "after")["status"], "cancelled");
            } else {
                assert_eq!(run["status"], "succeeded", "{run:#}");
                assert_eq!(step(&run, "after")["output"]["label"], "after failed");
            }
        }
    }
}

#[tokio::test]
async fn cancelling_a_parent_cancels_its_child_and_the_childs_step_in_flight() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        server
            .save(
                &acme,
                json!({
                    "id": "long", "name": "Long",
                    "steps": [{"id": "wait", "tool": "probe_write_slowly", "arguments": {"label": "long-child", "ms": 20000}}]
                }),
            )
            .await
            .expect("saved");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "outer", "name": "Outer",
                    "steps": [{"id": "child", "kind": "workflow", "workflow": "long"}]
                }),
                json!({}),
            )
            .await;
        let run = server
            .wait_until(&acme, &id, "the child step to wait", |run| {
                step(run, "child")["status"] == "waiting"
            })
            .await;
        // It waits for a run, not a person.
        assert_eq!(run["needs_attention"], json!([]), "{run:#}");
        server.wait_for_call("long-child").await;
        let refused = server
            .call(
                &acme,
                "approve_step",
                json!({"execution_id": id, "step_id": "child", "approve": true}),
            )
            .await
            .expect_err("a workflow step takes no approval");
        assert!(matches!(refused, HubError::Conflict(_)), "{refused}");
        let child_id = step(&run, "child")["output"]["execution_id"]
            .as_str()
            .expect("the child's id")
            .to_string();
        server
            .call(&acme, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect("cancelled");
        let child = server
            .wait_until(&acme, &child_id, "the child's step to stop", |run| {
                step(run, "wait")["status"] == "cancelled"
            })
            .await;
        assert_eq!(child["status"], "cancelled", "{child:#}");
        // The call was cut off (a call that ends on its own records its end), well
        // before its 20 s were up.
        let calls = server.probe.calls_of("long-child");
        assert!(
            calls.len() == 1 && calls[0].ended.is_none(),
            "the child's call was cut short: {calls:?}"
        );
        let run = server.execution(&acme, &id).await;
        assert_eq!(run["status"], "cancelled", "{run:#}");
    }
}

#[tokio::test]
async fn a_template_that_runs_itself_stops_at_the_nesting_limit() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let acme = operator("acme");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "again", "name": "Again and again",
                    "steps": [{"id": "deeper", "kind": "workflow", "workflow": "again"}]
                }),
                json!({}),
            )
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "failed", "{run:#}");
        let listed = server
            .call(&acme, "list_executions", json!({}))
            .await
            .expect("listed");
        let runs = listed["executions"].as_array().expect("runs");
        assert_eq!(runs.len(), super::super::definition::MAX_NESTING + 1);
        assert!(
            runs.iter().all(|run| run["status"] == "failed"),
            "{listed:#}"
        );
        // The innermost run's step says why; each run above fails with its child.
        let mut too_deep = 0;
        for summary in runs {
            let id = summary["execution_id"].as_str().expect("id");
            let run = server.execution(&acme, id).await;
            let error = step(&run, "deeper")["error"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if error.contains("nest 5 deep") {
                too_deep += 1;
                assert_eq!(
                    run["steps"][0]["output"],
                    json!(null),
                    "it started no child"
                );
            } else {
                assert!(error.contains("child run"), "{run:#}");
            }
        }
        assert_eq!(too_deep, 1);
    }
}
