//! The lakehouse toolkit (seed 004's "integration brain"): files land in a tenant's
//! Bronze layer as Delta tables, and SQL reads the tenant's tables through DataFusion.
//! The engine is the `tideway-lakehouse` crate; this folder puts it behind tools,
//! REST routes and the tenant of the call. Where a tool takes the seed's `tenant_id`,
//! it may only name the caller's own tenant.

pub mod routes;
pub mod tools;

#[cfg(test)]
mod tests;

use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use tideway_core::{
    CallContext, Health, HubError, Toolkit,
    config::Config,
    mcp::{CallToolResult, JsonObject, Tool},
    typed::ToolSet,
};
use tideway_lakehouse::{Lake, LakeError};

pub struct LakehouseState {
    pub lake: Lake,
    pub settings: tideway_core::config::LakehouseConfig,
}

pub struct LakehouseToolkit {
    tools: ToolSet<LakehouseState>,
    state: Arc<LakehouseState>,
}

/// The engine's errors as the Hub's.
pub fn hub_error(error: LakeError) -> HubError {
    match error {
        LakeError::Invalid { field, message } => HubError::invalid_argument(field, message),
        LakeError::NotFound(what) => HubError::NotFound(format!("no table {what}")),
        LakeError::Sql(message) => HubError::invalid_argument("sql", message),
        LakeError::Timeout(limit) => HubError::DeadlineExceeded(limit),
        LakeError::Storage(reason) => HubError::Unavailable {
            component: "lakehouse storage".into(),
            reason,
        },
    }
}

impl LakehouseToolkit {
    pub fn new(config: &Config) -> Result<Self, String> {
        let settings = config.lakehouse.clone();
        let lake = match &settings.root {
            None => Lake::local(&config.data_dir.join("lake")),
            Some(root) if root.contains("://") => {
                let url = reqwest::Url::parse(root)
                    .map_err(|error| format!("lakehouse.root: {error}"))?;
                Lake::at(url, settings.storage_options.clone().into_iter().collect())
            }
            Some(folder) => Lake::local(&PathBuf::from(folder)),
        }
        .map_err(|error| format!("lakehouse.root: {error}"))?;
        Ok(LakehouseToolkit {
            tools: tools::tool_set(),
            state: Arc::new(LakehouseState { lake, settings }),
        })
    }
}

#[async_trait]
impl Toolkit for LakehouseToolkit {
    fn name(&self) -> &str {
        "lakehouse"
    }

    fn description(&self) -> &str {
        "A lakehouse per tenant: upload files into Bronze Delta tables, list and describe tables, query them with SQL (DataFusion), see their versions."
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
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

    async fn health(&self) -> Health {
        let started = std::time::Instant::now();
        // Listing a tenant that cannot exist proves the store answers.
        match self.state.lake.list("tideway-health", None).await {
            Ok(_) => Health::healthy().with_latency(started.elapsed()),
            Err(error) => Health::down(error.to_string()),
        }
    }
}
