//! The agents toolkit's MCP tools: their arguments, results and declarations.

use std::{collections::HashMap, sync::Arc, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Role,
    typed::{Effect, NoArgs, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    Agents, Asked,
    definition::AgentDefinition,
    delegation::{Candidate, choose},
    remote::{CredentialInput, RemoteAgent},
    store::{AgentVersion, RunEvent, RunFilter, RunStatus, RunSummary},
    team::{self, HealthArgs, Started, TeamWorkflowArgs},
};

/// The tools' names, shared by their declarations and the code that names them.
pub mod names {
    pub const LIST_AGENTS: &str = "list_agents";
    pub const GET_AGENT: &str = "get_agent";
    pub const SAVE_AGENT: &str = "save_agent";
    pub const RUN_AGENT: &str = "run_agent";
    pub const DELEGATE: &str = "delegate";
    pub const GET_RUN: &str = "get_run";
    pub const LIST_RUNS: &str = "list_runs";
    pub const CANCEL_RUN: &str = "cancel_run";
    pub const AGENT_CAPABILITIES: &str = "agent_capabilities";
    pub const CONTINUE_RUN: &str = "continue_run";
    pub const AGENT_HEALTH: &str = "agent_health";
    pub const RUN_AGENT_WORKFLOW: &str = "run_agent_workflow";
    pub const REGISTER_REMOTE_AGENT: &str = "register_remote_agent";
    pub const LIST_REMOTE_AGENTS: &str = "list_remote_agents";
    pub const REMOVE_REMOTE_AGENT: &str = "remove_remote_agent";
}

/// The longest a call waits for a run to end.
const MAX_WAIT_SECS: u64 = 600;

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentVersion>,
}

