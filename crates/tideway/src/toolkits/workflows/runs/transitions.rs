//! How a run changes once it is under way: a step ending, a lease running out, a
//! person's request (cancel, pause, resume, retry, an approval). Every change to a
//! step is one transaction that also makes its dependents ready and settles the run,
//! and it first touches the run's row, so two servers finishing steps of one run take
//! turns instead of each missing the other's change.

use std::collections::BTreeMap;

use serde_json::Value;
use tideway_core::{CallContext, HubError, TenantId, on_store, store::now};

use super::{
    Claimed, Outcome, Runs, STATES_WITH_WHOLE_OUTPUTS, StateRow, Touched, due, missing, now_ms,
    placeholders,
};
use crate::toolkits::workflows::{
    definition::{MAX_NESTING, StepKind},
    outputs::{Kept, keep_whole_output},
    progress::{self, AfterStep, Change, RunStatus, StepStatus},
};

// The helpers below are macros, not functions: they run inside `on_store!`,
// whose body is compiled once per backend with that backend's transaction type.

/// Each step's status, read inside the transaction `$tx`.
macro_rules! read_states {
    ($tx:expr, $id:expr) => {{
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT step_id, status FROM workflow_steps WHERE execution_id = $1")
                .bind($id)
                .fetch_all(&mut *$tx)
                .await?;
        statuses(rows)?
    }};
}

/// The statuses of the steps `$steps` names, read inside the transaction `$tx`.
macro_rules! read_some_states {
    ($tx:expr, $id:expr, $steps:expr) => {{
        let sql = format!(
            "SELECT step_id, status FROM workflow_steps WHERE execution_id = $1 AND step_id IN ({})",
            placeholders(2, $steps.len())
        );
        // Only numbered placeholders are formatted into the text; the ids are bound.
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).bind($id);
        for step in $steps {
            query = query.bind(*step);
        }
        statuses(query.fetch_all(&mut *$tx).await?)?
    }};
}

