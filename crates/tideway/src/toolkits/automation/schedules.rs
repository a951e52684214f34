//! Schedules in the store: a tenant's named timings with what they start and the
//! principal they start it as. A due schedule is claimed with a compare-and-set on
//! its next due time, in the same transaction that records its firings as pending,
//! so among servers sharing the store exactly one fires each due time, and a firing
//! claimed by a server that then died is still there to be started.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Store, TenantId, context::DelegatedPrincipal, naming::is_valid_id,
    on_store,
};
use utoipa::ToSchema;

use super::{
    firings::FiringView,
    now_ms,
    target::Target,
    timing::{Misfire, Timing, TimingSpec},
};

/// A schedule as the tenant gives it.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// 1-64 lower-case letters, digits, '_' or '-'.
    pub name: String,
    pub timing: TimingSpec,
    pub target: Target,
    /// Due times missed while no server could fire them: `skip`, `run_once`
    /// (default) or `run_all` (up to the server's cap).
    #[serde(default)]
    pub misfire: Misfire,
    #[serde(default)]
    pub description: Option<String>,
}

/// A schedule as shown.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ScheduleView {
    pub name: String,
    pub timing: TimingSpec,
    pub target: Target,
    pub misfire: Misfire,
    pub paused: bool,
    /// The next due times (none while paused).
    pub next_fire_times: Vec<DateTime<Utc>>,
    /// The latest firings, newest first.
    pub last_firings: Vec<FiringView>,
    pub description: Option<String>,
    /// The principal it starts its target as.
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// A schedule row, as the scheduler and the views need it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScheduleRow {
    pub tenant_id: String,
    pub name: String,
    pub timing: String,
    pub target: String,
    pub misfire: String,
    pub paused: bool,
    pub next_due_ms: Option<i64>,
    pub principal: String,
    pub description: Option<String>,
    pub created_by: String,
    pub created_ms: i64,
}

impl ScheduleRow {
    pub fn timing_spec(&self) -> Result<TimingSpec, HubError> {
        decode(&self.timing)
    }

    /// The stored timing (checked when saved; held to no minimum now, so a schedule
    /// saved under a looser setting still runs).
    pub fn timing(&self) -> Result<Timing, HubError> {
        Timing::parse(&self.timing_spec()?, self.created_ms, 0)
    }

    pub fn target(&self) -> Result<Target, HubError> {
        decode(&self.target)
    }

    pub fn misfire(&self) -> Misfire {
        Misfire::parse(&self.misfire).unwrap_or_default()
    }

    pub fn principal(&self) -> Result<DelegatedPrincipal, HubError> {
        decode(&self.principal)
    }