impl ToolText for AgentList {
    fn text(&self) -> String {
        self.agents
            .iter()
            .map(|a| format!("{} (v{}): {}", a.agent.name, a.version, a.agent.description))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl ToolText for AgentVersion {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAgentArgs {
    pub name: String,
    /// A saved version (0: the built-in one); the latest when absent.
    pub version: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAgentArgs {
    pub agent: AgentDefinition,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Saved {
    pub name: String,
    pub version: i64,
}

impl ToolText for Saved {
    fn text(&self) -> String {
        format!("saved {} as version {}", self.name, self.version)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAgentArgs {
    /// The agent's name (list_agents shows them).
    pub agent: String,
    /// What the agent should do.
    #[schemars(length(min = 1, max = 20000))]
    pub task: String,
    /// Higher runs first when the agent is busy (default 0).
    #[schemars(range(min = -100, max = 100))]
    pub priority: Option<i64>,
    /// Seconds to wait for the answer (default 0: answer with the run at once and
    /// follow it with get_run).
    #[schemars(range(min = 0, max = 600))]
    pub wait_secs: Option<u64>,
    /// The conversation this task belongs to, to group runs by (A2A's contextId);
    /// a new one when absent.
    #[schemars(length(min = 1, max = 128))]
    pub context_id: Option<String>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegateArgs {
    /// What needs doing; the agent is picked by how well its capabilities match.
    #[schemars(length(min = 1, max = 20000))]
    pub task: String,
    /// Capabilities the task needs, weighed above the task's own words.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// A named agent to hand the task to instead of picking one.
    pub agent: Option<String>,
    #[schemars(range(min = -100, max = 100))]
    pub priority: Option<i64>,
    #[schemars(range(min = 0, max = 600))]
    pub wait_secs: Option<u64>,
    /// The agents that delegated this task so far, first to last (set by Tideway
    /// when an agent delegates; an agent on it is never picked again).
    #[serde(default)]
    pub chain: Vec<String>,
    /// The conversation this task belongs to, to group runs by (A2A's contextId);
    /// a new one when absent.
    #[schemars(length(min = 1, max = 128))]
    pub context_id: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RunView {
    pub run: RunSummary,
    /// What happened, in order: model turns, tool calls and their results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<RunEvent>>,
}

impl ToolText for RunView {
    fn text(&self) -> String {
        let run = &self.run;
        let mut text = format!(
            "run {} of {}: {} ({} turns, {} tokens)",
            run.id,
            run.agent,
            run.status.as_str(),
            run.steps,
            run.input_tokens + run.output_tokens
        );
        if let Some(answer) = &run.answer {
            text.push_str(&format!("\n{answer}"));
        }
        if let Some(error) = &run.error {
            text.push_str(&format!("\n({error})"));
        }
        text
    }
}

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Delegated {
    /// The agent chosen.
    pub agent: String,
    /// Every agent considered, best fit first, with its load.
    pub candidates: Vec<Candidate>,
    pub run: RunSummary,
}

impl ToolText for Delegated {
    fn text(&self) -> String {
        format!(
            "delegated to {} (run {}, {})",
            self.agent,
            self.run.id,
            self.run.status.as_str()
        )
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdArgs {
    pub id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRunArgs {
    pub id: String,
    /// Leave out the recorded events (default false).
    #[serde(default)]
    pub summary_only: bool,
    /// Only the events after this sequence number (to follow a run as it goes).
    pub events_after: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRunsArgs {
    pub agent: Option<String>,
    /// One status, or several.
    pub status: Option<Statuses>,
    /// Only the runs of this conversation.
    pub context_id: Option<String>,
    /// Only runs whose status changed at or after this time (ms since the epoch).
    pub changed_since_ms: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// A status filter: one status or a list of them.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Statuses {
    One(RunStatus),
    Many(Vec<RunStatus>),
}

impl Statuses {
    fn as_slice(&self) -> &[RunStatus] {
        match self {
            Statuses::One(status) => std::slice::from_ref(status),
            Statuses::Many(statuses) => statuses,
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    /// How many runs the filter lets through, on every page.
    pub total: i64,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRemoteArgs {
    /// Its name among the tenant's agents.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// Its agent card's URL, or the agent's base URL (the card is then read from
    /// `/.well-known/agent-card.json` under it).
    #[schemars(length(min = 1, max = 2048))]
    pub card_url: String,
    /// What Tideway presents to it, sealed at rest and never shown again.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<CredentialInput>,
}

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RemoteAgentList {
    pub remote_agents: Vec<RemoteAgent>,
}

impl ToolText for RemoteAgentList {
    fn text(&self) -> String {
        self.remote_agents
            .iter()
            .map(|a| format!("{} at {}: {}", a.name, a.endpoint, a.description))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl ToolText for RemoteAgent {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveRemoteArgs {
    pub name: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Removed {
    pub name: String,
    pub removed: bool,
}

impl ToolText for Removed {}

/// A page position: the creation time and id of the last run shown.
fn cursor_of(run: &RunSummary) -> String {
    format!("{}.{}", run.created_at_ms, run.id)
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), HubError> {
    cursor
        .split_once('.')
        .and_then(|(time, id)| Some((time.parse().ok()?, id.to_string())))
        .ok_or_else(|| {
            HubError::invalid_argument(
                "cursor",
                format!(
                    "'{}' is not a cursor this listing gave",
                    tideway_core::error::excerpt(cursor)
                ),
            )
        })
}

impl ToolText for RunList {
    fn text(&self) -> String {
        self.runs
            .iter()
            .map(|r| format!("{} {} {}", r.id, r.agent, r.status.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Capability {
    pub agent: String,
    pub version: i64,
    pub description: String,
    pub capabilities: Vec<String>,
    /// The tool patterns it may use.
    pub tools: Vec<String>,
    pub load: i64,
    pub max_concurrent_runs: u32,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Capabilities {
    pub agents: Vec<Capability>,
}

impl ToolText for Capabilities {
    fn text(&self) -> String {
        self.agents
            .iter()
            .map(|a| {
                format!(
                    "{}: {} (load {}/{})",
                    a.agent,
                    a.capabilities.join(", "),
                    a.load,
                    a.max_concurrent_runs
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn wait(secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(0).min(MAX_WAIT_SECS))
}

async fn load(state: &Agents, ctx: &CallContext) -> Result<HashMap<String, i64>, HubError> {
    Ok(state.store().load(&ctx.tenant).await?.into_iter().collect())
}

/// Only the run's starter, or an operator of its tenant, may stop it.
fn may_cancel(ctx: &CallContext, run: &RunSummary) -> Result<(), HubError> {
    if run.started_by == ctx.principal.id || ctx.principal.role >= Role::Operator {
        Ok(())
    } else {
        Err(HubError::Forbidden(
            "only whoever started a run, or an operator, may cancel it".into(),
        ))
    }
}

pub fn tool_set() -> ToolSet<Agents> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::LIST_AGENTS,
                title: "List agents",
                description: "The tenant's agents: the built-in roles and its own, with their latest versions.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, _args: NoArgs| async move {
                Ok(AgentList {
                    agents: state.list(&ctx.tenant).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_AGENT,
                title: "Get an agent",
                description: "One agent's definition: instructions, capabilities, tool patterns, limits.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: GetAgentArgs| async move {
                state.find(&ctx.tenant, &args.name, args.version).await
            },
        )
        .add(
            ToolSpec {
                name: names::SAVE_AGENT,
                title: "Save an agent",
                description: "Saves a new version of an agent (a built-in role saved under its name replaces it for this tenant). Runs already going keep the version they started with.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: SaveAgentArgs| async move {
                let version = state.save(&ctx, &args.agent).await?;
                Ok(Saved {
                    name: args.agent.name,
                    version,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::RUN_AGENT,
                title: "Run an agent",
                description: "Gives a task to a named agent. It works with the tools it may use, with your rights and no more, in the background; wait_secs waits for its answer.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Agents>, ctx, args: RunAgentArgs| async move {
                let pinned = state.find(&ctx.tenant, &args.agent, None).await?;
                let run = state
                    .start(&ctx, &pinned, Asked { task: &args.task, context_id: args.context_id.as_deref(), chain: &[], priority: args.priority.unwrap_or(0) }, wait(args.wait_secs))
                    .await?;
                Ok(RunView { run, events: None })
            },
        )
        .add(
            ToolSpec {
                name: names::DELEGATE,
                title: "Delegate a task",
                description: "Gives a task to the agent whose capabilities fit it best and that has room (a busy agent's runs queue by priority). Agents may delegate to each other; a task never goes back to an agent already on its chain.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Agents>, ctx, args: DelegateArgs| async move {
                let load = load(&state, &ctx).await?;
                let (pinned, candidates) = match &args.agent {
                    // A named agent is checked against the chain when it starts.
                    Some(name) => (state.find(&ctx.tenant, name, None).await?, Vec::new()),
                    None => {
                        let agents = state.list(&ctx.tenant).await?;
                        let (candidates, chosen) =
                            choose(&agents, &args.task, &args.capabilities, &args.chain, &load)?;
                        let name = candidates[chosen].agent.clone();
                        let pinned = agents
                            .into_iter()
                            .find(|agent| agent.agent.name == name)
                            .ok_or_else(|| HubError::internal("the chosen agent vanished"))?;
                        (pinned, candidates)
                    }
                };
                let name = pinned.agent.name.clone();
                let run = state
                    .start(&ctx, &pinned, Asked { task: &args.task, context_id: args.context_id.as_deref(), chain: &args.chain, priority: args.priority.unwrap_or(0) }, wait(args.wait_secs))
                    .await?;
                Ok(Delegated {
                    agent: name,
                    candidates,
                    run,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_RUN,
                title: "Get an agent run",
                description: "A run's status, counters and answer, with every model turn, tool call and result recorded.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: GetRunArgs| async move {
                let run = state.store().run(&ctx.tenant, &args.id).await?.summary;
                let events = if args.summary_only {
                    None
                } else {
                    Some(state.store().events(&run.id, args.events_after.unwrap_or(-1)).await?)
                };
                Ok(RunView { run, events })
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_RUNS,
                title: "List agent runs",
                description: "The tenant's agent runs, newest first, by agent and status.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: ListRunsArgs| async move {
                let limit = args.limit.unwrap_or(50).clamp(1, 500);
                let filter = RunFilter {
                    agent: args.agent.as_deref(),
                    statuses: args.status.as_ref().map_or(&[], Statuses::as_slice),
                    context_id: args.context_id.as_deref(),
                    changed_since_ms: args.changed_since_ms,
                    after: args.cursor.as_deref().map(parse_cursor).transpose()?,
                };
                let (runs, total) = state.store().runs(&ctx.tenant, &filter, limit).await?;
                // A full page may have more after it; the next one says.
                let next_cursor = match runs.len() as i64 == limit {
                    true => runs.last().map(cursor_of),
                    false => None,
                };
                Ok(RunList { runs, total, next_cursor })
            },
        )
        .add(
            ToolSpec {
                name: names::CANCEL_RUN,
                title: "Cancel an agent run",
                description: "Stops a run, queued or in the middle of a model turn or tool call.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: RunIdArgs| async move {
                let run = state.store().run(&ctx.tenant, &args.id).await?.summary;
                may_cancel(&ctx, &run)?;
                Ok(RunView {
                    run: state.cancel(&ctx, &args.id).await?,
                    events: None,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::REGISTER_REMOTE_AGENT,
                title: "Register a remote agent",
                description: "Registers an agent served elsewhere over A2A by its card's URL: the card is read once and kept, and the agent then stands among the tenant's agents for run_agent and delegate. Registering a name again reads the card again.",
                effect: Effect::Idempotent,
                open_world: true,
            },
            |state: Arc<Agents>, ctx, args: RegisterRemoteArgs| async move {
                state
                    .register_remote(&ctx, &args.name, &args.card_url, args.credential)
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_REMOTE_AGENTS,
                title: "List remote agents",
                description: "The remote A2A agents the tenant registered: their endpoints, skills and how Tideway signs in (never the secret).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, _args: NoArgs| async move {
                Ok(RemoteAgentList {
                    remote_agents: state.remotes().list(&ctx.tenant).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::REMOVE_REMOTE_AGENT,
                title: "Remove a remote agent",
                description: "Forgets a remote agent and its credential; runs already going keep going.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: RemoveRemoteArgs| async move {
                let removed = state.remotes().remove(&ctx.tenant, &args.name).await?;
                Ok(Removed {
                    name: args.name,
                    removed,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::AGENT_CAPABILITIES,
                title: "Agent capabilities",
                description: "What each agent can do and how busy it is: capabilities, tool patterns, runs in flight.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, _args: NoArgs| async move {
                let load = load(&state, &ctx).await?;
                Ok(Capabilities {
                    agents: state
                        .list(&ctx.tenant)
                        .await?
                        .into_iter()
                        .map(|version| Capability {
                            load: load.get(&version.agent.name).copied().unwrap_or(0),
                            agent: version.agent.name,
                            version: version.version,
                            description: version.agent.description,
                            capabilities: version.agent.capabilities,
                            tools: version.agent.tools,
                            max_concurrent_runs: version.agent.max_concurrent_runs,
                        })
                        .collect(),
                })
            },
        )
        .add(
            ToolSpec {
                name: names::CONTINUE_RUN,
                title: "Carry on an agent run",
                description: "Carries a run on from its last recorded turn, as the principal that started it (the background engine calls this; a completed tool call is never repeated).",
                effect: Effect::Idempotent,
                open_world: true,
            },
            |state: Arc<Agents>, ctx, args: RunIdArgs| async move {
                // The loop runs on a task of its own: when this call is cancelled
                // (its job, or the workflow waiting for it, was), the Hub stops
                // waiting for the answer at once, and the loop must still see the
                // cancel and record the run cancelled rather than be dropped mid-way.
                let run = tokio::spawn(async move {
                    state.runner.run(&ctx, &args.id, false).await
                })
                .await
                .map_err(HubError::internal)??;
                // The background call ends as its run did, so a job or a workflow
                // step waiting for it fails with the run's reason.
                match run.status {
                    RunStatus::Succeeded | RunStatus::Queued | RunStatus::Running => {
                        Ok(RunView { run, events: None })
                    }
                    RunStatus::Cancelled => Err(HubError::Cancelled),
                    status => Err(HubError::Conflict(match &run.error {
                        Some(error) => format!("agent run {} ended {}: {error}", run.id, status.as_str()),
                        None => format!("agent run {} ended {}", run.id, status.as_str()),
                    })),
                }
            },
        )        .add(
            ToolSpec {
                name: names::AGENT_HEALTH,
                title: "Agent health",
                description: "Each agent's health: whether the tenant has a model for it, its load, and how its runs of the last 24 hours went.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Agents>, ctx, args: HealthArgs| async move {
                team::health(&state, &ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: names::RUN_AGENT_WORKFLOW,
                title: "Run a multi-agent workflow",
                description: "Runs agent tasks as one durable workflow: each step gives a task to an agent, steps run side by side unless one needs another, and a task may quote earlier answers ({{ steps.<id>.output.run.answer }}). Saved as workflow template agents_<name>.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Agents>, ctx, args: TeamWorkflowArgs| async move {
                team::workflow(&state, &ctx, args).await.map(Started)
            },
        )
}
