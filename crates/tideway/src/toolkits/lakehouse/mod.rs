//! The lakehouse toolkit (seed 004's "integration brain"): database tables and files
//! land in a tenant's Bronze layer as Delta tables, declarative steps make Silver,
//! SQL makes Gold, and SQL reads the tenant's tables through DataFusion; every write
//! is recorded as lineage.
//! The engine is the `tideway-lakehouse` crate; this folder puts it behind tools,
//! REST routes and the tenant of the call. Where a tool takes the seed's `tenant_id`,
//! it may only name the caller's own tenant.

pub mod assist;
pub mod cli;
pub mod lineage;
pub mod pipelines;
pub mod resources;
pub mod routes;
pub mod settings;
pub mod sync;
pub mod tools;

#[cfg(test)]
mod tests;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use tideway_core::{
    CallContext, Health, Hub, HubError, Store, Toolkit,
    config::Config,
    mcp::{
        CallToolResult, GetPromptResult, JsonObject, Prompt, Resource, ResourceContents,
        ResourceTemplate, Tool,
    },
    typed::ToolSet,
};
use tideway_lakehouse::{Lake, LakeError};

use super::database::DatabaseService;

/// The `lakehouse` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "lakehouse",
    summary: "Delta tables per tenant in bronze, silver and gold, with SQL over them",
    on_by_default: true,
    feature: Some("lakehouse"),
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[tideway_core::store::Migration {
        version: 9,
        name: "lakehouse",
        sqlite: include_str!("migrations/sqlite/0009_lakehouse.sql"),
        postgres: include_str!("migrations/postgres/0009_lakehouse.sql"),
    }],
    sealed: &[],
    build: Some(|shared| {
        Ok(Arc::new(LakehouseToolkit::new(
            shared.config,
            shared.store.clone(),
            shared.databases.clone(),
            Arc::downgrade(shared.hub),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "lakehouse",
        description: "Delta tables per tenant in bronze, silver and gold, and SQL over them (the lakehouse toolkit)",
        routes: routes::router,
        tools: &[
            tools::names::CREATE_GOLD_TABLE,
            tools::names::DESCRIBE_TABLE,
            tools::names::LIST_TABLES,
            tools::names::QUERY_SQL,
            tools::names::SYNC_TABLE_TO_BRONZE,
            tools::names::TABLE_LINEAGE,
            tools::names::TRANSFORM_TO_SILVER,
            tools::names::UPLOAD_FILE,
        ],
    }),
    cli: Some(cli::CLI),
};

pub struct LakehouseState {
    pub lake: Lake,
    pub settings: settings::LakehouseConfig,
    /// Lineage is kept here.
    pub store: Store,
    /// The tenant's database sources, which `sync_table_to_bronze` reads.
    pub databases: Arc<DatabaseService>,
    /// The Hub, for asking the models toolkit (weak: the Hub owns this toolkit).
    pub hub: Weak<Hub>,
    /// Where REST uploads wait for the upload tool: `<data_dir>/uploads`.
    pub uploads: PathBuf,
}

/// Where a REST upload is staged: one folder per tenant under `uploads`, the file
/// named by a random id, so a caller can only ever name its own tenant's uploads.
pub fn staged_upload_path(uploads: &Path, tenant: &str, id: &uuid::Uuid) -> PathBuf {
    uploads.join(tenant).join(id.to_string())
}

/// The staging folder of REST uploads under a data directory.
pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
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
        LakeError::Source(reason) => HubError::Unavailable {
            component: "source".into(),
            reason,
        },
    }
}

