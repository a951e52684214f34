//! The `messaging` toolkit: Kafka for agents. Publish with the broker's
//! acknowledgement, consume in real consumer groups (committing exactly what a call
//! returns), peek without a group, topic metadata and administration, and group
//! lag, on the clusters a tenant's admin stores or the operator declares. The
//! Kafka client lives in its own crate (`tideway-kafka`, over librdkafka).

pub mod clusters;
mod errors;
mod render;
mod resources;
pub mod routes;
pub mod settings;
pub mod tools;
pub mod views;

#[cfg(test)]
pub(crate) mod tests;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tideway_core::{
    CallContext, HubError, PartHealth, Role, Store, Toolkit,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, ResourceTemplate, Tool},
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use self::{clusters::Clusters, settings::MessagingConfig, tools::names};
use crate::egress::{Lookup, Policy, SystemLookup};

/// The `messaging` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "messaging",
    summary: "Kafka topics: publish, consume in consumer groups, metadata and lag, per-tenant clusters",
    // Useless until a cluster exists, and it reaches the network: the operator names it.
    on_by_default: false,
    feature: Some("messaging"),
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 19,
            name: "messaging_clusters",
            sqlite: include_str!("migrations/sqlite/0019_messaging_clusters.sql"),
            postgres: include_str!("migrations/postgres/0019_messaging_clusters.sql"),
        },
        tideway_core::store::Migration {
            version: 30,
            name: "messaging_cluster_groups",
            sqlite: include_str!("migrations/sqlite/0030_messaging_cluster_groups.sql"),
            postgres: include_str!("migrations/postgres/0030_messaging_cluster_groups.sql"),
        },
    ],
    sealed: &[&clusters::SEALED],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(MessagingToolkit::new(
            config,
            shared.store.clone(),
            shared.master_key.clone(),
            Arc::new(SystemLookup),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "messaging",
        description: "Kafka topics, messages, consumer groups and the tenant's clusters (the messaging toolkit)",
        routes: routes::router,
        tools: routes::OPERATIONS,
    }),
    cli: None,
};

pub struct MessagingState {
    pub config: Arc<MessagingConfig>,
    pub clusters: Clusters,
}

pub struct MessagingToolkit {
    tools: ToolSet<MessagingState>,
    state: Arc<MessagingState>,
}

impl MessagingToolkit {
    /// The toolkit over `[messaging]`; bootstrap hosts are resolved by `lookup`.
    pub fn new(
        config: MessagingConfig,
        store: Store,
        key: Arc<MasterKey>,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        let config = Arc::new(config);
        let policy = Arc::new(Policy::new(&config.allow, lookup, "[messaging] allow")?);
        Ok(MessagingToolkit {
            tools: tools::tool_set(),
            state: Arc::new(MessagingState {
                clusters: Clusters::new(store, key, config.clone(), policy),
                config,
            }),
        })
    }
}

#[async_trait]
impl Toolkit for MessagingToolkit {
    fn name(&self) -> &str {
        "messaging"
    }

    fn description(&self) -> &str {
        "Kafka messaging: publish messages to topics, consume them in consumer groups, peek at partitions, topic metadata, consumer group lag, and topic administration, on the tenant's clusters."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            names::PUBLISH_MESSAGE,
            names::CONSUME_MESSAGES,
            names::GET_TOPIC_METADATA,
            names::GET_CONSUMER_GROUP_LAG,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Clusters (their secrets) and deleting topics manage the tenant: admins only.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::SET_CLUSTER | names::DELETE_CLUSTER | names::DELETE_TOPIC => Role::Admin,
            _ => role_by_annotations(tool),
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

    async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        self.state.clusters.parts(timeout).await
    }

    fn uri_prefixes(&self) -> Vec<String> {
        vec![resources::PREFIX.to_string()]
    }

    async fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        resources::list(&self.state, ctx).await
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        resources::read(&self.state, ctx, uri).await
    }
}
