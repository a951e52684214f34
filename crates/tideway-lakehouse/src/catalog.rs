//! Where tables live and how they are written: one Delta table per
//! `{root}/tenant_{id}/{layer}/{name}`, written in one commit (atomic: a failed or
//! cancelled write leaves no visible change), listed per tenant and layer, with their
//! schema, size and history.

use std::{collections::HashMap, fmt, str::FromStr, sync::Arc};

use deltalake::{
    DeltaTable, DeltaTableError,
    arrow::{datatypes::SchemaRef, record_batch::RecordBatch},
};
use futures::StreamExt;
use object_store::{ObjectStore, path::Path};
use serde::Serialize;
use url::Url;

use crate::{error::LakeError, stream::BatchStream};

/// The three layers of a tenant's catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Raw data as it arrived.
    Bronze,
    /// Cleaned, typed data.
    Silver,
    /// Curated, business-ready tables.
    Gold,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Bronze, Layer::Silver, Layer::Gold];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Silver => "silver",
            Layer::Gold => "gold",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layer {
    type Err = LakeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "bronze" => Ok(Layer::Bronze),
            "silver" => Ok(Layer::Silver),
            "gold" => Ok(Layer::Gold),
            other => Err(LakeError::invalid(
                "layer",
                format!("'{other}' is not a layer: use bronze, silver or gold"),
            )),
        }
    }
}

/// One table of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub tenant: String,
    pub layer: Layer,
    pub name: String,
}

/// Whether `name` is usable as a table name: a lower-case SQL identifier.
pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl TableRef {
    pub fn new(tenant: &str, layer: Layer, name: &str) -> Result<Self, LakeError> {
        if !valid_tenant(tenant) {
            return Err(LakeError::invalid("tenant", "is not a tenant id"));
        }
        if !valid_table_name(name) {
            return Err(LakeError::invalid(
                "table",
                format!(
                    "'{name}' must be a lower-case letter, then letters, digits or '_' (at most 63)"
                ),
            ));
        }
        Ok(TableRef {
            tenant: tenant.to_string(),
            layer,
            name: name.to_string(),
        })
    }

    /// `layer.name`, as SQL in the tenant's catalog names it.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.layer, self.name)
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant_{}.{}.{}", self.tenant, self.layer, self.name)
    }
}

/// How a write treats what the table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the table's rows (a new version; older ones stay readable).
    Overwrite,
    /// Add rows.
    Append,
}

/// What one write did.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    pub table: String,
    pub version: u64,
    pub rows: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The Arrow type, as DataFusion prints it.
    pub data_type: String,
    pub nullable: bool,
}

/// A table as listed.
#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    pub layer: Layer,
    pub name: String,
    /// `tenant_{id}.{layer}.{name}`.
    pub full_name: String,
    pub version: u64,
    pub files: usize,
    pub size_bytes: i64,
    pub columns: Vec<ColumnInfo>,
}

/// One version in a table's history.
#[derive(Clone, Debug, Serialize)]
pub struct Commit {
    pub version: Option<u64>,
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    pub operation: Option<String>,
    pub parameters: Option<HashMap<String, serde_json::Value>>,
}

/// The lakehouse's storage: a root URL (a local folder or an object store) and the
/// options its object store needs.
#[derive(Clone)]
pub struct Lake {
    root: Url,
    pub(crate) options: HashMap<String, String>,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    pub(crate) bounds: crate::bounds::SessionBounds,
}

impl fmt::Debug for Lake {
    // Storage options may hold credentials: only the root is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lake")
            .field("root", &self.root.as_str())
            .finish()
    }
}

impl Lake {
    /// A lake under a local folder (created if missing).
    pub fn local(folder: &std::path::Path) -> Result<Lake, LakeError> {
        std::fs::create_dir_all(folder).map_err(|error| {
            LakeError::Storage(format!("creating {}: {error}", folder.display()))
        })?;
        let folder = folder
            .canonicalize()
            .map_err(|error| LakeError::Storage(format!("{}: {error}", folder.display())))?;
        let root = Url::from_directory_path(&folder).map_err(|_| {
            LakeError::Storage(format!("{} is not an absolute path", folder.display()))
        })?;
        Lake::at(root, HashMap::new())
    }

    /// A lake at `root` (`file:///…/`, `s3://bucket/prefix/`, `memory:///`).
    pub fn at(root: Url, options: HashMap<String, String>) -> Result<Lake, LakeError> {
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = if matches!(root.scheme(), "s3" | "s3a")
        {
            crate::s3::register();
            crate::s3::store(&root, &options)
                .map_err(|error| LakeError::Storage(format!("{root}: {error}")))?
        } else {
            let (store, prefix) = object_store::parse_url_opts(&root, options.iter())
                .map_err(|error| LakeError::Storage(format!("{root}: {error}")))?;
            (Arc::from(store), prefix)
        };
        let mut root = root;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(Lake {
            root,
            options,
            store,
            prefix,
            bounds: crate::bounds::SessionBounds::default(),
        })
    }

