//! The monitor's tests. The rules themselves (`evaluate.rs`, `availability.rs`,
//! `calls.rs`, `rules.rs`) are tested beside them; here, on both store backends, the
//! whole path under a clock of the test's own: a component going down fires its
//! rule once after its `for`, resolves once, and a local receiver gets one signed
//! notification per change (`alerts.rs`); history rolled up and deleted over a
//! simulated month (`history.rs`); the sampler reading a real CPU load of this
//! process (`load.rs`); and toolkits' parts in use as components of their tenant's
//! (`parts.rs`).

mod alerts;
mod history;
mod load;
mod parts;

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use async_trait::async_trait;
use serde_json::Value;
use tideway_core::{
    CallContext, Health, HubError, Store, TenantId, Toolkit,
    mcp::{CallToolResult, JsonObject, Tool},
};

use super::{MonitorToolkit, service::Monitor, settings::MonitorConfig};
use crate::toolkits::automation::tests::Rig as AutomationRig;

/// A toolkit whose health the test sets: 0 healthy, 1 degraded, 2 down.
#[derive(Default)]
pub struct Switch {
    state: AtomicU8,
}

impl Switch {
    pub fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
    }
}

/// A switchable component named `name`, shared or owned by one tenant.
pub struct SwitchToolkit {
    pub switch: Arc<Switch>,
    pub name: &'static str,
    pub owner: Option<TenantId>,
}

#[async_trait]
impl Toolkit for SwitchToolkit {
    fn name(&self) -> &str {
        self.name
    }
    fn owner(&self) -> Option<&TenantId> {
        self.owner.as_ref()
    }
    fn description(&self) -> &str {
        "A component whose health the test sets"
    }
    fn tools(&self) -> Vec<Tool> {
        Vec::new()
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        Err(HubError::UnknownTool {
            toolkit: self.name.into(),
            tool: name.to_string(),
        })
    }
    async fn health(&self) -> Health {
        match self.switch.state.load(Ordering::SeqCst) {
            0 => Health::healthy(),
            1 => Health {
                status: tideway_core::HealthStatus::Degraded,
                detail: Some("slow".into()),
                latency_ms: None,
            },
            _ => Health::down("billing API refused the connection"),
        }
    }
}

/// The monitor's settings for tests: no background loop (the test ticks it) and no
/// default rules (the host's real CPU must not fire anything).
pub fn quiet() -> MonitorConfig {
    MonitorConfig {
        run_background: false,
        default_rules: false,
        replica: Some("test-a".into()),
        ..MonitorConfig::default()
    }
}

/// The automation rig (workflows engine, automation toolkit), a switchable
/// component, and the monitor, on one Hub.
pub struct Rig {
    pub automation: AutomationRig,
    pub switch: Arc<Switch>,
    pub monitor: Arc<MonitorToolkit>,
}

impl Rig {
    pub async fn start(store: &Store) -> Rig {
        Self::start_with(store, quiet()).await
    }

    pub async fn start_with(store: &Store, config: MonitorConfig) -> Rig {
        let automation = AutomationRig::start(store).await;
        let hub = automation.server.hub.clone();
        let switch = Arc::new(Switch::default());
        hub.register(Arc::new(SwitchToolkit {
            switch: switch.clone(),
            name: "billing",
            owner: None,
        }))
        .expect("switch");
        let monitor = Arc::new(MonitorToolkit::new(
            config,
            &hub,
            store.clone(),
            TenantId::new("acme"),
        ));
        hub.register(monitor.clone()).expect("monitor");
        monitor.state().start().await.expect("monitor starts");
        Rig {
            automation,
            switch,
            monitor,
        }
    }

    pub fn state(&self) -> &Arc<Monitor> {
        self.monitor.state()
    }

    /// Calls a monitor tool; a tool error is the Hub's error.
    pub async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self
            .automation
            .server
            .hub
            .call(ctx, "monitor", tool, Some(arguments))
            .await?;
        if result.is_error == Some(true) {
            return Err(HubError::Internal(format!("{tool}: {result:?}")));
        }
        Ok(crate::toolkits::testing::structured(
            &self.automation.server.hub,
            "monitor",
            tool,
            result,
        ))
    }
}
