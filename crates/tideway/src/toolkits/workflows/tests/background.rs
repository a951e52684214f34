//! Background calls (REST's `Prefer: respond-async`) on the engine: the arguments
//! reach the tool as they were sent, the result or the problem is kept, progress is
//! seen while the call runs, another tenant sees nothing, cancel stops the call, and
//! a call outlives its server: run again when its tool only reads, `unknown` when it
//! writes. Every test runs on each store.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    background::{BackgroundCall, BackgroundCalls, BackgroundStatus},
    mcp::JsonObject,
    store::testing::test_stores,
};

use super::{Server, operator};

const TIMEOUT: Duration = Duration::from_secs(60);

fn runner(server: &Server) -> Arc<dyn BackgroundCalls> {
    server
        .hub
        .background_calls()
        .expect("the workflows toolkit runs background calls")
}

fn arguments(value: Value) -> JsonObject {
    serde_json::from_value(value).expect("an object")
}

/// Polls the call until `done` holds; panics with the call after 20 s.
pub(super) async fn call_until(
    runner: &dyn BackgroundCalls,
    ctx: &CallContext,
    id: &str,
    what: &str,
    done: impl Fn(&BackgroundCall) -> bool,
) -> BackgroundCall {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let call = runner.get(ctx, id).await.expect("the call");
        if done(&call) {
            return call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {call:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ended(call: &BackgroundCall) -> bool {
    call.status != BackgroundStatus::Running
}

#[tokio::test]
async fn a_call_keeps_its_result_or_its_problem_and_belongs_to_its_tenant() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let runner = runner(&server);
        let acme = operator("acme");

        // Text that looks like an expression is passed on as text.
        let sent = json!({"nested": [1, "{{ input }}", {"}}": "{% raw %}"}]});
        let started = runner
            .start(
                &acme,
                ("probe", "echo"),
                arguments(json!({ "value": sent })),
                TIMEOUT,
            )
            .await
            .expect("started");
        assert_eq!(
            (started.toolkit.as_str(), started.tool.as_str()),
            ("probe", "echo")
        );
        let done = call_until(&*runner, &acme, &started.id, "the echo", ended).await;
        assert_eq!(done.status, BackgroundStatus::Succeeded, "{done:?}");
        assert_eq!(done.result.as_ref().map(|r| &r["label"]), Some(&sent));
        assert!(done.finished_at.is_some() && done.error.is_none());

        // Arguments that cannot fit are refused before anything runs, naming the
        // argument as the caller sent it.
        let refused = runner
            .start(
                &acme,
                ("probe", "echo"),
                arguments(json!({"wrong": 1})),
                TIMEOUT,
            )
            .await
            .expect_err("an argument the tool does not take");
        assert!(
            matches!(&refused, HubError::InvalidArguments { field, .. } if field == "wrong"),
            "{refused:?}"
        );

        // A tool's failure is kept as its problem.
        let flaky = runner
            .start(
                &acme,
                ("probe", "flaky"),
                arguments(json!({"label": format!("bg-{}", started.id), "failures": 3})),
                TIMEOUT,
            )
            .await
            .expect("started");
        let failed = call_until(&*runner, &acme, &flaky.id, "the failure", ended).await;
        let problem = failed.error.expect("a problem");
        assert_eq!(problem["status"], 503, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("fails")),
            "{problem}"
        );

        // Unknown tools are refused at once; another tenant's calls, and runs that
        // are not calls, answer as missing.
        let unknown = runner
            .start(&acme, ("probe", "nope"), JsonObject::new(), TIMEOUT)
            .await
            .expect_err("no such tool");
        assert!(matches!(unknown, HubError::UnknownTool { .. }), "{unknown}");
        // A viewer may not start a call of a tool that writes.
        let viewer = super::ctx("acme", tideway_core::context::Role::Viewer);
        let forbidden = runner
            .start(
                &viewer,
                ("probe", "write_slowly"),
                arguments(json!({"label": "never", "ms": 1})),
                TIMEOUT,
            )
            .await
            .expect_err("a viewer");
        assert!(matches!(forbidden, HubError::Forbidden(_)), "{forbidden}");
        assert!(server.probe.calls_of("never").is_empty());
        let globex = operator("globex");
        let theirs = runner
            .get(&globex, &started.id)
            .await
            .expect_err("another tenant's call");
        assert!(matches!(theirs, HubError::NotFound(_)), "{theirs}");
        let cancelled = runner
            .cancel(&globex, &started.id)
            .await
            .expect_err("another tenant's call");
        assert!(matches!(cancelled, HubError::NotFound(_)), "{cancelled}");
        let run = server
            .run_template(
                &acme,
                json!({"id": "plain", "name": "Plain", "steps": [
                    {"id": "one", "tool": "probe_echo", "arguments": {"value": 1}}]}),
                json!({}),
            )
            .await;
        let not_a_call = runner
            .get(&acme, &run)
            .await
            .expect_err("a run, not a call");
        assert!(matches!(not_a_call, HubError::NotFound(_)), "{not_a_call}");

        // Listing runs leaves the calls out unless they are asked for.
        let ids = |listed: Value| -> Vec<String> {
            listed["executions"]
                .as_array()
                .map(|runs| {
                    runs.iter()
                        .filter_map(|run| run["execution_id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let runs = ids(server
            .call(&acme, "list_executions", json!({}))
            .await
            .expect("listed"));
        assert!(
            runs.contains(&run) && !runs.contains(&started.id),
            "{runs:?}"
        );
        let calls = ids(server
            .call(
                &acme,
                "list_executions",
                json!({"template_id": "background-call"}),
            )
            .await
            .expect("listed"));
        assert!(
            calls.contains(&started.id) && !calls.contains(&run),
            "{calls:?}"
        );
    }
}

#[tokio::test]
async fn progress_shows_while_the_call_runs_and_cancel_stops_it() {
    for test in test_stores().await {
        let server = Server::start(&test.store).await;
        let runner = runner(&server);
        let acme = operator("acme");
        let started = runner
            .start(
                &acme,
                ("probe", "report_slowly"),
                arguments(json!({"label": "reporting", "ms": 60_000})),
                TIMEOUT,
            )
            .await
            .expect("started");
        let running = call_until(&*runner, &acme, &started.id, "the progress", |call| {
            call.progress.is_some()
        })
        .await;
        assert_eq!(running.status, BackgroundStatus::Running);
        assert_eq!(
            running.progress,
            Some((1.0, Some(2.0), Some("half way".to_string())))
        );
        let cancelling = runner.cancel(&acme, &started.id).await.expect("cancel");
        assert_eq!(
            cancelling.status,
            BackgroundStatus::Cancelled,
            "{cancelling:?}"
        );
        let calls = server.probe.calls_of("reporting");
        assert_eq!(calls.len(), 1);
        // The call in flight was cancelled: it never reached its end.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(server.probe.calls_of("reporting")[0].ended.is_none());
        // Cancelling again changes nothing.
        let again = runner.cancel(&acme, &started.id).await.expect("cancel");
        assert_eq!(again.status, BackgroundStatus::Cancelled);
    }
}

#[tokio::test]
async fn a_call_outlives_its_server_and_is_repeated_only_when_that_is_harmless() {
    for test in test_stores().await {
        let first_server = Server::start(&test.store).await;
        let runner = runner(&first_server);
        let acme = operator("acme");
        let mut started = Vec::new();
        for tool in ["read_slowly", "write_slowly"] {
            let call = runner
                .start(
                    &acme,
                    ("probe", tool),
                    arguments(json!({"label": format!("held-{tool}"), "ms": 1500})),
                    TIMEOUT,
                )
                .await
                .expect("started");
            started.push(call.id);
        }
        first_server.wait_for_call("held-read_slowly").await;
        first_server.wait_for_call("held-write_slowly").await;
        first_server.kill();

        let second_server = Server::start(&test.store).await;
        let runner = self::runner(&second_server);
        let read = call_until(&*runner, &acme, &started[0], "the read", ended).await;
        assert_eq!(read.status, BackgroundStatus::Succeeded, "{read:?}");
        assert_eq!(second_server.probe.calls_of("held-read_slowly").len(), 1);
        let write = call_until(&*runner, &acme, &started[1], "the write", ended).await;
        assert_eq!(write.status, BackgroundStatus::Unknown, "{write:?}");
        assert!(
            write
                .error
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|text| text.contains("not run again")),
            "{write:?}"
        );
        assert!(second_server.probe.calls_of("held-write_slowly").is_empty());
        let cancelled = runner.cancel(&acme, &started[1]).await.expect("cancel");
        assert_eq!(cancelled.status, BackgroundStatus::Cancelled);
    }
}
