//! The tools that move data between layers: `sync_table_to_bronze` (a database table
//! into Bronze, full or incremental), `transform_to_silver` (declarative steps, plan
//! shown, into Silver), `create_gold_table` (a SQL query into Gold) and
//! `table_lineage`. Each run is recorded as lineage, failed runs included.

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{CallContext, HubError};
use tideway_lakehouse::{
    CursorValue, LakeError, Layer, Materialized, Step, TransformPlan, WriteMode,
};
use utoipa::ToSchema;

use super::{
    LakehouseState, hub_error,
    lineage::{self, NewRun, Recorder, Run},
    sync::{self, Kind, MappedColumn, ReadSpec, Since},
    tools::{new_table, own_tenant, table_ref},
};

/// Runs `work` until it ends, the call is cancelled or its deadline passes. Dropping
/// the work drops its streams: the source query ends and nothing is committed.
async fn bounded<T>(
    ctx: &CallContext,
    work: impl std::future::Future<Output = Result<T, LakeError>>,
) -> Result<T, HubError> {
    let remaining = ctx.remaining();
    tokio::select! {
        outcome = work => outcome.map_err(hub_error),
        _ = ctx.cancel.cancelled() => Err(HubError::Cancelled),
        _ = tokio::time::sleep(remaining) => Err(HubError::DeadlineExceeded(remaining)),
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Replace the Bronze table with the source table's rows.
    #[default]
    Full,
    /// Only rows at or past the cursor, merged on the key columns.
    Incremental,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncArgs {
    /// The database source (`list_sources`); may be left out when the tenant has one.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The source table: `orders` or `schema.orders`.
    pub table_name: String,
    #[serde(default)]
    pub sync_mode: SyncMode,
    /// Incremental: the column that grows with every change (`updated_at`, an
    /// increasing id). Default: `updated_at` if there is one, else a one-column
    /// integer primary key.
    #[serde(default)]
    pub cursor_column: Option<String>,
    /// Incremental: the columns a row is matched on. Default: the primary key. With
    /// none, new rows are appended.
    #[serde(default)]
    pub key_columns: Option<Vec<String>>,
    /// The Bronze table; by default the source table's name.
    #[serde(default)]
    pub target_table: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct SyncOutcome {
    /// `tenant_{id}.bronze.{name}`.
    pub table: String,
    pub source: String,
    /// What ran: full, incremental, or full (the first incremental run).
    pub mode: String,
    pub rows_read: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inserted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_column: Option<String>,
    /// The mark this run read from (none: all rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub cursor_from: Option<CursorValue>,
    pub key_columns: Vec<String>,
    pub columns: Vec<MappedColumn>,
    pub elapsed_ms: f64,
}

impl tideway_core::typed::ToolText for SyncOutcome {
    fn text(&self) -> String {
        format!(
            "Synced {} rows from {} into {} ({} sync, version {}{}).",
            self.rows_read,
            self.source,
            self.table,
            self.mode,
            self.version,
            match (self.inserted, self.updated) {
                (Some(i), Some(u)) => format!(", {i} inserted, {u} updated"),
                _ => String::new(),
            }
        )
    }
}

fn column_index(columns: &[sync::ColumnPlan], name: &str, field: &str) -> Result<usize, HubError> {
    columns
        .iter()
        .position(|c| c.source == name || c.target == name)
        .ok_or_else(|| {
            HubError::invalid_argument(
                field,
                format!(
                    "'{name}' is not a column of the table; its columns are {}",
                    columns
                        .iter()
                        .map(|c| c.source.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

pub async fn sync_table(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: SyncArgs,
) -> Result<SyncOutcome, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let started = Instant::now();
    let started_at = Utc::now();
    let databases = &state.databases;
    let source = databases
        .resolve(&ctx, args.connection_id.as_deref())
        .await?;
    let description = databases
        .describe_table(&ctx, &source, &args.table_name, None)
        .await?;
    let columns = sync::plan_columns(source.kind, &description);
    if columns.is_empty() {
        return Err(HubError::invalid_argument(
            "table_name",
            "the table has no columns to copy",
        ));
    }
    let target_name = args
        .target_table
        .clone()
        .unwrap_or_else(|| sync::bronze_name(&description.name));
    let target = new_table(&ctx, Layer::Bronze, &target_name, "target_table")?;
    let schema_name = match source.kind {
        crate::toolkits::database::model::SourceKind::Sqlite => None,
        _ => Some(description.schema.as_str()).filter(|s| !s.is_empty()),
    };
    let exists = state.lake.exists(&target).await.map_err(hub_error)?;

    // What this run reads and how it lands.
    let mut cursor_column = None;
    let mut cursor_from = None;
    let mut keys: Vec<usize> = Vec::new();
    let mut since = None;
    let mode_name;
    if let SyncMode::Incremental = args.sync_mode {
        let cursor = match &args.cursor_column {
            Some(name) => column_index(&columns, name, "cursor_column")?,
            None => columns
                .iter()
                .position(|c| c.source == "updated_at")
                .or_else(|| match description.primary_key.as_slice() {
                    [only] => columns.iter().position(|c| {
                        c.source == *only && matches!(c.kind, Kind::I16 | Kind::I32 | Kind::I64)
                    }),
                    _ => None,
                })
                .ok_or_else(|| {
                    HubError::invalid_argument(
                        "cursor_column",
                        "the table has no updated_at column and no one-column integer primary key; name the column that grows with every change",
                    )
                })?,
        };
        if !matches!(
            columns[cursor].kind,
            Kind::I16
                | Kind::I32
                | Kind::I64
                | Kind::Date
                | Kind::Timestamp
                | Kind::TimestampTz
                | Kind::Text
        ) {
            return Err(HubError::invalid_argument(
                "cursor_column",
                format!(
                    "'{}' is {}; a cursor must be an integer, a date, a timestamp or text",
                    columns[cursor].source, columns[cursor].source_type
                ),
            ));
        }
        let key_names = args
            .key_columns
            .clone()
            .unwrap_or_else(|| description.primary_key.clone());
        for name in &key_names {
            keys.push(column_index(&columns, name, "key_columns")?);
        }
        cursor_column = Some(columns[cursor].target.clone());
        if exists {
            // A table another upload or source made may lack the cursor column: that
            // is the caller's choice of target, not a fault of any SQL they wrote.
            let mark = state
                .lake
                .max_value(&target, &columns[cursor].target)
                .await
                .map_err(|error| match error {
                    LakeError::Sql(reason) => HubError::invalid_argument(
                        "target_table",
                        format!(
                            "{target} already exists and does not match this source table \
                             ({reason}); name another target_table, or use sync_mode full \
                             to replace it"
                        ),
                    ),
                    other => hub_error(other),
                })?;
            if let Some(value) = mark {
                cursor_from = Some(value.clone());
                since = Some(Since {
                    column: cursor,
                    value,
                    inclusive: !keys.is_empty(),
                });
            }
            mode_name = "incremental";
        } else {
            mode_name = "full (first incremental run)";
        }
    } else {
        mode_name = "full";
    }
    let key_targets: Vec<String> = keys.iter().map(|i| columns[*i].target.clone()).collect();
    let origin = format!(
        "datasource://{}/{}",
        source.name,
        match schema_name {
            Some(schema) => format!("{schema}.{}", description.name),
            None => description.name.clone(),
        }
    );
    let sql = sync::select_sql(
        source.kind,
        schema_name,
        &description.name,
        &columns,
        since.as_ref(),
    );
    let total = description
        .estimated_rows
        .and_then(|rows| u64::try_from(rows).ok())
        .filter(|rows| *rows > 0 && since.is_none());
    let input = sync::with_progress(
        sync::read(ReadSpec {
            source,
            sql,
            columns: columns.clone(),
            since: since.clone(),
        }),
        ctx.clone(),
        total,
    );
    let run = NewRun {
        target: target.qualified(),
        kind: "sync",
        sources: vec![origin.clone()],
        detail: serde_json::json!({
            "sync_mode": mode_name,
            "cursor_column": cursor_column,
            "cursor_from": cursor_from,
            "key_columns": key_targets,
        }),
        started_at,
    };
    let recorder = Recorder::start(&state.store, &ctx, run);
    let merging = args.sync_mode.is_incremental() && exists && !key_targets.is_empty();
    let appending = args.sync_mode.is_incremental() && exists && key_targets.is_empty();
    let outcome = if merging {
        bounded(&ctx, state.lake.merge_stream(&target, input, &key_targets))
            .await
            .map(|merged| {
                (
                    merged.rows,
                    merged.version,
                    Some((merged.inserted, merged.updated)),
                )
            })
    } else {
        let mode = if appending {
            WriteMode::Append
        } else {
            WriteMode::Overwrite
        };
        bounded(&ctx, state.lake.write_stream(&target, input, mode))
            .await
            .map(|written| (written.rows, written.version, None))
    };
    let (rows, version, changes) = recorder
        .finish(outcome, |(rows, version, _)| (*rows, *version))
        .await?;
    Ok(SyncOutcome {
        table: target.to_string(),
        source: origin,
        mode: mode_name.to_string(),
        rows_read: rows,
        inserted: changes.map(|(inserted, _)| inserted),
        updated: changes.map(|(_, updated)| updated),
        version,
        cursor_column,
        cursor_from,
        key_columns: key_targets,
        columns: sync::mapped(&columns),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

impl SyncMode {
    fn is_incremental(self) -> bool {
        matches!(self, SyncMode::Incremental)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformArgs {
    /// The table to transform: `orders` (Bronze) or `silver.orders`.
    pub bronze_table: String,
    /// The steps, in order: `{"op": "trim", "columns": ["email"]}`, `{"op": "cast",
    /// "columns": {"amount": "decimal(12,2)"}}`, `{"op": "deduplicate", "keys": ["id"],
    /// "order_by": "updated_at"}`, ...
    pub transformations: Vec<Step>,
    /// The Silver table to write; by default the source table's name.
    #[serde(default)]
    pub target_table: Option<String>,
    /// Only plan: show the steps, the query, the columns and a preview; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TransformOutcome {
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
    /// The first rows the transform gives.
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<serde_json::Map<String, serde_json::Value>>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl tideway_core::typed::ToolText for TransformOutcome {
    fn text(&self) -> String {
        let mut lines = Vec::new();
        for step in self.plan["steps"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{}. {}",
                step["step"].as_u64().unwrap_or(0) + 1,
                step["description"].as_str().unwrap_or_default()
            ));
        }
        match (self.rows, self.version) {
            (Some(rows), Some(version)) => lines.push(format!(
                "Wrote {rows} rows to {} (version {version}).",
                self.plan["target"].as_str().unwrap_or_default()
            )),
            _ => lines.push("Planned only (dry_run); nothing was written.".into()),
        }
        lines.join("\n")
    }
}

pub async fn transform(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: TransformArgs,
) -> Result<TransformOutcome, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let started_at = Utc::now();
    let source = table_ref(&ctx, &args.bronze_table, None)?;
    let target_name = args
        .target_table
        .clone()
        .unwrap_or_else(|| source.name.clone());
    let target = new_table(&ctx, Layer::Silver, &target_name, "target_table")?;
    let plan: TransformPlan = state
        .lake
        .plan_transform(&source, &target, &args.transformations)
        .await
        .map_err(hub_error)?;
    let plan_json = serde_json::to_value(&plan).map_err(HubError::internal)?;
    if args.dry_run {
        let preview = state
            .lake
            .preview(ctx.tenant.as_str(), &format!("{} LIMIT 5", plan.sql), 5)
            .await
            .map_err(hub_error)?;
        return Ok(TransformOutcome {
            plan: plan_json,
            preview,
            dry_run: true,
            version: None,
            rows: None,
        });
    }
    let run = NewRun {
        target: target.qualified(),
        kind: "transform",
        sources: vec![source.qualified()],
        detail: serde_json::json!({"transformations": args.transformations, "sql": plan.sql}),
        started_at,
    };
    let recorder = Recorder::start(&state.store, &ctx, run);
    let outcome = bounded(&ctx, state.lake.run_transform(&plan, &target)).await;
    let done: Materialized = recorder
        .finish(outcome, |m: &Materialized| {
            (m.written.rows, m.written.version)
        })
        .await?;
    let preview = state
        .lake
        .preview(
            ctx.tenant.as_str(),
            &format!("SELECT * FROM silver.\"{}\" LIMIT 5", target.name),
            5,
        )
        .await
        .map_err(hub_error)?;
    Ok(TransformOutcome {
        plan: plan_json,
        preview,
        dry_run: false,
        version: Some(done.written.version),
        rows: Some(done.written.rows),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoldArgs {
    /// The Gold table to write (replaced on every run).
    pub table_name: String,
    /// One read-only query over your tables; each result column needs an identifier
    /// as its name (`SELECT region, SUM(amount) AS revenue FROM silver.orders GROUP BY region`).
    #[schemars(length(min = 1, max = 100000))]
    pub sql: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GoldOutcome {
    pub table: String,
    pub version: u64,
    pub rows: u64,
    /// The tables the query read.
    pub sources: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<serde_json::Value>,
}

impl tideway_core::typed::ToolText for GoldOutcome {
    fn text(&self) -> String {
        format!(
            "Wrote {} rows to {} (version {}) from {}.",
            self.rows,
            self.table,
            self.version,
            self.sources.join(", ")
        )
    }
}

pub async fn create_gold(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: GoldArgs,
) -> Result<GoldOutcome, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let started_at = Utc::now();
    let target = new_table(&ctx, Layer::Gold, &args.table_name, "table_name")?;
    let mut recorder = Recorder::start(
        &state.store,
        &ctx,
        NewRun {
            target: target.qualified(),
            kind: "gold",
            sources: Vec::new(),
            detail: serde_json::json!({"sql": args.sql}),
            started_at,
        },
    );
    let outcome = bounded(&ctx, state.lake.materialize(&args.sql, &target)).await;
    // The sources are known only once the query planned; a failed run names none.
    if let Ok(done) = &outcome {
        recorder.set_sources(done.sources.clone());
    }
    let done = recorder
        .finish(outcome, |m: &Materialized| {
            (m.written.rows, m.written.version)
        })
        .await?;
    Ok(GoldOutcome {
        table: done.written.table,
        version: done.written.version,
        rows: done.written.rows,
        sources: done.sources,
        columns: done
            .columns
            .iter()
            .map(|c| serde_json::json!({"name": c.name, "data_type": c.data_type}))
            .collect(),
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineageArgs {
    /// `orders` (Bronze), `silver.orders` or `tenant_{id}.gold.revenue`.
    pub table_name: String,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Lineage {
    pub table: String,
    /// What the latest successful run read.
    pub upstream: Vec<String>,
    /// Tables whose latest successful run read this one.
    pub downstream: Vec<String>,
    /// Recent runs that wrote it, newest first, failed ones included.
    pub runs: Vec<Run>,
}

impl tideway_core::typed::ToolText for Lineage {
    fn text(&self) -> String {
        format!(
            "{}\n  from: {}\n  feeds: {}\n  runs: {}",
            self.table,
            if self.upstream.is_empty() {
                "-".into()
            } else {
                self.upstream.join(", ")
            },
            if self.downstream.is_empty() {
                "-".into()
            } else {
                self.downstream.join(", ")
            },
            self.runs.len()
        )
    }
}

pub async fn table_lineage(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: LineageArgs,
) -> Result<Lineage, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let table = table_ref(&ctx, &args.table_name, args.layer.as_deref())?;
    let runs = lineage::runs_of(&state.store, &ctx, &table.qualified(), 20).await?;
    let upstream = runs
        .iter()
        .find(|run| run.outcome == "ok")
        .map(|run| run.sources.clone())
        .unwrap_or_default();
    let downstream = lineage::fed_by(&state.store, &ctx, &table.qualified()).await?;
    Ok(Lineage {
        table: table.to_string(),
        upstream,
        downstream,
        runs,
    })
}
