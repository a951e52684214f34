//! The audit log's table: batched inserts from the audit writer and filtered,
//! paginated reads for `GET /api/v1/audit` and `tideway audit tail`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError};
use crate::{audit::AuditRecord, on_store};

/// A stored record with its id (increasing; the pagination cursor).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Filters for reading the log; every field is optional but the tenant.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// `None` reads every tenant (the CLI, run by the machine's operator).
    pub tenant: Option<String>,
    pub principal: Option<String>,
    pub toolkit: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only entries with a smaller id (walking back) ...
    pub before_id: Option<i64>,
    /// ... or a larger id (following new entries).
    pub after_id: Option<i64>,
    pub limit: u32,
}

type AuditRow = (
    i64,
    DateTime<Utc>,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    f64,
);

impl Store {
    /// Writes a batch in one transaction, as multi-row inserts: one statement per
    /// 200 records costs far less than one per record.
    pub async fn insert_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        const ROWS_PER_STATEMENT: usize = 200;
        if records.is_empty() {
            return Ok(());
        }
        on_store!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in records.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (at, tenant_id, principal, face, request_id, toolkit, tool, \
                     arguments, arguments_sha256, outcome, error_kind, latency_ms) ",
                );
                insert.push_values(chunk, |mut row, record| {
                    row.push_bind(record.at)
                        .push_bind(&record.tenant)
                        .push_bind(&record.principal)
                        .push_bind(&record.face)
                        .push_bind(&record.request_id)
                        .push_bind(&record.toolkit)
                        .push_bind(&record.tool)
                        .push_bind(&record.arguments)
                        .push_bind(&record.arguments_sha256)
                        .push_bind(&record.outcome)
                        .push_bind(&record.error_kind)
                        .push_bind(record.latency_ms);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Entries matching `query`: newest first, or oldest first when following
    /// (`after_id` set).
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let order = if query.after_id.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        // Each optional filter is written `($n IS NULL OR column = $n)`, so one
        // statement serves every combination and the parameters stay bound.
        let sql = format!(
            "SELECT id, at, tenant_id, principal, face, request_id, toolkit, tool, arguments, \
             arguments_sha256, outcome, error_kind, latency_ms FROM audit_log \
             WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR principal = $2) \
             AND ($3 IS NULL OR toolkit = $3) AND ($4 IS NULL OR tool = $4) \
             AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
             AND ($8 IS NULL OR id < $8) AND ($9 IS NULL OR id > $9) \
             ORDER BY id {order} LIMIT $10"
        );
        let sql = match self {
            Store::Sqlite(_) => sql,
            // PostgreSQL must know each parameter's type even when it is NULL.
            Store::Postgres(_) => sql
                .replace("$1 IS NULL", "$1::text IS NULL")
                .replace("$2 IS NULL", "$2::text IS NULL")
                .replace("$3 IS NULL", "$3::text IS NULL")
                .replace("$4 IS NULL", "$4::text IS NULL")
                .replace("$5 IS NULL", "$5::text IS NULL")
                .replace("$6 IS NULL", "$6::timestamptz IS NULL")
                .replace("$7 IS NULL", "$7::timestamptz IS NULL")
                .replace("$8 IS NULL", "$8::bigint IS NULL")
                .replace("$9 IS NULL", "$9::bigint IS NULL"),
        };
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows: Vec<AuditRow> = on_store!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&query.tenant)
                .bind(&query.principal)
                .bind(&query.toolkit)
                .bind(&query.tool)
                .bind(&query.outcome)
                .bind(query.since)
                .bind(query.until)
                .bind(query.before_id)
                .bind(query.after_id)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    at,
                    tenant,
                    principal,
                    face,
                    request_id,
                    toolkit,
                    tool,
                    arguments,
                    arguments_sha256,
                    outcome,
                    error_kind,
                    latency_ms,
                )| AuditEntry {
                    id,
                    record: AuditRecord {
                        at,
                        tenant,
                        principal,
                        face,
                        request_id,
                        toolkit,
                        tool,
                        arguments,
                        arguments_sha256,
                        outcome,
                        error_kind,
                        latency_ms,
                    },
                },
            )
            .collect())
    }
}
