//! The workflows toolkit's MCP tools: templates (list, read, save), runs (start,
//! read, list) and a person's say over a run (cancel, pause, resume, retry, approve).

use std::{sync::Arc, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    mcp::JsonObject,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    definition::Template,
    progress::RunStatus,
    runs::{Control, ExecutionSummary, ExecutionView},
    service::Workflows,
    templates::TemplateVersion,
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const LIST_WORKFLOW_TEMPLATES: &str = "list_workflow_templates";
    pub const GET_WORKFLOW_TEMPLATE: &str = "get_workflow_template";
    pub const SAVE_WORKFLOW_TEMPLATE: &str = "save_workflow_template";
    pub const START_WORKFLOW: &str = "start_workflow";
    pub const GET_EXECUTION: &str = "get_execution";
    pub const LIST_EXECUTIONS: &str = "list_executions";
    pub const CANCEL_EXECUTION: &str = "cancel_execution";
    pub const PAUSE_EXECUTION: &str = "pause_execution";
    pub const RESUME_EXECUTION: &str = "resume_execution";
    pub const RETRY_EXECUTION: &str = "retry_execution";
    pub const APPROVE_STEP: &str = "approve_step";
    pub const GET_STEP_OUTPUT: &str = "get_step_output";
}

pub use tideway_core::typed::NoArgs;

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TemplateSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    /// 0 for a built-in template the tenant has not saved over.
    pub version: i64,
    pub steps: usize,
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateSummary>,
}

impl ToolText for TemplateList {}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    /// The template's id, e.g. `customer_support`.
    pub template_id: String,
    /// A saved version (default: the latest; 0 for the built-in one).
    #[serde(default)]
    pub version: Option<i64>,
}

impl ToolText for TemplateVersion {}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    pub template: Template,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Saved {
    pub template_id: String,
    pub version: i64,
}

