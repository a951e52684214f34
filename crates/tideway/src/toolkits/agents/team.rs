//! What the agents are like as a team: each agent's health (a model provider that
//! answers, model tokens left today, how its recent runs went, how busy it is), and
//! multi-agent workflows (a workflow whose steps are agent tasks, each passing its
//! answer on), run on the workflow engine like any other workflow.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{CallContext, HubError, mcp::JsonObject, typed::ToolText};
use utoipa::ToSchema;

use super::{
    Agents,
    store::{RunStatus, now_ms},
};

/// The window recent runs are judged over.
const RECENT_MS: i64 = 24 * 3600 * 1000;
/// Failing at least this share of recent runs makes an agent degraded.
const FAILING_SHARE: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentHealthStatus {
    Healthy,
    /// It can run, but most of its recent runs failed.
    Degraded,
    /// It cannot run: it has no model a background run can reach, or the
    /// tenant's model tokens for today are spent.
    Down,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct AgentHealth {
    pub agent: String,
    pub status: AgentHealthStatus,
    /// The model provider it thinks with (its own choice or the tenant's:
    /// `sampling`, a provider's name, or `none`); `remote` for a remote agent.
    pub provider: String,
    /// The tenant's model tokens left today; absent without a daily budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_left_today: Option<u64>,
    /// Runs queued or running now.
    pub load: i64,
    pub max_concurrent_runs: u32,
    /// Runs started in the last 24 hours, and how many of them failed.
    pub runs_24h: i64,
    pub failed_24h: i64,
    /// Why it is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TeamHealth {
    pub agents: Vec<AgentHealth>,
}

impl ToolText for TeamHealth {
    fn text(&self) -> String {
        self.agents
            .iter()
            .map(|a| {
                format!(
                    "{}: {:?} (load {}/{}, {} of {} runs failed in 24h){}",
                    a.agent,
                    a.status,
                    a.load,
                    a.max_concurrent_runs,
                    a.failed_24h,
                    a.runs_24h,
                    a.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthArgs {
    /// One agent; every agent when absent.
    pub agent: Option<String>,
}

pub async fn health(
    state: &Agents,
    ctx: &CallContext,
    args: HealthArgs,
) -> Result<TeamHealth, HubError> {
    let store = state.store();
    let agents = match &args.agent {
        Some(name) => vec![state.find(&ctx.tenant, name, None).await?],
        None => state.list(&ctx.tenant).await?,
    };
    let load: HashMap<String, i64> = store.load(&ctx.tenant).await?.into_iter().collect();
    let mut recent: HashMap<String, (i64, i64)> = HashMap::new();
    for (agent, status, count) in store
        .outcomes_since(&ctx.tenant, now_ms() - RECENT_MS)
        .await?
    {
        let entry = recent.entry(agent).or_default();
        entry.0 += count;
        if status == RunStatus::Failed {
            entry.1 += count;
        }
    }
    let hub = state.hub()?;
    let providers = state.providers(&hub, ctx).await?;
    let current = providers["current"].as_str().unwrap_or("none").to_string();
    let known: Vec<&str> = providers["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|provider| provider["name"].as_str())
        .collect();
    let tokens_left_today = providers["tokens_left_today"].as_u64();
    // Each provider the agents think with is asked once whether it answers.
    let mut silent: HashMap<String, String> = HashMap::new();
    let asked: std::collections::BTreeSet<String> = agents
        .iter()
        .filter(|version| version.agent.remote.is_none())
        .map(|version| {
            version
                .agent
                .provider
                .clone()
                .unwrap_or_else(|| current.clone())
        })
        .filter(|provider| known.contains(&provider.as_str()))
        .collect();
    for provider in asked {
        let mut arguments = JsonObject::new();
        arguments.insert("name".into(), json!(provider));
        let checked = hub
            .call(ctx, "models", "test_model_provider", Some(arguments))
            .await?
            .structured_content
            .unwrap_or(Value::Null);
        if checked["reachable"] != true {
            let error = checked["error"].as_str().unwrap_or("it does not answer");
            silent.insert(provider, error.to_string());
        }
    }
    Ok(TeamHealth {
        agents: agents
            .into_iter()
            .map(|version| {
                let name = version.agent.name;
                let (runs, failed) = recent.get(&name).copied().unwrap_or_default();
                // A remote agent thinks with its own model.
                let remote = version.agent.remote.is_some();
                let provider = match (&version.agent.provider, remote) {
                    (_, true) => "remote".to_string(),
                    (Some(own), false) => own.clone(),
                    (None, false) => current.clone(),
                };
                let down = if remote {
                    None
                } else if provider == "none" {
                    Some("the tenant has no language model: set a model provider".to_string())
                } else if provider == "sampling" {
                    // Runs go on in the background, where no client is connected to
                    // ask.
                    Some("its model is the calling client's (sampling), which background runs cannot reach: set a model provider".to_string())
                } else if !known.contains(&provider.as_str()) {
                    Some(format!("its model provider '{provider}' is no longer stored or declared"))
                } else if let Some(error) = silent.get(&provider) {
                    Some(format!("its model provider '{provider}' does not answer: {error}"))
                } else if tokens_left_today == Some(0) {
                    Some("the tenant's model tokens for today are spent (models.tokens_per_day)".to_string())
                } else {
                    None
                };
                let (status, reason) = match down {
                    Some(reason) => (AgentHealthStatus::Down, Some(reason)),
                    None if runs > 0 && failed as f64 / runs as f64 >= FAILING_SHARE => (
                        AgentHealthStatus::Degraded,
                        Some(format!("{failed} of its {runs} runs in the last 24 hours failed")),
                    ),
                    None => (AgentHealthStatus::Healthy, None),
                };
                AgentHealth {
                    load: load.get(&name).copied().unwrap_or(0),
                    agent: name,
                    status,
                    tokens_left_today: tokens_left_today.filter(|_| !remote),
                    provider,
                    max_concurrent_runs: version.agent.max_concurrent_runs,
                    runs_24h: runs,
                    failed_24h: failed,
                    reason,
                }
            })
            .collect(),
    })
}

/// One agent task of a multi-agent workflow.
#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTask {
    /// The step's id; later tasks read its answer as `{{ steps.<id>.output.run.answer }}`.
    pub id: String,
    pub agent: String,
    /// What the agent should do; may quote the input (`{{ input.x }}`) and earlier
    /// answers.
    pub task: String,
    /// Steps that must end first (default: none, so steps run side by side).
    #[serde(default)]
    pub needs: Vec<String>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamWorkflowArgs {
    /// The workflow's name; it is saved as workflow template `agents_<name>` (a new
    /// version each time), so it can be run again and followed like any workflow.
    #[schemars(length(min = 1, max = 60))]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[schemars(length(min = 1, max = 50))]
    pub steps: Vec<AgentTask>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: JsonObject,
    /// Seconds to wait for the workflow to finish (default 0).
    #[serde(default)]
    #[schemars(range(max = 3600))]
    pub wait_secs: u32,
}

/// Saves the tasks as a workflow template of `agent` steps and starts it.
pub async fn workflow(
    state: &Agents,
    ctx: &CallContext,
    args: TeamWorkflowArgs,
) -> Result<Value, HubError> {
    let hub = state.hub()?;
    for step in &args.steps {
        // Named agents must exist before anything is saved.
        state.find(&ctx.tenant, &step.agent, None).await?;
    }
    // Each step waits for its agent run without holding one of the engine's
    // workers, which the run itself needs.
    let steps: Vec<Value> = args
        .steps
        .iter()
        .map(|step| {
            json!({
                "id": step.id,
                "kind": "agent",
                "agent": step.agent,
                "needs": step.needs,
                "arguments": {"task": step.task},
            })
        })
        .collect();
    let id = format!("agents_{}", args.name);
    let template = json!({
        "id": id,
        "name": args.name,
        "description": args.description.unwrap_or_else(|| "A multi-agent workflow.".into()),
        "input_schema": {"type": "object"},
        "steps": steps,
    });
    let mut save = JsonObject::new();
    save.insert("template".into(), template);
    hub.call(ctx, "workflows", "save_workflow_template", Some(save))
        .await?;
    let mut start = JsonObject::new();
    start.insert("template_id".into(), json!(id));
    start.insert("input".into(), Value::Object(args.input));
    start.insert("wait_secs".into(), json!(args.wait_secs));
    let started = hub
        .call(ctx, "workflows", "start_workflow", Some(start))
        .await?;
    Ok(started.structured_content.unwrap_or(Value::Null))
}

/// A started workflow, as the workflows toolkit describes it.
#[derive(Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Started(pub Value);

impl ToolText for Started {}
