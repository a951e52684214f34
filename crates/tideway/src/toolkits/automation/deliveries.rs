//! The notification outbox: `notify` records a delivery and answers at once, and the
//! background loop sends it, retrying with doubling backoff until it is delivered or
//! out of attempts. A server claims a due delivery with a lease (compare-and-set), so
//! servers sharing the store send each attempt once and a server that dies mid-send
//! leaves the delivery to another when the lease runs out. Every attempt's outcome is
//! kept on the row.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{HubError, Store, TenantId, error::bounded, on_store};
use utoipa::ToSchema;

use super::{channels::Notification, now_ms};

/// A delivery as shown.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub channel: String,
    /// `pending` (to be sent or retried), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    channel: String,
    status: String,
    attempts: i64,
    due_ms: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_ms: i64,
    finished_ms: Option<i64>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        DeliveryView {
            next_attempt_at: (row.status == "pending")
                .then(|| DateTime::from_timestamp_millis(row.due_ms))
                .flatten(),
            id: row.id,
            channel: row.channel,
            status: row.status,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: DateTime::from_timestamp_millis(row.created_ms),
            finished_at: row.finished_ms.and_then(DateTime::from_timestamp_millis),
        }
    }
}

/// A delivery a server has claimed for one attempt.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    pub tenant_id: String,
    pub channel: String,
    pub payload: String,
    pub attempts: i64,
}

impl Claimed {
    pub fn notification(&self) -> Result<Notification, HubError> {
        serde_json::from_str(&self.payload).map_err(HubError::internal)
    }
}

const MAX_ERROR: usize = 1000;

#[derive(Clone)]
pub struct Deliveries {
    store: Store,
}

impl Deliveries {
    pub fn new(store: Store) -> Self {
        Deliveries { store }
    }

    /// Records a notification for the tenant's channel, due now.
    pub async fn enqueue(
        &self,
        tenant: &TenantId,
        channel: &str,
        notification: &Notification,
    ) -> Result<String, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let payload = serde_json::to_string(notification).map_err(HubError::internal)?;
        let now = now_ms();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_deliveries (id, tenant_id, channel, payload, status, attempts, due_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
            )
            .bind(&id)
            .bind(tenant.as_str())
            .bind(channel)
            .bind(&payload)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(id)
    }

    /// Claims up to `limit` due deliveries for `owner` until `lease_ms`.
    pub async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, HubError> {
        let due: Vec<Claimed> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, channel, payload, attempts FROM automation_deliveries \
                 WHERE status = 'pending' AND due_ms <= $1 AND (lease_ms IS NULL OR lease_ms < $1) ORDER BY due_ms LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        let mut claimed = Vec::with_capacity(due.len());
        for delivery in due {
            let taken = on_store!(&self.store, pool => {
                sqlx::query(
                    "UPDATE automation_deliveries SET lease_owner = $2, lease_ms = $3 \
                     WHERE id = $1 AND status = 'pending' AND attempts = $4 AND (lease_ms IS NULL OR lease_ms < $5)",
                )
                .bind(&delivery.id)
                .bind(owner)
                .bind(lease_ms)
                .bind(delivery.attempts)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            })?;
            if taken == 1 {
                claimed.push(delivery);
            }
        }
        Ok(claimed)
    }

    /// Claims one delivery (just recorded, for a test sent at once).
    pub async fn claim_one(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Claimed>, HubError> {
        let taken = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_deliveries SET lease_owner = $2, lease_ms = $3 \
                 WHERE id = $1 AND status = 'pending' AND (lease_ms IS NULL OR lease_ms < $4)",
            )
            .bind(id)
            .bind(owner)
            .bind(lease_ms)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if taken == 0 {
            return Ok(None);
        }
        let claimed = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, tenant_id, channel, payload, attempts FROM automation_deliveries WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(claimed)
    }

    /// Records one attempt's outcome: delivered, retried at `retry_at`, or failed
    /// for good when there is no retry.
    pub async fn finish(
        &self,
        claimed: &Claimed,
        owner: &str,
        delivered: bool,
        status: Option<u16>,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<(), HubError> {
        let now = now_ms();
        let (state, due, finished) = match (delivered, retry_at) {
            (true, _) => ("delivered", now, Some(now)),
            (false, Some(at)) => ("pending", at, None),
            (false, None) => ("failed", now, Some(now)),
        };
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_deliveries SET status = $3, attempts = attempts + 1, due_ms = $4, lease_owner = NULL, lease_ms = NULL, \
                 last_status = $5, last_error = $6, finished_ms = $7 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(&claimed.id)
            .bind(owner)
            .bind(state)
            .bind(due)
            .bind(status.map(i64::from))
            .bind(error.map(|error| bounded(error, MAX_ERROR)))
            .bind(finished)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<DeliveryView, HubError> {
        let row: Option<DeliveryRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, channel, status, attempts, due_ms, last_status, last_error, created_ms, finished_ms \
                 FROM automation_deliveries WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(DeliveryView::from).ok_or_else(|| {
            HubError::NotFound(format!(
                "no delivery '{}'",
                tideway_core::error::excerpt(id)
            ))
        })
    }

    /// The tenant's latest deliveries (of one channel if named), newest first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        channel: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryView>, HubError> {
        let rows: Vec<DeliveryRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, channel, status, attempts, due_ms, last_status, last_error, created_ms, finished_ms \
                 FROM automation_deliveries WHERE tenant_id = $1 AND ($2 IS NULL OR channel = $2) ORDER BY created_ms DESC LIMIT $3",
            )
            .bind(tenant.as_str())
            .bind(channel)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(DeliveryView::from).collect())
    }

    /// Deletes finished deliveries older than `before_ms`.
    pub async fn sweep(&self, before_ms: i64) -> Result<u64, HubError> {
        let done = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_deliveries WHERE status <> 'pending' AND created_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done)
    }
}