impl LakehouseToolkit {
    pub fn new(
        config: &Config,
        store: Store,
        databases: Arc<DatabaseService>,
        hub: Weak<Hub>,
    ) -> Result<Self, String> {
        let settings = settings::from_config(config).map_err(|error| error.to_string())?;
        let lake = match &settings.root {
            None => Lake::local(&config.data_dir.join("lake")),
            Some(root) if root.contains("://") => {
                let url = reqwest::Url::parse(root)
                    .map_err(|error| format!("lakehouse.root: {error}"))?;
                Lake::at(url, settings.storage_options.clone().into_iter().collect())
            }
            Some(folder) => Lake::local(&PathBuf::from(folder)),
        }
        .map_err(|error| format!("lakehouse.root: {error}"))?
        .with_bounds(tideway_lakehouse::SessionBounds {
            memory_bytes: settings.query_memory_bytes,
            max_value_bytes: settings.max_value_bytes,
        });
        let state = Arc::new(LakehouseState {
            lake,
            settings,
            store,
            databases,
            hub,
            uploads: uploads_dir(&config.data_dir),
        });
        sweep_staging_leftovers(Arc::downgrade(&state));
        Ok(LakehouseToolkit {
            tools: tools::tool_set(),
            state,
        })
    }
}

/// Staging files younger than this may belong to a write still in flight.
const STAGING_AGE: Duration = Duration::from_secs(3600);

/// Deletes what writers killed mid-write left behind, at start and then hourly,
/// for as long as the toolkit lives.
fn sweep_staging_leftovers(state: Weak<LakehouseState>) {
    tokio::spawn(async move {
        loop {
            let Some(alive) = state.upgrade() else {
                return;
            };
            let swept = tokio::task::spawn_blocking(move || {
                let uploads = remove_old_uploads(&alive.uploads, STAGING_AGE);
                alive
                    .lake
                    .remove_staging_leftovers(STAGING_AGE)
                    .map(|removed| removed + uploads)
            })
            .await;
            match swept {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => {
                    tracing::info!(
                        removed,
                        "lakehouse: removed staging files left by interrupted writes"
                    );
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "lakehouse: could not clean staging files")
                }
                Err(error) => tracing::warn!(%error, "lakehouse: the staging sweep stopped"),
            }
            tokio::time::sleep(STAGING_AGE).await;
        }
    });
}

/// Deletes REST uploads staged longer ago than `age`: ones whose call was refused
/// before the upload tool read them. Returns how many went.
fn remove_old_uploads(uploads: &Path, age: Duration) -> usize {
    let Ok(tenants) = std::fs::read_dir(uploads) else {
        return 0;
    };
    let mut removed = 0;
    for tenant in tenants.flatten() {
        let Ok(files) = std::fs::read_dir(tenant.path()) else {
            continue;
        };
        for file in files.flatten() {
            let old = file
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|elapsed| elapsed > age));
            if old && std::fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[async_trait]
impl Toolkit for LakehouseToolkit {
    fn name(&self) -> &str {
        "lakehouse"
    }

    fn description(&self) -> &str {
        "A lakehouse per tenant in Delta Lake: sync database tables and upload files into Bronze, transform them into Silver and Gold, list, describe and query tables with SQL (DataFusion), see their versions and lineage."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            tools::names::LIST_TABLES,
            tools::names::DESCRIBE_TABLE,
            tools::names::QUERY_SQL,
            tools::names::UPLOAD_FILE,
            tools::names::SYNC_TABLE_TO_BRONZE,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// A sync reads a whole table: a client that takes tasks polls it rather than
    /// holding its request open.
    fn task_support(&self, tool: &str) -> tideway_core::TaskSupport {
        match tool {
            tools::names::SYNC_TABLE_TO_BRONZE => tideway_core::TaskSupport::Optional,
            _ => tideway_core::TaskSupport::Forbidden,
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

    fn uri_prefixes(&self) -> Vec<String> {
        vec![resources::PREFIX.to_string()]
    }

    async fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        resources::list(&self.state.lake, ctx).await
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        resources::read(&self.state.lake, ctx, uri).await
    }

    fn prompts(&self) -> Vec<Prompt> {
        resources::prompts()
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        resources::get_prompt(&self.state, ctx, name, arguments).await
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
