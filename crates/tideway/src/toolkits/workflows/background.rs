//! The engine as the Hub's runner of background calls (REST's `Prefer:
//! respond-async`): a call is a run of a one-step template made for it, so it is as
//! durable as any run. It survives a restart, another server sharing the store
//! carries it on, it acts as its starter through the Hub, and a call cut off mid-way
//! runs again only if its tool only reads or is idempotent; otherwise it is `unknown`
//! until someone decides.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    background::{BackgroundCall, BackgroundCalls, BackgroundStatus},
    input::capability_of,
    mcp::JsonObject,
    schema::ArgumentValidator,
};

use super::{
    definition::Template,
    progress::{RunStatus, StepStatus},
    runs::{Control, ExecutionView, pending_input},
    service::Workflows,
    templates::TemplateVersion,
};

/// The template id of every background call's run, as `list_executions` shows it.
pub const TEMPLATE_ID: &str = "background-call";
/// The id of the one step of a background call's run.
pub const STEP_ID: &str = "call";

/// `text` as an expression's string literal. Only letters, digits and a few marks
/// stay as they are; everything else is a `\u` escape, so no argument name can end
/// the literal or the `{{ }}` around it.
fn string_literal(text: &str) -> String {
    let mut literal = String::from("\"");
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ') {
            literal.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                literal.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    literal.push('"');
    literal
}

/// The one-step template of a call of `toolkit.tool` (named `mcp_name` on `/mcp`):
/// each argument comes from the run's input as it is, never read as an expression.
fn template_for(
    (toolkit, tool): (&str, &str),
    mcp_name: &str,
    arguments: &JsonObject,
    timeout: Duration,
    client_answers: &[&str],
) -> Result<Template, HubError> {
    let from_input: JsonObject = arguments
        .keys()
        .map(|name| {
            let expression = format!("{{{{ input[{}] }}}}", string_literal(name));
            (name.clone(), Value::String(expression))
        })
        .collect();
    serde_json::from_value(json!({
        "id": TEMPLATE_ID,
        // Where `get` finds what was called; toolkit names hold no '.'.
        "name": format!("{toolkit}.{tool}"),
        "description": "A tool call run in the background",
        "steps": [{
            "id": STEP_ID,
            "tool": mcp_name,
            "arguments": from_input,
            "timeout_secs": timeout.as_secs().max(1),
            "client_answers": client_answers,
        }],
    }))
    .map_err(HubError::internal)
}

impl Workflows {
    /// A background call of `ctx`'s tenant as its starter sees it; any other run
    /// answers as missing.
    async fn background_call(
        &self,
        ctx: &CallContext,
        id: &str,
    ) -> Result<BackgroundCall, HubError> {
        let missing = || HubError::NotFound(format!("no job {}", tideway_core::error::excerpt(id)));
        let mut view = self.view(ctx, id).await.map_err(|error| match error {
            HubError::NotFound(_) => missing(),
            other => other,
        })?;
        if view.template_id != TEMPLATE_ID {
            return Err(missing());
        }
        let mut loaded = self.engine.runs.load(id, STEP_ID).await?;
        let called = loaded.template.name.clone();
        let (toolkit, tool) = called.split_once('.').unwrap_or(("", called.as_str()));
        // The view holds a preview of a result too large for its row; the caller
        // gets the whole.
        let whole = loaded
            .steps
            .remove(STEP_ID)
            .and_then(|(_, output, _)| output);
        if let Some(step) = view.steps.iter_mut().find(|step| step.id == STEP_ID)
            && step.output_bytes.is_some()
        {
            step.output = whole;
        }
        Ok(call_of(view, toolkit, tool, self.engine.kept_for()))
    }
}

/// What a background call's run says of the call.
fn call_of(
    view: ExecutionView,
    toolkit: &str,
    tool: &str,
    kept_for: Option<Duration>,
) -> BackgroundCall {
    let step = view.steps.into_iter().find(|step| step.id == STEP_ID);
    let step_status = step.as_ref().map(|step| step.status);
    let output = step.as_ref().and_then(|step| step.output.clone());
    let input_requests = match (&output, step_status) {
        (Some(output), Some(StepStatus::Waiting)) => pending_input(output),
        _ => None,
    };
    let status = match view.status {
        RunStatus::Succeeded => BackgroundStatus::Succeeded,
        RunStatus::Failed => BackgroundStatus::Failed,
        RunStatus::Cancelled => BackgroundStatus::Cancelled,
        RunStatus::Running | RunStatus::Paused if step_status == Some(StepStatus::Unknown) => {
            BackgroundStatus::Unknown
        }
        RunStatus::Running | RunStatus::Paused if input_requests.is_some() => {
            BackgroundStatus::InputRequired
        }
        RunStatus::Running | RunStatus::Paused => BackgroundStatus::Running,
    };
    let progress = match (&output, step_status) {
        (Some(output), Some(StepStatus::Running)) => output.get("progress").and_then(|noted| {
            Some((
                noted.get("progress")?.as_f64()?,
                noted.get("total").and_then(Value::as_f64),
                noted
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ))
        }),
        _ => None,
    };
    let error = match status {
        // The problem the Hub or the tool answered with, else the step's or the
        // run's words.
        BackgroundStatus::Failed => output
            .clone()
            .filter(|problem| problem.get("status").is_some())
            .or_else(|| {
                step.as_ref()
                    .and_then(|step| step.error.clone())
                    .or(view.error.clone())
                    .map(Value::String)
            }),
        BackgroundStatus::Unknown => Some(Value::String(
            "the server running this call stopped mid-way, and the tool changes data, so it \
             was not run again; retry it (retry_execution) or cancel it"
                .into(),
        )),
        _ => None,
    };
    BackgroundCall {
        id: view.execution_id,
        toolkit: toolkit.to_string(),
        tool: tool.to_string(),
        status,
        progress,
        result: (status == BackgroundStatus::Succeeded)
            .then_some(output)
            .flatten(),
        error,
        input_requests,
        created_at: view.created_at,
        finished_at: view.finished_at,
        kept_for,
    }
}

