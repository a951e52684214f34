//! Firings: one row per start a schedule, webhook or event trigger made, keyed by the
//! start key its run carries, so a retried firing, a repeated delivery or a change
//! read twice finds the run it started.
//! A schedule's firing is recorded `pending` in the transaction that claims its due
//! time, so a server that dies before starting the run leaves it for another to
//! start; it becomes `started` (with the execution id) or `failed` (with the reason).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{HubError, Store, TenantId, error::bounded, on_store};
use utoipa::ToSchema;

use super::now_ms;

/// Who fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Schedule,
    Webhook,
    EventTrigger,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Schedule => "schedule",
            Source::Webhook => "webhook",
            Source::EventTrigger => "event_trigger",
        }
    }
}

/// One firing as shown.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct FiringView {
    /// The due time it fired for (a webhook: when it was received).
    pub due_at: Option<DateTime<Utc>>,
    /// `pending`, `started` or `failed`.
    pub status: String,
    pub execution_id: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

/// A pending firing left by a server that stopped.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stale {
    pub tenant_id: String,
    pub start_key: String,
    pub name: String,
    pub due_ms: i64,
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
struct FiringRow {
    due_ms: i64,
    status: String,
    execution_id: Option<String>,
    error: Option<String>,
    started_ms: Option<i64>,
}

impl From<FiringRow> for FiringView {
    fn from(row: FiringRow) -> Self {
        FiringView {
            due_at: DateTime::from_timestamp_millis(row.due_ms),
            status: row.status,
            execution_id: row.execution_id,
            error: row.error,
            started_at: row.started_ms.and_then(DateTime::from_timestamp_millis),
        }
    }
}

/// The most characters of a failure kept.
const MAX_ERROR: usize = 2000;

#[derive(Clone)]
pub struct Firings {
    store: Store,
}

impl Firings {
    pub fn new(store: Store) -> Self {
        Firings { store }
    }

    /// Records a webhook delivery about to start its target, unless one with the same
    /// key or fingerprint was recorded: then that one is answered (`false`).
    pub async fn record_delivery(
        &self,
        tenant: &TenantId,
        name: &str,
        key: &str,
        fingerprint: Option<&str>,
    ) -> Result<(String, Option<String>, bool), HubError> {
        if let Some(found) = self.delivered(tenant, name, key, fingerprint).await? {
            return Ok((found.0, found.1, false));
        }
        let now = now_ms();
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_firings (tenant_id, start_key, source, name, due_ms, status, fingerprint, created_ms) \
                 VALUES ($1, $2, 'webhook', $3, $4, 'pending', $5, $4) ON CONFLICT DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(name)
            .bind(now)
            .bind(fingerprint)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 1 {
            return Ok((key.to_string(), None, true));
        }
        // Another delivery of the same request won the race.
        match self.delivered(tenant, name, key, fingerprint).await? {
            Some(found) => Ok((found.0, found.1, false)),
            None => Err(HubError::Internal("the delivery was not recorded".into())),
        }
    }

    /// A delivery recorded before with this key or fingerprint: its key and run.
    async fn delivered(
        &self,
        tenant: &TenantId,
        name: &str,
        key: &str,
        fingerprint: Option<&str>,
    ) -> Result<Option<(String, Option<String>)>, HubError> {
        let found: Option<(String, Option<String>)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT start_key, execution_id FROM automation_firings \
                 WHERE tenant_id = $1 AND source = 'webhook' AND name = $2 AND (start_key = $3 OR fingerprint = $4) \
                 ORDER BY created_ms LIMIT 1",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(key)
            .bind(fingerprint)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found)
    }

    /// Records a start about to be made for `source` `name` at `due_ms`, unless one
    /// with the same key was; whether this recorded it.
    pub async fn record(
        &self,
        tenant: &TenantId,
        source: Source,
        name: &str,
        key: &str,
        due_ms: i64,
    ) -> Result<bool, HubError> {
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_firings (tenant_id, start_key, source, name, due_ms, status, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(source.as_str())
            .bind(name)
            .bind(due_ms)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    pub async fn started(
        &self,
        tenant: &TenantId,
        key: &str,
        execution_id: &str,
    ) -> Result<(), HubError> {
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_firings SET status = 'started', execution_id = $3, error = NULL, started_ms = $4, attempts = attempts + 1 \
                 WHERE tenant_id = $1 AND start_key = $2",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(execution_id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records why a firing did not start a run. `retry` leaves it pending (the
    /// store or the Hub was briefly unavailable) for a later look to try again.
    pub async fn failed(
        &self,
        tenant: &TenantId,
        key: &str,
        error: &str,
        retry: bool,
    ) -> Result<(), HubError> {
        let status = if retry { "pending" } else { "failed" };
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_firings SET status = $3, error = $4, attempts = attempts + 1 \
                 WHERE tenant_id = $1 AND start_key = $2",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(status)
            .bind(bounded(error, MAX_ERROR))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Schedule firings still pending that were recorded before `before_ms`: their
    /// server stopped between claiming and starting, or the start failed for a while.
    pub async fn stale(&self, before_ms: i64, limit: i64) -> Result<Vec<Stale>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT tenant_id, start_key, name, due_ms, attempts FROM automation_firings \
                 WHERE status = 'pending' AND source = 'schedule' AND created_ms < $1 ORDER BY created_ms LIMIT $2",
            )
            .bind(before_ms)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Takes a stale firing for this server, so two servers do not both retry it:
    /// its recorded time moves to now.
    pub async fn take(&self, stale: &Stale) -> Result<bool, HubError> {
        let taken = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_firings SET created_ms = $3 \
                 WHERE tenant_id = $1 AND start_key = $2 AND status = 'pending' AND attempts = $4",
            )
            .bind(&stale.tenant_id)
            .bind(&stale.start_key)
            .bind(now_ms())
            .bind(stale.attempts)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(taken == 1)
    }

    pub async fn get(&self, tenant: &TenantId, key: &str) -> Result<FiringView, HubError> {
        let row: Option<FiringRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT due_ms, status, execution_id, error, started_ms FROM automation_firings WHERE tenant_id = $1 AND start_key = $2",
            )
            .bind(tenant.as_str())
            .bind(key)
            .fetch_optional(pool)
            .await
        })?;
        row.map(FiringView::from)
            .ok_or_else(|| HubError::NotFound("no such firing".into()))
    }

    /// The latest firings of one schedule or webhook, newest first.
    pub async fn recent(
        &self,
        tenant: &TenantId,
        source: Source,
        name: &str,
        limit: i64,
    ) -> Result<Vec<FiringView>, HubError> {
        let rows: Vec<FiringRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT due_ms, status, execution_id, error, started_ms FROM automation_firings \
                 WHERE tenant_id = $1 AND source = $2 AND name = $3 ORDER BY due_ms DESC, created_ms DESC LIMIT $4",
            )
            .bind(tenant.as_str())
            .bind(source.as_str())
            .bind(name)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(FiringView::from).collect())
    }

    /// Forgets one schedule's or webhook's firings (it is deleted).
    pub async fn forget(
        &self,
        tenant: &TenantId,
        source: Source,
        name: &str,
    ) -> Result<(), HubError> {
        on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_firings WHERE tenant_id = $1 AND source = $2 AND name = $3")
                .bind(tenant.as_str())
                .bind(source.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes finished firings recorded before `before_ms`.
    pub async fn sweep(&self, before_ms: i64) -> Result<u64, HubError> {
        let done = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_firings WHERE status <> 'pending' AND created_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done)
    }
}
