//! The `system` toolkit: what an agent needs to find its way around this Tideway
//! (which toolkits are enabled, whether they are healthy, which tool does what), a
//! generic `call_tool` for clients that only hold a few tools, and an `echo` tool for
//! checking connectivity end to end and for benchmarks.

pub(crate) mod find;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, Hub, HubError, Role, Scope,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, Tool},
    toolkit::{HealthStatus, Toolkit, role_by_annotations},
    typed::{Effect, ToolSet, ToolSpec, ToolText, schema_for},
};

/// The `system` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "system",
    summary: "find your way around: toolkits, health, tool search, a generic call, echo",
    on_by_default: true,
    feature: None,
    settings: None,
    migrations: &[],
    sealed: &[],
    build: Some(|shared| Ok(Arc::new(SystemToolkit::new(Arc::downgrade(shared.hub))))),
    rest: None,
    cli: None,
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

#[derive(Deserialize, JsonSchema)]
pub struct CallToolArgs {
    /// The tool's name on `/mcp` (as `find_tools` gives it), e.g. `support_get_tickets`.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// The tool's arguments.
    #[serde(default)]
    pub arguments: JsonObject,
}

const CALL_TOOL: &str = "call_tool";

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
            .filter(|entry| entry.shown_to(principal))
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
        let tools = tools
            .add(
                ToolSpec {
                    name: "find_tools",
                    title: "Find tools",
                    description: "Searches every tool you may call by what it does, best match first, with each tool's /mcp name and arguments. Use it when you do not hold the whole catalog, then call the tool with call_tool.",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |state: Arc<SystemState>, ctx, args: find::FindToolsArgs| async move {
                    Ok(find::find_tools(state.hub()?.as_ref(), &ctx, args))
                },
            )
            .add_raw(call_tool_definition(), |state, ctx, arguments| async move {
                let args: CallToolArgs = tideway_core::typed::decode_arguments(arguments)?;
                if args.name == format!("system_{CALL_TOOL}") {
                    return Err(HubError::invalid_argument(
                        "name",
                        "call_tool cannot call itself",
                    ));
                }
                let hub = state.hub()?;
                hub.call_in_scope(&ctx, &Scope::All, &args.name, Some(args.arguments))
                    .await
            });
        SystemToolkit {
            tools,
            state: Arc::new(SystemState { hub }),
        }
    }
}

/// `call_tool` may reach any tool, so it is annotated as the riskiest of them; the
/// tool it calls is authorized again on its own, which is why viewers may use it.
fn call_tool_definition() -> Tool {
    let spec = ToolSpec {
        name: CALL_TOOL,
        title: "Call a tool",
        description: "Calls any tool you may call by its /mcp name (see find_tools) with its arguments, and returns that tool's result. The called tool's own permissions apply.",
        effect: Effect::Destructive,
        open_world: true,
    };
    Tool::new(
        spec.name,
        spec.description,
        Arc::new(schema_for::<CallToolArgs>()),
    )
    .with_annotations(spec.annotations())
    .with_title(spec.title)
}

const TOOLKITS_URI: &str = "system://toolkits";

#[async_trait]
impl Toolkit for SystemToolkit {
    fn name(&self) -> &str {
        "system"
    }

    fn description(&self) -> &str {
        "About this Tideway: enabled toolkits, their health, a search over every tool with a generic call, and an echo for connectivity checks."
    }

    // No `featured_tools`: a lean `/mcp` lists every system tool, since find_tools and
    // call_tool are how it reaches the rest and echo is how clients and peers check a
    // connection end to end.

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    fn required_role(&self, tool: &Tool) -> Role {
        if tool.name == CALL_TOOL {
            Role::Viewer
        } else {
            role_by_annotations(tool)
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
