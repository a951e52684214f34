//! Lineage: every run that writes a lakehouse table is recorded in the store (what it
//! wrote, what it read, how, when, with how many rows and which Delta version), so a
//! table's origin can be traced back to its sources and forward to what it feeds.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tideway_core::{CallContext, HubError, Store, on_store};

/// One recorded run.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, utoipa::ToSchema)]
pub struct Run {
    pub id: i64,
    /// The table written, `layer.name`.
    pub target: String,
    /// sync, upload, transform or gold.
    pub kind: String,
    /// What the run read.
    pub sources: Vec<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// ok or failed.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rows: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub principal: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// A run about to be recorded.
pub struct NewRun {
    pub target: String,
    pub kind: &'static str,
    pub sources: Vec<String>,
    pub detail: serde_json::Value,
    pub started_at: DateTime<Utc>,
}

type RunRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
);

const COLUMNS: &str = "id, target, kind, sources, detail, outcome, error, rows_written, table_version, principal, started_at, finished_at";

fn from_row(row: RunRow) -> Run {
    let (
        id,
        target,
        kind,
        sources,
        detail,
        outcome,
        error,
        rows,
        version,
        principal,
        started_at,
        finished_at,
    ) = row;
    Run {
        id,
        target,
        kind,
        sources: serde_json::from_str(&sources).unwrap_or_default(),
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        outcome,
        error,
        rows,
        version,
        principal,
        started_at,
        finished_at,
    }
}

/// Records a finished run: `Ok((rows, version))` or the error it ended with.
pub async fn record(
    store: &Store,
    ctx: &CallContext,
    run: NewRun,
    outcome: Result<(u64, u64), &str>,
) -> Result<(), HubError> {
    let (status, error, rows, version) = match outcome {
        Ok((rows, version)) => (
            "ok",
            None,
            i64::try_from(rows).unwrap_or(i64::MAX),
            Some(i64::try_from(version).unwrap_or(i64::MAX)),
        ),
        Err(error) => ("failed", Some(error.to_string()), 0, None),
    };
    let sources = serde_json::to_string(&run.sources).map_err(HubError::internal)?;
    let detail = serde_json::to_string(&run.detail).map_err(HubError::internal)?;
    on_store!(store, pool => {
        sqlx::query(
            "INSERT INTO lake_runs (tenant_id, target, kind, sources, detail, outcome, error, rows_written, table_version, principal, started_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(ctx.tenant.as_str())
        .bind(&run.target)
        .bind(run.kind)
        .bind(&sources)
        .bind(&detail)
        .bind(status)
        .bind(&error)
        .bind(rows)
        .bind(version)
        .bind(&ctx.principal.id)
        .bind(tideway_core::store::at_store_precision(run.started_at))
        .bind(tideway_core::store::now())
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Records a run when it ends: with its outcome when `finish` is called, or as
/// ended early when the call is dropped first (cancelled, or past its deadline),
/// so lineage shows every attempt.
pub struct Recorder {
    store: Store,
    ctx: CallContext,
    run: Option<NewRun>,
}

impl Recorder {
    pub fn start(store: &Store, ctx: &CallContext, run: NewRun) -> Recorder {
        Recorder {
            store: store.clone(),
            ctx: ctx.clone(),
            run: Some(run),
        }
    }

    /// What the run read, once it is known (a Gold query's tables after planning).
    pub fn set_sources(&mut self, sources: Vec<String>) {
        if let Some(run) = &mut self.run {
            run.sources = sources;
        }
    }

    /// Records the outcome (`written` gives rows and version) and passes it on.
    pub async fn finish<T>(
        mut self,
        outcome: Result<T, HubError>,
        written: impl Fn(&T) -> (u64, u64),
    ) -> Result<T, HubError> {
        if let Some(run) = self.run.take() {
            let summary = match &outcome {
                Ok(value) => Ok(written(value)),
                Err(error) => Err(error.to_string()),
            };
            let summary = summary.as_ref().map(|pair| *pair).map_err(String::as_str);
            if let Err(error) = record(&self.store, &self.ctx, run, summary).await {
                tracing::warn!(%error, "a lakehouse run could not be recorded as lineage");
            }
        }
        outcome
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let Some(run) = self.run.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let ctx = self.ctx.clone();
        runtime.spawn(async move {
            let ended = "the call ended before the run finished (cancelled or past its deadline); nothing was committed";
            if let Err(error) = record(&store, &ctx, run, Err(ended)).await {
                tracing::warn!(%error, "a lakehouse run could not be recorded as lineage");
            }
        });
    }
}

/// The runs that wrote `target` (`layer.name`), newest first.
pub async fn runs_of(
    store: &Store,
    ctx: &CallContext,
    target: &str,
    limit: i64,
) -> Result<Vec<Run>, HubError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM lake_runs WHERE tenant_id = $1 AND target = $2 ORDER BY id DESC LIMIT $3"
    );
    let rows: Vec<RunRow> = on_store!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ctx.tenant.as_str())
            .bind(target)
            .bind(limit)
            .fetch_all(pool)
            .await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Lakehouse tables whose latest successful run read `target`.
pub async fn fed_by(
    store: &Store,
    ctx: &CallContext,
    target: &str,
) -> Result<Vec<String>, HubError> {
    // The latest successful run of each table says what it reads now.
    let sql = "SELECT r.target, r.sources FROM lake_runs r WHERE r.tenant_id = $1 AND r.outcome = 'ok' \
               AND r.id = (SELECT MAX(l.id) FROM lake_runs l WHERE l.tenant_id = r.tenant_id AND l.target = r.target AND l.outcome = 'ok') \
               ORDER BY r.target";
    let rows: Vec<(String, String)> = on_store!(store, pool => {
        sqlx::query_as(sql)
            .bind(ctx.tenant.as_str())
            .fetch_all(pool)
            .await
    })?;
    Ok(rows
        .into_iter()
        .filter(|(_, sources)| {
            serde_json::from_str::<Vec<String>>(sources)
                .is_ok_and(|sources| sources.iter().any(|s| s == target))
        })
        .map(|(table, _)| table)
        .collect())
}
