//! Agents as workflow steps: an `agent` step gives its task to an agent and waits
//! for the run without holding one of the engine's workers, passes the answer on,
//! fails with a run that fails, cancels the run with the workflow, survives its
//! server dying without starting a second run, and is checked when saved;
//! `run_agent_workflow` builds its templates from such steps.

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{
    HubError, ParentStep, context::Role, secrets::MasterKey, store::testing::test_stores,
};

use super::{agents, fixture, fixture_with, save_agent, scripted_model, server};
use crate::toolkits::{
    testing::ctx,
    workflows::{
        settings::WorkflowsConfig,
        tests::{operator, quick, step},
    },
};

/// The workflow engine's test settings with a single worker.
fn one_worker() -> WorkflowsConfig {
    WorkflowsConfig {
        max_concurrent_steps: 1,
        ..quick()
    }
}

fn key() -> Arc<MasterKey> {
    Arc::new(MasterKey::generate().expect("key").0)
}

/// The tenant's agent runs, oldest first.
async fn runs(server: &super::Server) -> Vec<Value> {
    let listed = agents(server, &operator("acme"), "list_runs", json!({}))
        .await
        .expect("runs");
    let mut runs = listed["runs"].as_array().cloned().unwrap_or_default();
    runs.reverse();
    runs
}

