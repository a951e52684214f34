//! The lakehouse tools, with seed 004's names and argument names: `upload_file`,
//! `list_tables`, `describe_table`, `query_sql`, and `table_history` for Delta
//! versions; the tools that move data between layers are in `pipelines`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use tideway_lakehouse::{
    Commit, FileFormat, Layer, QueryLimits, QueryResult, TableDescription, TableInfo, TableRef,
    WriteMode, read_file, read_sheet,
};
use utoipa::ToSchema;

use super::{
    LakehouseState, assist, hub_error,
    lineage::{NewRun, Recorder},
    pipelines,
};

/// The tools' names, shared by their declarations and the REST routes that call
/// them, so a route cannot name a tool that does not exist.
pub mod names {
    pub const ANALYZE_SCHEMA: &str = "analyze_schema";
    pub const CREATE_GOLD_TABLE: &str = "create_gold_table";
    pub const DESCRIBE_TABLE: &str = "describe_table";
    pub const EXPLAIN_DATA: &str = "explain_data";
    pub const LIST_TABLES: &str = "list_tables";
    pub const MAINTAIN_TABLE: &str = "maintain_table";
    pub const QUERY_SQL: &str = "query_sql";
    pub const SUGGEST_QUERY: &str = "suggest_query";
    pub const SYNC_TABLE_TO_BRONZE: &str = "sync_table_to_bronze";
    pub const TABLE_HISTORY: &str = "table_history";
    pub const TABLE_LINEAGE: &str = "table_lineage";
    pub const TRANSFORM_TO_SILVER: &str = "transform_to_silver";
    pub const UPLOAD_FILE: &str = "upload_file";
}

/// Refuses a `tenant_id` that is not the caller's: the tenant comes from the credential.
pub fn own_tenant(ctx: &CallContext, tenant_id: &Option<String>) -> Result<(), HubError> {
    match tenant_id {
        Some(named)
            if named != ctx.tenant.as_str() && *named != format!("tenant_{}", ctx.tenant) =>
        {
            Err(HubError::Forbidden(
                "tenant_id names another tenant; a call reaches only its own tenant's lakehouse"
                    .into(),
            ))
        }
        _ => Ok(()),
    }
}

/// A table named as callers name it: `orders` (Bronze), `silver.orders`, or
/// `tenant_{id}.silver.orders` for the caller's own tenant.
pub fn table_ref(ctx: &CallContext, name: &str, layer: Option<&str>) -> Result<TableRef, HubError> {
    let parts: Vec<&str> = name.split('.').collect();
    let (layer_text, table) = match parts.as_slice() {
        [table] => (layer.unwrap_or("bronze"), *table),
        [layer, table] => (*layer, *table),
        [catalog, layer, table] => {
            if *catalog != format!("tenant_{}", ctx.tenant) {
                return Err(HubError::NotFound(format!("no table {name}")));
            }
            (*layer, *table)
        }
        _ => {
            return Err(HubError::invalid_argument(
                "table_name",
                "name a table as table, layer.table or tenant_{id}.layer.table",
            ));
        }
    };
    let layer: Layer = layer_text.parse().map_err(hub_error)?;
    TableRef::new(ctx.tenant.as_str(), layer, table).map_err(hub_error)
}

/// A table of the caller's tenant to be written, its name given in argument `field`.
pub fn new_table(
    ctx: &CallContext,
    layer: Layer,
    name: &str,
    field: &str,
) -> Result<TableRef, HubError> {
    TableRef::new(ctx.tenant.as_str(), layer, name).map_err(|error| match error {
        tideway_lakehouse::LakeError::Invalid { message, .. } => {
            HubError::invalid_argument(field, message)
        }
        other => hub_error(other),
    })
}

