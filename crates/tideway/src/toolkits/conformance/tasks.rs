//! The fixtures of the conformance suite's tasks scenarios (the 2026-07-28 tasks
//! extension): a quick tool that never runs as a task, a slow one that may, one that
//! fails as a tool and must run as a task, one that fails with a protocol error,
//! two that ask the task's client for input (one request, or two at once), and one
//! that asks in the request before it becomes a task (`test_tool_with_task`).

use std::time::Duration;

use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError, TaskSupport,
    mcp::{CallToolResult, ContentBlock, JsonObject},
    typed::ToolSet,
};

use super::{object, text_of, tool, tool_with};

/// The most `slow_compute` waits.
const MAX_SECONDS: f64 = 600.0;

pub fn task_support(tool: &str) -> TaskSupport {
    match tool {
        "slow_compute" | "protocol_error_job" | "confirm_delete" | "multi_input" => {
            TaskSupport::Optional
        }
        "failing_job" | WITH_TASK => TaskSupport::Required,
        _ => TaskSupport::Forbidden,
    }
}

/// The fixture that gathers a name in the request, then runs as a task with it.
const WITH_TASK: &str = "test_tool_with_task";

/// Before `test_tool_with_task` becomes a task: its user's name, asked in the
/// request unless the arguments already carry it.
pub async fn before_task(
    ctx: &CallContext,
    tool: &str,
    mut arguments: JsonObject,
) -> Result<JsonObject, HubError> {
    if tool == WITH_TASK && !arguments.contains_key("user_name") {
        let name = super::input::ask_field(ctx, "user_name", "What is your name?", "name").await?;
        arguments.insert("user_name".into(), Value::String(name));
    }
    Ok(arguments)
}

pub fn add_fixtures(tools: ToolSet<()>) -> ToolSet<()> {
    tools
        .add_raw(
            tool_with(
                "greet",
                "Greets someone at once (never a task)",
                json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
            ),
            |_, _, args| async move {
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "Hello, {}!",
                    text_of(&args["name"])
                ))]))
            },
        )
        .add_raw(
            tool_with(
                "slow_compute",
                "Waits the given seconds, then answers (may run as a task)",
                json!({"type": "object", "properties": {
                    "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
                    "label": {"type": "string"}}, "required": ["seconds"]}),
            ),
            |_, ctx, args| async move {
                let seconds = args
                    .get("seconds")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .clamp(0.0, MAX_SECONDS);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {}
                    _ = ctx.cancel.cancelled() => return Err(HubError::Cancelled),
                }
                let label = args.get("label").map(text_of).unwrap_or_default();
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "Computed '{label}' after {seconds} s"
                ))]))
            },
        )
        .add_raw(
            tool("failing_job", "Fails as a tool after a second (only as a task)"),
            |_, ctx, _| async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = ctx.cancel.cancelled() => return Err(HubError::Cancelled),
                }
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    "The job failed, as this fixture always does",
                )]))
            },
        )
        .add_raw(
            tool_with(
                "confirm_delete",
                "Asks the user to confirm before it (pretends to) delete a file (may run as a task)",
                json!({"type": "object", "properties": {"filename": {"type": "string"}}, "required": ["filename"]}),
            ),
            |_, ctx, args| async move {
                let filename = text_of(&args["filename"]);
                let question = json!({
                    "message": format!("Delete {filename}?"),
                    "requestedSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
                });
                let answer = ctx.client.ask("confirm", "elicitation/create", object(question)).await?;
                let confirmed = answer["action"] == "accept" && answer["content"]["confirm"] == true;
                Ok(CallToolResult::success(vec![ContentBlock::text(if confirmed {
                    format!("Deleted {filename}")
                } else {
                    format!("Kept {filename}")
                })]))
            },
        )
        .add_raw(
            tool("multi_input", "Asks for two answers at once (may run as a task)"),
            |_, ctx, _| async move {
                let question = |n: u32| {
                    object(json!({
                        "message": format!("Answer {n}?"),
                        "requestedSchema": {"type": "object", "properties": {
                            "name": {"type": "string"}, "confirm": {"type": "boolean"}}}
                    }))
                };
                // Asked together, so both wait at once.
                let (first, second) = futures::join!(
                    ctx.client.ask("first", "elicitation/create", question(1)),
                    ctx.client.ask("second", "elicitation/create", question(2)),
                );
                let (first, second) = (first?, second?);
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "{} and {}",
                    text_of(&first["content"]["name"]),
                    text_of(&second["content"]["name"])
                ))]))
            },
        )
        .add_raw(
            tool_with(
                WITH_TASK,
                "Asks the user's name in the request, then greets them from a task (only as a task)",
                json!({"type": "object", "properties": {"user_name": {"type": "string"}}}),
            ),
            |_, ctx, args| async move {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = ctx.cancel.cancelled() => return Err(HubError::Cancelled),
                }
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "Hello, {}, from the task your answer started",
                    text_of(&args["user_name"])
                ))]))
            },
        )
        .add_raw(
            tool("protocol_error_job", "Fails with a protocol error (may run as a task)"),
            |_, _, _| async move {
                Err::<CallToolResult, _>(HubError::Internal(
                    "this fixture always fails inside the server".into(),
                ))
            },
        )
}

#[cfg(test)]
mod tests {
    use super::{TaskSupport, task_support};

    #[test]
    fn only_the_slow_failing_and_asking_fixtures_run_as_tasks() {
        assert_eq!(task_support("greet"), TaskSupport::Forbidden);
        assert_eq!(task_support("slow_compute"), TaskSupport::Optional);
        assert_eq!(task_support("failing_job"), TaskSupport::Required);
        assert_eq!(task_support("protocol_error_job"), TaskSupport::Optional);
        assert_eq!(task_support("confirm_delete"), TaskSupport::Optional);
        assert_eq!(task_support("test_tool_with_task"), TaskSupport::Required);
    }
}
