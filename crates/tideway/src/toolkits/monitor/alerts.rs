//! Alerts as kept: opened when a rule fires, resolved when its condition clears or
//! a person resolves it, acknowledged by a person meanwhile, with every event kept.
//! Opening and resolving are compare-and-set on the alert's open key, so however
//! many servers evaluate a rule, one of them opens (and notifies) each alert and
//! one resolves it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{HubError, Store, TenantId, error::excerpt, on_store};
use utoipa::ToSchema;

use super::rules::Rule;

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct AlertView {
    pub id: String,
    pub rule: String,
    pub subject: String,
    pub metric: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The value that fired it.
    pub value: f64,
    pub threshold: f64,
    pub summary: String,
    pub started_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who resolved it: a person, or `monitor` when its condition cleared.
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct AlertEvent {
    /// `fired`, `acknowledged`, `resolved` or `notified`.
    pub event: String,
    pub at: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub value: Option<f64>,
    /// The channels told, or why none was.
    pub notified: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: String,
    rule: String,
    subject: String,
    metric: String,
    severity: String,
    status: String,
    value: f64,
    threshold: f64,
    summary: String,
    started_ms: i64,
    acknowledged_by: Option<String>,
    acknowledged_ms: Option<i64>,
    resolved_by: Option<String>,
    resolved_ms: Option<i64>,
}

impl From<AlertRow> for AlertView {
    fn from(row: AlertRow) -> Self {
        AlertView {
            id: row.id,
            rule: row.rule,
            subject: row.subject,
            metric: row.metric,
            severity: row.severity,
            status: row.status,
            value: row.value,
            threshold: row.threshold,
            summary: row.summary,
            started_at: DateTime::from_timestamp_millis(row.started_ms),
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row
                .acknowledged_ms
                .and_then(DateTime::from_timestamp_millis),
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_ms.and_then(DateTime::from_timestamp_millis),
        }
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    event: String,
    at_ms: i64,
    actor: Option<String>,
    value: Option<f64>,
    notified: Option<String>,
}

const COLUMNS: &str = "id, rule, subject, metric, severity, status, value, threshold, summary, started_ms, \
     acknowledged_by, acknowledged_ms, resolved_by, resolved_ms";

/// Who resolves an alert whose condition cleared.
pub const MONITOR: &str = "monitor";

/// The key that is set while an alert is open.
pub fn open_key(tenant: &str, rule: &str, subject: &str) -> String {
    format!("{tenant}\u{1f}{rule}\u{1f}{subject}")
}

#[derive(Clone)]
pub struct Alerts {
    store: Store,
}

impl Alerts {
    pub fn new(store: Store) -> Self {
        Alerts { store }
    }

    /// Opens an alert of `rule` for `subject`; `None` when one is open already
    /// (another server opened it first).
    pub async fn open(
        &self,
        tenant: &TenantId,
        rule: &Rule,
        subject: &str,
        value: f64,
        since_ms: i64,
    ) -> Result<Option<AlertView>, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let summary = format!(
            "{}: {} of {} is {} ({} {})",
            rule.description.as_deref().unwrap_or(&rule.name),
            rule.metric,
            subject,
            round(value),
            rule.comparison.symbol(),
            rule.threshold
        );
        let opened = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO monitor_alerts (id, tenant_id, rule, subject, metric, severity, status, open_key, value, threshold, summary, started_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'firing', $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(tenant.as_str())
            .bind(&rule.name)
            .bind(subject)
            .bind(&rule.metric)
            .bind(rule.severity.name())
            .bind(open_key(tenant.as_str(), &rule.name, subject))
            .bind(value)
            .bind(rule.threshold)
            .bind(&summary)
            .bind(since_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if opened == 0 {
            return Ok(None);
        }
        self.record(&id, since_ms, "fired", Some(MONITOR), Some(value), None)
            .await?;
        self.get(tenant, &id).await.map(Some)
    }

    /// Resolves the open alert of `rule` for `subject`; `None` when none is open
    /// (another server or a person resolved it first).
    pub async fn close(
        &self,
        tenant: &str,
        rule: &str,
        subject: &str,
        value: Option<f64>,
        now_ms: i64,
    ) -> Result<Option<AlertView>, HubError> {
        let key = open_key(tenant, rule, subject);
        let id: Option<String> = on_store!(&self.store, pool => {
            sqlx::query_scalar("SELECT id FROM monitor_alerts WHERE open_key = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await
        })?;
        let Some(id) = id else {
            return Ok(None);
        };
        if !self.resolve_row(&id, MONITOR, now_ms).await? {
            return Ok(None);
        }
        self.record(&id, now_ms, "resolved", Some(MONITOR), value, None)
            .await?;
        self.get(&TenantId::new(tenant), &id).await.map(Some)
    }

    /// Marks the alert resolved if it is still open; whether this call did.
    async fn resolve_row(&self, id: &str, by: &str, now_ms: i64) -> Result<bool, HubError> {
        let resolved = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE monitor_alerts SET status = 'resolved', open_key = NULL, resolved_by = $2, resolved_ms = $3 \
                 WHERE id = $1 AND status = 'firing'",
            )
            .bind(id)
            .bind(by)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(resolved == 1)
    }

    /// A person resolves a firing alert; `None` when it was resolved already.
    pub async fn resolve(
        &self,
        tenant: &TenantId,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(AlertView, bool), HubError> {
        self.get(tenant, id).await?;
        let resolved = self.resolve_row(id, by, now_ms).await?;
        if resolved {
            self.record(id, now_ms, "resolved", Some(by), None, None)
                .await?;
        }
        Ok((self.get(tenant, id).await?, resolved))
    }

    /// A person acknowledges a firing alert: someone is on it. Notifies no one.
    pub async fn acknowledge(
        &self,
        tenant: &TenantId,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<AlertView, HubError> {
        let alert = self.get(tenant, id).await?;
        if alert.status != "firing" {
            return Err(HubError::Conflict(format!(
                "alert {id} is {}; only a firing alert can be acknowledged",
                alert.status
            )));
        }
        let done = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE monitor_alerts SET acknowledged_by = $2, acknowledged_ms = $3 \
                 WHERE id = $1 AND status = 'firing' AND acknowledged_ms IS NULL",
            )
            .bind(id)
            .bind(by)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if done == 1 {
            self.record(id, now_ms, "acknowledged", Some(by), None, None)
                .await?;
        }
        self.get(tenant, id).await
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<AlertView, HubError> {
        let row: Option<AlertRow> = on_store!(&self.store, pool => {
            // Only constants are formatted in: the column list.
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM monitor_alerts WHERE tenant_id = $1 AND id = $2"
            )))
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(AlertView::from)
            .ok_or_else(|| HubError::NotFound(format!("no alert with id '{}'", excerpt(id))))
    }

    /// The tenant's alerts, newest first: only `status` when given.
    pub async fn list(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AlertView>, HubError> {
        let rows: Vec<AlertRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM monitor_alerts WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
                 ORDER BY started_ms DESC, id DESC LIMIT $3"
            )))
            .bind(tenant.as_str())
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(AlertView::from).collect())
    }

    /// Every open alert's identity, to take up after a restart.
    pub async fn open_keys(&self) -> Result<Vec<(String, String, String)>, HubError> {
        let rows: Vec<(String, String, String)> = on_store!(&self.store, pool => {
            sqlx::query_as("SELECT tenant_id, rule, subject FROM monitor_alerts WHERE status = 'firing'")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    pub async fn events(&self, id: &str) -> Result<Vec<AlertEvent>, HubError> {
        let rows: Vec<EventRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT event, at_ms, actor, value, notified FROM monitor_alert_events WHERE alert_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| AlertEvent {
                event: row.event,
                at: DateTime::from_timestamp_millis(row.at_ms),
                actor: row.actor,
                value: row.value,
                notified: row.notified,
            })
            .collect())
    }

    pub async fn record(
        &self,
        id: &str,
        at_ms: i64,
        event: &str,
        actor: Option<&str>,
        value: Option<f64>,
        notified: Option<&str>,
    ) -> Result<(), HubError> {
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO monitor_alert_events (alert_id, at_ms, event, actor, value, notified) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(at_ms)
            .bind(event)
            .bind(actor)
            .bind(value)
            .bind(notified)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes resolved alerts (and their events) resolved before `before_ms`.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, HubError> {
        let deleted = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "DELETE FROM monitor_alert_events WHERE alert_id IN \
                     (SELECT id FROM monitor_alerts WHERE status = 'resolved' AND resolved_ms < $1)",
                )
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
                let deleted = sqlx::query("DELETE FROM monitor_alerts WHERE status = 'resolved' AND resolved_ms < $1")
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await.map(|()| deleted)
            }
            .await
        })?;
        Ok(deleted)
    }
}

/// A value as people read it: at most three decimals.
pub fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
