//! The `monitor` toolkit: what the server remembers about itself. Each server samples
//! its host, its process, its tool calls and the health of every component at an
//! interval, keeps the samples with rollups so history stays bounded, and answers
//! with health reports, trends, availability and the complete status. Alert rules
//! per tenant fire and resolve with a `for` duration and hysteresis, once per change
//! however many servers evaluate them, and are told to the automation toolkit's
//! notification channels.

mod alerts;
mod availability;
mod calls;
mod components;
mod evaluate;
mod gauges;
mod host;
mod reports;
mod resources;
pub mod routes;
mod rules;
mod runner;
mod series;
mod service;
pub mod settings;
mod silences;
mod tools;
mod visibility;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tideway_core::{
    CallContext, Hub, HubError, Role, Store, TenantId, Toolkit,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, Tool},
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use self::{service::Monitor, settings::MonitorConfig, tools::names};

/// The `monitor` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "monitor",
    summary: "health over time, performance trends, availability and alert rules with notifications",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[tideway_core::store::Migration {
        version: 20,
        name: "monitor",
        sqlite: include_str!("migrations/sqlite/0020_monitor.sql"),
        postgres: include_str!("migrations/postgres/0020_monitor.sql"),
    }],
    sealed: &[],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(MonitorToolkit::new(
            config,
            shared.hub,
            shared.store.clone(),
            TenantId::new(&shared.config.default_tenant),
        )))
    }),
    rest: Some(super::Rest {
        tag: "monitor",
        description: "Health reports, performance trends, availability, alerts, alert rules and silences, the complete status and metric reports (the monitor toolkit)",
        routes: routes::router,
        tools: &[
            names::GET_HEALTH_REPORT,
            names::GET_COMPONENT_HEALTH,
            names::GET_PERFORMANCE_TRENDS,
            names::GET_AVAILABILITY,
            names::GET_INTEGRATION_STATUS,
            names::METRIC_REPORT,
            names::LIST_ALERTS,
            names::GET_ALERT,
            names::ACKNOWLEDGE_ALERT,
            names::RESOLVE_ALERT,
            names::LIST_ALERT_RULES,
            names::GET_ALERT_RULE,
            names::CREATE_ALERT_RULE,
            names::UPDATE_ALERT_RULE,
            names::DELETE_ALERT_RULE,
            names::CREATE_SILENCE,
            names::LIST_SILENCES,
            names::DELETE_SILENCE,
        ],
    }),
    cli: None,
};

pub struct MonitorToolkit {
    tools: ToolSet<Monitor>,
    state: Arc<Monitor>,
}

impl MonitorToolkit {
    pub fn new(
        config: MonitorConfig,
        hub: &Arc<Hub>,
        store: Store,
        default_tenant: TenantId,
    ) -> Self {
        let run_background = config.run_background;
        let state = Arc::new(Monitor::new(config, hub, store, default_tenant));
        if run_background {
            runner::spawn(&state);
        }
        MonitorToolkit {
            tools: tools::tool_set(),
            state,
        }
    }

    /// The state, for tests that drive it with a clock of their own.
    #[cfg(test)]
    pub fn state(&self) -> &Arc<Monitor> {
        &self.state
    }
}

#[async_trait]
impl Toolkit for MonitorToolkit {
    fn name(&self) -> &str {
        "monitor"
    }

    fn description(&self) -> &str {
        "Monitoring: the server's health now and over time (components, CPU, memory, disk, network, tool call rates, errors and latency), performance trends, availability against the target, alerts with rules, acknowledgement, resolution and silences, notified through the automation toolkit's channels."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            names::GET_HEALTH_REPORT,
            names::GET_PERFORMANCE_TRENDS,
            names::LIST_ALERTS,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Rules decide who is woken at night and silences who is not: admins manage
    /// them. Acknowledging and resolving are an operator's work.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::CREATE_ALERT_RULE
            | names::UPDATE_ALERT_RULE
            | names::DELETE_ALERT_RULE
            | names::CREATE_SILENCE
            | names::DELETE_SILENCE => Role::Admin,
            _ => role_by_annotations(tool),
        }
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

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(resources::list())
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        resources::read(&self.state, ctx, uri).await
    }

    async fn shutdown(&self) {
        self.state.stop.cancel();
    }
}
