//! The workflows toolkit's rows (`migrations/*/0012_workflows.sql`): saved templates,
//! executions, steps and attempts, on SQLite and PostgreSQL alike: recording a run,
//! reading it (its view, a step's whole output, what the engine needs to run a step),
//! and claiming and leasing its steps. What changes a run once it is under way (a
//! step ending, a lease running out, a person's request) is in `transitions.rs`, and
//! the finished items of `for_each` steps in `items.rs`.

mod input;
mod items;
mod transitions;

pub use input::{given_answers, pending_input, waiting_output};
pub use items::{FinishedItem, item_digest};
pub use transitions::Control;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use hashlink::LruCache;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use tideway_core::{CallContext, HubError, Store, TenantId, on_store, store::now};
use utoipa::ToSchema;

use super::{
    definition::{StepKind, Template},
    outputs::OutputLimits,
    progress::{self, RunStatus, StepStatus},
    templates::TemplateVersion,
};

/// Milliseconds since the Unix epoch: due times and leases, compared in SQL.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Who started a run, kept with it: the run acts as this principal, with the rules
/// that applied when it started.
pub type Starter = tideway_core::context::DelegatedPrincipal;

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct StepView {
    pub id: String,
    pub kind: StepKind,
    pub status: StepStatus,
    /// Attempts started so far.
    pub attempt: i64,
    /// Its output, or a preview marked `truncated` when `output_bytes` is set.
    #[schema(value_type = Object)]
    pub output: Option<Value>,
    /// The size of the whole output when `output` is its preview; the whole is read
    /// with `get_step_output` (`GET …/executions/{id}/steps/{step_id}/output`).
    pub output_bytes: Option<i64>,
    pub error: Option<String>,
    /// The server running it (`host:pid:…`), while it runs.
    pub worker: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ExecutionView {
    pub execution_id: String,
    pub template_id: String,
    pub template_version: i64,
    pub status: RunStatus,
    #[schema(value_type = Object)]
    pub input: Value,
    pub error: Option<String>,
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The run whose workflow step started this one, if one did.
    pub parent_execution_id: Option<String>,
    /// Steps waiting for a person: approvals, and steps whose fate is unknown.
    pub needs_attention: Vec<String>,
    pub steps: Vec<StepView>,
}

/// A run as the engine needs it to run one of its steps.
pub struct Loaded {
    pub tenant: TenantId,
    pub status: RunStatus,
    pub template: Arc<Template>,
    pub input: Value,
    pub starter: Starter,
    /// 0 for a run a caller started; one more for each parent run above it.
    pub depth: i64,
    /// Each step's status, output and error, as expressions see them.
    pub steps: BTreeMap<String, (StepStatus, Option<Value>, Option<String>)>,
}

/// A step this server claimed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Claimed {
    pub execution_id: String,
    pub step_id: String,
    pub attempt: i64,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    Succeeded(Value),
    Skipped,
    Failed {
        message: String,
        /// The wait before the next attempt, when the policy allows one.
        retry_in: Option<std::time::Duration>,
        /// The problem (RFC 9457) the Hub or the tool answered with, kept as the
        /// failed step's output.
        problem: Option<Value>,
    },
    Cancelled,
    /// An approval step now waits for a person.
    Waiting,
    /// A workflow step now waits for its child run.
    AwaitingChild(String),
    /// A `wait_until` step runs again at this time (milliseconds since the epoch).
    Deferred(i64),
    /// A tool step's tool asked its caller for input: the step waits, keeping this
    /// (`input.rs`), until every request is answered.
    AwaitingInput(Value),
}

/// A run changed by a change to another: a child run cancelled with its parent, or
/// a parent run moved on by its child's end.
#[derive(Debug)]
pub struct Touched {
    pub execution_id: String,
    pub cancelled: bool,
}

