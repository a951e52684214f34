//! Silences: for a while, the alerts of a rule (or of a subject, or every alert of
//! the tenant) still fire and resolve and are kept, but nobody is notified — for a
//! planned maintenance, or while a known problem is being fixed.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, Store, TenantId, error::excerpt, on_store};
use utoipa::ToSchema;

#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// Only this rule's alerts; every rule's when absent.
    #[serde(default)]
    pub rule: Option<String>,
    /// Only alerts of this subject; every subject's when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// How long it lasts, in seconds (at most 30 days).
    #[schemars(range(min = 1, max = 2592000))]
    pub duration_secs: u64,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema, sqlx::FromRow)]
pub struct SilenceRow {
    pub id: String,
    pub rule: Option<String>,
    pub subject: Option<String>,
    #[serde(skip)]
    pub ends_ms: i64,
    pub comment: Option<String>,
    pub created_by: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: SilenceRow,
    pub ends_at: Option<DateTime<Utc>>,
}

impl From<SilenceRow> for SilenceView {
    fn from(silence: SilenceRow) -> Self {
        SilenceView {
            ends_at: DateTime::from_timestamp_millis(silence.ends_ms),
            silence,
        }
    }
}

const MAX_SECS: u64 = 30 * 86_400;

#[derive(Clone)]
pub struct Silences {
    store: Store,
}

impl Silences {
    pub fn new(store: Store) -> Self {
        Silences { store }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        input: SilenceInput,
        by: &str,
        now_ms: i64,
    ) -> Result<SilenceView, HubError> {
        if !(1..=MAX_SECS).contains(&input.duration_secs) {
            return Err(HubError::invalid_argument(
                "duration_secs",
                format!("must be between 1 and {MAX_SECS} (30 days)"),
            ));
        }
        for (field, value) in [("rule", &input.rule), ("subject", &input.subject)] {
            if value
                .as_ref()
                .is_some_and(|value| value.is_empty() || value.len() > 300)
            {
                return Err(HubError::invalid_argument(
                    field,
                    "must be 1-300 characters",
                ));
            }
        }
        if input
            .comment
            .as_ref()
            .is_some_and(|comment| comment.len() > 1000)
        {
            return Err(HubError::invalid_argument(
                "comment",
                "must be at most 1000 characters",
            ));
        }
        let row = SilenceRow {
            id: uuid::Uuid::now_v7().to_string(),
            rule: input.rule,
            subject: input.subject,
            ends_ms: now_ms + input.duration_secs as i64 * 1000,
            comment: input.comment,
            created_by: by.to_string(),
        };
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO monitor_silences (id, tenant_id, rule, subject, ends_ms, comment, created_by, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&row.id)
            .bind(tenant.as_str())
            .bind(&row.rule)
            .bind(&row.subject)
            .bind(row.ends_ms)
            .bind(&row.comment)
            .bind(&row.created_by)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(row.into())
    }

    /// The tenant's silences still in force at `now_ms`.
    pub async fn active(
        &self,
        tenant: &TenantId,
        now_ms: i64,
    ) -> Result<Vec<SilenceView>, HubError> {
        let rows: Vec<SilenceRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, rule, subject, ends_ms, comment, created_by FROM monitor_silences \
                 WHERE tenant_id = $1 AND ends_ms > $2 ORDER BY ends_ms",
            )
            .bind(tenant.as_str())
            .bind(now_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(SilenceView::from).collect())
    }

    /// Whether an alert of `rule` for `subject` is silenced at `now_ms`.
    pub async fn silenced(
        &self,
        tenant: &TenantId,
        rule: &str,
        subject: &str,
        now_ms: i64,
    ) -> Result<bool, HubError> {
        let count: i64 = on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM monitor_silences WHERE tenant_id = $1 AND ends_ms > $2 \
                 AND (rule IS NULL OR rule = $3) AND (subject IS NULL OR subject = $4)",
            )
            .bind(tenant.as_str())
            .bind(now_ms)
            .bind(rule)
            .bind(subject)
            .fetch_one(pool)
            .await
        })?;
        Ok(count > 0)
    }

    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM monitor_silences WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(HubError::NotFound(format!(
                "no silence with id '{}'",
                excerpt(id)
            )));
        }
        Ok(())
    }

    /// Deletes silences that ended before `before_ms`.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM monitor_silences WHERE ends_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }
}
