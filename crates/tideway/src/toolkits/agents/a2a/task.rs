//! Runs as A2A tasks: a run's status mapped one to one onto a task state, its task
//! and answer as the task's history, its answer (and structured output) as the
//! task's artifact, and each recorded event as a working status update, in the
//! protocol's JSON form (camelCase names, enum values by their full names).

use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::super::store::{RunEvent, RunStatus, RunSummary};

/// The task state a run's status is.
pub fn state(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "TASK_STATE_SUBMITTED",
        RunStatus::Running => "TASK_STATE_WORKING",
        RunStatus::Succeeded => "TASK_STATE_COMPLETED",
        // A limit ended it before an answer: the task did not get done.
        RunStatus::Limited | RunStatus::Failed => "TASK_STATE_FAILED",
        RunStatus::Cancelled => "TASK_STATE_CANCELED",
    }
}

/// The run statuses a task state stands for (none for states a run never has).
pub fn statuses(state: &str) -> Option<&'static [RunStatus]> {
    Some(match state {
        "TASK_STATE_SUBMITTED" => &[RunStatus::Queued],
        "TASK_STATE_WORKING" => &[RunStatus::Running],
        "TASK_STATE_COMPLETED" => &[RunStatus::Succeeded],
        "TASK_STATE_FAILED" => &[RunStatus::Failed, RunStatus::Limited],
        "TASK_STATE_CANCELED" => &[RunStatus::Cancelled],
        "TASK_STATE_INPUT_REQUIRED" | "TASK_STATE_REJECTED" | "TASK_STATE_AUTH_REQUIRED" => &[],
        _ => return None,
    })
}

