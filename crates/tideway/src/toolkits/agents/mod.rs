//! The `agents` toolkit: AI agents per tenant (the six built-in roles and the
//! tenant's own, every save a version), each run a tool-use loop over the Hub's
//! tools as the principal that started it (`runner.rs`), carried by the workflow
//! engine's durable background calls so it survives a restart, recorded turn by
//! turn and followed live (`follow.rs`); delegation of a task to the agent that fits
//! it best and has room (`delegation.rs`); the agents served over A2A (`a2a/`); and
//! the seed's quick actions (`quick.rs`).

pub mod a2a;
mod changes;
pub mod definition;
mod delegation;
mod follow;
mod quick;
pub mod remote;
mod remote_run;
pub mod routes;
pub mod runner;
pub mod settings;
pub mod store;
pub mod team;
pub mod tools;

#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError, PartHealth, Role, TenantId, Toolkit,
    mcp::{CallToolResult, JsonObject, Tool},
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use self::{
    changes::Changes,
    definition::{AgentDefinition, MAX_CHAIN},
    remote::{RemoteAgent, Remotes},
    runner::Runner,
    settings::AgentsConfig,
    store::{AgentStore, AgentVersion, RunSummary},
    tools::names,
};

/// The `agents` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "agents",
    summary: "AI agents that use the hub's tools, with delegation by capability and load",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 21,
            name: "agents",
            sqlite: include_str!("migrations/sqlite/0021_agents.sql"),
            postgres: include_str!("migrations/postgres/0021_agents.sql"),
        },
        tideway_core::store::Migration {
            version: 22,
            name: "a2a",
            sqlite: include_str!("migrations/sqlite/0022_a2a.sql"),
            postgres: include_str!("migrations/postgres/0022_a2a.sql"),
        },
        tideway_core::store::Migration {
            version: 24,
            name: "agent_costs",
            sqlite: include_str!("migrations/sqlite/0024_agent_costs.sql"),
            postgres: include_str!("migrations/postgres/0024_agent_costs.sql"),
        },
    ],
    sealed: &[&remote::SEALED],
    build: Some(|shared| {
        let settings = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(AgentsToolkit::new(
            shared.store.clone(),
            shared.master_key.clone(),
            settings,
            Arc::new(crate::egress::SystemLookup),
            Arc::downgrade(shared.hub),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "agents",
        description: "AI agents, their runs, delegation and multi-agent workflows (the agents toolkit)",
        routes: routes::router,
        tools: &[
            names::LIST_AGENTS,
            names::GET_AGENT,
            names::SAVE_AGENT,
            names::RUN_AGENT,
            names::LIST_RUNS,
            names::GET_RUN,
            names::CANCEL_RUN,
            names::AGENT_HEALTH,
            names::DELEGATE,
            names::RUN_AGENT_WORKFLOW,
            names::AGENT_CAPABILITIES,
            names::REGISTER_REMOTE_AGENT,
            names::LIST_REMOTE_AGENTS,
            names::REMOVE_REMOTE_AGENT,
        ],
    }),
    cli: None,
};

/// How long a run may wait in its agent's queue before its background call gives
/// up, on top of the agent's own time limit.
const QUEUE_ALLOWANCE: Duration = Duration::from_secs(3600);
/// How often a caller waiting for a run reads it again when no change on this
/// server wakes it first (the run is carried by another server).
const WAIT_POLL: Duration = Duration::from_millis(100);

/// What a run is asked to do, and in which conversation and chain.
pub struct Asked<'a> {
    pub task: &'a str,
    pub context_id: Option<&'a str>,
    /// The agents that delegated it so far.
    pub chain: &'a [String],
    pub priority: i64,
}

pub struct Agents {
    pub runner: Runner,
    hub: Weak<Hub>,
}

impl Agents {
    pub fn store(&self) -> &AgentStore {
        &self.runner.store
    }

    pub fn remotes(&self) -> &Remotes {
        &self.runner.remotes
    }