impl ToolText for Saved {
    fn text(&self) -> String {
        format!(
            "Saved workflow template '{}' as version {}.",
            self.template_id, self.version
        )
    }
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartArgs {
    pub template_id: String,
    /// The run's input; it must satisfy the template's input schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: JsonObject,
    /// A saved version to run (default: the latest).
    #[serde(default)]
    pub version: Option<i64>,
    /// Seconds to wait for the run to finish before answering (default 0: answer at
    /// once). While waiting, each step that ends is reported as progress; the answer
    /// is the run as it then is, finished or not, and the run goes on either way.
    #[serde(default)]
    #[schemars(range(max = 3600))]
    pub wait_secs: u32,
    /// A key of your choosing (1-200 characters) that makes the start safe to retry:
    /// a later start with the same key answers with the run this one started.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub idempotency_key: Option<String>,
}

impl ToolText for ExecutionView {
    fn text(&self) -> String {
        let mut text = format!(
            "Execution {} of '{}' (version {}) is {}.",
            self.execution_id, self.template_id, self.template_version, self.status
        );
        if let Some(error) = &self.error {
            text.push_str(&format!(" {error}."));
        }
        for step in &self.steps {
            text.push_str(&format!(
                "\n- {}: {} (attempt {})",
                step.id, step.status, step.attempt
            ));
            if let Some(error) = &step.error {
                text.push_str(&format!(": {error}"));
            }
        }
        if !self.needs_attention.is_empty() {
            text.push_str(&format!(
                "\nWaiting for a person: {}.",
                self.needs_attention.join(", ")
            ));
        }
        text
    }
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionArgs {
    pub execution_id: String,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepArgs {
    pub execution_id: String,
    pub step_id: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct StepOutput {
    pub execution_id: String,
    pub step_id: String,
    /// The step's whole output; null while it has none. An output larger than the
    /// server keeps whole (`max_whole_output_bytes`) is its preview, marked
    /// `truncated`.
    #[schema(value_type = Object)]
    pub output: Option<serde_json::Value>,
}

impl ToolText for StepOutput {}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// Only runs of this template; `background-call` lists the calls run in the
    /// background, which are otherwise left out.
    #[serde(default)]
    pub template_id: Option<String>,
    /// The most runs to return, newest first (default 50, at most 500).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionSummary>,
}

impl ToolText for ExecutionList {}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveArgs {
    pub execution_id: String,
    /// The approval step waiting for an answer.
    pub step_id: String,
    /// true approves (the step succeeds); false rejects (the step fails).
    pub approve: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

fn control_tool(tools: ToolSet<Workflows>, spec: ToolSpec, control: Control) -> ToolSet<Workflows> {
    tools.add(
        spec,
        move |state: Arc<Workflows>, ctx, args: ExecutionArgs| async move {
            state.control(&ctx, &args.execution_id, control).await
        },
    )
}

pub fn tool_set() -> ToolSet<Workflows> {
    let tools = ToolSet::new()
        .add(
            ToolSpec {
                name: names::LIST_WORKFLOW_TEMPLATES,
                title: "List workflow templates",
                description: "The tenant's workflow templates (its saved ones and the built-in ones): id, name, description, version, number of steps and input schema.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, _args: NoArgs| async move {
                let templates = state
                    .templates(&ctx)
                    .await?
                    .into_iter()
                    .map(|saved| TemplateSummary {
                        steps: saved.template.steps.len(),
                        id: saved.template.id,
                        name: saved.template.name,
                        description: saved.template.description,
                        version: saved.version,
                        input_schema: saved.template.input_schema,
                    })
                    .collect();
                Ok(TemplateList { templates })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_WORKFLOW_TEMPLATE,
                title: "Read a workflow template",
                description: "A workflow template with all its steps: the latest version, or the one named.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: TemplateArgs| async move {
                state.template(&ctx, &args.template_id, args.version).await
            },
        )
        .add(
            ToolSpec {
                name: names::SAVE_WORKFLOW_TEMPLATE,
                title: "Save a workflow template",
                description: "Saves a new version of a workflow template after checking it: step ids, needs (no cycles), tools the caller may call, literal arguments against each tool's schema, and expressions that read only earlier steps. Runs already started keep the version they started with.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: SaveArgs| async move {
                let version = state.save(&ctx, &args.template).await?;
                Ok(Saved {
                    template_id: args.template.id,
                    version,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::START_WORKFLOW,
                title: "Start a workflow",
                description: "Starts a run of a workflow template with the given input and returns with the execution's id and its steps, at once or, with `wait_secs`, when the run finishes (each step that ends is reported as progress meanwhile); the run goes on in the background and survives restarts. Each step runs as the caller, with the caller's rights.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Workflows>, ctx, args: StartArgs| async move {
                let started = state
                    .start(
                        &ctx,
                        &args.template_id,
                        args.version,
                        args.input,
                        args.idempotency_key.as_deref(),
                    )
                    .await?;
                if args.wait_secs == 0 {
                    return Ok(started);
                }
                let wait = Duration::from_secs(u64::from(args.wait_secs.min(3600)));
                state.follow(&ctx, &started.execution_id, wait).await
            },
        )
        .add(
            ToolSpec {
                name: names::GET_EXECUTION,
                title: "Read a workflow execution",
                description: "A workflow execution's status and each step's status, attempts, output and error.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: ExecutionArgs| async move {
                state.view(&ctx, &args.execution_id).await
            },
        )
        .add(
            ToolSpec {
                name: names::GET_STEP_OUTPUT,
                title: "Read a step's whole output",
                description: "One step's whole output. `get_execution` shows an output larger than a step row holds as a preview marked `truncated`, with its size as `output_bytes`; this reads all of it.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: StepArgs| async move {
                state
                    .step_output(&ctx, &args.execution_id, &args.step_id)
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_EXECUTIONS,
                title: "List workflow executions",
                description: "The tenant's workflow executions, newest first, optionally of one status or template. Calls run in the background (REST jobs, MCP tasks) are runs of the template `background-call`, listed only when that template is asked for.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: ListArgs| async move {
                let executions = state
                    .list(&ctx, args.status, args.template_id.as_deref(), args.limit)
                    .await?;
                Ok(ExecutionList { executions })
            },
        )
        .add(
            ToolSpec {
                name: names::APPROVE_STEP,
                title: "Approve or reject a step",
                description: "Answers an approval step of a run: approve lets the run go on; reject fails the step.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Workflows>, ctx, args: ApproveArgs| async move {
                state
                    .approve(
                        &ctx,
                        &args.execution_id,
                        &args.step_id,
                        args.approve,
                        args.comment.as_deref(),
                    )
                    .await
            },
        );
    let tools = control_tool(
        tools,
        ToolSpec {
            name: names::CANCEL_EXECUTION,
            title: "Cancel a workflow execution",
            description: "Cancels a running or paused execution: steps in flight are cancelled and no new step starts.",
            effect: Effect::Destructive,
            open_world: false,
        },
        Control::Cancel,
    );
    let tools = control_tool(
        tools,
        ToolSpec {
            name: names::PAUSE_EXECUTION,
            title: "Pause a workflow execution",
            description: "Pauses a running execution: steps in flight finish, no new step starts until it is resumed.",
            effect: Effect::Idempotent,
            open_world: false,
        },
        Control::Pause,
    );
    let tools = control_tool(
        tools,
        ToolSpec {
            name: names::RESUME_EXECUTION,
            title: "Resume a workflow execution",
            description: "Resumes a paused execution.",
            effect: Effect::Idempotent,
            open_world: false,
        },
        Control::Resume,
    );
    control_tool(
        tools,
        ToolSpec {
            name: names::RETRY_EXECUTION,
            title: "Retry a workflow execution",
            description: "Runs a failed or cancelled execution on from where it stopped: its failed, cancelled and unknown steps go again; steps that succeeded are not repeated.",
            effect: Effect::Additive,
            open_world: true,
        },
        Control::Retry,
    )
}
