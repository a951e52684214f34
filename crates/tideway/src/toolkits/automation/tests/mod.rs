//! The automation toolkit's tests: the pure rules (`timing.rs`: cron, intervals,
//! daylight-saving changes and misfires under a clock of the test's own;
//! `signature.rs`: both signing schemes), and on both store backends schedules firing
//! once per due time across servers (`schedules.rs`), webhook deliveries
//! (`webhooks.rs`), notifications sent to a local receiver (`notifications.rs`), and
//! event triggers over the support desk's changes (`event_triggers.rs`) and a Kafka
//! topic (`kafka_triggers.rs`).
//! Targets run on the workflows engine over the workflows tests' probe toolkit.

mod event_triggers;
#[cfg(feature = "messaging")]
mod kafka_triggers;
pub(crate) mod notifications;
mod schedules;
mod signature;
mod timing;
mod webhooks;

use std::sync::Arc;

use serde_json::{Value, json};
use tideway_core::{CallContext, HubError, Store, mcp::JsonObject};

use super::{AutomationToolkit, service::Automation, settings::AutomationConfig};
use crate::{egress::SystemLookup, toolkits::workflows::tests::Server};

pub use crate::toolkits::workflows::tests::operator;

/// A server: the workflows tests' probe and engine, and the automation toolkit with
/// its background loop off, so a test drives it with its own clock.
pub struct Rig {
    pub server: Server,
    pub automation: Arc<AutomationToolkit>,
}

pub fn quiet() -> AutomationConfig {
    AutomationConfig {
        run_background: false,
        allow: vec!["127.0.0.0/8".into()],
        delivery_backoff_ms: 10,
        ..AutomationConfig::default()
    }
}

impl Rig {
    pub async fn start(store: &Store) -> Rig {
        Self::start_with(store, quiet()).await
    }

    pub async fn start_with(store: &Store, config: AutomationConfig) -> Rig {
        let server = Server::start(store).await;
        let automation = Arc::new(
            AutomationToolkit::new(
                config,
                store.clone(),
                Arc::new(tideway_core::secrets::MasterKey::generate().expect("key").0),
                &server.hub,
                Arc::new(SystemLookup),
            )
            .expect("automation"),
        );
        server
            .hub
            .register(automation.clone())
            .expect("automation registered");
        Rig { server, automation }
    }

    pub fn state(&self) -> &Arc<Automation> {
        self.automation.state()
    }

    /// Calls an automation tool; a tool error is the Hub's error.
    pub async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self
            .server
            .hub
            .call(ctx, "automation", tool, Some(arguments))
            .await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        Ok(crate::toolkits::testing::structured(
            &self.server.hub,
            "automation",
            tool,
            result,
        ))
    }

    /// Saves a one-step template that echoes its input's `label`.
    pub async fn save_echo(&self, ctx: &CallContext, id: &str) {
        self.server
            .save(
                ctx,
                json!({
                    "id": id, "name": id,
                    "steps": [{"id": "echo", "tool": "probe_echo", "arguments": {"value": "{{ input.label }}"}}]
                }),
            )
            .await
            .expect("saved");
    }
}