    /// The tenant's agents: built-in and saved ones, then its remote agents.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<AgentVersion>, HubError> {
        let mut agents = self.store().list(tenant).await?;
        agents.extend(
            self.remotes()
                .list(tenant)
                .await?
                .iter()
                .map(RemoteAgent::as_agent),
        );
        Ok(agents)
    }

    /// One of the tenant's agents, saved, built in or remote.
    pub async fn find(
        &self,
        tenant: &TenantId,
        name: &str,
        version: Option<i64>,
    ) -> Result<AgentVersion, HubError> {
        match self.store().find(tenant, name, version).await {
            Err(HubError::NotFound(message)) => match self.remotes().find(tenant, name).await? {
                Some(remote) if version.is_none_or(|v| v == 0) => Ok(remote.as_agent()),
                _ => Err(HubError::NotFound(message)),
            },
            found => found,
        }
    }

    /// Registers a remote A2A agent under a name no other agent of the tenant has.
    async fn register_remote(
        &self,
        ctx: &CallContext,
        name: &str,
        card_url: &str,
        credential: Option<remote::CredentialInput>,
    ) -> Result<RemoteAgent, HubError> {
        if !tideway_core::naming::is_valid_id(name, 64) {
            return Err(HubError::invalid_argument(
                "name",
                format!(
                    "'{}' is not a name: use 1 to 64 lower-case letters, digits, '_' or '-'",
                    tideway_core::error::excerpt(name)
                ),
            ));
        }
        if self.remotes().find(&ctx.tenant, name).await?.is_none()
            && self.store().find(&ctx.tenant, name, None).await.is_ok()
        {
            return Err(HubError::Conflict(format!(
                "the tenant already has an agent named '{name}'; pick another name for the remote agent"
            )));
        }
        self.remotes()
            .register(ctx, name, card_url, credential)
            .await
    }

    pub fn hub(&self) -> Result<Arc<Hub>, HubError> {
        self.hub
            .upgrade()
            .ok_or_else(|| HubError::internal("the server is stopping"))
    }

    /// Checks a definition and that its patterns name tools that exist.
    async fn save(&self, ctx: &CallContext, agent: &AgentDefinition) -> Result<i64, HubError> {
        agent.validate()?;
        if self
            .remotes()
            .find(&ctx.tenant, &agent.name)
            .await?
            .is_some()
        {
            return Err(HubError::Conflict(format!(
                "'{}' is a remote agent of this tenant; remove it first or pick another name",
                agent.name
            )));
        }
        let hub = self.hub()?;
        let rules = agent.rules();
        let any = hub.entries().iter().any(|entry| {
            entry
                .tools
                .iter()
                .any(|tool| rules.permits_tool(entry.name(), &tool.name))
        });
        if !any {
            return Err(HubError::invalid_argument(
                "agent.tools",
                "the patterns name no tool this server has",
            ));
        }
        if let Some(provider) = agent.provider.as_deref().filter(|p| *p != "sampling") {
            let providers = self.providers(&hub, ctx).await?;
            let known = providers["providers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|known| known["name"] == provider);
            if !known {
                return Err(HubError::invalid_argument(
                    "agent.provider",
                    format!(
                        "this tenant has no model provider '{}': see list_model_providers",
                        tideway_core::error::excerpt(provider)
                    ),
                ));
            }
        }
        self.store().save(ctx, agent).await
    }

    /// The tenant's model providers and the one it uses (`list_model_providers`).
    async fn providers(&self, hub: &Hub, ctx: &CallContext) -> Result<Value, HubError> {
        let listed = hub
            .call(
                ctx,
                "models",
                "list_model_providers",
                Some(JsonObject::new()),
            )
            .await?;
        Ok(listed.structured_content.unwrap_or(Value::Null))
    }

    /// Records a run of `pinned` and has it carried out in the background (on the
    /// workflow engine when there is one, so it outlives this server); waits up to
    /// `wait` for it to end.
    async fn start(
        &self,
        ctx: &CallContext,
        pinned: &AgentVersion,
        asked: Asked<'_>,
        wait: Duration,
    ) -> Result<RunSummary, HubError> {
        let Asked {
            task,
            context_id,
            chain,
            priority,
        } = asked;
        if task.trim().is_empty() {
            return Err(HubError::invalid_argument("task", "must say what to do"));
        }
        if let Some(context_id) = context_id {
            check_context_id(context_id)?;
        }
        if chain.len() >= MAX_CHAIN {
            return Err(HubError::invalid_argument(
                "chain",
                format!("agents may delegate {MAX_CHAIN} deep; this task is already that deep"),
            ));
        }
        if chain.contains(&pinned.agent.name) {
            return Err(HubError::invalid_argument(
                "agent",
                format!(
                    "'{}' is already on this task's delegation chain ({}); delegating to it would be a cycle",
                    pinned.agent.name,
                    chain.join(" → ")
                ),
            ));
        }
        let hub = self.hub()?;
        let id = self
            .store()
            .create_run(ctx, pinned, task, context_id, chain, priority)
            .await?;
        tracing::info!(run_id = id, agent = pinned.agent.name, "agent run queued");
        let mut arguments = JsonObject::new();
        arguments.insert("id".into(), json!(id));
        // The calling client's model can be asked only within this call.
        let background = match self.uses_sampling(&hub, ctx, &pinned.agent).await {
            true => None,
            false => hub.background_calls(),
        };
        match background {
            Some(background) => {
                let timeout =
                    Duration::from_secs(pinned.agent.limits.max_seconds) + QUEUE_ALLOWANCE;
                let started = background
                    .start_keyed(
                        ctx,
                        (BUILTIN.name, names::CONTINUE_RUN),
                        arguments,
                        timeout,
                        Some(&format!("agent-run:{id}")),
                    )
                    .await;
                let call = match started {
                    Ok(call) => call,
                    Err(error) => {
                        // Nothing will ever carry this run out: it ends here rather
                        // than stay queued (a workflow step that ended meanwhile
                        // gets no run, see `ParentStep`).
                        let reason = error.to_string();
                        self.store()
                            .finish(
                                &id,
                                store::Ending {
                                    status: store::RunStatus::Cancelled,
                                    answer: None,
                                    output: None,
                                    error: Some(&reason),
                                },
                            )
                            .await?;
                        return Err(error);
                    }
                };
                self.store().set_call(&id, &call.id).await?;
            }
            // Without the workflow engine, or with the client's model, the run is
            // carried out in this call (and ends with it).
            None => return self.runner.run(ctx, &id, true).await,
        }
        self.wait(ctx, &id, wait).await
    }

    /// Whether `agent` thinks with the calling client's model (sampling), its own
    /// choice or the tenant's.
    async fn uses_sampling(&self, hub: &Hub, ctx: &CallContext, agent: &AgentDefinition) -> bool {
        if agent.remote.is_some() {
            return false;
        }
        match agent.provider.as_deref() {
            Some(provider) => provider == "sampling",
            None => self
                .providers(hub, ctx)
                .await
                .is_ok_and(|providers| providers["current"] == "sampling"),
        }
    }

    /// The run once it ended or `wait` passed (less a second before the call's
    /// deadline), whichever is first.
    async fn wait(
        &self,
        ctx: &CallContext,
        id: &str,
        wait: Duration,
    ) -> Result<RunSummary, HubError> {
        let until = tokio::time::Instant::now()
            + wait.min(ctx.remaining().saturating_sub(Duration::from_secs(1)));
        let mut changes = Changes::listen();
        loop {
            let run = self.store().run(&ctx.tenant, id).await?.summary;
            if run.status.is_finished() || tokio::time::Instant::now() >= until {
                return Ok(run);
            }
            let poll = WAIT_POLL.min(until - tokio::time::Instant::now());
            tokio::select! {
                () = changes.wait(id, poll) => {}
                () = ctx.cancel.cancelled() => return Ok(run),
            }
        }
    }

    async fn cancel(&self, ctx: &CallContext, id: &str) -> Result<RunSummary, HubError> {
        let run = self.store().run(&ctx.tenant, id).await?;
        if run.summary.status.is_finished() {
            return Ok(run.summary);
        }
        self.store()
            .finish(
                id,
                store::Ending {
                    status: store::RunStatus::Cancelled,
                    answer: None,
                    output: None,
                    error: Some("cancelled on request"),
                },
            )
            .await?;
        if let (Some(call_id), Some(background)) = (&run.call_id, self.hub()?.background_calls()) {
            // Stops a call in flight (its model turn or tool call) at once.
            background.cancel(ctx, call_id).await?;
        }
        remote_run::cancel(self.remotes(), self.store(), &run).await;
        tracing::info!(run_id = id, "agent run cancelled on request");
        Ok(self.store().run(&ctx.tenant, id).await?.summary)
    }
}

