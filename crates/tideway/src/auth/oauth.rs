//! MCP authorization as an OAuth 2.1 resource server: the protected-resource
//! metadata document (RFC 9728) that tells a client which authorization servers
//! issue tokens for this server, and the `WWW-Authenticate` challenge that points to
//! it from every 401. Tokens themselves are checked by the JWT verifier, with the
//! resource URL as the required audience.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use tideway_core::Config;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    pub resource_name: String,
}

impl ResourceMetadata {
    pub fn from_config(config: &Config) -> Self {
        ResourceMetadata {
            resource: config.resource_url(),
            authorization_servers: config.auth.authorization_servers.clone(),
            bearer_methods_supported: vec!["header".into()],
            scopes_supported: config.auth.scopes_supported.clone(),
            resource_name: "Tideway".into(),
        }
    }
}

/// Where the metadata for `resource` lives: the well-known path inserted between the
/// origin and the resource's path (RFC 9728, section 3.1).
pub fn metadata_url(resource: &str) -> String {
    let (origin, path) = match resource.find("://") {
        Some(scheme_end) => match resource[scheme_end + 3..].find('/') {
            Some(slash) => resource.split_at(scheme_end + 3 + slash),
            None => (resource, ""),
        },
        None => (resource, ""),
    };
    format!("{origin}{WELL_KNOWN}{}", path.trim_end_matches('/'))
}

async fn metadata(State(document): State<Arc<ResourceMetadata>>) -> Json<ResourceMetadata> {
    Json((*document).clone())
}

/// The metadata routes, at the root and under the resource's path.
pub fn router(document: ResourceMetadata) -> Router {
    let document = Arc::new(document);
    Router::new()
        .route(WELL_KNOWN, get(metadata))
        .route(&format!("{WELL_KNOWN}/{{*path}}"), get(metadata))
        .with_state(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path() {
        assert_eq!(
            metadata_url("https://hub.example.com/mcp"),
            "https://hub.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("https://hub.example.com/tenants/a/mcp/"),
            "https://hub.example.com/.well-known/oauth-protected-resource/tenants/a/mcp"
        );
    }
}