/// The text of the last user message the model was sent.
fn last_task(request: &Value) -> String {
    let content = request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .map(|message| message["content"].clone())
        .unwrap_or_default();
    match content {
        Value::String(text) => text,
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn agent_steps_wait_for_their_runs_without_holding_a_worker_and_pass_answers_on() {
    let (base, script) = scripted_model().await;
    for test in test_stores().await {
        // One worker: a step that held it while its agent run waited for one would
        // never finish.
        let config = one_worker();
        let server = fixture_with(&test.store, &key(), &base, config).await;
        save_agent(&server, "prober", &["probe"], json!({})).await;
        script.text("triaged: urgent").text("reply: we are on it");
        let caller = operator("acme");
        let id = server
            .run_template(
                &caller,
                json!({
                    "id": "triage_flow",
                    "name": "Triage flow",
                    "input_schema": {"type": "object", "properties": {"ticket": {"type": "string"}}},
                    "steps": [
                        {"id": "triage", "kind": "agent", "agent": "prober",
                         "arguments": {"task": "Triage {{ input.ticket }}"}},
                        {"id": "reply", "kind": "agent", "agent": "prober", "needs": ["triage"],
                         "arguments": {"task": "Reply after: {{ steps.triage.output.run.answer }}",
                                       "context_id": "ticket-{{ input.ticket }}"}},
                        {"id": "record", "tool": "probe_echo", "needs": ["reply"],
                         "arguments": {"value": "{{ steps.reply.output.run.answer }}"}}
                    ]
                }),
                json!({"ticket": "T-7"}),
            )
            .await;
        let run = server.finished(&caller, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "triage")["kind"], "agent");
        assert_eq!(
            step(&run, "triage")["output"]["run"]["answer"],
            "triaged: urgent",
            "{run:#}"
        );
        assert_eq!(
            step(&run, "reply")["output"]["run"]["context_id"],
            "ticket-T-7"
        );
        assert_eq!(server.probe.calls_of("\"reply: we are on it\"").len(), 1);
        let requests = script.requests();
        assert_eq!(requests.len(), 2, "one model turn per agent run");
        assert_eq!(last_task(&requests[0]), "Triage T-7");
        assert_eq!(last_task(&requests[1]), "Reply after: triaged: urgent");
        // Each step started one agent run, as the workflow's starter.
        let runs = runs(&server).await;
        assert_eq!(runs.len(), 2, "{runs:#?}");
        for (run, task) in runs
            .iter()
            .zip(["Triage T-7", "Reply after: triaged: urgent"])
        {
            assert_eq!(run["status"], "succeeded", "{run}");
            assert_eq!(run["task"], task);
            assert_eq!(run["started_by"], caller.principal.id.as_str());
        }
        script.seen.lock().expect("lock").clear();
    }
}

#[tokio::test]
async fn an_agent_run_that_fails_fails_its_step_and_a_cancelled_workflow_cancels_its_run() {
    let (base, script) = scripted_model().await;
    for test in test_stores().await {
        let server = fixture(&test.store, &key(), &base).await;
        save_agent(
            &server,
            "brief",
            &["probe"],
            json!({"limits": {"max_steps": 1}}),
        )
        .await;
        save_agent(&server, "waiter", &["probe"], json!({})).await;
        let caller = operator("acme");
        // A run cut by its step limit fails the step; on_error continue lets the
        // next step see it.
        script.calls(&[("probe_echo", json!({"value": "one"}))]);
        let id = server
            .run_template(
                &caller,
                json!({
                    "id": "limited_flow",
                    "name": "Limited flow",
                    "steps": [
                        {"id": "ask", "kind": "agent", "agent": "brief",
                         "arguments": {"task": "Probe once more than you may."},
                         "on_error": "continue"},
                        {"id": "after", "tool": "probe_echo", "needs": ["ask"],
                         "arguments": {"value": "{{ steps.ask.status }}"}}
                    ]
                }),
                json!({}),
            )
            .await;
        let run = server.finished(&caller, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        let ask = step(&run, "ask");
        assert_eq!(ask["status"], "failed", "{run:#}");
        let error = ask["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("ended limited") && error.contains("step limit"),
            "{error}"
        );
        assert_eq!(server.probe.calls_of("\"failed\"").len(), 1);
        // Cancelling the workflow mid-run cancels the agent run and cuts its tool
        // call off.
        script.calls(&[("probe_read_slowly", json!({"label": "long", "ms": 60000}))]);
        let id = server
            .run_template(
                &caller,
                json!({
                    "id": "long_flow",
                    "name": "Long flow",
                    "steps": [{"id": "wait", "kind": "agent", "agent": "waiter",
                               "arguments": {"task": "Wait a long time."}}]
                }),
                json!({}),
            )
            .await;
        server.wait_for_call("long").await;
        server
            .call(&caller, "cancel_execution", json!({"execution_id": id}))
            .await
            .expect("cancelled");
        let run = server.finished(&caller, &id).await;
        assert_eq!(run["status"], "cancelled", "{run:#}");
        let waiter = runs(&server)
            .await
            .into_iter()
            .find(|run| run["agent"] == "waiter")
            .expect("the waiter's run");
        let waiter_id = waiter["id"].as_str().expect("id").to_string();
        let view = super::finished(&server, &caller, &waiter_id).await;
        assert_eq!(view["run"]["status"], "cancelled", "{view:#}");
        assert!(
            server.probe.calls_of("long")[0].ended.is_none(),
            "the agent's tool call was cut off"
        );
        script.seen.lock().expect("lock").clear();
    }
}

#[tokio::test]
async fn a_workflow_whose_server_died_mid_agent_step_waits_for_the_same_run() {
    let (base, script) = scripted_model().await;
    for test in test_stores().await {
        let key = key();
        let first = fixture(&test.store, &key, &base).await;
        save_agent(&first, "survivor", &["probe"], json!({})).await;
        script
            .calls(&[("probe_write_slowly", json!({"label": "cut", "ms": 60000}))])
            .text("carried on");
        let caller = operator("acme");
        let id = first
            .run_template(
                &caller,
                json!({
                    "id": "survive_flow",
                    "name": "Survive flow",
                    "steps": [{"id": "work", "kind": "agent", "agent": "survivor",
                               "arguments": {"task": "Work through a restart."}}]
                }),
                json!({}),
            )
            .await;
        first.wait_for_call("cut").await;
        // Killed once the step has noted the agent run as its own (before that, a
        // kill leaves the step `unknown`: run_agent is not repeated unasked).
        first
            .wait_until(&caller, &id, "the step to wait for its agent run", |run| {
                step(run, "work")["status"] == "waiting"
            })
            .await;
        first.kill();
        let second = server(&test.store, &key, first.probe.clone()).await;
        let run = second.finished(&caller, &id).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(step(&run, "work")["output"]["run"]["answer"], "carried on");
        let runs = runs(&second).await;
        assert_eq!(
            runs.len(),
            1,
            "the step started its agent run once: {runs:#?}"
        );
        // The write the dying server cut off was not made again.
        assert_eq!(first.probe.calls_of("cut").len(), 1);
        script.seen.lock().expect("lock").clear();
    }
}

#[tokio::test]
async fn an_agent_step_is_checked_when_saved() {
    let (base, _script) = scripted_model().await;
    for test in test_stores().await {
        let server = fixture(&test.store, &key(), &base).await;
        save_agent(&server, "prober", &["probe"], json!({})).await;
        let caller = operator("acme");
        let agent_step = |extra: Value| {
            let mut step = json!({"id": "ask", "kind": "agent", "agent": "prober",
                                  "arguments": {"task": "Probe."}});
            if let (Some(step), Some(extra)) = (step.as_object_mut(), extra.as_object()) {
                step.extend(extra.clone());
            }
            json!({"id": "checked", "name": "Checked", "steps": [step]})
        };
        for (extra, field, words) in [
            (
                json!({"agent": "nobody"}),
                "steps.ask.agent",
                "not an agent of this tenant",
            ),
            (
                json!({"agent": "Not A Name!"}),
                "steps.ask.agent",
                "not an agent's name",
            ),
            (
                json!({"arguments": {}}),
                "steps.ask.arguments.task",
                "missing",
            ),
            (
                json!({"arguments": {"task": "x", "wait_secs": 5}}),
                "steps.ask.arguments.wait_secs",
                "set by the agent step",
            ),
            (
                json!({"arguments": {"task": "x", "priority": 1000}}),
                "steps.ask.arguments.priority",
                "",
            ),
            (
                json!({"tool": "probe_echo"}),
                "steps.ask.tool",
                "does not belong",
            ),
        ] {
            let refused = server
                .save(&caller, agent_step(extra.clone()))
                .await
                .expect_err("refused");
            match &refused {
                HubError::InvalidArguments { field: at, message } => {
                    assert_eq!(at, field, "{extra}: {message}");
                    assert!(message.contains(words), "{extra}: {message}");
                }
                other => panic!("{extra}: {other}"),
            }
        }
        let missing = server
            .save(
                &caller,
                json!({"id": "checked", "name": "Checked", "steps": [
                    {"id": "ask", "kind": "agent", "arguments": {"task": "Probe."}}]}),
            )
            .await
            .expect_err("no agent named");
        assert!(
            matches!(&missing, HubError::InvalidArguments { field, .. } if field == "steps.ask.agent"),
            "{missing}"
        );
        // A tool step may not name an agent.
        let stray = server
            .save(
                &caller,
                json!({"id": "checked", "name": "Checked", "steps": [
                    {"id": "echo", "tool": "probe_echo", "agent": "prober",
                     "arguments": {"value": 1}}]}),
            )
            .await
            .expect_err("a stray agent");
        assert!(
            matches!(&stray, HubError::InvalidArguments { field, .. } if field == "steps.echo.agent"),
            "{stray}"
        );
        // Another tenant's agents are not this tenant's to name.
        let other = ctx("globex", Role::Operator);
        let refused = server
            .save(&other, agent_step(json!({})))
            .await
            .expect_err("globex has no agent prober");
        assert!(
            matches!(&refused, HubError::InvalidArguments { field, .. } if field == "steps.ask.agent"),
            "{refused}"
        );
        server
            .save(&caller, agent_step(json!({})))
            .await
            .expect("a good agent step is saved");
    }
}

#[tokio::test]
async fn run_agent_workflow_runs_its_tasks_as_agent_steps() {
    let (base, script) = scripted_model().await;
    for test in test_stores().await {
        let server = fixture_with(&test.store, &key(), &base, one_worker()).await;
        save_agent(&server, "researcher", &["probe"], json!({})).await;
        save_agent(&server, "writer", &["probe"], json!({})).await;
        script.text("three facts").text("a short report");
        let caller = operator("acme");
        let started = agents(
            &server,
            &caller,
            "run_agent_workflow",
            json!({
                "name": "report",
                "steps": [
                    {"id": "research", "agent": "researcher", "task": "Find facts."},
                    {"id": "write", "agent": "writer", "needs": ["research"],
                     "task": "Write up: {{ steps.research.output.run.answer }}"}
                ],
                "wait_secs": 30
            }),
        )
        .await
        .expect("started");
        assert_eq!(started["status"], "succeeded", "{started:#}");
        let id = started["execution_id"].as_str().expect("execution id");
        let run = server.execution(&caller, id).await;
        assert_eq!(step(&run, "write")["kind"], "agent");
        assert_eq!(
            step(&run, "write")["output"]["run"]["answer"],
            "a short report"
        );
        assert_eq!(
            last_task(&script.requests()[1]),
            "Write up: three facts",
            "the writer read the researcher's answer"
        );
        script.seen.lock().expect("lock").clear();
    }
}

#[tokio::test]
async fn a_step_that_ended_before_its_agent_run_was_recorded_gets_none() {
    let (base, _script) = scripted_model().await;
    for test in test_stores().await {
        let server = fixture_with(&test.store, &key(), &base, quick()).await;
        save_agent(&server, "prober", &["probe"], json!({})).await;
        let caller = operator("acme");
        // A step no worker holds (it waits for a person): what a cancelled step, or
        // one another server took over, looks like to the call made for it.
        let id = server
            .run_template(
                &caller,
                json!({"id": "gated", "name": "Gated",
                       "steps": [{"id": "ask", "kind": "approval"}]}),
                json!({}),
            )
            .await;
        server
            .wait_until(&caller, &id, "the approval to wait", |run| {
                step(run, "ask")["status"] == "waiting"
            })
            .await;
        let for_step = operator("acme").with_parent_step(ParentStep {
            execution_id: id.clone(),
            step_id: "ask".into(),
            owner: "a-worker-that-let-go".into(),
            depth: 0,
        });
        let error = agents(
            &server,
            &for_step,
            "run_agent",
            json!({"agent": "prober", "task": "Too late", "wait_secs": 0}),
        )
        .await
        .expect_err("no agent run for a step that is not running");
        assert!(error.to_string().contains("no longer running"), "{error}");
        // The agent run was ended at once rather than left queued for no one, and
        // the step got no child.
        let runs = runs(&server).await;
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0]["status"], "cancelled", "{runs:#?}");
        let run = server.wait_until(&caller, &id, "a read", |_| true).await;
        assert_eq!(step(&run, "ask")["status"], "waiting", "{run:#}");
        assert_eq!(step(&run, "ask")["output"], Value::Null, "{run:#}");
    }
}