#[async_trait]
impl BackgroundCalls for Workflows {
    async fn start_keyed(
        &self,
        ctx: &CallContext,
        (toolkit, tool): (&str, &str),
        mut arguments: JsonObject,
        timeout: Duration,
        key: Option<&str>,
    ) -> Result<BackgroundCall, HubError> {
        let unknown = || HubError::UnknownTool {
            toolkit: toolkit.to_string(),
            tool: tool.to_string(),
        };
        let hub = self.hub()?;
        let entry = hub
            .entries()
            .into_iter()
            .find(|entry| entry.name() == toolkit && entry.visible_to(&ctx.principal))
            .ok_or_else(|| HubError::UnknownToolkit(toolkit.to_string()))?;
        let mcp_name = entry.mcp_tool_name(tool).ok_or_else(unknown)?;
        if !entry.may_call(&ctx.principal, tool) {
            return Err(HubError::Forbidden(format!(
                "tool '{tool}' of toolkit '{toolkit}' is not available to this credential"
            )));
        }
        // Arguments that do not fit the tool are refused now, as a call would refuse
        // them, rather than by a job that fails later.
        let schema = entry
            .tools
            .iter()
            .find(|listed| listed.name == tool)
            .ok_or_else(unknown)?
            .input_schema
            .clone();
        let validator = ArgumentValidator::compile(tool, &schema)?;
        validator.accept_synonyms(&mut arguments);
        validator.validate(&arguments)?;
        // What the starter's client can answer (an MCP task's client that declared
        // sampling, elicitation or roots); other starters are never asked.
        let client_answers: Vec<&str> =
            ["sampling/createMessage", "elicitation/create", "roots/list"]
                .into_iter()
                .filter(|method| ctx.client.can_answer(method))
                .filter_map(capability_of)
                .collect();
        let pinned = TemplateVersion {
            version: 0,
            template: template_for(
                (toolkit, tool),
                mcp_name,
                &arguments,
                timeout,
                &client_answers,
            )?,
            created_by: ctx.principal.id.clone(),
            created_at: None,
        };
        let view = self.start_pinned(ctx, &pinned, arguments, key).await?;
        Ok(call_of(view, toolkit, tool, self.engine.kept_for()))
    }

    async fn get(&self, ctx: &CallContext, id: &str) -> Result<BackgroundCall, HubError> {
        self.background_call(ctx, id).await
    }

    async fn answer(
        &self,
        ctx: &CallContext,
        id: &str,
        answers: JsonObject,
    ) -> Result<BackgroundCall, HubError> {
        // The call must be the tenant's; a call not waiting for input takes no
        // answers and stays as it is.
        self.background_call(ctx, id).await?;
        if let Some(ready) = self.engine.runs.answer_input(id, STEP_ID, &answers).await? {
            tracing::info!(
                execution_id = id,
                ready,
                "a background call's input was answered"
            );
            self.engine.changed(&ctx.tenant, id);
        }
        self.background_call(ctx, id).await
    }

    async fn cancel(&self, ctx: &CallContext, id: &str) -> Result<BackgroundCall, HubError> {
        let call = self.background_call(ctx, id).await?;
        if matches!(
            call.status,
            BackgroundStatus::Running | BackgroundStatus::Unknown
        ) {
            self.control(ctx, id, Control::Cancel).await?;
            return self.background_call(ctx, id).await;
        }
        Ok(call)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::string_literal;
    use crate::toolkits::workflows::expressions;

    #[test]
    fn any_argument_name_reads_its_own_value_and_nothing_else() {
        let names = [
            "plain",
            "with space",
            "quote\"d",
            "back\\slash",
            "}} {{ input }}",
            "new\nline",
            "ünïcödé",
            "emoji 🦀",
            "",
        ];
        let mut input = serde_json::Map::new();
        for (index, name) in names.iter().enumerate() {
            input.insert(name.to_string(), json!(index));
        }
        let scope = json!({ "input": input });
        for (index, name) in names.iter().enumerate() {
            let expression = format!("{{{{ input[{}] }}}}", string_literal(name));
            assert_eq!(
                expressions::resolve(&json!(expression), &scope),
                Ok(json!(index)),
                "{name:?} as {expression}"
            );
        }
    }
}
