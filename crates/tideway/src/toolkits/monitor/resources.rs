//! The monitor as MCP resources: `monitor://health` (the health report) and
//! `monitor://alerts` (the tenant's firing alerts). Both can be subscribed to; an
//! alert firing or resolving tells the tenant's subscribers of `monitor://alerts`.

use serde_json::json;
use tideway_core::{
    CallContext, HubError,
    mcp::{Resource, ResourceContents},
    toolkit::json_resource,
};

use super::service::Monitor;

pub const PREFIX: &str = "monitor://";
pub const HEALTH: &str = "monitor://health";
pub const ALERTS: &str = "monitor://alerts";

pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(HEALTH, "health")
            .with_description("The server's health: components, system figures, alerts firing")
            .with_mime_type("application/json"),
        Resource::new(ALERTS, "alerts")
            .with_description("This tenant's firing alerts; updated when one fires or resolves")
            .with_mime_type("application/json"),
    ]
}

pub async fn read(
    monitor: &Monitor,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    match uri {
        HEALTH => json_resource(uri, &monitor.health_report(ctx).await?),
        ALERTS => json_resource(
            uri,
            &json!({"alerts": monitor.alerts.list(&ctx.tenant, Some("firing"), 1000).await?}),
        ),
        _ => Err(HubError::ResourceNotFound(uri.to_string())),
    }
}