pub fn timestamp(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// When the run's status last moved.
fn status_time(run: &RunSummary) -> i64 {
    run.finished_at_ms
        .or(run.started_at_ms)
        .unwrap_or(run.created_at_ms)
}

fn message(run: &RunSummary, id: &str, role: &str, parts: Vec<Value>) -> Value {
    json!({
        "messageId": id,
        "contextId": run.context_id,
        "taskId": run.id,
        "role": role,
        "parts": parts,
    })
}

/// The task as it was asked.
fn request(run: &RunSummary) -> Value {
    message(
        run,
        &format!("{}-task", run.id),
        "ROLE_USER",
        vec![json!({ "text": run.task })],
    )
}

/// The agent's answer as message parts: its text, and its structured output.
fn answer_parts(run: &RunSummary) -> Option<Vec<Value>> {
    let answer = run.answer.as_ref()?;
    let mut parts = vec![json!({ "text": answer, "mediaType": "text/plain" })];
    if let Some(output) = &run.output {
        parts.push(json!({ "data": output, "mediaType": "application/json" }));
    }
    Some(parts)
}

/// The answer as the task's one artifact.
pub fn artifact(run: &RunSummary) -> Option<Value> {
    Some(json!({
        "artifactId": format!("{}-answer", run.id),
        "name": "answer",
        "parts": answer_parts(run)?,
    }))
}

/// The status: its state, when it moved, and why when the run did not succeed.
pub fn status(run: &RunSummary) -> Value {
    let mut status = json!({
        "state": state(run.status),
        "timestamp": timestamp(status_time(run)),
    });
    if let Some(error) = &run.error
        && run.status.is_finished()
    {
        status["message"] = message(
            run,
            &format!("{}-status", run.id),
            "ROLE_AGENT",
            vec![json!({ "text": error })],
        );
    }
    status
}

/// The task for `run`: its history cut to the last `history_length` messages when
/// given, its artifacts only when `artifacts`.
pub fn task(run: &RunSummary, history_length: Option<usize>, artifacts: bool) -> Value {
    let mut history = vec![request(run)];
    if let Some(parts) = answer_parts(run) {
        history.push(message(
            run,
            &format!("{}-answer", run.id),
            "ROLE_AGENT",
            parts,
        ));
    }
    if let Some(keep) = history_length {
        history.drain(..history.len().saturating_sub(keep));
    }
    let mut metadata = Map::new();
    metadata.insert("agent".into(), json!(run.agent));
    metadata.insert("agentVersion".into(), json!(run.agent_version));
    metadata.insert("steps".into(), json!(run.steps));
    metadata.insert("inputTokens".into(), json!(run.input_tokens));
    metadata.insert("outputTokens".into(), json!(run.output_tokens));
    if !run.chain.is_empty() {
        metadata.insert("chain".into(), json!(run.chain));
    }
    let mut task = json!({
        "id": run.id,
        "contextId": run.context_id,
        "status": status(run),
        "metadata": metadata,
    });
    if !history.is_empty() {
        task["history"] = Value::Array(history);
    }
    if artifacts && let Some(artifact) = artifact(run) {
        task["artifacts"] = json!([artifact]);
    }
    task
}

/// A status update carrying the run's status.
pub fn status_update(run: &RunSummary) -> Value {
    json!({ "statusUpdate": {
        "taskId": run.id,
        "contextId": run.context_id,
        "status": status(run),
    }})
}

/// A working status update carrying one recorded event (a model turn, a tool call
/// or its result) as data, so a streaming client sees the run as it goes.
pub fn event_update(run: &RunSummary, event: &RunEvent) -> Value {
    json!({ "statusUpdate": {
        "taskId": run.id,
        "contextId": run.context_id,
        "status": {
            "state": "TASK_STATE_WORKING",
            "timestamp": timestamp(event.at_ms),
            "message": message(
                run,
                &format!("{}-event-{}", run.id, event.seq),
                "ROLE_AGENT",
                vec![json!({
                    "data": { "kind": event.kind, "seq": event.seq, "body": event.body },
                    "mediaType": "application/json",
                })],
            ),
        },
    }})
}

/// The answer as one whole artifact update.
pub fn artifact_update(run: &RunSummary) -> Option<Value> {
    Some(json!({ "artifactUpdate": {
        "taskId": run.id,
        "contextId": run.context_id,
        "artifact": artifact(run)?,
        "lastChunk": true,
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: RunStatus) -> RunSummary {
        RunSummary {
            id: "r1".into(),
            agent: "data_analyst".into(),
            agent_version: 0,
            task: "count the tickets".into(),
            context_id: "c1".into(),
            chain: Vec::new(),
            priority: 0,
            status,
            started_by: "key:1".into(),
            steps: 2,
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: None,
            answer: None,
            output: None,
            error: None,
            created_at_ms: 1_700_000_000_000,
            started_at_ms: None,
            finished_at_ms: None,
        }
    }

    #[test]
    fn every_run_status_is_one_task_state_and_back() {
        for status in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Limited,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ] {
            let back = statuses(state(status)).expect("a known state");
            assert!(back.contains(&status), "{status:?}");
        }
        assert_eq!(statuses("TASK_STATE_INPUT_REQUIRED"), Some(&[][..]));
        assert_eq!(statuses("DONE"), None);
    }

    #[test]
    fn a_completed_task_carries_its_answer_as_history_and_artifact() {
        let mut done = run(RunStatus::Succeeded);
        done.answer = Some("42 tickets".into());
        done.output = Some(json!({ "count": 42 }));
        done.finished_at_ms = Some(1_700_000_001_500);
        let task = task(&done, None, true);
        assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED");
        assert_eq!(task["status"]["timestamp"], "2023-11-14T22:13:21.500Z");
        assert_eq!(task["history"][0]["role"], "ROLE_USER");
        assert_eq!(task["history"][0]["parts"][0]["text"], "count the tickets");
        assert_eq!(task["history"][1]["parts"][0]["text"], "42 tickets");
        assert_eq!(task["artifacts"][0]["parts"][1]["data"]["count"], 42);
        // The last message only; none at all; no artifacts unless asked.
        let last = super::task(&done, Some(1), false);
        assert_eq!(last["history"].as_array().map(Vec::len), Some(1));
        assert_eq!(last["history"][0]["role"], "ROLE_AGENT");
        assert!(last.get("artifacts").is_none());
        assert!(super::task(&done, Some(0), true).get("history").is_none());
    }

    #[test]
    fn a_failed_task_says_why_in_its_status() {
        let mut limited = run(RunStatus::Limited);
        limited.error = Some("the step limit (8) was reached".into());
        let task = task(&limited, None, true);
        assert_eq!(task["status"]["state"], "TASK_STATE_FAILED");
        assert_eq!(
            task["status"]["message"]["parts"][0]["text"],
            "the step limit (8) was reached"
        );
        assert!(task.get("artifacts").is_none());
    }
}