/// The step a child run is started for: its run, its id, the server holding it and
/// how deep its run is nested.
pub struct Parent<'a> {
    pub execution_id: &'a str,
    pub step_id: &'a str,
    pub owner: &'a str,
    pub depth: i64,
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, HubError> {
    text.parse().map_err(HubError::Internal)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HubError> {
    serde_json::from_str(text).map_err(HubError::internal)
}

#[derive(sqlx::FromRow)]
struct ExecutionRow {
    id: String,
    template_id: String,
    template_version: i64,
    definition: String,
    input: String,
    status: String,
    error: Option<String>,
    started_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    parent_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    step_id: String,
    status: String,
    attempt: i64,
    output: Option<String>,
    output_bytes: Option<i64>,
    error: Option<String>,
    lease_owner: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    template_id: String,
    template_version: i64,
    status: String,
    error: Option<String>,
    started_by: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct LoadRow {
    tenant_id: String,
    input: String,
    status: String,
    starter: String,
    depth: i64,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    step_id: String,
    status: String,
    output: Option<String>,
    error: Option<String>,
}

#[derive(Clone)]
pub struct Runs {
    store: Store,
    pinned: PinnedTemplates,
    limits: OutputLimits,
}

/// The templates of recent runs, parsed, by execution id. A run's template never
/// changes once it has started (it pins its version), so every step of a run reuses
/// one parse instead of parsing the whole definition again, inside the run's lock,
/// each time one of its steps ends: a 1,000-step run would otherwise parse its
/// definition a thousand times over, one step after another.
#[derive(Clone)]
struct PinnedTemplates(Arc<Mutex<LruCache<String, Arc<Template>>>>);

impl PinnedTemplates {
    /// Runs whose templates are kept; the oldest used is dropped first.
    const KEPT: usize = 256;

    fn new() -> Self {
        PinnedTemplates(Arc::new(Mutex::new(LruCache::new(Self::KEPT))))
    }

    fn get(&self, id: &str) -> Option<Arc<Template>> {
        self.0.lock().ok()?.get(id).cloned()
    }

    /// Parses run `id`'s definition and keeps it; `None` when it is unreadable.
    fn parse(&self, id: &str, definition: &str) -> Option<Arc<Template>> {
        let template = Arc::new(serde_json::from_str::<Template>(definition).ok()?);
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(id.to_string(), template.clone());
        }
        Some(template)
    }
}

impl Runs {
    pub fn new(store: Store, limits: OutputLimits) -> Self {
        Runs {
            store,
            pinned: PinnedTemplates::new(),
            limits,
        }
    }

    // ----- executions -----

    /// Records a new run and its steps, those that need nothing ready at once.
    /// With a `key`, a run of the tenant started with the same key before is
    /// answered instead (the flag says whether this call made the run). A call
    /// made for a run's step ([`CallContext::parent_step`]) makes the new run that
    /// step's child in the same transaction, or nothing when the step is no longer
    /// running under its worker.
    pub async fn create(
        &self,
        ctx: &CallContext,
        pinned: &TemplateVersion,
        input: &Value,
        key: Option<&str>,
    ) -> Result<(String, bool), HubError> {
        if let Some(key) = key
            && let Some(id) = self.by_key(&ctx.tenant, key).await?
        {
            return Ok((id, false));
        }
        let starter = Starter::of(&ctx.principal);
        let parent = ctx.parent_step.as_deref().map(|step| Parent {
            execution_id: &step.execution_id,
            step_id: &step.step_id,
            owner: &step.owner,
            depth: step.depth,
        });
        match self
            .insert(&ctx.tenant, &starter, pinned, input, parent.as_ref(), key)
            .await
        {
            Ok(Some(id)) => Ok((id, true)),
            Ok(None) => Err(match &ctx.parent_step {
                Some(step) => HubError::Conflict(format!(
                    "step '{}' of run {} is no longer running here, so nothing was started for it",
                    step.step_id, step.execution_id
                )),
                None => HubError::Internal("the run was not recorded".into()),
            }),
            // Another start with the same key won the race.
            Err(error) => match key {
                Some(key) => match self.by_key(&ctx.tenant, key).await? {
                    Some(id) => Ok((id, false)),
                    None => Err(error),
                },
                None => Err(error),
            },
        }
    }

    pub async fn by_key(&self, tenant: &TenantId, key: &str) -> Result<Option<String>, HubError> {
        on_store!(&self.store, pool => {
            sqlx::query_scalar(
                "SELECT id FROM workflow_executions WHERE tenant_id = $1 AND start_key = $2",
            )
            .bind(tenant.as_str())
            .bind(key)
            .fetch_optional(pool)
            .await
        })
        .map_err(HubError::from)
    }

    /// Records a child run for a workflow step this server holds, and notes the
    /// child on the step in the same transaction, so that an attempt cut off after
    /// this point finds its child instead of starting another. `None` when the step
    /// is no longer this server's.
    pub async fn start_child(
        &self,
        tenant: &TenantId,
        starter: &Starter,
        pinned: &TemplateVersion,
        input: &Value,
        parent: &Parent<'_>,
    ) -> Result<Option<String>, HubError> {
        self.insert(tenant, starter, pinned, input, Some(parent), None)
            .await
    }

    async fn insert(
        &self,
        tenant: &TenantId,
        starter: &Starter,
        pinned: &TemplateVersion,
        input: &Value,
        parent: Option<&Parent<'_>>,
        key: Option<&str>,
    ) -> Result<Option<String>, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let definition = serde_json::to_string(&pinned.template).map_err(HubError::internal)?;
        let input = serde_json::to_string(input).map_err(HubError::internal)?;
        let starter_json = serde_json::to_string(starter).map_err(HubError::internal)?;
        let note = serde_json::json!({ "execution_id": id }).to_string();
        let at = now();
        let at_ms = now_ms();
        let steps = progress::initial(&pinned.template);
        let begin = self.store.begin_write_sql();
        let recorded = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                if let Some(parent) = parent {
                    let noted = sqlx::query(
                        "UPDATE workflow_steps SET output = $4 \
                         WHERE execution_id = $1 AND step_id = $2 AND lease_owner = $3 AND status = 'running'",
                    )
                    .bind(parent.execution_id)
                    .bind(parent.step_id)
                    .bind(parent.owner)
                    .bind(&note)
                    .execute(&mut *tx)
                    .await?;
                    if noted.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok::<bool, sqlx::Error>(false);
                    }
                }
                sqlx::query(
                    "INSERT INTO workflow_executions (id, tenant_id, template_id, template_version, definition, input, status, starter, started_by, created_at, updated_at, parent_id, parent_step, depth, start_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14)",
                )
                .bind(&id)
                .bind(tenant.as_str())
                .bind(&pinned.template.id)
                .bind(pinned.version)
                .bind(&definition)
                .bind(&input)
                .bind(RunStatus::Running.as_str())
                .bind(&starter_json)
                .bind(&starter.id)
                .bind(at)
                .bind(parent.map(|parent| parent.execution_id))
                .bind(parent.map(|parent| parent.step_id))
                .bind(parent.map_or(0, |parent| parent.depth + 1))
                .bind(key)
                .execute(&mut *tx)
                .await?;
                for (position, change) in steps.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO workflow_steps (execution_id, step_id, position, status, due_ms) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&id)
                    .bind(&change.step)
                    .bind(position as i64)
                    .bind(change.status.as_str())
                    .bind(due(at_ms, change.sleep_secs))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
            .await
        })?;
        Ok(recorded.then_some(id))
    }

    /// A run of the tenant, with its steps in template order.
    pub async fn view(&self, tenant: &TenantId, id: &str) -> Result<ExecutionView, HubError> {
        let row: ExecutionRow = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, template_id, template_version, definition, input, status, error, started_by, created_at, updated_at, finished_at, parent_id \
                 FROM workflow_executions WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id)
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await
        })?
        .ok_or_else(|| missing(id))?;
        let template: Template = decode(&row.definition)?;
        let steps: Vec<StepRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT step_id, status, attempt, output, output_bytes, error, lease_owner, started_at, finished_at FROM workflow_steps \
                 WHERE execution_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        let mut views = Vec::with_capacity(steps.len());
        let mut needs_attention = Vec::new();
        for step in steps {
            let status: StepStatus = parse(&step.status)?;
            let kind = template
                .step(&step.step_id)
                .map(|s| s.kind)
                .unwrap_or_default();
            // A workflow step waits for its child run, not for a person.
            if status == StepStatus::Unknown
                || (status == StepStatus::Waiting && kind == StepKind::Approval)
            {
                needs_attention.push(step.step_id.clone());
            }
            views.push(StepView {
                kind,
                id: step.step_id,
                status,
                attempt: step.attempt,
                output: step.output.as_deref().map(decode).transpose()?,
                output_bytes: step.output_bytes,
                error: step.error,
                worker: step.lease_owner,
                started_at: step.started_at,
                finished_at: step.finished_at,
            });
        }
        Ok(ExecutionView {
            execution_id: row.id,
            template_id: row.template_id,
            template_version: row.template_version,
            status: parse(&row.status)?,
            input: decode(&row.input)?,
            error: row.error,
            started_by: row.started_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
            parent_execution_id: row.parent_id,
            needs_attention,
            steps: views,
        })
    }

    /// Step `step_id`'s whole output, of a run of the tenant: also one too large
    /// for its step row. `None` while the step has no output.
    pub async fn output(
        &self,
        tenant: &TenantId,
        id: &str,
        step_id: &str,
    ) -> Result<Option<Value>, HubError> {
        let row: Option<StateRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{STATES_WITH_WHOLE_OUTPUTS} JOIN workflow_executions e ON e.id = s.execution_id \
                 WHERE s.execution_id = $1 AND s.step_id = $2 AND e.tenant_id = $3"
            )))
            .bind(id)
            .bind(step_id)
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await
        })?;
        let Some(StateRow { output, .. }) = row else {
            return Err(HubError::NotFound(format!(
                "no step '{}' in execution {}",
                tideway_core::error::excerpt(step_id),
                tideway_core::error::excerpt(id)
            )));
        };
        output.as_deref().map(decode).transpose()
    }

    /// The tenant's runs, newest first. Background calls (REST jobs, MCP tasks) are
    /// left out unless `template_id` asks for them.
    pub async fn list(
        &self,
        tenant: &TenantId,
        status: Option<RunStatus>,
        template_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ExecutionSummary>, HubError> {
        let rows: Vec<SummaryRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT id, template_id, template_version, status, error, started_by, created_at, finished_at \
                 FROM workflow_executions WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
                 AND (template_id = $3 OR ($3 IS NULL AND template_id <> $5)) \
                 ORDER BY created_at DESC, id DESC LIMIT $4",
            )
            .bind(tenant.as_str())
            .bind(status.map(RunStatus::as_str))
            .bind(template_id)
            .bind(limit)
            .bind(super::background::TEMPLATE_ID)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(ExecutionSummary {
                    execution_id: row.id,
                    template_id: row.template_id,
                    template_version: row.template_version,
                    status: parse(&row.status)?,
                    error: row.error,
                    started_by: row.started_by,
                    created_at: row.created_at,
                    finished_at: row.finished_at,
                })
            })
            .collect()
    }

    /// Everything needed to run step `step_id` of a run (any tenant's: the engine
    /// works for all of them). Of the other steps, only those the step's
    /// expressions read are loaded, so a step of a wide run reads a few rows; their
    /// outputs are whole, also those too large for their rows.
    pub async fn load(&self, id: &str, step_id: &str) -> Result<Loaded, HubError> {
        let row: LoadRow = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT tenant_id, input, status, starter, depth FROM workflow_executions WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?
        .ok_or_else(|| missing(id))?;
        // The definition (a 1,000-step run's is large) is read only when its parse
        // is not kept.
        let template = match self.pinned.get(id) {
            Some(template) => template,
            None => {
                let definition: String = on_store!(&self.store, pool => {
                    sqlx::query_scalar("SELECT definition FROM workflow_executions WHERE id = $1")
                        .bind(id)
                        .fetch_optional(pool)
                        .await
                })?
                .ok_or_else(|| missing(id))?;
                self.pinned
                    .parse(id, &definition)
                    .ok_or_else(|| HubError::Internal(format!("execution {id} is unreadable")))?
            }
        };
        let reads = template.step(step_id).and_then(|step| {
            let mut reads = step.reads()?;
            reads.insert(step_id.to_string());
            Some(reads)
        });
        let steps: Vec<StateRow> = on_store!(&self.store, pool => {
            match &reads {
                None => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{STATES_WITH_WHOLE_OUTPUTS} WHERE s.execution_id = $1")))
                        .bind(id)
                        .fetch_all(pool)
                        .await
                }
                Some(reads) => {
                    let sql = format!(
                        "{STATES_WITH_WHOLE_OUTPUTS} WHERE s.execution_id = $1 AND s.step_id IN ({})",
                        placeholders(2, reads.len())
                    );
                    // Only numbered placeholders are formatted into the text.
                    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id);
                    for step in reads {
                        query = query.bind(step);
                    }
                    query.fetch_all(pool).await
                }
            }
        })?;
        let mut states = BTreeMap::new();
        for step in steps {
            states.insert(
                step.step_id,
                (
                    parse(&step.status)?,
                    step.output.as_deref().map(decode).transpose()?,
                    step.error,
                ),
            );
        }
        Ok(Loaded {
            tenant: TenantId::new(row.tenant_id),
            status: parse(&row.status)?,
            template,
            input: decode(&row.input)?,
            starter: decode(&row.starter)?,
            depth: row.depth,
            steps: states,
        })
    }

    // ----- the engine's side -----

    /// Claims up to `limit` due steps of running runs for `owner`, each with a lease
    /// until `lease_ms`. A step another server claimed first is passed over.
    pub async fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, HubError> {
        let at = now_ms();
        let candidates: Vec<(String, String)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT s.execution_id, s.step_id FROM workflow_steps s \
                 JOIN workflow_executions e ON e.id = s.execution_id \
                 WHERE s.status = 'ready' AND s.due_ms <= $1 AND e.status = 'running' \
                 ORDER BY s.due_ms LIMIT $2",
            )
            .bind(at)
            .bind(i64::try_from(limit.saturating_mul(2)).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
        })?;
        let mut claimed = Vec::new();
        for (execution_id, step_id) in candidates {
            if claimed.len() >= limit {
                break;
            }
            let attempt: Option<i64> = on_store!(&self.store, pool => {
                sqlx::query_scalar(
                    "UPDATE workflow_steps SET status = 'running', attempt = attempt + 1, lease_owner = $3, \
                     lease_ms = $4, started_at = $5, error = NULL \
                     WHERE execution_id = $1 AND step_id = $2 AND status = 'ready' RETURNING attempt",
                )
                .bind(&execution_id)
                .bind(&step_id)
                .bind(owner)
                .bind(lease_ms)
                .bind(now())
                .fetch_optional(pool)
                .await
            })?;
            if let Some(attempt) = attempt {
                claimed.push(Claimed {
                    execution_id,
                    step_id,
                    attempt,
                });
            }
        }
        Ok(claimed)
    }

    /// Extends a lease this server holds; the run's status, or `None` when the
    /// step is no longer this server's (taken over, or the run was deleted).
    pub async fn heartbeat(
        &self,
        owner: &str,
        step: &Claimed,
        lease_ms: i64,
    ) -> Result<Option<RunStatus>, HubError> {
        let updated = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE workflow_steps SET lease_ms = $4 WHERE execution_id = $1 AND step_id = $2 \
                 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(&step.execution_id)
            .bind(&step.step_id)
            .bind(owner)
            .bind(lease_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if updated == 0 {
            return Ok(None);
        }
        let status: Option<String> = on_store!(&self.store, pool => {
            sqlx::query_scalar("SELECT status FROM workflow_executions WHERE id = $1")
                .bind(&step.execution_id)
                .fetch_optional(pool)
                .await
        })?;
        status.map(|status| parse(&status)).transpose()
    }

    /// Deletes the runs that finished before `cutoff`, with their steps and attempts
    /// (the store cascades); how many.
    pub async fn delete_finished_before(&self, cutoff: DateTime<Utc>) -> Result<u64, HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query(
                "DELETE FROM workflow_executions WHERE status IN ('succeeded', 'failed', 'cancelled') \
                 AND finished_at IS NOT NULL AND finished_at < $1",
            )
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }

    /// Keeps the progress a running tool step reported as its output (until its
    /// outcome replaces it), while this server still holds the step.
    pub async fn note_progress(
        &self,
        owner: &str,
        step: &Claimed,
        progress: &Value,
    ) -> Result<(), HubError> {
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE workflow_steps SET output = $4 WHERE execution_id = $1 AND step_id = $2 \
                 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(&step.execution_id)
            .bind(&step.step_id)
            .bind(owner)
            .bind(progress.to_string())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Steps whose lease ran out: their server stopped (or lost the store) while
    /// running them.
    pub async fn expired(
        &self,
    ) -> Result<Vec<(TenantId, String, String, Option<String>)>, HubError> {
        let rows: Vec<(String, String, String, String, Option<String>)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT e.tenant_id, s.execution_id, s.step_id, e.definition, s.output FROM workflow_steps s \
                 JOIN workflow_executions e ON e.id = s.execution_id \
                 WHERE s.status = 'running' AND s.lease_ms < $1",
            )
            .bind(now_ms())
            .fetch_all(pool)
            .await
        })?;
        let mut expired = Vec::new();
        for (tenant, execution_id, step_id, definition, output) in rows {
            let template: Template = decode(&definition)?;
            // An agent step whose run is noted as its child only waits for it now:
            // taking it over starts nothing again.
            let child_noted = output
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some_and(|noted| noted.get("execution_id").is_some());
            let tool = template
                .step(&step_id)
                .filter(|step| !(step.kind == StepKind::Agent && child_noted))
                .and_then(|step| step.tool_name().map(str::to_string));
            expired.push((TenantId::new(tenant), execution_id, step_id, tool));
        }
        Ok(expired)
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ExecutionSummary {
    pub execution_id: String,
    pub template_id: String,
    pub template_version: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Steps' states as expressions read them: each output whole, from
/// `workflow_outputs` when it is too large for the step row. A constant, so the
/// texts formatted from it hold no input.
const STATES_WITH_WHOLE_OUTPUTS: &str = "SELECT s.step_id, s.status, COALESCE(o.output, s.output) AS output, s.error \
     FROM workflow_steps s LEFT JOIN workflow_outputs o ON s.output_bytes IS NOT NULL \
     AND o.execution_id = s.execution_id AND o.step_id = s.step_id";

fn missing(id: &str) -> HubError {
    HubError::NotFound(format!(
        "no workflow execution '{}'",
        tideway_core::error::excerpt(id)
    ))
}

/// `$first, $first+1, …`: `count` numbered placeholders for an `IN (…)` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// When a step made ready now is due: now, or after its sleep.
fn due(at_ms: i64, sleep_secs: Option<f64>) -> i64 {
    match sleep_secs {
        Some(secs) => at_ms.saturating_add((secs * 1000.0) as i64),
        None => at_ms,
    }
}