/// Writes the step changes `$changes` inside `$tx`.
macro_rules! write_changes {
    ($tx:expr, $id:expr, $changes:expr, $at:expr, $at_ms:expr) => {{
        for change in $changes {
            sqlx::query(
                "UPDATE workflow_steps SET status = $3, due_ms = $4, finished_at = $5 \
                 WHERE execution_id = $1 AND step_id = $2",
            )
            .bind($id)
            .bind(&change.step)
            .bind(change.status.as_str())
            .bind(change.due_ms($at_ms))
            .bind(if change.status.is_finished() {
                Some($at)
            } else {
                None
            })
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Works out what follows from every step's status and writes it, inside `$tx`.
macro_rules! move_on {
    ($tx:expr, $id:expr, $template:expr, $run:expr, $at:expr, $at_ms:expr) => {{
        let states = read_states!($tx, $id);
        let next = progress::advance($template, $run, &states);
        write_changes!($tx, $id, &next.changes, $at, $at_ms);
        if let Some((status, error)) = &next.run {
            sqlx::query(
                "UPDATE workflow_executions SET status = $2, error = $3, finished_at = $4 WHERE id = $1",
            )
            .bind($id)
            .bind(status.as_str())
            .bind(error)
            .bind(if status.is_finished() { Some($at) } else { None })
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Moves the run on after step `$step` changed to `$status`, inside `$tx`: from the
/// step's dependents alone when that is all it can change (a step that succeeded),
/// so that each step of a 1,000-step run reads a few rows rather than all of them;
/// over every step otherwise, or when the run may have ended with it.
macro_rules! move_on_after {
    ($tx:expr, $id:expr, $template:expr, $run:expr, $step:expr, $status:expr, $at:expr, $at_ms:expr) => {{
        match progress::after_step($template, $run, $step, $status) {
            AfterStep::Nothing => {}
            AfterStep::Whole => move_on!($tx, $id, $template, $run, $at, $at_ms),
            AfterStep::Dependents(read) => {
                let changes = if read.is_empty() {
                    Vec::new()
                } else {
                    let states = read_some_states!($tx, $id, &read);
                    progress::ready_dependents($template, $step, &states)
                };
                write_changes!($tx, $id, &changes, $at, $at_ms);
                // A step made ready keeps the run going; otherwise a few of its
                // unfinished steps tell whether it may have ended.
                if changes.is_empty() {
                    let unfinished: Vec<String> = sqlx::query_scalar(
                        "SELECT step_id FROM workflow_steps WHERE execution_id = $1 \
                         AND status IN ('pending', 'ready', 'running', 'waiting', 'unknown') LIMIT $2",
                    )
                    .bind($id)
                    .bind(i64::try_from(progress::unfinished_probe($template)).unwrap_or(i64::MAX))
                    .fetch_all(&mut *$tx)
                    .await?;
                    if progress::may_have_ended($template, unfinished.iter().map(String::as_str)) {
                        move_on!($tx, $id, $template, $run, $at, $at_ms);
                    }
                }
            }
        }
    }};
}

/// Touches the run's row inside `$tx`, so that changes to one run take turns, and
/// reads its status and template: `None` when there is no such run (of `$tenant`,
/// when one is given).
macro_rules! lock_run {
    ($tx:expr, $pinned:expr, $id:expr, $tenant:expr, $at:expr) => {{
        let run: Option<(String,)> = sqlx::query_as(
            "UPDATE workflow_executions SET updated_at = $3 \
             WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2) RETURNING status",
        )
        .bind($id)
        .bind($tenant)
        .bind($at)
        .fetch_optional(&mut *$tx)
        .await?;
        match run {
            None => None,
            Some((status,)) => {
                let template = match $pinned.get($id) {
                    Some(template) => Some(template),
                    None => {
                        let definition: String = sqlx::query_scalar(
                            "SELECT definition FROM workflow_executions WHERE id = $1",
                        )
                        .bind($id)
                        .fetch_one(&mut *$tx)
                        .await?;
                        $pinned.parse($id, &definition)
                    }
                };
                match (status.parse::<RunStatus>(), template) {
                    (Ok(status), Some(template)) => Some(Ok((status, template))),
                    _ => Some(Err(HubError::Internal(format!(
                        "execution {} is unreadable",
                        $id
                    )))),
                }
            }
        }
    }};
}

/// Touches the rows of run `$id`'s parent runs inside `$tx`, the outermost first.
/// Every change that can reach a parent (a child ending) or a child (a parent
/// cancelling it) locks runs from the top down, so two such changes take turns
/// instead of deadlocking.
macro_rules! lock_ancestors {
    ($tx:expr, $id:expr, $at:expr) => {{
        let mut chain: Vec<String> = Vec::new();
        let mut current: String = $id.to_string();
        while chain.len() <= MAX_NESTING {
            let parent: Option<(Option<String>,)> =
                sqlx::query_as("SELECT parent_id FROM workflow_executions WHERE id = $1")
                    .bind(&current)
                    .fetch_optional(&mut *$tx)
                    .await?;
            match parent {
                Some((Some(parent),)) => {
                    chain.push(parent.clone());
                    current = parent;
                }
                _ => break,
            }
        }
        for ancestor in chain.iter().rev() {
            sqlx::query("UPDATE workflow_executions SET updated_at = $2 WHERE id = $1")
                .bind(ancestor)
                .bind($at)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// How child run `$child` ended, read inside `$tx`, as its waiting step's status,
/// output (the child's outputs by step; for a background call, such as an agent
/// run's, the call's own result) and error; `None` while it goes on.
macro_rules! child_result {
    ($tx:expr, $child:expr) => {{
        let run: Option<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT status, error, template_id FROM workflow_executions WHERE id = $1",
        )
        .bind($child)
        .fetch_optional(&mut *$tx)
        .await?;
        match run {
            None => Some((
                StepStatus::Failed,
                None,
                Some(format!("the child run {} is gone", $child)),
            )),
            Some((status, error, template_id)) => {
                let status = status
                    .parse::<RunStatus>()
                    .map_err(|error| sqlx::Error::Decode(error.into()))?;
                if status.is_finished() {
                    let rows: Vec<StateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{STATES_WITH_WHOLE_OUTPUTS} WHERE s.execution_id = $1 ORDER BY s.position"
                    )))
                    .bind($child)
                    .fetch_all(&mut *$tx)
                    .await?;
                    let rows: Vec<(String, Option<String>, Option<String>)> = rows
                        .into_iter()
                        .map(|row| (row.step_id, row.output, row.error))
                        .collect();
                    // A background call's run stands for the call: its result and
                    // its error are the call's own.
                    let call = rows
                        .iter()
                        .find(|(step, _, _)| step == crate::toolkits::workflows::background::STEP_ID)
                        .filter(|_| template_id == crate::toolkits::workflows::background::TEMPLATE_ID)
                        .map(|(_, output, error)| (output.clone(), error.clone()));
                    let steps: serde_json::Map<String, Value> = rows
                        .into_iter()
                        .map(|(step, output, _)| {
                            let output = output
                                .and_then(|text| serde_json::from_str(&text).ok())
                                .unwrap_or(Value::Null);
                            (step, output)
                        })
                        .collect();
                    let (output, error) = match call {
                        Some((output, call_error)) => (output, call_error.or(error)),
                        None => (
                            Some(
                                serde_json::json!({
                                    "execution_id": $child, "status": status.as_str(), "steps": steps,
                                })
                                .to_string(),
                            ),
                            error,
                        ),
                    };
                    if status == RunStatus::Succeeded {
                        Some((StepStatus::Succeeded, output, None))
                    } else {
                        let error = match error {
                            Some(error) => format!("the child run {} {status}: {error}", $child),
                            None => format!("the child run {} {status}", $child),
                        };
                        Some((StepStatus::Failed, output, Some(error)))
                    }
                } else {
                    None
                }
            }
        }
    }};
}

/// After a change to run `$id` inside `$tx`, once that run has ended: its child runs
/// still going are cancelled (theirs too), and the parent step waiting for it ends as
/// it did, which moves the parent run on, and so on up. Evaluates to the other runs
/// that changed.
macro_rules! settle {
    ($tx:expr, $pinned:expr, $limits:expr, $id:expr, $at:expr, $at_ms:expr) => {{
        let mut touched: Vec<Touched> = Vec::new();
        let mut current: String = $id.to_string();
        loop {
            let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT status, parent_id, parent_step FROM workflow_executions WHERE id = $1",
            )
            .bind(&current)
            .fetch_optional(&mut *$tx)
            .await?;
            let Some((status, parent_id, parent_step)) = row else {
                break;
            };
            let status = status
                .parse::<RunStatus>()
                .map_err(|error| sqlx::Error::Decode(error.into()))?;
            if !status.is_finished() {
                break;
            }
            let mut ended = vec![current.clone()];
            while let Some(run) = ended.pop() {
                let children: Vec<(String,)> = sqlx::query_as(
                    "UPDATE workflow_executions SET status = 'cancelled', error = 'its parent run ended', \
                     finished_at = $2, updated_at = $2 \
                     WHERE parent_id = $1 AND status IN ('running', 'paused') RETURNING id",
                )
                .bind(&run)
                .bind($at)
                .fetch_all(&mut *$tx)
                .await?;
                for (child,) in children {
                    sqlx::query(
                        "UPDATE workflow_steps SET status = 'cancelled', finished_at = $2, lease_owner = NULL \
                         WHERE execution_id = $1 AND status IN ('pending', 'ready', 'waiting', 'unknown')",
                    )
                    .bind(&child)
                    .bind($at)
                    .execute(&mut *$tx)
                    .await?;
                    touched.push(Touched {
                        execution_id: child.clone(),
                        cancelled: true,
                    });
                    ended.push(child);
                }
            }
            let (Some(parent_id), Some(parent_step)) = (parent_id, parent_step) else {
                break;
            };
            let Some((step_status, output, error)) = child_result!($tx, &current) else {
                break;
            };
            let Some(Ok((parent_status, parent_template))) =
                lock_run!($tx, $pinned, &parent_id, None::<&str>, $at)
            else {
                break;
            };
            let output = output.map(|text| $limits.keep(text));
            let updated = sqlx::query(
                "UPDATE workflow_steps SET status = $3, output = $4, output_bytes = $5, error = $6, finished_at = $7 \
                 WHERE execution_id = $1 AND step_id = $2 AND status = 'waiting'",
            )
            .bind(&parent_id)
            .bind(&parent_step)
            .bind(step_status.as_str())
            .bind(output.as_ref().map(|kept| &kept.row))
            .bind(output.as_ref().and_then(Kept::bytes))
            .bind(&error)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
            // Not waiting yet: the parent's own finish reads this child's end.
            if updated.rows_affected() == 0 {
                break;
            }
            if let Some(kept) = &output {
                keep_whole_output!($tx, &parent_id, &parent_step, kept);
            }
            move_on_after!($tx, &parent_id, &parent_template, parent_status, &parent_step, step_status, $at, $at_ms);
            touched.push(Touched {
                execution_id: parent_id.clone(),
                cancelled: false,
            });
            current = parent_id;
        }
        touched
    }};
}

impl Runs {
    /// Takes over a step whose lease ran out: ready again when `repeatable` (its
    /// tool only reads, or repeating it changes nothing), otherwise `unknown`. The
    /// lost attempt is recorded. `false` when someone else took it over first.
    pub async fn take_over(
        &self,
        execution_id: &str,
        step_id: &str,
        repeatable: bool,
    ) -> Result<bool, HubError> {
        let (status, error) = if repeatable {
            (StepStatus::Ready, None)
        } else {
            (
                StepStatus::Unknown,
                Some("the server running this step stopped while its tool call was in flight, and the tool is neither read-only nor idempotent, so it is not repeated without a decision: retry the execution to run it again, or cancel it".to_string()),
            )
        };
        let begin = self.store.begin_write_sql();
        let at_ms = now_ms();
        let taken = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                let lost: Option<(String, i64, String)> = sqlx::query_as(
                    "SELECT s.lease_owner, s.attempt, e.status FROM workflow_steps s \
                     JOIN workflow_executions e ON e.id = s.execution_id \
                     WHERE s.execution_id = $1 AND s.step_id = $2 AND s.status = 'running' AND s.lease_ms < $3",
                )
                .bind(execution_id)
                .bind(step_id)
                .bind(at_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((owner, attempt, run_status)) = lost else {
                    return Ok::<bool, sqlx::Error>(false);
                };
                // A run that ended meanwhile (cancelled, or failed by another branch)
                // starts nothing more: its orphaned step is cancelled.
                let (status, error) = match run_status.parse::<RunStatus>() {
                    Ok(run) if run.is_finished() => (StepStatus::Cancelled, Some("cancelled".to_string())),
                    _ => (status, error.clone()),
                };
                sqlx::query(
                    "UPDATE workflow_steps SET status = $3, error = $4, lease_owner = NULL, lease_ms = NULL, due_ms = $5 \
                     WHERE execution_id = $1 AND step_id = $2 AND status = 'running'",
                )
                .bind(execution_id)
                .bind(step_id)
                .bind(status.as_str())
                .bind(&error)
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO workflow_attempts (execution_id, step_id, attempt, status, owner, error, finished_at) \
                     VALUES ($1, $2, $3, 'lost', $4, 'the server running it stopped', $5) ON CONFLICT DO NOTHING",
                )
                .bind(execution_id)
                .bind(step_id)
                .bind(attempt)
                .bind(&owner)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
            .await
        })?;
        Ok(taken)
    }

    /// Records how an attempt ended and moves the run on, in one transaction (and
    /// its parent runs, when it ended a child run). `None` when the step was no
    /// longer this server's (it was taken over); otherwise the other runs that
    /// changed.
    pub async fn finish(
        &self,
        owner: &str,
        step: &Claimed,
        outcome: Outcome,
    ) -> Result<Option<Vec<Touched>>, HubError> {
        let begin = self.store.begin_write_sql();
        let at = now();
        let at_ms = now_ms();
        let done = on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                lock_ancestors!(tx, &step.execution_id, at);
                let Some(run) = lock_run!(tx, self.pinned, &step.execution_id, None::<&str>, at) else {
                    return Ok::<Result<Option<Vec<Touched>>, HubError>, sqlx::Error>(Ok(None));
                };
                let (run_status, template) = match run {
                    Ok(run) => run,
                    Err(error) => return Ok(Err(error)),
                };
                let (status, output, error, due_ms, attempt_status) = match &outcome {
                    Outcome::Succeeded(output) => (StepStatus::Succeeded, Some(output.to_string()), None, at_ms, "succeeded"),
                    Outcome::Skipped => (StepStatus::Skipped, None, None, at_ms, "skipped"),
                    Outcome::Waiting => (StepStatus::Waiting, None, None, at_ms, "waiting"),
                    Outcome::AwaitingInput(waiting) => (StepStatus::Waiting, Some(waiting.to_string()), None, at_ms, "waiting"),
                    // The child may have ended before this step was recorded waiting:
                    // then its end is this step's now.
                    Outcome::AwaitingChild(child) => match child_result!(tx, child) {
                        Some((status, output, error)) => (status, output, error, at_ms, status.as_str()),
                        None => (
                            StepStatus::Waiting,
                            Some(serde_json::json!({ "execution_id": child }).to_string()),
                            None,
                            at_ms,
                            "waiting",
                        ),
                    },
                    Outcome::Cancelled => (StepStatus::Cancelled, None, Some("cancelled".to_string()), at_ms, "cancelled"),
                    Outcome::Deferred(until_ms) => (StepStatus::Ready, None, None, *until_ms, "deferred"),
                    Outcome::Failed { message, retry_in: Some(wait), .. } if run_status == RunStatus::Running || run_status == RunStatus::Paused => (
                        StepStatus::Ready,
                        None,
                        Some(message.clone()),
                        at_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                        "failed",
                    ),
                    // A failed step's output is the problem that failed it, when there is one.
                    Outcome::Failed { message, problem, .. } => (
                        StepStatus::Failed,
                        problem.as_ref().map(Value::to_string),
                        Some(message.clone()),
                        at_ms,
                        "failed",
                    ),
                };
                // What a step waiting for input keeps stays whole in its row, where
                // answers are added to it (`input.rs`).
                let output = match &outcome {
                    Outcome::AwaitingInput(_) => output.map(|row| Kept { row, whole: None }),
                    _ => output.map(|text| self.limits.keep(text)),
                };
                // A run that ended (cancelled, or failed by another branch) keeps what
                // finished but neither retries nor waits for anything more.
                let status = if run_status.is_finished()
                    && matches!(status, StepStatus::Ready | StepStatus::Waiting)
                {
                    StepStatus::Cancelled
                } else {
                    status
                };
                let updated = sqlx::query(
                    "UPDATE workflow_steps SET status = $4, output = $5, output_bytes = $6, error = $7, due_ms = $8, \
                     lease_owner = NULL, lease_ms = NULL, finished_at = $9 \
                     WHERE execution_id = $1 AND step_id = $2 AND lease_owner = $3 AND status = 'running'",
                )
                .bind(&step.execution_id)
                .bind(&step.step_id)
                .bind(owner)
                .bind(status.as_str())
                .bind(output.as_ref().map(|kept| &kept.row))
                .bind(output.as_ref().and_then(Kept::bytes))
                .bind(&error)
                .bind(due_ms)
                .bind(if status.is_finished() { Some(at) } else { None })
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(Ok(None));
                }
                if let Some(kept) = &output {
                    keep_whole_output!(tx, &step.execution_id, &step.step_id, kept);
                }
                // A `for_each` step's output now holds every item's, so its finished
                // items are no longer needed. (A failed one keeps them: a retry calls
                // only the items that did not finish.)
                if status == StepStatus::Succeeded
                    && template.step(&step.step_id).is_some_and(|step| step.for_each.is_some())
                {
                    sqlx::query("DELETE FROM workflow_items WHERE execution_id = $1 AND step_id = $2")
                        .bind(&step.execution_id)
                        .bind(&step.step_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO workflow_attempts (execution_id, step_id, attempt, status, owner, error, started_at, finished_at) \
                     SELECT execution_id, step_id, $3, $4, $5, $6, started_at, $7 FROM workflow_steps \
                     WHERE execution_id = $1 AND step_id = $2 ON CONFLICT DO NOTHING",
                )
                .bind(&step.execution_id)
                .bind(&step.step_id)
                .bind(step.attempt)
                .bind(attempt_status)
                .bind(owner)
                .bind(&error)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                move_on_after!(tx, &step.execution_id, &template, run_status, &step.step_id, status, at, at_ms);
                let touched = settle!(tx, self.pinned, self.limits, &step.execution_id, at, at_ms);
                tx.commit().await?;
                Ok(Ok(Some(touched)))
            }
            .await
        })??;
        Ok(done)
    }

    /// Changes a run's status on a person's request (`cancel`, `pause`, `resume`,
    /// `retry`) and moves it on; the other runs that changed (its children, when it
    /// ended, and its parents).
    pub async fn control(
        &self,
        tenant: &TenantId,
        id: &str,
        control: Control,
    ) -> Result<Vec<Touched>, HubError> {
        let begin = self.store.begin_write_sql();
        let at = now();
        let at_ms = now_ms();
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                lock_ancestors!(tx, id, at);
                let Some(run) = lock_run!(tx, self.pinned, id, Some(tenant.as_str()), at) else {
                    return Ok::<Result<Vec<Touched>, HubError>, sqlx::Error>(Err(missing(id)));
                };
                let (status, template) = match run {
                    Ok(run) => run,
                    Err(error) => return Ok(Err(error)),
                };
                let refused = |what: &str| Ok(Err(HubError::Conflict(format!(
                    "execution {id} is {status}; only {what} can be {}", control.verb()
                ))));
                let next_status = match control {
                    Control::Cancel if status.is_finished() => return refused("a running or paused execution"),
                    Control::Cancel => RunStatus::Cancelled,
                    Control::Pause if status != RunStatus::Running => return refused("a running execution"),
                    Control::Pause => RunStatus::Paused,
                    Control::Resume if status != RunStatus::Paused => return refused("a paused execution"),
                    Control::Resume => RunStatus::Running,
                    Control::Retry if !matches!(status, RunStatus::Failed | RunStatus::Cancelled | RunStatus::Running) => {
                        return refused("a failed, cancelled or running execution");
                    }
                    Control::Retry => RunStatus::Running,
                };
                match control {
                    Control::Cancel => {
                        sqlx::query(
                            "UPDATE workflow_steps SET status = 'cancelled', finished_at = $2, lease_owner = NULL \
                             WHERE execution_id = $1 AND status IN ('pending', 'ready', 'waiting', 'unknown')",
                        )
                        .bind(id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Control::Retry => {
                        // A compensation undid what the run had done; going on from
                        // the failed step would build on what is no longer there.
                        let states = read_states!(tx, id);
                        if let Some(undo) = template.compensations().into_iter().find(|undo| {
                            matches!(
                                states.get(*undo),
                                Some(StepStatus::Succeeded | StepStatus::Failed | StepStatus::Running)
                            )
                        }) {
                            tx.rollback().await?;
                            return Ok(Err(HubError::Conflict(format!(
                                "execution {id} ran its compensating step '{undo}'; start a new run instead of retrying this one"
                            ))));
                        }
                        // Failed, cancelled and unknown steps go again: ready when
                        // what they need is done, pending otherwise (the advance below
                        // readies those).
                        sqlx::query(
                            "UPDATE workflow_steps SET status = 'pending', error = NULL, output = NULL, output_bytes = NULL, finished_at = NULL, due_ms = $2 \
                             WHERE execution_id = $1 AND status IN ('failed', 'cancelled', 'unknown')",
                        )
                        .bind(id)
                        .bind(at_ms)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Control::Pause | Control::Resume => {}
                }
                if control == Control::Retry && status == RunStatus::Running {
                    let states = read_states!(tx, id);
                    if !states.values().any(|s| *s == StepStatus::Pending) {
                        tx.rollback().await?;
                        return Ok(Err(HubError::Conflict(format!(
                            "execution {id} is running and has no failed, cancelled or unknown step to retry"
                        ))));
                    }
                }
                sqlx::query(
                    "UPDATE workflow_executions SET status = $2, error = NULL, finished_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(next_status.as_str())
                .bind(if next_status.is_finished() { Some(at) } else { None })
                .execute(&mut *tx)
                .await?;
                move_on!(tx, id, &template, next_status, at, at_ms);
                let touched = settle!(tx, self.pinned, self.limits, id, at, at_ms);
                tx.commit().await?;
                Ok(Ok(touched))
            }
            .await
        })?
    }

    /// A person's answer to an approval step: it succeeds (approved) or fails. The
    /// other runs that changed (when the answer ended a child run).
    pub async fn approve(
        &self,
        ctx: &CallContext,
        id: &str,
        step_id: &str,
        approved: bool,
        comment: Option<&str>,
    ) -> Result<Vec<Touched>, HubError> {
        let begin = self.store.begin_write_sql();
        let at = now();
        let at_ms = now_ms();
        let output = serde_json::json!({
            "approved": approved,
            "by": ctx.principal.id,
            "comment": comment,
        })
        .to_string();
        let error = (!approved).then(|| match comment {
            Some(comment) => format!("rejected by {}: {comment}", ctx.principal.id),
            None => format!("rejected by {}", ctx.principal.id),
        });
        on_store!(&self.store, pool => {
            async {
                let mut tx = pool.begin_with(begin).await?;
                lock_ancestors!(tx, id, at);
                let Some(run) = lock_run!(tx, self.pinned, id, Some(ctx.tenant.as_str()), at) else {
                    return Ok::<Result<Vec<Touched>, HubError>, sqlx::Error>(Err(missing(id)));
                };
                let (status, template) = match run {
                    Ok(run) => run,
                    Err(error) => return Ok(Err(error)),
                };
                // A workflow step waits too, for its child run; only a person's
                // approval step takes an answer.
                if template.step(step_id).map(|step| step.kind) != Some(StepKind::Approval) {
                    tx.rollback().await?;
                    return Ok(Err(HubError::Conflict(format!(
                        "step '{}' of execution {id} is not an approval step",
                        tideway_core::error::excerpt(step_id)
                    ))));
                }
                let updated = sqlx::query(
                    "UPDATE workflow_steps SET status = $3, output = $4, output_bytes = NULL, error = $5, finished_at = $6 \
                     WHERE execution_id = $1 AND step_id = $2 AND status = 'waiting'",
                )
                .bind(id)
                .bind(step_id)
                .bind(if approved { StepStatus::Succeeded.as_str() } else { StepStatus::Failed.as_str() })
                .bind(&output)
                .bind(&error)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(Err(HubError::Conflict(format!(
                        "step '{}' of execution {id} is not waiting for approval",
                        tideway_core::error::excerpt(step_id)
                    ))));
                }
                move_on!(tx, id, &template, status, at, at_ms);
                let touched = settle!(tx, self.pinned, self.limits, id, at, at_ms);
                tx.commit().await?;
                Ok(Ok(touched))
            }
            .await
        })?
    }
}

/// A person's request to change a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Cancel,
    Pause,
    Resume,
    Retry,
}

impl Control {
    fn verb(self) -> &'static str {
        match self {
            Control::Cancel => "cancelled",
            Control::Pause => "paused",
            Control::Resume => "resumed",
            Control::Retry => "retried",
        }
    }
}

/// Steps' statuses by id, from `(step_id, status)` rows.
fn statuses(rows: Vec<(String, String)>) -> Result<BTreeMap<String, StepStatus>, sqlx::Error> {
    rows.into_iter()
        .map(|(step, status)| {
            let status = status
                .parse::<StepStatus>()
                .map_err(|error| sqlx::Error::Decode(error.into()))?;
            Ok((step, status))
        })
        .collect()
}

impl Change {
    fn due_ms(&self, at_ms: i64) -> i64 {
        due(at_ms, self.sleep_secs)
    }
}
