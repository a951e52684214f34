//! What a schedule, a webhook or a trigger starts: a workflow template or one tool,
//! with its input. Starting goes through the Hub as the principal that made the
//! automation (so its roles, rules, limits and audit apply), and is keyed: the same
//! key starts one run however often it is tried. Tool calls run as background calls
//! on the workflows engine, so both kinds are durable runs with an execution id.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError,
    hub::Scope,
    mcp::{CallToolResult, JsonObject},
};
use utoipa::ToSchema;

/// The workflows toolkit's tools this module calls through the Hub.
const WORKFLOWS: &str = "workflows";
const START_WORKFLOW: &str = "start_workflow";
const GET_WORKFLOW_TEMPLATE: &str = "get_workflow_template";

/// What to start: `workflow` (a template id) or `tool` (a tool's name on `/mcp`),
/// with `input` (the workflow's input, or the tool's arguments).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A workflow template id; its latest version is started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// A tool, by its name on `/mcp` (`support_create_ticket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The workflow's input or the tool's arguments. A webhook's body is laid under
    /// it: keys given here win over the sender's.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: JsonObject,
}

/// A run a target started.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct Started {
    pub execution_id: String,
}

/// How long a tool target's call may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

impl Target {
    /// Checks the shape, and that `ctx`'s principal can start it now: the template
    /// exists for the tenant, or the tool is one the principal may call.
    pub async fn check(&self, hub: &Hub, ctx: &CallContext) -> Result<(), HubError> {
        match (&self.workflow, &self.tool) {
            (Some(_), Some(_)) | (None, None) => Err(HubError::invalid_argument(
                "target",
                "give either workflow (a template id) or tool (a tool's name), not both",
            )),
            (Some(template), None) => {
                let mut arguments = JsonObject::new();
                arguments.insert("template_id".into(), Value::String(template.clone()));
                let result = hub
                    .call(ctx, WORKFLOWS, GET_WORKFLOW_TEMPLATE, Some(arguments))
                    .await
                    .map_err(|error| workflows_missing(error, "target.workflow"))?;
                refused(&result, "target.workflow")
            }
            (None, Some(name)) => {
                let (toolkit, tool) = hub.resolve_tool_for(&Scope::All, name, &ctx.principal)?;
                let may = hub
                    .entries()
                    .iter()
                    .find(|entry| entry.name() == toolkit)
                    .is_some_and(|entry| entry.may_call(&ctx.principal, &tool));
                if !may {
                    return Err(HubError::Forbidden(format!(
                        "tool '{name}' is not available to this credential"
                    )));
                }
                Ok(())
            }
        }
    }

    /// Starts the target as `ctx`'s principal with `extra` laid under its input; a
    /// start with a `key` started before answers with that run.
    pub async fn start(
        &self,
        hub: &Hub,
        ctx: &CallContext,
        extra: Option<&JsonObject>,
        key: &str,
    ) -> Result<Started, HubError> {
        let mut input = extra.cloned().unwrap_or_default();
        for (name, value) in &self.input {
            input.insert(name.clone(), value.clone());
        }
        if let Some(template) = &self.workflow {
            let arguments = json!({
                "template_id": template,
                "input": input,
                "idempotency_key": key,
            });
            let Value::Object(arguments) = arguments else {
                return Err(HubError::Internal("arguments are an object".into()));
            };
            let result = hub
                .call(ctx, WORKFLOWS, START_WORKFLOW, Some(arguments))
                .await
                .map_err(|error| workflows_missing(error, "target.workflow"))?;
            refused(&result, "target.workflow")?;
            let execution_id = result
                .structured_content
                .as_ref()
                .and_then(|started| started.get("execution_id"))
                .and_then(Value::as_str)
                .ok_or_else(|| HubError::Internal("start_workflow gave no execution id".into()))?;
            return Ok(Started {
                execution_id: execution_id.to_string(),
            });
        }
        let name = self.tool.as_deref().unwrap_or_default();
        let (toolkit, tool) = hub.resolve_tool_for(&Scope::All, name, &ctx.principal)?;
        let calls = hub
            .background_calls()
            .ok_or_else(|| HubError::Unavailable {
                component: "workflows".into(),
                reason: "a tool target runs on the workflows engine; enable the workflows toolkit"
                    .into(),
            })?;
        let call = calls
            .start_keyed(ctx, (&toolkit, &tool), input, TOOL_TIMEOUT, Some(key))
            .await?;
        Ok(Started {
            execution_id: call.id,
        })
    }
}

/// A tool's error result as the Hub's error, naming `field`.
fn refused(result: &CallToolResult, field: &str) -> Result<(), HubError> {
    if result.is_error != Some(true) {
        return Ok(());
    }
    let text = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    Err(HubError::invalid_argument(field, text))
}

/// An automation that starts workflows needs the workflows toolkit.
fn workflows_missing(error: HubError, field: &str) -> HubError {
    match error {
        HubError::UnknownToolkit(_) => HubError::invalid_argument(
            field,
            "starting a workflow needs the workflows toolkit, which this server does not run",
        ),
        HubError::NotFound(message) => HubError::invalid_argument(field, message),
        other => other,
    }
}
