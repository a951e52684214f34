//! An upstream as a toolkit. The Hub holds one of these per catalog version: when the
//! upstream's catalog changes, a new one replaces it, and calls in flight finish on
//! the one they started with. Every method forwards to the shared [`Upstream`].

use std::sync::Arc;

use async_trait::async_trait;
use tideway_core::{
    CallContext, Health, HubError, TenantId, Toolkit,
    mcp::{
        ArgumentInfo, CallToolResult, CompleteRequestParams, GetPromptResult, JsonObject, Prompt,
        Reference, Resource, ResourceContents, ResourceTemplate, Tool,
    },
    naming::NamingMode,
};

use super::{catalog::Catalog, supervisor::Upstream};

pub struct UpstreamToolkit {
    upstream: Arc<Upstream>,
    catalog: Arc<Catalog>,
    description: String,
}

impl UpstreamToolkit {
    pub fn new(upstream: Arc<Upstream>, catalog: Arc<Catalog>) -> Self {
        let description = upstream
            .spec
            .description
            .clone()
            .unwrap_or_else(|| format!("Federated MCP server '{}'", upstream.spec.name));
        UpstreamToolkit {
            upstream,
            catalog,
            description,
        }
    }
}

/// Whether the upstream says a repeated call is harmless.
fn retryable(tool: &Tool) -> bool {
    tool.annotations.as_ref().is_some_and(|annotations| {
        annotations.read_only_hint == Some(true) || annotations.idempotent_hint == Some(true)
    })
}

#[async_trait]
impl Toolkit for UpstreamToolkit {
    fn name(&self) -> &str {
        self.upstream.name()
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn owner(&self) -> Option<&TenantId> {
        self.upstream.owner.as_ref()
    }

    fn naming(&self) -> NamingMode {
        self.upstream.spec.naming
    }

    fn tools(&self) -> Vec<Tool> {
        self.catalog.tools.clone()
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        let (Some(original), Some(tool)) =
            (self.catalog.upstream_name(name), self.catalog.tool(name))
        else {
            return Err(HubError::UnknownTool {
                toolkit: self.name().to_string(),
                tool: name.to_string(),
            });
        };
        self.upstream
            .call_tool(ctx, original, arguments, retryable(tool))
            .await
    }

    fn uri_prefixes(&self) -> Vec<String> {
        self.catalog.uri_prefixes.clone()
    }

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(self.catalog.listing.resources.clone())
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        self.catalog.listing.resource_templates.clone()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        self.upstream.read_resource(ctx, uri).await
    }

    async fn subscribe(&self, _ctx: &CallContext, uri: &str) -> Result<(), HubError> {
        self.upstream.subscribe(uri).await
    }

    fn prompts(&self) -> Vec<Prompt> {
        self.catalog.listing.prompts.clone()
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        self.upstream.get_prompt(ctx, name, arguments).await
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        reference: &Reference,
        argument: &ArgumentInfo,
    ) -> Result<Vec<String>, HubError> {
        let params = CompleteRequestParams::new(reference.clone(), argument.clone());
        self.upstream.complete(ctx, params).await
    }

    async fn health(&self) -> Health {
        self.upstream.health()
    }
}
