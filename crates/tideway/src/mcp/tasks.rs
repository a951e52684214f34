//! MCP tasks (the 2026-07-28 tasks extension) on the Hub's durable background runner:
//! a call of a tool that may run as a task, from a client that takes tasks, answers
//! at once with the task; `tasks/get` reads it (the tool's result inlined once it
//! completed, or the requests it waits on while its tool asks the client for
//! input), `tasks/update` answers those, `tasks/cancel` cancels it. A task is a run
//! of the workflows engine, so it outlives the request, the session and a restart,
//! and any server sharing the store answers for it.

use rmcp::{
    ErrorData,
    model::{
        CallToolResult, ContentBlock, CreateTaskResult, DetailedTask, ErrorCode, GetTaskResult,
        InputRequest, InputRequests, InputResponses, JsonObject, Task, TaskPayload, TaskStatus,
    },
};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    background::{BackgroundCall, BackgroundCalls, BackgroundStatus},
};

use super::errors::rpc_error;

/// How often a client is asked to poll, in milliseconds.
const POLL_INTERVAL_MS: u64 = 500;

/// `tasks/get` and `tasks/cancel` name a task the caller cannot see (another
/// tenant's, or none): invalid params, as the extension asks.
fn unknown_task(id: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("no task {}", tideway_core::error::excerpt(id)),
        None,
    )
}

fn task_of(call: &BackgroundCall, status: TaskStatus, message: Option<String>) -> Task {
    let updated = call.finished_at.unwrap_or(call.created_at);
    let mut task = Task::new(
        call.id.clone(),
        status,
        call.created_at.to_rfc3339(),
        updated.to_rfc3339(),
    )
    .with_poll_interval_ms(POLL_INTERVAL_MS);
    // A run is kept that long after it ends, so at least that long after it began.
    task.ttl_ms = call
        .kept_for
        .map(|kept| u64::try_from(kept.as_millis()).unwrap_or(u64::MAX));
    if let Some(message) = message {
        task = task.with_status_message(message);
    }
    task
}

/// The tool's result as it was kept: text, or structured content with its text.
fn completed_result(output: Option<&Value>, is_error: bool) -> JsonObject {
    let mut result = match output {
        Some(Value::String(text)) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Some(Value::Object(structured)) => {
            CallToolResult::structured(Value::Object(structured.clone()))
        }
        Some(other) => CallToolResult::success(vec![ContentBlock::text(other.to_string())]),
        None => CallToolResult::success(vec![ContentBlock::text("")]),
    };
    if is_error {
        result.is_error = Some(true);
    }
    result.result_type = None;
    match serde_json::to_value(result) {
        Ok(Value::Object(result)) => result,
        _ => JsonObject::new(),
    }
}

/// The requests a call waits on, as the extension carries them; one this server
/// could not have asked is left out rather than failing the whole answer.
fn input_requests(waiting: Option<&JsonObject>) -> InputRequests {
    waiting
        .into_iter()
        .flatten()
        .filter_map(|(key, request)| {
            let request: InputRequest = serde_json::from_value(request.clone()).ok()?;
            Some((key.clone(), request))
        })
        .collect()
}

/// A call as the extension shows it. As for a call answered in the request, the
/// tool's failures (the Hub's refusals included) are results marked `isError`; only
/// a failure inside the server is a failed task, with a JSON-RPC error.
fn detailed(call: &BackgroundCall) -> DetailedTask {
    let progress_message = call
        .progress
        .as_ref()
        .and_then(|(_, _, message)| message.clone());
    let (payload, message) = match call.status {
        BackgroundStatus::Running => (TaskPayload::Working, progress_message),
        BackgroundStatus::Unknown => (
            TaskPayload::Working,
            call.error
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_string),
        ),
        BackgroundStatus::Cancelled => (TaskPayload::Cancelled, None),
        BackgroundStatus::InputRequired => (
            TaskPayload::InputRequired {
                input_requests: input_requests(call.input_requests.as_ref()),
            },
            None,
        ),
        BackgroundStatus::Succeeded => (
            TaskPayload::Completed {
                result: completed_result(call.result.as_ref(), false),
            },
            None,
        ),
        BackgroundStatus::Failed => match &call.error {
            Some(problem)
                if problem["status"]
                    .as_u64()
                    .is_some_and(|status| status >= 500) =>
            {
                let code = ErrorCode::INTERNAL_ERROR.0;
                let message = problem["detail"].as_str().unwrap_or("the call failed");
                let error =
                    json!({"code": code, "message": message, "data": {"kind": problem["type"]}});
                (
                    TaskPayload::Failed {
                        error: match error {
                            Value::Object(error) => error,
                            _ => JsonObject::new(),
                        },
                    },
                    None,
                )
            }
            Some(problem) => {
                let text = problem["detail"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| problem.as_str().map(str::to_string))
                    .unwrap_or_else(|| problem.to_string());
                (
                    TaskPayload::Completed {
                        result: completed_result(Some(&Value::String(text)), true),
                    },
                    None,
                )
            }
            None => (
                TaskPayload::Completed {
                    result: completed_result(None, true),
                },
                None,
            ),
        },
    };
    let task = task_of(call, payload.status(), message);
    DetailedTask::new(task, payload)
}

/// Starts `toolkit.tool` as a task; the task as created (it is in the store by then,
/// so `tasks/get` finds it at once). A call refused before it starts (arguments that
/// do not fit, a role that may not call it) is the caller's to answer as a call
/// answered in the request would be.
pub async fn start(
    runner: &dyn BackgroundCalls,
    ctx: &CallContext,
    (toolkit, tool): (&str, &str),
    arguments: JsonObject,
    timeout: std::time::Duration,
) -> Result<CreateTaskResult, HubError> {
    let call = runner
        .start(ctx, (toolkit, tool), arguments, timeout)
        .await?;
    let status = detailed(&call).status();
    Ok(CreateTaskResult::new(task_of(&call, status, None)))
}

