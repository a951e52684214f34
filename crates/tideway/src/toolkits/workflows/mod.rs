//! The `workflows` toolkit: templates of steps over the Hub's tools (dependencies,
//! conditions, parallel branches, retries, timeouts, sleeps, approvals), and durable
//! runs of them. Every run and step is a row in the store (`runs/`); the engine
//! (`engine/`) claims due steps with leases, so a run survives a restart and
//! several servers sharing PostgreSQL run each step once. Steps act as the principal
//! that started the run, through the Hub, so its roles, rules, limits and audit
//! apply to every step. REST's background calls run on the same engine
//! (`background.rs`).

pub mod background;
mod cli;
pub mod definition;
mod engine;
pub(crate) mod expressions;
mod outputs;
pub mod progress;
mod resources;
pub mod routes;
pub mod runs;
mod service;
pub mod settings;
mod step_progress;
pub mod templates;
pub mod tools;

#[cfg(test)]
pub(crate) mod tests;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use tideway_core::{
    CallContext, HubError, Store, Toolkit,
    mcp::{CallToolResult, JsonObject, ResourceContents, ResourceTemplate, Tool},
    typed::ToolSet,
};

use self::{
    definition::Template, engine::Engine, runs::Runs, service::Workflows,
    settings::WorkflowsConfig, templates::TemplateStore, tools::names,
};

/// The `workflows` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "workflows",
    summary: "durable multi-step runs over the hub's tools",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 12,
            name: "workflows",
            sqlite: include_str!("migrations/sqlite/0012_workflows.sql"),
            postgres: include_str!("migrations/postgres/0012_workflows.sql"),
        },
        tideway_core::store::Migration {
            version: 13,
            name: "workflow_children",
            sqlite: include_str!("migrations/sqlite/0013_workflow_children.sql"),
            postgres: include_str!("migrations/postgres/0013_workflow_children.sql"),
        },
        tideway_core::store::Migration {
            version: 17,
            name: "workflow_start_keys",
            sqlite: include_str!("migrations/sqlite/0017_workflow_start_keys.sql"),
            postgres: include_str!("migrations/postgres/0017_workflow_start_keys.sql"),
        },
        tideway_core::store::Migration {
            version: 27,
            name: "workflow_step_status",
            sqlite: include_str!("migrations/sqlite/0027_workflow_step_status.sql"),
            postgres: include_str!("migrations/postgres/0027_workflow_step_status.sql"),
        },
        tideway_core::store::Migration {
            version: 28,
            name: "workflow_outputs",
            sqlite: include_str!("migrations/sqlite/0028_workflow_outputs.sql"),
            postgres: include_str!("migrations/postgres/0028_workflow_outputs.sql"),
        },
        tideway_core::store::Migration {
            version: 29,
            name: "workflow_items",
            sqlite: include_str!("migrations/sqlite/0029_workflow_items.sql"),
            postgres: include_str!("migrations/postgres/0029_workflow_items.sql"),
        },
    ],
    sealed: &[],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(WorkflowsToolkit::new(
            config,
            shared.store.clone(),
            shared.hub,
        )))
    }),
    rest: Some(super::Rest {
        tag: "workflows",
        description: "Workflow templates and their durable runs (the workflows toolkit)",
        routes: routes::router,
        tools: &[
            names::LIST_WORKFLOW_TEMPLATES,
            names::GET_WORKFLOW_TEMPLATE,
            names::SAVE_WORKFLOW_TEMPLATE,
            names::START_WORKFLOW,
            names::GET_EXECUTION,
            names::LIST_EXECUTIONS,
            names::CANCEL_EXECUTION,
            names::PAUSE_EXECUTION,
            names::RESUME_EXECUTION,
            names::RETRY_EXECUTION,
            names::APPROVE_STEP,
        ],
    }),
    cli: Some(cli::CLI),
};

/// The templates every tenant has until it saves its own of the same id.
pub fn builtin_templates() -> Vec<Template> {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES
        .get_or_init(|| {
            [
                include_str!("templates/customer_onboarding.json"),
                include_str!("templates/customer_support.json"),
                include_str!("templates/revenue_analysis.json"),
            ]
            .iter()
            .filter_map(|text| match serde_json::from_str(text) {
                Ok(template) => Some(template),
                // A test parses and validates each one; never reached in a release.
                Err(error) => {
                    tracing::error!(%error, "a built-in workflow template does not parse");
                    None
                }
            })
            .collect()
        })
        .clone()
}

pub struct WorkflowsToolkit {
    tools: ToolSet<Workflows>,
    state: Arc<Workflows>,
    shutdown_grace_secs: u64,
}

impl WorkflowsToolkit {
    pub fn new(config: WorkflowsConfig, store: Store, hub: &Arc<tideway_core::Hub>) -> Self {
        let shutdown_grace_secs = config.shutdown_grace_secs;
        let templates = TemplateStore::new(store.clone());
        let engine = Engine::new(
            hub,
            Runs::new(store, config.output_limits()),
            templates.clone(),
            config,
        );
        engine.start();
        let state = Arc::new(Workflows::new(engine, templates, hub));
        // REST's background calls become runs, so they outlive a restart too.
        hub.set_background_calls(state.clone());
        WorkflowsToolkit {
            tools: tools::tool_set(),
            state,
            shutdown_grace_secs,
        }
    }
}

#[async_trait]
impl Toolkit for WorkflowsToolkit {
    fn name(&self) -> &str {
        "workflows"
    }

    fn description(&self) -> &str {
        "Workflows: templates of steps over the hub's tools, with dependencies, conditions, parallel branches, retries, sleeps, timed waits and approvals, run durably in the background as the caller. Start one, follow it, cancel, pause, resume or retry it."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            tools::names::LIST_WORKFLOW_TEMPLATES,
            tools::names::START_WORKFLOW,
            tools::names::GET_EXECUTION,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
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

    fn uri_prefixes(&self) -> Vec<String> {
        vec![resources::PREFIX.to_string()]
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        resources::read(&self.state, ctx, uri).await
    }

    async fn shutdown(&self) {
        self.state
            .engine
            .shutdown(Duration::from_secs(self.shutdown_grace_secs))
            .await;
    }
}