/// The tables `names` names, or all of the caller's when it names none; refused
/// (naming `field`) when that leaves none.
pub async fn tables_named(
    state: &LakehouseState,
    ctx: &CallContext,
    names: &[String],
    field: &str,
) -> Result<Vec<TableRef>, HubError> {
    let tables: Vec<TableRef> = if names.is_empty() {
        state
            .lake
            .list(ctx.tenant.as_str(), None)
            .await
            .map_err(hub_error)?
            .into_iter()
            .filter_map(|t| TableRef::new(ctx.tenant.as_str(), t.layer, &t.name).ok())
            .collect()
    } else {
        names
            .iter()
            .map(|name| table_ref(ctx, name.trim(), None))
            .collect::<Result<_, _>>()?
    };
    if tables.is_empty() {
        return Err(HubError::invalid_argument(
            field,
            "there are no lakehouse tables yet; sync or upload one first",
        ));
    }
    Ok(tables)
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
    Xlsx,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Replace the table's rows (a new version; earlier ones stay readable).
    #[default]
    Overwrite,
    Append,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// The file, base64-encoded (or give `path`).
    #[serde(default)]
    pub file_content: Option<String>,
    /// A file under one of `lakehouse.upload_dirs` (or give `file_content`).
    #[serde(default)]
    pub path: Option<String>,
    /// The id of a file sent to `POST /api/v1/lakehouse/upload` and staged there (the
    /// REST face fills it in; one of this, `file_content` or `path`).
    #[serde(default)]
    pub staged_upload: Option<String>,
    /// The file's name; its extension tells the format unless `format` does.
    pub file_name: String,
    /// The Bronze table to write: a lower-case identifier.
    pub dataset_name: String,
    #[serde(default)]
    pub format: Option<Format>,
    /// For a workbook: the sheet to load (the first by default).
    #[serde(default)]
    pub sheet: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// Optional; must be the caller's own tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Uploaded {
    /// `tenant_{id}.bronze.{dataset}`.
    pub table: String,
    pub version: u64,
    pub rows: u64,
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<serde_json::Value>,
    /// The first rows as stored.
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl ToolText for Uploaded {
    fn text(&self) -> String {
        format!(
            "Wrote {} rows to {} (version {}).",
            self.rows, self.table, self.version
        )
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only this layer: bronze, silver or gold.
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TableList {
    #[schema(value_type = Vec<Object>)]
    pub tables: Vec<serde_json::Value>,
}

impl ToolText for TableList {
    fn text(&self) -> String {
        if self.tables.is_empty() {
            return "No tables.".into();
        }
        self.tables
            .iter()
            .map(|t| {
                format!(
                    "{} (version {}, {} columns)",
                    t["full_name"].as_str().unwrap_or_default(),
                    t["version"],
                    t["columns"].as_array().map(Vec::len).unwrap_or(0)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeArgs {
    /// `orders`, `silver.orders` or `tenant_{id}.silver.orders`.
    pub table_name: String,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 0, max = 50))]
    pub sample_rows: Option<usize>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Description {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub description: serde_json::Value,
}

impl ToolText for Description {
    fn text(&self) -> String {
        let d = &self.description;
        let mut lines = vec![format!(
            "{}: {} rows, version {}",
            d["full_name"].as_str().unwrap_or_default(),
            d["rows"],
            d["version"]
        )];
        for column in d["column_stats"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {} {} (nulls {}, ~{} distinct)",
                column["name"].as_str().unwrap_or_default(),
                column["data_type"].as_str().unwrap_or_default(),
                column["null_count"],
                column["distinct_estimate"]
            ));
        }
        lines.join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// One read-only statement; `bronze.orders` names a table of yours.
    #[schemars(length(min = 1, max = 100000))]
    pub sql: String,
    /// Rows to return at most (the rest is not read; `truncated` says so).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_rows: Option<usize>,
    /// Read tables at earlier versions: `{"bronze.orders": 3}`.
    #[serde(default)]
    pub versions: HashMap<String, u64>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct QueryAnswer {
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub row_count: usize,
    pub truncated: bool,
}

impl ToolText for QueryAnswer {
    fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} rows{}",
            self.row_count,
            if self.truncated { " (truncated)" } else { "" }
        )];
        lines.extend(
            self.rows
                .iter()
                .take(20)
                .map(|row| serde_json::Value::Object(row.clone()).to_string()),
        );
        lines.join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    pub table_name: String,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintainArgs {
    pub table_name: String,
    #[serde(default)]
    pub layer: Option<String>,
    /// Say what vacuum would delete, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct MaintenanceReport {
    pub table: String,
    /// The table's version afterwards.
    pub version: u64,
    /// Small files folded into larger ones (0 on a dry run).
    pub files_compacted: u64,
    /// The larger files written in their place.
    pub files_written: u64,
    /// Files of versions past the retention deleted (or, on a dry run, that would be).
    pub files_vacuumed: usize,
    /// The retention applied: versions younger than this stay readable.
    pub retention_hours: u64,
    pub dry_run: bool,
}

impl ToolText for MaintenanceReport {}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct History {
    pub table: String,
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<serde_json::Value>,
}

impl ToolText for History {
    fn text(&self) -> String {
        self.versions
            .iter()
            .map(|v| format!("v{} {} {}", v["version"], v["timestamp"], v["operation"]))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value, HubError> {
    serde_json::to_value(value).map_err(HubError::internal)
}

/// The bytes of an upload: decoded content, a file under an allowed folder, or a file
/// the REST face staged for this tenant (deleted once read).
async fn upload_bytes(
    state: &LakehouseState,
    ctx: &CallContext,
    args: &UploadArgs,
) -> Result<Vec<u8>, HubError> {
    let limit = state.settings.max_upload_bytes;
    match (&args.file_content, &args.path, &args.staged_upload) {
        (Some(content), None, None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content.trim())
                .map_err(|error| {
                    HubError::invalid_argument("file_content", format!("is not base64: {error}"))
                })?;
            if bytes.len() > limit {
                return Err(HubError::invalid_argument(
                    "file_content",
                    format!(
                        "is {} bytes; the limit is {limit} (lakehouse.max_upload_bytes)",
                        bytes.len()
                    ),
                ));
            }
            Ok(bytes)
        }
        (None, Some(path), None) => read_allowed(state, path, limit).await,
        (None, None, Some(id)) => {
            let id = uuid::Uuid::parse_str(id).map_err(|_| {
                HubError::invalid_argument("staged_upload", "is not the id of a staged upload")
            })?;
            let staged = super::staged_upload_path(&state.uploads, ctx.tenant.as_str(), &id);
            let bytes = tokio::fs::read(&staged).await.map_err(|_| {
                HubError::invalid_argument(
                    "staged_upload",
                    "names no upload staged for this tenant (each is read once)",
                )
            })?;
            let _ = tokio::fs::remove_file(&staged).await;
            if bytes.len() > limit {
                return Err(HubError::invalid_argument(
                    "staged_upload",
                    format!(
                        "is {} bytes; the limit is {limit} (lakehouse.max_upload_bytes)",
                        bytes.len()
                    ),
                ));
            }
            Ok(bytes)
        }
        _ => Err(HubError::invalid_argument(
            "file_content",
            "give exactly one of file_content or path",
        )),
    }
}

/// A file under one of `lakehouse.upload_dirs`. A path outside them is refused with
/// the same answer whether or not something exists there, so the refusal reveals
/// nothing about the host's files.
async fn read_allowed(
    state: &LakehouseState,
    path: &str,
    limit: usize,
) -> Result<Vec<u8>, HubError> {
    let outside = || HubError::Forbidden("path is not under one of lakehouse.upload_dirs".into());
    let given = std::path::Path::new(path);
    let dirs: Vec<std::path::PathBuf> = state
        .settings
        .upload_dirs
        .iter()
        .filter_map(|dir| dir.canonicalize().ok())
        .collect();
    let Ok(resolved) = given.canonicalize() else {
        // Nothing there (or unreadable): only a path inside an allowed folder may say so.
        let inside = given.is_absolute()
            && !given
                .components()
                .any(|part| matches!(part, std::path::Component::ParentDir))
            && dirs.iter().any(|dir| given.starts_with(dir));
        return Err(if inside {
            HubError::invalid_argument("path", "no file there")
        } else {
            outside()
        });
    };
    if !dirs.iter().any(|dir| resolved.starts_with(dir)) {
        return Err(outside());
    }
    let size = tokio::fs::metadata(&resolved)
        .await
        .map_err(|error| HubError::invalid_argument("path", error.to_string()))?
        .len();
    if size > limit as u64 {
        return Err(HubError::invalid_argument(
            "path",
            format!("the file is {size} bytes; the limit is {limit} (lakehouse.max_upload_bytes)"),
        ));
    }
    tokio::fs::read(&resolved)
        .await
        .map_err(|error| HubError::invalid_argument("path", error.to_string()))
}

async fn upload(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: UploadArgs,
) -> Result<Uploaded, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let started_at = chrono::Utc::now();
    let table = new_table(&ctx, Layer::Bronze, &args.dataset_name, "dataset_name")?;
    let format = match args.format {
        Some(Format::Csv) => FileFormat::Csv,
        Some(Format::Tsv) => FileFormat::Tsv,
        Some(Format::Jsonl) => FileFormat::JsonLines,
        Some(Format::Parquet) => FileFormat::Parquet,
        Some(Format::Xlsx) => FileFormat::Excel,
        None => FileFormat::from_name(&args.file_name).ok_or_else(|| {
            HubError::invalid_argument(
                "file_name",
                "its extension names no format this reads (csv, tsv, jsonl, parquet, xlsx); or give format",
            )
        })?,
    };
    if args.sheet.is_some() && format != FileFormat::Excel {
        return Err(HubError::invalid_argument(
            "sheet",
            "only a workbook (.xlsx) has sheets",
        ));
    }
    let bytes = upload_bytes(&state, &ctx, &args).await?;
    // Parsing is CPU work: off the async threads.
    let sheet = args.sheet.clone();
    let (schema, batches) = tokio::task::spawn_blocking(move || match format {
        FileFormat::Excel => read_sheet(&bytes, sheet.as_deref()),
        other => read_file(&bytes, other),
    })
    .await
    .map_err(HubError::internal)?
    .map_err(hub_error)?;
    let mode = match args.mode {
        Mode::Overwrite => WriteMode::Overwrite,
        Mode::Append => WriteMode::Append,
    };
    let run = NewRun {
        target: table.qualified(),
        kind: "upload",
        sources: vec![format!("file://{}", args.file_name)],
        detail: serde_json::json!({"format": format!("{format:?}").to_lowercase(), "mode": format!("{mode:?}").to_lowercase()}),
        started_at,
    };
    let recorder = Recorder::start(&state.store, &ctx, run);
    let outcome = state
        .lake
        .write(&table, schema.clone(), batches, mode)
        .await
        .map_err(hub_error);
    let written = recorder
        .finish(outcome, |written| (written.rows, written.version))
        .await?;
    let preview = state
        .lake
        .query(
            &table.tenant,
            &format!("SELECT * FROM bronze.\"{}\" LIMIT 5", table.name),
            &QueryLimits::default(),
        )
        .await
        .map_err(hub_error)?;
    Ok(Uploaded {
        table: written.table,
        version: written.version,
        rows: written.rows,
        columns: schema
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "data_type": f.data_type().to_string(), "nullable": f.is_nullable()}))
            .collect(),
        preview: preview.rows,
    })
}

pub fn tool_set() -> ToolSet<LakehouseState> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::SYNC_TABLE_TO_BRONZE,
                title: "Sync a database table into Bronze",
                description: "Copies a table of one of your database sources (connection_id, from list_sources) into a Bronze Delta table. sync_mode full replaces the table; incremental reads only rows at or past the cursor column (updated_at or an increasing key) and merges them on the key columns, so re-running is safe. Rows stream in batches (bounded memory), progress is reported, and the table changes in one commit: a failed or cancelled sync leaves nothing half-written. Returns each column's source and lakehouse type.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            pipelines::sync_table,
        )
        .add(
            ToolSpec {
                name: names::TRANSFORM_TO_SILVER,
                title: "Transform into Silver",
                description: "Cleans a table into a Silver Delta table with declarative steps, in order: select, rename, cast (string, int, bigint, double, decimal(p,s), boolean, date, timestamp; safe turns bad values into null), trim, lowercase, uppercase, normalize_whitespace, parse_date, parse_timestamp, drop_nulls, fill_nulls, deduplicate (keys, order_by), filter (a SQL condition). Returns the plan (each step and the query), the resulting columns and a preview; with dry_run nothing is written.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            pipelines::transform,
        )
        .add(
            ToolSpec {
                name: names::CREATE_GOLD_TABLE,
                title: "Create a Gold table",
                description: "Materialises one read-only SQL query over your tables (bronze.*, silver.*, gold.*) as a Gold Delta table, replacing its rows on every run; records which tables it read.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            pipelines::create_gold,
        )
        .add(
            ToolSpec {
                name: names::TABLE_LINEAGE,
                title: "Table lineage",
                description: "Where a table's data comes from (the source table, file or tables its latest run read), which tables it feeds, and its recent runs with rows, versions and errors.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            pipelines::table_lineage,
        )
        .add(
            ToolSpec {
                name: names::ANALYZE_SCHEMA,
                title: "Analyse tables",
                description: "Profiles lakehouse tables from their data: likely keys, identifier columns, personal data (by name and by value), mostly-null and constant columns, and join candidates across tables; adds a prose analysis when a language model is available (your client's through sampling, or a configured provider).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            assist::analyze_schema,
        )
        .add(
            ToolSpec {
                name: names::SUGGEST_QUERY,
                title: "Suggest a query",
                description: "Turns a question into a DataFusion SQL query over your lakehouse tables using a language model, and plans it before returning it (it is not run; run it with query_sql). Without a model available it says so and gives the schema to write the query from.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            assist::suggest_query,
        )
        .add(
            ToolSpec {
                name: names::EXPLAIN_DATA,
                title: "Explain query results",
                description: "Runs one read-only query and returns its rows with per-column statistics (count, nulls, min, max, mean, sum, distinct), plus a plain-language summary when a language model is available.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            assist::explain_data,
        )
        .add(
            ToolSpec {
                name: names::UPLOAD_FILE,
                title: "Upload a file to Bronze",
                description: "Loads a CSV, TSV, JSON-lines, Parquet or Excel (.xlsx, one sheet) file (base64 content, or a path under an allowed folder) into a Bronze Delta table named dataset_name, with its schema inferred and column names made SQL identifiers; returns the columns and a preview. The write is one atomic Delta commit; a sheet with merged cells is refused.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            upload,
        )
        .add(
            ToolSpec {
                name: names::LIST_TABLES,
                title: "List tables",
                description: "Your lakehouse tables, optionally of one layer (bronze, silver, gold), with version, files, size and columns.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<LakehouseState>, ctx, args: ListArgs| async move {
                own_tenant(&ctx, &args.tenant_id)?;
                let layer = match &args.layer {
                    Some(layer) => Some(layer.parse::<Layer>().map_err(hub_error)?),
                    None => None,
                };
                let tables: Vec<TableInfo> = state
                    .lake
                    .list(ctx.tenant.as_str(), layer)
                    .await
                    .map_err(hub_error)?;
                Ok(TableList {
                    tables: tables.iter().map(json).collect::<Result<_, _>>()?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DESCRIBE_TABLE,
                title: "Describe a table",
                description: "A table's columns with null counts, distinct estimates, min and max, its row count, version, files and size, and a few sample rows.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<LakehouseState>, ctx, args: DescribeArgs| async move {
                own_tenant(&ctx, &args.tenant_id)?;
                let table = table_ref(&ctx, &args.table_name, args.layer.as_deref())?;
                let described: TableDescription = state
                    .lake
                    .describe(&table, args.sample_rows.unwrap_or(5))
                    .await
                    .map_err(hub_error)?;
                Ok(Description {
                    description: json(&described)?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::QUERY_SQL,
                title: "Query with SQL",
                description: "Runs one read-only SQL statement (DataFusion dialect) over your lakehouse tables: bronze.orders, silver.customers, ... Rows stop at max_rows with truncated; tables can be read at earlier versions with versions.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<LakehouseState>, ctx, args: QueryArgs| async move {
                own_tenant(&ctx, &args.tenant_id)?;
                let settings = &state.settings;
                let max_rows = args.max_rows.unwrap_or(settings.max_rows);
                if max_rows == 0 || max_rows > settings.max_rows_limit {
                    return Err(HubError::invalid_argument(
                        "max_rows",
                        format!("must be between 1 and {} (lakehouse.max_rows_limit)", settings.max_rows_limit),
                    ));
                }
                let limits = QueryLimits {
                    max_rows,
                    timeout: Duration::from_secs(settings.query_timeout_secs).min(ctx.remaining()),
                    versions: args.versions,
                    ..QueryLimits::default()
                };
                let result: QueryResult = state
                    .lake
                    .query(ctx.tenant.as_str(), &args.sql, &limits)
                    .await
                    .map_err(hub_error)?;
                Ok(QueryAnswer {
                    columns: result.columns.iter().map(json).collect::<Result<_, _>>()?,
                    row_count: result.rows.len(),
                    rows: result.rows,
                    truncated: result.truncated,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::TABLE_HISTORY,
                title: "Table history",
                description: "A table's Delta versions, newest first: when and by which operation. query_sql reads an earlier one with versions.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<LakehouseState>, ctx, args: HistoryArgs| async move {
                own_tenant(&ctx, &args.tenant_id)?;
                let table = table_ref(&ctx, &args.table_name, args.layer.as_deref())?;
                let commits: Vec<Commit> = state
                    .lake
                    .history(&table, args.limit.unwrap_or(50))
                    .await
                    .map_err(hub_error)?;
                Ok(History {
                    table: table.to_string(),
                    versions: commits.iter().map(json).collect::<Result<_, _>>()?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::MAINTAIN_TABLE,
                title: "Compact and vacuum a table",
                description: "Compacts a table's small files into larger ones, then deletes the files only versions older than the retention (lakehouse.retention_hours, 7 days by default) read: those versions can no longer be queried. dry_run says what would be deleted.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<LakehouseState>, ctx, args: MaintainArgs| async move {
                own_tenant(&ctx, &args.tenant_id)?;
                let table = table_ref(&ctx, &args.table_name, args.layer.as_deref())?;
                let retention_hours = state.settings.retention_hours;
                let done = state
                    .lake
                    .maintain(
                        &table,
                        std::time::Duration::from_secs(retention_hours.saturating_mul(3600)),
                        args.dry_run,
                    )
                    .await
                    .map_err(hub_error)?;
                tracing::info!(
                    table = %table,
                    compacted = done.files_compacted,
                    vacuumed = done.files_vacuumed,
                    dry_run = done.dry_run,
                    "lakehouse table maintained"
                );
                Ok(MaintenanceReport {
                    table: done.table,
                    version: done.version,
                    files_compacted: done.files_compacted,
                    files_written: done.files_written,
                    files_vacuumed: done.files_vacuumed,
                    retention_hours,
                    dry_run: done.dry_run,
                })
            },
        )
}
