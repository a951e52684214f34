//! Automation as MCP resources: `automation://schedules` (each schedule with its next
//! fire times and latest firings) and `automation://webhooks` (each endpoint's paths,
//! target and signing scheme, never a secret), for the caller's tenant.

use serde_json::json;
use tideway_core::{
    CallContext, HubError,
    mcp::{Resource, ResourceContents},
    toolkit::json_resource,
};

use super::service::Automation;

pub const PREFIX: &str = "automation://";
const SCHEDULES: &str = "automation://schedules";
const WEBHOOKS: &str = "automation://webhooks";

pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(SCHEDULES, "schedules")
            .with_description("This tenant's schedules, their next fire times and latest firings")
            .with_mime_type("application/json"),
        Resource::new(WEBHOOKS, "webhooks")
            .with_description("This tenant's inbound webhooks: paths, targets and signing schemes")
            .with_mime_type("application/json"),
    ]
}

pub async fn read(
    automation: &Automation,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    match uri {
        SCHEDULES => json_resource(
            uri,
            &json!({"schedules": automation.list_schedules(ctx).await?}),
        ),
        WEBHOOKS => {
            let views = automation
                .webhooks
                .list(&ctx.tenant)
                .await?
                .iter()
                .map(|row| row.view())
                .collect::<Result<Vec<_>, HubError>>()?;
            json_resource(uri, &json!({"webhooks": views}))
        }
        _ => Err(HubError::ResourceNotFound(uri.to_string())),
    }
}
