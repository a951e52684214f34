//! Runs as MCP resources, `workflow://executions/{execution_id}`: the run's status and
//! steps as JSON. Subscribers hear of every step change.

use tideway_core::{
    CallContext, HubError,
    mcp::{ResourceContents, ResourceTemplate},
    toolkit::json_resource,
};

use super::service::Workflows;

pub const PREFIX: &str = "workflow://executions/";

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{PREFIX}{{execution_id}}"), "workflow execution")
            .with_description(
                "A workflow execution's status and steps; subscribe to hear of each change.",
            )
            .with_mime_type("application/json"),
    ]
}

pub async fn read(
    workflows: &Workflows,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let id = uri
        .strip_prefix(PREFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
    let view = workflows.view(ctx, id).await.map_err(|error| match error {
        HubError::NotFound(_) => HubError::ResourceNotFound(uri.to_string()),
        other => other,
    })?;
    json_resource(uri, &view)
}