pub async fn get(
    runner: &dyn BackgroundCalls,
    ctx: &CallContext,
    id: &str,
) -> Result<GetTaskResult, ErrorData> {
    match runner.get(ctx, id).await {
        Ok(call) => Ok(GetTaskResult::new(detailed(&call))),
        Err(HubError::NotFound(_)) => Err(unknown_task(id)),
        Err(error) => Err(rpc_error(error, &ctx.request_id)),
    }
}

/// Cancels a task; cancelling one that already ended changes nothing.
pub async fn cancel(
    runner: &dyn BackgroundCalls,
    ctx: &CallContext,
    id: &str,
) -> Result<(), ErrorData> {
    match runner.cancel(ctx, id).await {
        Ok(_) => Ok(()),
        Err(HubError::NotFound(_)) => Err(unknown_task(id)),
        Err(error) => Err(rpc_error(error, &ctx.request_id)),
    }
}

/// `tasks/update` answers input a task asked for, by the keys `tasks/get` showed.
/// Keys it did not ask (or no longer waits for) are ignored, so a client may answer
/// one request at a time, and an answer that comes twice changes nothing; the task
/// runs again once every request is answered. Each answer must be an object (the
/// client's result for that request).
pub async fn update(
    runner: &dyn BackgroundCalls,
    ctx: &CallContext,
    id: &str,
    answers: &InputResponses,
) -> Result<(), ErrorData> {
    let mut given = JsonObject::new();
    for (key, answer) in answers {
        if !answer.is_object() {
            return Err(ErrorData::invalid_params(
                format!(
                    "inputResponses.{}: an answer must be an object (the client's result for the request of that key)",
                    tideway_core::error::excerpt(key)
                ),
                None,
            ));
        }
        given.insert(key.clone(), answer.clone());
    }
    match runner.answer(ctx, id, given).await {
        Ok(_) => Ok(()),
        Err(HubError::NotFound(_)) => Err(unknown_task(id)),
        Err(error) => Err(rpc_error(error, &ctx.request_id)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::{Value, json};
    use tideway_core::background::{BackgroundCall, BackgroundStatus};

    use super::detailed;

    fn call(status: BackgroundStatus, result: Option<Value>, error: Option<Value>) -> Value {
        let call = BackgroundCall {
            id: "t-1".into(),
            toolkit: "conformance".into(),
            tool: "slow_compute".into(),
            status,
            progress: None,
            result,
            error,
            input_requests: None,
            created_at: Utc::now(),
            finished_at: None,
            kept_for: Some(std::time::Duration::from_secs(86_400)),
        };
        serde_json::to_value(detailed(&call)).expect("json")
    }

    #[test]
    fn tool_failures_complete_with_is_error_and_server_failures_fail() {
        let done = call(BackgroundStatus::Succeeded, Some(json!("42")), None);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["result"]["content"][0]["text"], "42");
        assert!(done.get("error").is_none());

        let structured = call(BackgroundStatus::Succeeded, Some(json!({"rows": 3})), None);
        assert_eq!(
            structured["result"]["structuredContent"],
            json!({"rows": 3})
        );

        let tool_error = call(
            BackgroundStatus::Failed,
            None,
            Some(json!("the job failed")),
        );
        assert_eq!(tool_error["status"], "completed");
        assert_eq!(tool_error["result"]["isError"], true);
        assert_eq!(tool_error["result"]["content"][0]["text"], "the job failed");

        let refused = json!({"status": 422, "type": "urn:tideway:problem:invalid-arguments", "detail": "bad"});
        let refused = call(BackgroundStatus::Failed, None, Some(refused));
        assert_eq!(refused["status"], "completed");
        assert_eq!(refused["result"]["content"][0]["text"], "bad");

        let internal =
            json!({"status": 500, "type": "urn:tideway:problem:internal", "detail": "see the log"});
        let failed = call(BackgroundStatus::Failed, None, Some(internal));
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"]["code"], -32603);
        assert_eq!(failed["error"]["message"], "see the log");
        assert!(failed.get("result").is_none());

        let working = call(BackgroundStatus::Running, None, None);
        assert_eq!(working["status"], "working");
        assert!(working.get("result").is_none() && working.get("requestState").is_none());
        assert_eq!(working["pollIntervalMs"], 500);
        assert_eq!(working["ttlMs"], 86_400_000);

        assert_eq!(
            call(BackgroundStatus::Cancelled, None, None)["status"],
            "cancelled"
        );
    }

    #[test]
    fn a_call_waiting_for_input_shows_what_it_asks() {
        let mut waiting = BackgroundCall {
            id: "t-2".into(),
            toolkit: "conformance".into(),
            tool: "confirm_delete".into(),
            status: BackgroundStatus::InputRequired,
            progress: None,
            result: None,
            error: None,
            input_requests: None,
            created_at: Utc::now(),
            finished_at: None,
            kept_for: None,
        };
        let asked = json!({
            "confirm": {"method": "elicitation/create", "params": {"message": "Delete?", "requestedSchema": {"type": "object", "properties": {}}}},
            "odd": {"method": "tools/call", "params": {}}
        });
        waiting.input_requests = asked.as_object().cloned();
        let shown = serde_json::to_value(detailed(&waiting)).expect("json");
        assert_eq!(shown["status"], "input_required");
        assert_eq!(
            shown["inputRequests"]["confirm"]["method"],
            "elicitation/create"
        );
        // A request no client can be asked is left out.
        assert!(shown["inputRequests"].get("odd").is_none());
        assert!(shown.get("requestState").is_none());
    }
}
