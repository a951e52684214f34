//! Outputs too large for a step row: the run's view shows a preview with the whole
//! output's size, while later steps, `get_step_output`, a parent run and a
//! background call's caller get every byte; past the ceiling only the preview is
//! kept. Every test runs on each store.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tideway_core::{
    HubError, background::BackgroundStatus, mcp::JsonObject, store::testing::test_stores,
};

use super::{Probe, Server, background::call_until, operator, quick, step};
use crate::toolkits::workflows::settings::WorkflowsConfig;

/// Step rows hold at most 1 KiB; outputs up to 64 KiB are kept whole.
fn small_rows() -> WorkflowsConfig {
    WorkflowsConfig {
        max_output_bytes: 1024,
        max_whole_output_bytes: 64 * 1024,
        ..quick()
    }
}

/// `get_step_output` of a step, as `ctx` asks for it.
async fn step_output(
    server: &Server,
    ctx: &tideway_core::CallContext,
    id: &str,
    step_id: &str,
) -> Result<Value, HubError> {
    server
        .call(
            ctx,
            "get_step_output",
            json!({"execution_id": id, "step_id": step_id}),
        )
        .await
}

/// `bytes` of text ending in `END`, which a 1 KiB preview cannot reach.
fn long_text(bytes: usize) -> String {
    format!("{}END", "tide ".repeat(bytes / 5))
}

#[tokio::test]
async fn later_steps_and_get_step_output_read_an_output_larger_than_its_row() {
    for test in test_stores().await {
        let server =
            Server::start_with(&test.store, Arc::new(Probe::default()), small_rows()).await;
        let acme = operator("acme");
        let text = long_text(5000);
        let huge = long_text(100_000);
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "large", "name": "Large outputs",
                    "steps": [
                        {"id": "big", "tool": "probe_echo", "arguments": {"value": "{{ input.text }}"}},
                        {"id": "huge", "tool": "probe_echo", "arguments": {"value": "{{ input.huge }}"}},
                        {"id": "read", "needs": ["big", "huge"], "tool": "probe_echo", "arguments": {"value": {
                            "length": "{{ steps.big.output.label | length }}",
                            "whole": "{{ 'END' in steps.big.output.label }}",
                            "huge_cut": "{{ steps.huge.output.truncated }}",
                        }}},
                    ]
                }),
                json!({"text": text, "huge": huge}),
            )
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(
            step(&run, "read")["output"]["label"],
            json!({"length": text.len(), "whole": true, "huge_cut": true}),
            "the later step read the whole output, and the huge one's preview"
        );

        // The view holds a preview within the row's bound, and the whole's size.
        let big = step(&run, "big");
        let whole_bytes = json!({"label": text, "calls": 1}).to_string().len();
        assert_eq!(big["output_bytes"], whole_bytes, "{big:#}");
        assert_eq!(big["output"]["truncated"], true);
        assert_eq!(big["output"]["stored"], true);
        assert_eq!(big["output"]["bytes"], whole_bytes);
        assert!(big["output"].to_string().len() <= 1024, "{big:#}");
        assert!(
            !big["output"]["text"]
                .as_str()
                .unwrap_or("END")
                .contains("END")
        );

        let read = step_output(&server, &acme, &id, "big")
            .await
            .expect("the whole output");
        assert_eq!(read["output"], json!({"label": text, "calls": 1}));

        // Past the ceiling only the preview is kept, and says so.
        let cut = step(&run, "huge");
        assert_eq!(cut["output_bytes"], Value::Null, "{cut:#}");
        assert_eq!(cut["output"]["stored"], false);
        let read = step_output(&server, &acme, &id, "huge")
            .await
            .expect("the preview");
        assert_eq!(read["output"], cut["output"]);

        // A small output is its own whole.
        let small = step_output(&server, &acme, &id, "read")
            .await
            .expect("the output");
        assert_eq!(small["output"], step(&run, "read")["output"]);
        assert_eq!(step(&run, "read")["output_bytes"], Value::Null);

        // Another tenant's run and a missing step answer as missing.
        for (tenant, step_id) in [("globex", "big"), ("acme", "no-such-step")] {
            let missing = step_output(&server, &operator(tenant), &id, step_id)
                .await
                .expect_err("missing");
            assert!(
                matches!(&missing, HubError::NotFound(message) if message.contains("no step")),
                "{tenant} {step_id}: {missing:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_parent_run_reads_its_child_runs_large_outputs_whole() {
    for test in test_stores().await {
        let server =
            Server::start_with(&test.store, Arc::new(Probe::default()), small_rows()).await;
        let acme = operator("acme");
        let text = long_text(3000);
        server
            .save(
                &acme,
                json!({
                    "id": "child", "name": "Child",
                    "steps": [{"id": "big", "tool": "probe_echo", "arguments": {"value": "{{ input.text }}"}}]
                }),
            )
            .await
            .expect("saved");
        let id = server
            .run_template(
                &acme,
                json!({
                    "id": "parent", "name": "Parent",
                    "steps": [
                        {"id": "sub", "kind": "workflow", "workflow": "child", "arguments": {"text": "{{ input.text }}"}},
                        {"id": "read", "needs": ["sub"], "tool": "probe_echo", "arguments": {
                            "value": "{{ steps.sub.output.steps.big.label | length }}"}},
                    ]
                }),
                json!({"text": text}),
            )
            .await;
        let run = server.finished(&acme, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "read")["output"]["label"], json!(text.len()));
        assert!(step(&run, "sub")["output_bytes"].as_i64() > Some(3000));
    }
}

#[tokio::test]
async fn a_background_calls_caller_gets_its_whole_result() {
    for test in test_stores().await {
        let server =
            Server::start_with(&test.store, Arc::new(Probe::default()), small_rows()).await;
        let runner = server.hub.background_calls().expect("background calls");
        let acme = operator("acme");
        let text = long_text(4000);
        let arguments: JsonObject =
            serde_json::from_value(json!({ "value": text })).expect("an object");
        let started = runner
            .start(&acme, ("probe", "echo"), arguments, Duration::from_secs(60))
            .await
            .expect("started");
        let done = call_until(&*runner, &acme, &started.id, "the echo", |call| {
            call.status != BackgroundStatus::Running
        })
        .await;
        assert_eq!(done.status, BackgroundStatus::Succeeded, "{done:?}");
        assert_eq!(
            done.result,
            Some(json!({"label": text, "calls": 1})),
            "the whole result, not the step row's preview"
        );
    }
}