/// A conversation id is the caller's to choose, within reason: it is kept and
/// searched by.
fn check_context_id(context_id: &str) -> Result<(), HubError> {
    let fits = !context_id.is_empty()
        && context_id.len() <= 128
        && context_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    match fits {
        true => Ok(()),
        false => Err(HubError::invalid_argument(
            "context_id",
            format!(
                "'{}' is not a conversation id: 1 to 128 letters, digits, '-', '_', '.' or ':'",
                tideway_core::error::excerpt(context_id)
            ),
        )),
    }
}

pub struct AgentsToolkit {
    tools: ToolSet<Agents>,
    state: Arc<Agents>,
}

impl AgentsToolkit {
    /// The toolkit over `store`; remote agents' hosts are resolved by `lookup`.
    pub fn new(
        store: tideway_core::Store,
        key: Arc<MasterKey>,
        settings: AgentsConfig,
        lookup: Arc<dyn crate::egress::Lookup>,
        hub: Weak<Hub>,
    ) -> Result<Self, String> {
        let remotes = Arc::new(Remotes::new(store.clone(), key, settings, lookup)?);
        Ok(AgentsToolkit {
            tools: tools::tool_set(),
            state: Arc::new(Agents {
                runner: Runner::new(AgentStore::new(store), remotes, hub.clone()),
                hub,
            }),
        })
    }
}

#[async_trait]
impl Toolkit for AgentsToolkit {
    fn name(&self) -> &str {
        BUILTIN.name
    }

    fn description(&self) -> &str {
        "AI agents that work with the hub's tools as the person who starts them: six built-in roles and the tenant's own, runs recorded turn by turn, delegation to the agent that fits a task and has room."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[names::LIST_AGENTS, names::RUN_AGENT, names::DELEGATE])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Anyone who may see the tenant may start an agent: the run can do no more than
    /// its starter. Saving an agent changes what the tenant's agents may do.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::RUN_AGENT | names::DELEGATE | names::CONTINUE_RUN | names::CANCEL_RUN => {
                Role::Viewer
            }
            names::SAVE_AGENT | names::REGISTER_REMOTE_AGENT | names::REMOVE_REMOTE_AGENT => {
                Role::Admin
            }
            _ => role_by_annotations(tool),
        }
    }

    async fn parts(&self, _timeout: Duration) -> Vec<PartHealth> {
        self.state.runner.parts()
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools
            .call(self.state.clone(), ctx, name, arguments)
            .await
    }
}
