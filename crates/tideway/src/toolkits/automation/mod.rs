//! The `automation` toolkit: decides *when* something runs, and the workflows engine
//! runs it durably. Schedules (cron in a time zone, or intervals; claimed once per due
//! time among servers sharing the store, with a misfire policy), inbound webhooks
//! (HMAC-signed, replays refused, answered with the recorded run's id) and outbound
//! notifications (signed webhooks and Slack-compatible ones, sent from an outbox with
//! retries), and event triggers that start on changes on the support desk (new,
//! changed or commented tickets, SLA breaches) or on messages in a Kafka topic
//! when their condition holds. What an
//! automation starts acts as the principal that made it, through the Hub
//! (`target.rs`).

mod channels;
mod cli;
mod deliveries;
mod event_triggers;
mod firings;
mod resources;
pub mod routes;
mod runner;
mod schedules;
mod service;
pub mod settings;
pub mod signature;
mod target;
pub mod timing;
mod tools;
mod watching;
mod webhooks;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tideway_core::{
    CallContext, Hub, HubError, Role, Store, Toolkit,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, Tool},
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use self::{
    channels::Channels, service::Automation, settings::AutomationConfig, tools::names,
    webhooks::Webhooks,
};
use crate::egress::{Lookup, Policy, SystemLookup};

/// The `automation` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "automation",
    summary: "schedules, inbound webhooks and notifications that start workflows and tools",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 18,
            name: "automation",
            sqlite: include_str!("migrations/sqlite/0018_automation.sql"),
            postgres: include_str!("migrations/postgres/0018_automation.sql"),
        },
        tideway_core::store::Migration {
            version: 25,
            name: "event_triggers",
            sqlite: include_str!("migrations/sqlite/0025_event_triggers.sql"),
            postgres: include_str!("migrations/postgres/0025_event_triggers.sql"),
        },
        tideway_core::store::Migration {
            version: 26,
            name: "kafka_triggers",
            sqlite: include_str!("migrations/sqlite/0026_kafka_triggers.sql"),
            postgres: include_str!("migrations/postgres/0026_kafka_triggers.sql"),
        },
    ],
    sealed: &[&webhooks::SEALED, &channels::SEALED],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(AutomationToolkit::new(
            config,
            shared.store.clone(),
            shared.master_key.clone(),
            shared.hub,
            Arc::new(SystemLookup),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "automation",
        description: "Schedules, inbound webhooks, notification channels and deliveries (the automation toolkit)",
        routes: routes::router,
        tools: &[
            names::CREATE_SCHEDULE,
            names::LIST_SCHEDULES,
            names::PAUSE_SCHEDULE,
            names::RESUME_SCHEDULE,
            names::RUN_SCHEDULE_NOW,
            names::DELETE_SCHEDULE,
            names::CREATE_WEBHOOK,
            names::LIST_WEBHOOKS,
            names::ROTATE_WEBHOOK_SECRET,
            names::DELETE_WEBHOOK,
            names::CREATE_CHANNEL,
            names::LIST_CHANNELS,
            names::TEST_CHANNEL,
            names::DELETE_CHANNEL,
            names::NOTIFY,
            names::LIST_DELIVERIES,
            names::TRIGGER,
            names::CREATE_EVENT_TRIGGER,
            names::LIST_EVENT_TRIGGERS,
            names::PAUSE_EVENT_TRIGGER,
            names::RESUME_EVENT_TRIGGER,
            names::DELETE_EVENT_TRIGGER,
        ],
    }),
    cli: Some(cli::CLI),
};

/// Milliseconds since the Unix epoch: due times, compared in SQL.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub struct AutomationToolkit {
    tools: ToolSet<Automation>,
    state: Arc<Automation>,
}

impl AutomationToolkit {
    /// The toolkit over `[automation]`; channel hosts are resolved by `lookup`.
    pub fn new(
        config: AutomationConfig,
        store: Store,
        key: Arc<MasterKey>,
        hub: &Arc<Hub>,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        let policy = Arc::new(Policy::new(&config.allow, lookup, "[automation] allow")?);
        let channels = Channels::new(
            store.clone(),
            key.clone(),
            policy,
            std::time::Duration::from_secs(config.delivery_timeout_secs),
        )?;
        let run_background = config.run_background;
        let state = Arc::new(Automation::new(
            config,
            Arc::downgrade(hub),
            store.clone(),
            Webhooks::new(store, key),
            channels,
        ));
        // The public webhook route reaches the state through the Hub.
        hub.share(state.clone());
        if run_background {
            runner::spawn(&state);
        }
        Ok(AutomationToolkit {
            tools: tools::tool_set(),
            state,
        })
    }

    /// The state, for tests that drive it with a clock of their own.
    #[cfg(test)]
    pub fn state(&self) -> &Arc<Automation> {
        &self.state
    }
}

#[async_trait]
impl Toolkit for AutomationToolkit {
    fn name(&self) -> &str {
        "automation"
    }

    fn description(&self) -> &str {
        "Automation: schedules (cron in a time zone, or intervals), inbound webhooks and event triggers on the support desk's changes that start workflows or tools as their maker, notification channels (signed webhooks, Slack) with notifications sent in the background and retried, and starting an automation now."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            names::CREATE_SCHEDULE,
            names::LIST_SCHEDULES,
            names::NOTIFY,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Webhooks open a door into the tenant and channels hold secrets and reach the
    /// network: admins manage them. Schedules act with their maker's own rights.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::CREATE_WEBHOOK
            | names::ROTATE_WEBHOOK_SECRET
            | names::DELETE_WEBHOOK
            | names::CREATE_CHANNEL
            | names::DELETE_CHANNEL => Role::Admin,
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
