//! The agents toolkit's rows: definitions (each save a new version), runs (the
//! definition each pinned, its status, counters and answer) and each run's events in
//! order. Load (runs queued or running per agent) is counted here, so it holds
//! across every server sharing the store.

use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tideway_core::{
    CallContext, HubError, Store, TenantId, context::DelegatedPrincipal, on_store,
    store::is_unique_violation,
};
use utoipa::ToSchema;

use super::{
    changes,
    definition::{AgentDefinition, builtin_agents},
};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A definition as found: version 0 is a built-in no one saved over.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct AgentVersion {
    pub version: i64,
    pub agent: AgentDefinition,
    pub created_by: String,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a free slot of its agent.
    Queued,
    Running,
    /// The model gave its final answer.
    Succeeded,
    /// A limit (steps, tokens, time) ended it before a final answer.
    Limited,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Limited => "limited",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "limited" => RunStatus::Limited,
            "cancelled" => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        }
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// A run as its tenant sees it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub agent: String,
    pub agent_version: i64,
    pub task: String,
    /// The conversation the run belongs to (A2A's contextId).
    pub context_id: String,
    /// The agents that delegated to this one, first to last.
    pub chain: Vec<String>,
    pub priority: i64,
    pub status: RunStatus,
    pub started_by: String,
    /// Model turns taken.
    pub steps: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// What its model turns cost in US dollars, over the turns whose cost was known.
    pub cost_usd: Option<f64>,
    /// The final answer's text.
    pub answer: Option<String>,
    /// The answer as JSON, when the agent has an output schema.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
}

/// One recorded event of a run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RunEvent {
    pub seq: i64,
    /// `model` (a turn: what the model said and asked for), `call` (a tool call
    /// about to be made) or `result` (what came back).
    pub kind: String,
    #[schema(value_type = Object)]
    pub body: Value,
    pub at_ms: i64,
}

/// Everything a run's loop needs, as stored.
pub struct StoredRun {
    pub summary: RunSummary,
    pub tenant: TenantId,
    pub definition: AgentDefinition,
    pub starter: DelegatedPrincipal,
    pub call_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    tenant_id: String,
    agent: String,
    agent_version: i64,
    definition: String,
    task: String,
    context_id: Option<String>,
    chain: String,
    priority: i64,
    status: String,
    starter: String,
    started_by: String,
    call_id: Option<String>,
    steps: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: Option<f64>,
    answer: Option<String>,
    output: Option<String>,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, tenant_id, agent, agent_version, definition, task, context_id, chain, priority, \
     status, starter, started_by, call_id, steps, input_tokens, output_tokens, cost_usd, answer, output, \
     error, created_at, started_at, finished_at";

impl RunRow {
    fn into_run(self) -> Result<StoredRun, HubError> {
        // Runs from before conversations were kept are each their own.
        let context_id = self.context_id.unwrap_or_else(|| self.id.clone());
        Ok(StoredRun {
            tenant: TenantId::new(&self.tenant_id),
            definition: serde_json::from_str(&self.definition).map_err(HubError::internal)?,
            starter: serde_json::from_str(&self.starter).map_err(HubError::internal)?,
            call_id: self.call_id,
            summary: RunSummary {
                id: self.id,
                agent: self.agent,
                agent_version: self.agent_version,
                task: self.task,
                context_id,
                chain: serde_json::from_str(&self.chain).unwrap_or_default(),
                priority: self.priority,
                status: RunStatus::parse(&self.status),
                started_by: self.started_by,
                steps: self.steps,
                input_tokens: self.input_tokens,
                output_tokens: self.output_tokens,
                cost_usd: self.cost_usd,
                answer: self.answer,
                output: self
                    .output
                    .as_deref()
                    .and_then(|text| serde_json::from_str(text).ok()),
                error: self.error,
                created_at_ms: self.created_at,
                started_at_ms: self.started_at,
                finished_at_ms: self.finished_at,
            },
        })
    }
}

/// Which runs a listing wants; every part left empty lets all through.
#[derive(Default)]
pub struct RunFilter<'a> {
    pub agent: Option<&'a str>,
    pub statuses: &'a [RunStatus],
    pub context_id: Option<&'a str>,
    /// Runs whose status last changed at or after this time.
    pub changed_since_ms: Option<i64>,
    /// Runs after this one (creation time and id) in the listing's order: the
    /// previous page's last.
    pub after: Option<(i64, String)>,
}

