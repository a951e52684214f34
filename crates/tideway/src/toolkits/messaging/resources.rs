//! Kafka as MCP resources (the seed's names): `kafka://topics`,
//! `kafka://consumer-groups` and `kafka://brokers` for each of the tenant's
//! clusters, and `kafka://topics/{name}`, a topic's metadata in the tenant's only
//! cluster, through the same checks as the tools.

use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    mcp::{Resource, ResourceContents, ResourceTemplate},
    toolkit::json_resource,
};

use super::{MessagingState, clusters::OpenCluster, errors::hub_error, tools};

pub const PREFIX: &str = "kafka://";
const TOPICS: &str = "kafka://topics";
const GROUPS: &str = "kafka://consumer-groups";
const BROKERS: &str = "kafka://brokers";

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("kafka://topics/{name}", "topic").with_description(
            "A topic's partitions, watermarks and configuration in this tenant's Kafka cluster.",
        ),
    ]
}

pub async fn list(_state: &MessagingState, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
    Ok(vec![
        Resource::new(TOPICS, "topics")
            .with_description("The topics of each of this tenant's Kafka clusters")
            .with_mime_type("application/json"),
        Resource::new(GROUPS, "consumer-groups")
            .with_description("The consumer groups of each of this tenant's Kafka clusters")
            .with_mime_type("application/json"),
        Resource::new(BROKERS, "brokers")
            .with_description("The brokers of each of this tenant's Kafka clusters")
            .with_mime_type("application/json"),
    ])
}

/// One entry per cluster: what it lists, or why it could not.
async fn per_cluster<F, Fut>(
    state: &MessagingState,
    ctx: &CallContext,
    list: F,
) -> Result<Value, HubError>
where
    F: Fn(OpenCluster) -> Fut,
    Fut: std::future::Future<Output = Result<Value, HubError>>,
{
    let mut out = Vec::new();
    for view in state.clusters.list(ctx).await? {
        let cluster = state.clusters.open(ctx, Some(&view.name)).await?;
        let name = cluster.name.clone();
        out.push(match list(cluster).await {
            Ok(value) => json!({"cluster": name, "items": value}),
            Err(error) => json!({"cluster": name, "error": error.shown("")}),
        });
    }
    Ok(Value::Array(out))
}

pub async fn read(
    state: &MessagingState,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let value = match uri {
        TOPICS => {
            per_cluster(state, ctx, |cluster| async move {
                let listed = tools::list_topics(
                    &cluster,
                    tools::ListTopicsArgs {
                        cluster: None,
                        filter: None,
                        cursor: None,
                        limit: Some(1000),
                    },
                )
                .await?;
                serde_json::to_value(listed.topics).map_err(HubError::internal)
            })
            .await?
        }
        GROUPS => {
            per_cluster(state, ctx, |cluster| async move {
                serde_json::to_value(tools::groups(&cluster).await?.groups)
                    .map_err(HubError::internal)
            })
            .await?
        }
        BROKERS => {
            per_cluster(state, ctx, |cluster| async move {
                let brokers = cluster
                    .client
                    .check()
                    .await
                    .map_err(|error| hub_error(&cluster.name, error))?;
                Ok(Value::Array(
                brokers
                    .into_iter()
                    .map(
                        |broker| json!({"id": broker.id, "host": broker.host, "port": broker.port}),
                    )
                    .collect(),
            ))
            })
            .await?
        }
        _ => {
            let topic = uri
                .strip_prefix("kafka://topics/")
                .filter(|topic| !topic.is_empty() && !topic.contains('/'))
                .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
            let cluster = state.clusters.open(ctx, None).await?;
            serde_json::to_value(tools::topic_metadata(&cluster, topic).await?)
                .map_err(HubError::internal)?
        }
    };
    json_resource(uri, &value)
}
