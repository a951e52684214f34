//! The `system` toolkit: what an agent needs to find its way around this Tideway
//! (which toolkits are enabled, whether they are healthy) and an `echo` tool for
//! checking connectivity end to end and for benchmarks.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, Hub, HubError,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, Tool},
    toolkit::{HealthStatus, Toolkit},
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};

pub struct SystemToolkit {
    tools: ToolSet<SystemState>,
    state: Arc<SystemState>,
}

pub struct SystemState {
    /// Weak: the Hub owns the toolkit, so a strong reference would be a cycle.
    hub: Weak<Hub>,
}

impl SystemState {
    fn hub(&self) -> Result<Arc<Hub>, HubError> {
        self.hub
            .upgrade()
            .ok_or_else(|| HubError::internal("the hub is shutting down"))
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    #[schemars(length(max = 65536))]
    pub message: String,
}

#[derive(Serialize, JsonSchema)]
pub struct EchoResult {
    pub message: String,
}

impl ToolText for EchoResult {
    fn text(&self) -> String {
        self.message.clone()
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Serialize, JsonSchema)]
pub struct ToolkitSummary {
    pub name: String,
    pub description: String,
    pub tools: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ToolkitList {
    pub toolkits: Vec<ToolkitSummary>,
}

impl ToolText for ToolkitList {
    fn text(&self) -> String {
        self.toolkits
            .iter()
            .map(|kit| {
                format!(
                    "{} ({} tools): {}",
                    kit.name,
                    kit.tools.len(),
                    kit.description
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ComponentStatus {
    pub name: String,
    /// `healthy`, `degraded` or `down`.
    pub status: String,
    pub detail: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct HealthReport {
    pub healthy: bool,
    pub components: Vec<ComponentStatus>,
}

impl ToolText for HealthReport {
    fn text(&self) -> String {
        self.components
            .iter()
            .map(|c| match &c.detail {
                Some(detail) => format!("{}: {} ({detail})", c.name, c.status),
                None => format!("{}: {}", c.name, c.status),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The toolkits and tools the caller may use (the same view `tools/list` gives it).
fn list_toolkits(hub: &Hub, ctx: &CallContext) -> ToolkitList {
    let principal = &ctx.principal;
    ToolkitList {
        toolkits: hub
            .entries()
            .iter()
            .filter(|entry| principal.permits_toolkit(entry.name()))
            .map(|entry| ToolkitSummary {
                name: entry.name().to_string(),
                description: entry.toolkit.description().to_string(),
                tools: entry
                    .callable_tools(principal)
                    .map(|tool| tool.name.to_string())
                    .collect(),
            })
            .filter(|summary| !summary.tools.is_empty())
            .collect(),
    }
}

impl SystemToolkit {
    pub fn new(hub: Weak<Hub>) -> Self {
        let tools = ToolSet::new()
            .add(
                ToolSpec {
                    name: "echo",
                    title: "Echo",
                    description: "Returns the message it is given. Use it to check that a client reaches Tideway.",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |_state: Arc<SystemState>, _ctx, args: EchoArgs| async move {
                    Ok(EchoResult { message: args.message })
                },
            )
            .add(
                ToolSpec {
                    name: "list_toolkits",
                    title: "List toolkits",
                    description: "Lists the enabled toolkits with their tools.",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |state: Arc<SystemState>, ctx, _args: NoArgs| async move {
                    Ok(list_toolkits(state.hub()?.as_ref(), &ctx))
                },
            )
            .add(
                ToolSpec {
                    name: "get_health",
                    title: "Get health",
                    description: "Checks every toolkit now and reports which are healthy, degraded or down, and why.",
                    effect: Effect::ReadOnly,
                    open_world: true,
                },
                |state: Arc<SystemState>, _ctx, _args: NoArgs| async move {
                    let hub = state.hub()?;
                    let checks = hub.health(Duration::from_secs(5)).await;
                    let components: Vec<ComponentStatus> = checks
                        .into_iter()
                        .map(|(name, health)| ComponentStatus {
                            name,
                            status: match health.status {
                                HealthStatus::Healthy => "healthy",
                                HealthStatus::Degraded => "degraded",
                                HealthStatus::Down => "down",
                            }
                            .to_string(),
                            detail: health.detail,
                        })
                        .collect();
                    Ok(HealthReport {
                        healthy: components.iter().all(|c| c.status != "down"),
                        components,
                    })
                },
            );
        SystemToolkit {
            tools,
            state: Arc::new(SystemState { hub }),
        }
    }
}

const TOOLKITS_URI: &str = "system://toolkits";

#[async_trait]
impl Toolkit for SystemToolkit {
    fn name(&self) -> &str {
        "system"
    }

    fn description(&self) -> &str {
        "About this Tideway: enabled toolkits, their health, and an echo for connectivity checks."
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
        vec!["system://".into()]
    }

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(vec![
            Resource::new(TOOLKITS_URI, "toolkits")
                .with_title("Enabled toolkits")
                .with_description("The enabled toolkits and their tools, as JSON.")
                .with_mime_type("application/json"),
        ])
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        if uri != TOOLKITS_URI {
            return Err(HubError::ResourceNotFound(uri.to_string()));
        }
        let list = list_toolkits(self.state.hub()?.as_ref(), ctx);
        let json = serde_json::to_string_pretty(&list).map_err(HubError::internal)?;
        Ok(vec![
            ResourceContents::text(json, uri).with_mime_type("application/json"),
        ])
    }
}