/// How a run ended, as recorded.
pub struct Ending<'a> {
    pub status: RunStatus,
    pub answer: Option<&'a str>,
    pub output: Option<&'a Value>,
    pub error: Option<&'a str>,
}

#[derive(Clone)]
pub struct AgentStore {
    store: Store,
}

impl AgentStore {
    pub fn new(store: Store) -> Self {
        AgentStore { store }
    }

    /// Saves a new version of a tenant's agent; the first save is version 1.
    pub async fn save(&self, ctx: &CallContext, agent: &AgentDefinition) -> Result<i64, HubError> {
        let definition = serde_json::to_string(agent).map_err(HubError::internal)?;
        // Two saves at once may pick the same number; the key refuses one, which
        // tries again with the next.
        for _ in 0..5 {
            let outcome = on_store!(&self.store, pool => {
                async {
                    let latest: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(version) FROM agent_definitions WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(ctx.tenant.as_str())
                    .bind(&agent.name)
                    .fetch_one(pool)
                    .await?;
                    let version = latest.unwrap_or(0) + 1;
                    sqlx::query(
                        "INSERT INTO agent_definitions (tenant_id, name, version, definition, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(ctx.tenant.as_str())
                    .bind(&agent.name)
                    .bind(version)
                    .bind(&definition)
                    .bind(&ctx.principal.id)
                    .bind(now_ms())
                    .execute(pool)
                    .await?;
                    Ok::<i64, sqlx::Error>(version)
                }
                .await
            });
            match outcome {
                Ok(version) => return Ok(version),
                Err(error) if is_unique_violation(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(HubError::Conflict(format!(
            "agent '{}' is being saved by someone else; try again",
            agent.name
        )))
    }

    /// The latest saved version of each of a tenant's agents.
    async fn saved(&self, tenant: &TenantId) -> Result<Vec<AgentVersion>, HubError> {
        let rows: Vec<(i64, String, String)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT d.version, d.definition, d.created_by FROM agent_definitions d \
                 WHERE d.tenant_id = $1 AND d.version = \
                 (SELECT MAX(version) FROM agent_definitions l WHERE l.tenant_id = d.tenant_id AND l.name = d.name)",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(version, definition, created_by)| {
                Ok(AgentVersion {
                    version,
                    agent: serde_json::from_str(&definition).map_err(HubError::internal)?,
                    created_by,
                })
            })
            .collect()
    }

    /// The tenant's agents: its saved ones and the built-in ones it has not saved
    /// over, by name.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<AgentVersion>, HubError> {
        let mut agents = self.saved(tenant).await?;
        for builtin in builtin_agents() {
            if !agents.iter().any(|a| a.agent.name == builtin.name) {
                agents.push(AgentVersion {
                    version: 0,
                    agent: builtin.clone(),
                    created_by: "tideway".into(),
                });
            }
        }
        agents.sort_by(|a, b| a.agent.name.cmp(&b.agent.name));
        Ok(agents)
    }

    /// A tenant's agent: the given version or the latest saved, else the built-in
    /// one of that name (version 0).
    pub async fn find(
        &self,
        tenant: &TenantId,
        name: &str,
        version: Option<i64>,
    ) -> Result<AgentVersion, HubError> {
        if version != Some(0) {
            let row: Option<(i64, String, String)> = on_store!(&self.store, pool => {
                sqlx::query_as(
                    "SELECT version, definition, created_by FROM agent_definitions \
                     WHERE tenant_id = $1 AND name = $2 AND ($3 IS NULL OR version = $3) \
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(tenant.as_str())
                .bind(name)
                .bind(version)
                .fetch_optional(pool)
                .await
            })?;
            if let Some((version, definition, created_by)) = row {
                return Ok(AgentVersion {
                    version,
                    agent: serde_json::from_str(&definition).map_err(HubError::internal)?,
                    created_by,
                });
            }
        }
        if matches!(version, None | Some(0))
            && let Some(builtin) = builtin_agents().iter().find(|a| a.name == name)
        {
            return Ok(AgentVersion {
                version: 0,
                agent: builtin.clone(),
                created_by: "tideway".into(),
            });
        }
        Err(HubError::NotFound(format!(
            "no agent '{}'{}; list_agents shows them",
            tideway_core::error::excerpt(name),
            version.map(|v| format!(" version {v}")).unwrap_or_default()
        )))
    }

    /// Records a new run, queued.
    pub async fn create_run(
        &self,
        ctx: &CallContext,
        pinned: &AgentVersion,
        task: &str,
        context_id: Option<&str>,
        chain: &[String],
        priority: i64,
    ) -> Result<String, HubError> {
        let id = uuid::Uuid::new_v4().to_string();
        let context_id = context_id.unwrap_or(&id);
        let definition = serde_json::to_string(&pinned.agent).map_err(HubError::internal)?;
        let starter = serde_json::to_string(&DelegatedPrincipal::of(&ctx.principal))
            .map_err(HubError::internal)?;
        let chain = serde_json::to_string(chain).map_err(HubError::internal)?;
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO agent_runs (id, tenant_id, agent, agent_version, definition, task, chain, \
                 priority, status, starter, started_by, created_at, context_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $11, $12)",
            )
            .bind(&id)
            .bind(ctx.tenant.as_str())
            .bind(&pinned.agent.name)
            .bind(pinned.version)
            .bind(&definition)
            .bind(task)
            .bind(&chain)
            .bind(priority)
            .bind(&starter)
            .bind(&ctx.principal.id)
            .bind(now_ms())
            .bind(context_id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(id)
    }

    pub async fn set_call(&self, id: &str, call_id: &str) -> Result<(), HubError> {
        on_store!(&self.store, pool => {
            sqlx::query("UPDATE agent_runs SET call_id = $2 WHERE id = $1")
                .bind(id)
                .bind(call_id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// A run of `tenant`; another tenant's answers as missing.
    pub async fn run(&self, tenant: &TenantId, id: &str) -> Result<StoredRun, HubError> {
        let row: Option<RunRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                // Only the constant column list is formatted in.
                "SELECT {RUN_COLUMNS} FROM agent_runs WHERE id = $1 AND tenant_id = $2"
            )))
            .bind(id)
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await
        })?;
        row.ok_or_else(|| {
            HubError::NotFound(format!(
                "no agent run '{}'",
                tideway_core::error::excerpt(id)
            ))
        })?
        .into_run()
    }

    /// A page of the tenant's runs that `filter` lets through, newest first, and how
    /// many it lets through in all.
    pub async fn runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter<'_>,
        limit: i64,
    ) -> Result<(Vec<RunSummary>, i64), HubError> {
        // Only the constant status names are formatted in: everything a caller sends
        // is bound.
        let statuses = match filter.statuses {
            [] => String::new(),
            statuses => format!(
                "AND status IN ({})",
                statuses
                    .iter()
                    .map(|status| format!("'{}'", status.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let conditions = format!(
            "tenant_id = $1 AND ($2 IS NULL OR agent = $2) AND ($3 IS NULL OR context_id = $3) \
             AND ($4 IS NULL OR COALESCE(finished_at, started_at, created_at) >= $4) {statuses}"
        );
        let (after_time, after_id) = match &filter.after {
            Some((time, id)) => (Some(*time), Some(id.as_str())),
            None => (None, None),
        };
        let (rows, total): (Vec<RunRow>, i64) = on_store!(&self.store, pool => {
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM agent_runs WHERE {conditions} \
                 AND ($5 IS NULL OR created_at < $5 OR (created_at = $5 AND id > $6)) \
                 ORDER BY created_at DESC, id LIMIT $7"
            )))
            .bind(tenant.as_str())
            .bind(filter.agent)
            .bind(filter.context_id)
            .bind(filter.changed_since_ms)
            .bind(after_time)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await;
            match rows {
                Ok(rows) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM agent_runs WHERE {conditions}"
                )))
                .bind(tenant.as_str())
                .bind(filter.agent)
                .bind(filter.context_id)
                .bind(filter.changed_since_ms)
                .fetch_one(pool)
                .await
                .map(|total| (rows, total)),
                Err(error) => Err(error),
            }
        })?;
        let runs = rows
            .into_iter()
            .map(|row| row.into_run().map(|run| run.summary))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((runs, total))
    }

    /// Runs queued or running per agent of the tenant.
    pub async fn load(&self, tenant: &TenantId) -> Result<Vec<(String, i64)>, HubError> {
        let rows: Vec<(String, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT agent, COUNT(*) FROM agent_runs WHERE tenant_id = $1 \
                 AND status IN ('queued', 'running') GROUP BY agent",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Runs per agent and status since `since_ms`.
    pub async fn outcomes_since(
        &self,
        tenant: &TenantId,
        since_ms: i64,
    ) -> Result<Vec<(String, RunStatus, i64)>, HubError> {
        let rows: Vec<(String, String, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT agent, status, COUNT(*) FROM agent_runs WHERE tenant_id = $1 \
                 AND created_at >= $2 GROUP BY agent, status",
            )
            .bind(tenant.as_str())
            .bind(since_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(agent, status, count)| (agent, RunStatus::parse(&status), count))
            .collect())
    }

    /// Moves a queued run to running when its agent has a free slot and no queued
    /// run of the same agent comes before it (higher priority, or the same and
    /// older). Whether it now runs.
    pub async fn try_start(&self, run: &StoredRun, slots: u32) -> Result<bool, HubError> {
        let summary = &run.summary;
        let changed = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE agent_runs SET status = 'running', started_at = $6 \
                 WHERE id = $1 AND status = 'queued' \
                 AND (SELECT COUNT(*) FROM agent_runs r WHERE r.tenant_id = $2 AND r.agent = $3 \
                      AND r.status = 'running') < $4 \
                 AND NOT EXISTS (SELECT 1 FROM agent_runs q WHERE q.tenant_id = $2 AND q.agent = $3 \
                      AND q.status = 'queued' AND q.id <> $1 \
                      AND (q.priority > $5 OR (q.priority = $5 AND q.created_at < $7)))",
            )
            .bind(&summary.id)
            .bind(run.tenant.as_str())
            .bind(&summary.agent)
            .bind(i64::from(slots))
            .bind(summary.priority)
            .bind(now_ms())
            .bind(summary.created_at_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if changed == 1 {
            changes::announce(&summary.id);
        }
        Ok(changed == 1)
    }

    /// Adds a model turn's counters (its cost when it is known).
    pub async fn count_turn(
        &self,
        id: &str,
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: Option<f64>,
    ) -> Result<(), HubError> {
        let (input, output) = (
            i64::try_from(input_tokens).unwrap_or(i64::MAX),
            i64::try_from(output_tokens).unwrap_or(i64::MAX),
        );
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE agent_runs SET steps = steps + 1, input_tokens = input_tokens + $2, \
                 output_tokens = output_tokens + $3, \
                 cost_usd = CASE WHEN $4 IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + $4 END \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(input)
            .bind(output)
            .bind(cost_usd)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        changes::announce(id);
        Ok(())
    }

    /// Records how a run ended, unless it already had (a cancel that came first
    /// stays). Whether this was the ending.
    pub async fn finish(&self, id: &str, ending: Ending<'_>) -> Result<bool, HubError> {
        let output = ending.output.map(Value::to_string);
        let changed = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE agent_runs SET status = $2, answer = $3, output = $4, error = $5, finished_at = $6 \
                 WHERE id = $1 AND status IN ('queued', 'running')",
            )
            .bind(id)
            .bind(ending.status.as_str())
            .bind(ending.answer)
            .bind(output.as_deref())
            .bind(ending.error)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if changed == 1 {
            changes::announce(id);
        }
        Ok(changed == 1)
    }

    /// Appends an event at `seq`; an event already recorded there (a resumed loop
    /// repeating its record) is left as it was.
    pub async fn record(
        &self,
        id: &str,
        seq: i64,
        kind: &str,
        body: &Value,
    ) -> Result<(), HubError> {
        let body = body.to_string();
        let outcome = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO agent_run_events (run_id, seq, kind, body, at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(seq)
            .bind(kind)
            .bind(&body)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match outcome {
            Ok(()) => {
                changes::announce(id);
                Ok(())
            }
            Err(error) if is_unique_violation(&error) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// A run's events after `after_seq` (all of them from -1), in order.
    pub async fn events(&self, id: &str, after_seq: i64) -> Result<Vec<RunEvent>, HubError> {
        let rows: Vec<(i64, String, String, i64)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT seq, kind, body, at FROM agent_run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq",
            )
                .bind(id)
                .bind(after_seq)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, body, at_ms)| RunEvent {
                seq,
                kind,
                body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
                at_ms,
            })
            .collect())
    }
}
