//! Resources: listing them across a scope, finding the toolkit that serves a URI
//! (the longest matching prefix among those the caller may see), reading through the
//! shared guard, and subscriptions.

use std::sync::Arc;

use super::{Entry, Hub, Scope, guard::Verb};
use crate::{
    audit::argument_digest,
    context::{CallContext, Principal},
    error::HubError,
    mcp::{JsonObject, Resource, ResourceContents, ResourceTemplate},
};

impl Hub {
    pub async fn list_resources(
        &self,
        ctx: &CallContext,
        scope: &Scope,
    ) -> Result<Vec<Resource>, HubError> {
        let catalog = self.snapshot();
        let mut resources = Vec::new();
        for entry in catalog.visible(scope, &ctx.principal) {
            resources.extend(entry.toolkit.list_resources(ctx).await?);
        }
        Ok(resources)
    }

    pub fn list_resource_templates(
        &self,
        scope: &Scope,
        principal: &Principal,
    ) -> Vec<ResourceTemplate> {
        self.snapshot()
            .visible(scope, principal)
            .flat_map(|entry| entry.templates.clone())
            .collect()
    }

    /// The toolkit in scope that serves `uri`: the one with the longest matching prefix.
    pub(super) fn owner_of(
        &self,
        scope: &Scope,
        uri: &str,
        principal: &Principal,
    ) -> Option<Arc<Entry>> {
        let catalog = self.snapshot();
        catalog
            .visible(scope, principal)
            .filter_map(|entry| {
                entry
                    .uri_prefixes
                    .iter()
                    .filter(|prefix| uri.starts_with(prefix.as_str()))
                    .map(String::len)
                    .max()
                    .map(|len| (len, entry.clone()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, entry)| entry)
    }

    pub async fn read_resource(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        // A toolkit the caller may not see does not serve the URI for them.
        let entry = self
            .owner_of(scope, uri, &ctx.principal)
            .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
        let digest = self.audit_sink().map(|_| {
            let mut arguments = JsonObject::new();
            arguments.insert("uri".into(), uri.into());
            argument_digest(&arguments, None)
        });
        let work = entry.toolkit.read_resource(ctx, uri);
        self.guarded(ctx, entry.name(), Verb::ReadResource, digest, work)
            .await
    }

    /// Tells the toolkit serving `uri` that a client wants to hear of its changes (a
    /// federated upstream subscribes upstream); an unknown URI is not found.
    pub async fn subscribe_resource(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        uri: &str,
    ) -> Result<(), HubError> {
        let entry = self
            .owner_of(scope, uri, &ctx.principal)
            .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
        entry.toolkit.subscribe(ctx, uri).await
    }

    /// Whether a resource URI is served in this scope (for subscriptions).
    pub fn serves_uri(&self, scope: &Scope, uri: &str, principal: &Principal) -> bool {
        self.owner_of(scope, uri, principal).is_some()
    }
}
