//! The toolkit: a named set of MCP tools, resources, resource templates and prompts
//! with a health check. Built-in connectors are toolkits and so is every federated
//! upstream server; the Hub treats them alike. Only `name`, `tools` and `call_tool`
//! are required; the rest default to "this toolkit has none".

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::{
    access::Role,
    context::{CallContext, TenantId},
    error::HubError,
    mcp::{
        ArgumentInfo, CallToolResult, GetPromptResult, JsonObject, Prompt, Reference, Resource,
        ResourceContents, ResourceTemplate, Tool,
    },
    naming::NamingMode,
    parts::PartHealth,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Down,
}

/// Whether a tool may run as an MCP task (the 2026-07-28 tasks extension): the server
/// answers the call at once with a task the client polls, and the call runs on the
/// Hub's durable background runner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Always answered in the request (most tools: they are quick).
    #[default]
    Forbidden,
    /// Runs as a task for clients that take tasks, in the request for the others.
    Optional,
    /// Only as a task: a client that does not take tasks is refused.
    Required,
}

/// A component's health as the `/ready` endpoint and `doctor` report it.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub status: HealthStatus,
    /// What is wrong and how to fix it, when not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl Health {
    pub fn healthy() -> Self {
        Health {
            status: HealthStatus::Healthy,
            detail: None,
            latency_ms: None,
        }
    }
    pub fn down(detail: impl Into<String>) -> Self {
        Health {
            status: HealthStatus::Down,
            detail: Some(detail.into()),
            latency_ms: None,
        }
    }
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency_ms = Some(latency.as_secs_f64() * 1000.0);
        self
    }
}

/// A resource's contents as pretty JSON.
pub fn json_resource(uri: &str, value: &impl Serialize) -> Result<Vec<ResourceContents>, HubError> {
    let text = serde_json::to_string_pretty(value).map_err(HubError::internal)?;
    Ok(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ])
}

/// The least role for a tool by its annotations: viewer for read-only tools,
/// operator for everything else.
pub fn role_by_annotations(tool: &Tool) -> Role {
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.read_only_hint)
        == Some(true);
    if read_only {
        Role::Viewer
    } else {
        Role::Operator
    }
}

/// A toolkit's featured tools from a list of names, for [`Toolkit::featured_tools`].
pub fn featured(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|name| (*name).to_string()).collect())
}

#[async_trait]
pub trait Toolkit: Send + Sync + 'static {
    /// The toolkit's name: letters, digits, `_` and `-`; it prefixes its tool names on `/mcp`.
    fn name(&self) -> &str;

    fn description(&self) -> &str {
        ""
    }

    /// The tenant that owns this toolkit, if only one may see it (an upstream a
    /// tenant's admin added); `None` for toolkits every tenant shares.
    fn owner(&self) -> Option<&TenantId> {
        None
    }

    /// How the tools are named on `/mcp`: `{toolkit}_{tool}` unless the toolkit says
    /// otherwise (a federated upstream may be configured to keep its bare names).
    fn naming(&self) -> NamingMode {
        NamingMode::Prefix
    }

    /// The tools, with input and output schemas and truthful annotations. The Hub reads
    /// this once at registration and validates every call's arguments against it.
    fn tools(&self) -> Vec<Tool>;

    /// The tools `/mcp` lists when the operator keeps its catalog lean (the default):
    /// the few most requests need. `None` lists every tool. The others stay callable on
    /// `/mcp`, `find_tools` finds them, and `/mcp/{toolkit}` lists them all.
    fn featured_tools(&self) -> Option<Vec<String>> {
        None
    }

    /// Whether `tool` may run as an MCP task. Long calls (a sync, a slow query)
    /// say `Optional`, so a client can poll them instead of holding a request open.
    fn task_support(&self, _tool: &str) -> TaskSupport {
        TaskSupport::Forbidden
    }

    /// Runs in the request, before a call of `tool` becomes a task: the toolkit may
    /// ask the client here (through `ctx.client`, as a tool asks) and fold the answers
    /// into the arguments the task starts with. While a question is unanswered the
    /// request ends with an input-required result and no task exists; the task is
    /// created on the round that answers them all. By default nothing is asked.
    async fn before_task(
        &self,
        _ctx: &CallContext,
        _tool: &str,
        arguments: JsonObject,
    ) -> Result<JsonObject, HubError> {
        Ok(arguments)
    }

    /// The least role that may call `tool`: viewers may call tools annotated
    /// read-only, operators everything else. A toolkit whose tools manage the system
    /// (sources, keys, upstreams) returns `Admin` for them.
    fn required_role(&self, tool: &Tool) -> Role {
        role_by_annotations(tool)
    }

    /// Runs one tool. Arguments have already been validated against the input schema.
    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError>;

    /// URI prefixes this toolkit serves (e.g. `db://`); resource reads are routed by them.
    fn uri_prefixes(&self) -> Vec<String> {
        Vec::new()
    }

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(Vec::new())
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }

    async fn read_resource(
        &self,
        _ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        Err(HubError::ResourceNotFound(uri.to_string()))
    }

    /// A client subscribed to `uri`, which this toolkit serves. Toolkits that publish
    /// their own changes need do nothing; one that relays another server's resources
    /// asks that server for updates here.
    async fn subscribe(&self, _ctx: &CallContext, _uri: &str) -> Result<(), HubError> {
        Ok(())
    }

    /// The prompts, read once at registration. A toolkit whose prompts change per
    /// caller (templates stored per tenant) says so with `dynamic_prompts` and
    /// answers `list_prompts` instead.
    fn prompts(&self) -> Vec<Prompt> {
        Vec::new()
    }

    /// Whether the Hub must ask `list_prompts` each time rather than use `prompts`.
    fn dynamic_prompts(&self) -> bool {
        false
    }

    /// The prompts `ctx`'s caller sees, when they differ per caller.
    async fn list_prompts(&self, _ctx: &CallContext) -> Result<Vec<Prompt>, HubError> {
        Ok(self.prompts())
    }

    async fn get_prompt(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        Err(HubError::UnknownPrompt(name.to_string()))
    }

    /// Completion candidates for a prompt or resource-template argument.
    async fn complete(
        &self,
        _ctx: &CallContext,
        _reference: &Reference,
        _argument: &ArgumentInfo,
    ) -> Result<Vec<String>, HubError> {
        Ok(Vec::new())
    }

    async fn health(&self) -> Health {
        Health::healthy()
    }

    /// The parts in use (a tenant's sources, clusters, accounts) and their health,
    /// each checked within `timeout` with the clients the calls use. The monitor
    /// records each as a component of its own, seen by its tenant alone.
    async fn parts(&self, _timeout: Duration) -> Vec<PartHealth> {
        Vec::new()
    }

    /// The server is stopping: stop background work (a toolkit that runs some).
    async fn shutdown(&self) {}
}