    /// The start key of its firing for `due_ms`. The creation time tells a schedule
    /// from an earlier one of the same name.
    pub fn key(&self, due_ms: i64) -> String {
        format!("schedule:{}:{}:{due_ms}", self.name, self.created_ms)
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HubError> {
    serde_json::from_str(text).map_err(|error| {
        HubError::Internal(format!("a stored schedule does not read back: {error}"))
    })
}

fn missing(name: &str) -> HubError {
    HubError::NotFound(format!(
        "no schedule '{}'",
        tideway_core::error::excerpt(name)
    ))
}

macro_rules! columns {
    () => {
        "tenant_id, name, timing, target, misfire, paused, next_due_ms, principal, description, created_by, created_ms"
    };
}

#[derive(Clone)]
pub struct Schedules {
    store: Store,
}

impl Schedules {
    pub fn new(store: Store) -> Self {
        Schedules { store }
    }

    /// Records a new schedule for `ctx`'s tenant, acting as `ctx`'s principal, first
    /// due at `next_due_ms`.
    pub async fn create(
        &self,
        ctx: &CallContext,
        input: &ScheduleInput,
        created_ms: i64,
        next_due_ms: Option<i64>,
    ) -> Result<(), HubError> {
        check_name(&input.name)?;
        let principal = serde_json::to_string(&DelegatedPrincipal::of(&ctx.principal))
            .map_err(HubError::internal)?;
        let timing = serde_json::to_string(&input.timing).map_err(HubError::internal)?;
        let target = serde_json::to_string(&input.target).map_err(HubError::internal)?;
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_schedules (tenant_id, name, timing, target, misfire, paused, next_due_ms, principal, description, created_by, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.tenant.as_str())
            .bind(&input.name)
            .bind(&timing)
            .bind(&target)
            .bind(input.misfire.as_str())
            .bind(next_due_ms)
            .bind(&principal)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(created_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 0 {
            return Err(HubError::Conflict(format!(
                "a schedule named '{}' exists; delete it first or choose another name",
                input.name
            )));
        }
        Ok(())
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ScheduleRow>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_schedules WHERE tenant_id = $1 ORDER BY name"))
                .bind(tenant.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<ScheduleRow, HubError> {
        let row = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_schedules WHERE tenant_id = $1 AND name = $2"))
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or_else(|| missing(name))
    }

    /// Pauses or resumes; resuming sets the next due time (times passed while paused
    /// are not misfires: the schedule was told not to run).
    pub async fn set_paused(
        &self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        next_due_ms: Option<i64>,
    ) -> Result<(), HubError> {
        let changed = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_schedules SET paused = $3, next_due_ms = COALESCE($4, next_due_ms), updated_ms = $5 \
                 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(paused)
            .bind(next_due_ms)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if changed == 0 {
            return Err(missing(name));
        }
        Ok(())
    }

    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_schedules WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(missing(name));
        }
        Ok(())
    }

    /// Schedules of every tenant due by `now_ms`, soonest first.
    pub async fn due(&self, now_ms: i64, limit: i64) -> Result<Vec<ScheduleRow>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_schedules WHERE paused = FALSE AND next_due_ms <= $1 ORDER BY next_due_ms LIMIT $2"))
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The soonest due time of any schedule not paused, to sleep until it.
    pub async fn soonest(&self) -> Result<Option<i64>, HubError> {
        let soonest: Option<i64> = on_store!(&self.store, pool => {
            sqlx::query_scalar("SELECT MIN(next_due_ms) FROM automation_schedules WHERE paused = FALSE")
                .fetch_one(pool)
                .await
        })?;
        Ok(soonest)
    }

    /// Claims the due time `row` was read with: moves it on to `next_due_ms` and
    /// records `fire` as pending firings, if no other server did first.
    pub async fn claim(
        &self,
        row: &ScheduleRow,
        next_due_ms: Option<i64>,
        fire: &[i64],
    ) -> Result<bool, HubError> {
        let begin = self.store.begin_write_sql();
        let now = now_ms();
        let claimed = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                let moved = sqlx::query(
                    "UPDATE automation_schedules SET next_due_ms = $4 \
                     WHERE tenant_id = $1 AND name = $2 AND next_due_ms = $3 AND paused = FALSE",
                )
                .bind(&row.tenant_id)
                .bind(&row.name)
                .bind(row.next_due_ms)
                .bind(next_due_ms)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok::<bool, sqlx::Error>(false);
                }
                for due in fire {
                    sqlx::query(
                        "INSERT INTO automation_firings (tenant_id, start_key, source, name, due_ms, status, created_ms) \
                         VALUES ($1, $2, 'schedule', $3, $4, 'pending', $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&row.tenant_id)
                    .bind(row.key(*due))
                    .bind(&row.name)
                    .bind(*due)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
            .await
        })?;
        Ok(claimed)
    }

    /// Records a firing made on request (run now) as pending, under `key`.
    pub async fn record_now(&self, row: &ScheduleRow, key: &str) -> Result<(), HubError> {
        let now = now_ms();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_firings (tenant_id, start_key, source, name, due_ms, status, created_ms) \
                 VALUES ($1, $2, 'schedule', $3, $4, 'pending', $4)",
            )
            .bind(&row.tenant_id)
            .bind(key)
            .bind(&row.name)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }
}

pub fn check_name(name: &str) -> Result<(), HubError> {
    if is_valid_id(name, 64) {
        Ok(())
    } else {
        Err(HubError::invalid_argument(
            "name",
            "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
        ))
    }
}