    /// The same lake with queries run under `bounds`.
    pub fn with_bounds(mut self, bounds: crate::bounds::SessionBounds) -> Lake {
        self.bounds = bounds;
        self
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn table_url(&self, table: &TableRef) -> Result<Url, LakeError> {
        self.root
            .join(&format!(
                "tenant_{}/{}/{}/",
                table.tenant, table.layer, table.name
            ))
            .map_err(|error| LakeError::Storage(error.to_string()))
    }

    /// Whether `table` has a Delta log, from a listing alone.
    pub async fn exists(&self, table: &TableRef) -> Result<bool, LakeError> {
        let log = self
            .prefix
            .clone()
            .join(format!("tenant_{}", table.tenant))
            .join(table.layer.as_str())
            .join(table.name.as_str())
            .join("_delta_log");
        let mut entries = self.store.list(Some(&log));
        match entries.next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(error)) => Err(LakeError::Storage(error.to_string())),
        }
    }

    pub(crate) async fn open(&self, table: &TableRef) -> Result<DeltaTable, LakeError> {
        // A missing table is told from a listing: Delta Lake logs its own failure to
        // open one as an error, and a missing table is an everyday answer here.
        if !self.exists(table).await? {
            return Err(LakeError::NotFound(table.to_string()));
        }
        let url = self.table_url(table)?;
        let opened = deltalake::open_table_with_storage_options(url, self.options.clone()).await;
        match opened {
            Ok(opened) => Ok(opened),
            Err(DeltaTableError::NotATable(_)) | Err(DeltaTableError::InvalidTableLocation(_)) => {
                Err(LakeError::NotFound(table.to_string()))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub(crate) async fn open_version(
        &self,
        table: &TableRef,
        version: u64,
    ) -> Result<DeltaTable, LakeError> {
        let mut opened = self.open(table).await?;
        opened.load_version(version).await.map_err(|error| {
            LakeError::invalid(
                "version",
                format!("{table} has no version {version}: {error}"),
            )
        })?;
        Ok(opened)
    }

    /// Writes `batches` to `table` in one commit, creating the table if needed.
    pub async fn write(
        &self,
        table: &TableRef,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<Written, LakeError> {
        self.write_stream(table, BatchStream::from_batches(schema, batches), mode)
            .await
    }

    /// The tables of `tenant`, optionally of one layer, by layer and name.
    pub async fn list(
        &self,
        tenant: &str,
        layer: Option<Layer>,
    ) -> Result<Vec<TableInfo>, LakeError> {
        let mut tables = Vec::new();
        for layer in Layer::ALL
            .into_iter()
            .filter(|l| layer.is_none_or(|only| only == *l))
        {
            for name in self.table_names(tenant, layer).await? {
                let table = TableRef::new(tenant, layer, &name)?;
                match self.info(&table).await {
                    Ok(info) => tables.push(info),
                    // A folder without a Delta log is not a table (yet).
                    Err(LakeError::NotFound(_)) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(tables)
    }

    /// Names of the folders under a tenant's layer that hold a Delta log.
    pub(crate) async fn table_names(
        &self,
        tenant: &str,
        layer: Layer,
    ) -> Result<Vec<String>, LakeError> {
        if !valid_tenant(tenant) {
            return Err(LakeError::invalid("tenant", "is not a tenant id"));
        }
        let prefix = self
            .prefix
            .clone()
            .join(format!("tenant_{tenant}"))
            .join(layer.as_str());
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|error| LakeError::Storage(error.to_string()))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|path| path.filename().map(str::to_string))
            .filter(|name| valid_table_name(name))
            .collect();
        let mut delta = Vec::new();
        for name in names.drain(..) {
            let log = prefix.clone().join(name.as_str()).join("_delta_log");
            let mut entries = self.store.list(Some(&log));
            if entries.next().await.is_some() {
                delta.push(name);
            }
        }
        delta.sort();
        Ok(delta)
    }

    /// A table's version, files, size and schema.
    pub async fn info(&self, table: &TableRef) -> Result<TableInfo, LakeError> {
        let opened = self.open(table).await?;
        let state = opened.snapshot()?;
        let files = state.log_data();
        let schema = opened.snapshot()?.snapshot().arrow_schema();
        Ok(TableInfo {
            layer: table.layer,
            name: table.name.clone(),
            full_name: table.to_string(),
            version: opened.version().unwrap_or(0),
            files: files.num_files(),
            size_bytes: files.iter().map(|file| file.size()).sum(),
            columns: schema
                .fields()
                .iter()
                .map(|field| ColumnInfo {
                    name: field.name().clone(),
                    data_type: field.data_type().to_string(),
                    nullable: field.is_nullable(),
                })
                .collect(),
        })
    }

    /// The table's versions, newest first.
    pub async fn history(&self, table: &TableRef, limit: usize) -> Result<Vec<Commit>, LakeError> {
        let opened = self.open(table).await?;
        let latest = opened.version();
        let mut commits = Vec::new();
        let mut history = opened.history(Some(limit));
        while let Some(commit) = history.next().await {
            let commit = commit?;
            commits.push(Commit {
                version: None,
                timestamp: commit
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis),
                operation: commit.operation,
                parameters: commit.operation_parameters,
            });
        }
        // History comes newest first; number the versions from the latest down.
        if let Some(latest) = latest {
            for (offset, commit) in commits.iter_mut().enumerate() {
                commit.version = latest.checked_sub(offset as u64);
            }
        }
        Ok(commits)
    }
}
