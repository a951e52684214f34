//! How a run moves on: the statuses of runs and steps, and, after any step changes,
//! which waiting steps become ready, which are cancelled, and what the run's status
//! becomes. Pure functions over the template and the steps' statuses, so the store
//! can apply them inside the transaction that records the change.

use std::{collections::BTreeMap, fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::definition::{OnError, Step, StepKind, Template};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Steps do not start until it is resumed; steps in flight finish.
    Paused,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waits for the steps it needs.
    Pending,
    /// May start once its due time comes (now, or after a backoff or a sleep).
    Ready,
    /// A server holds its lease and runs it.
    Running,
    /// An approval step waiting for a person, or a workflow step waiting for its
    /// child run.
    Waiting,
    /// Was in flight when the server running it stopped, and its tool is neither
    /// read-only nor idempotent: it is not run again without a decision.
    Unknown,
    Succeeded,
    Failed,
    /// Its condition was false.
    Skipped,
    Cancelled,
}

macro_rules! text_enum {
    ($type:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $type {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    other => Err(format!("unknown status '{other}'")),
                }
            }
        }
    };
}

text_enum!(RunStatus {
    Running => "running",
    Paused => "paused",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
});

text_enum!(StepStatus {
    Pending => "pending",
    Ready => "ready",
    Running => "running",
    Waiting => "waiting",
    Unknown => "unknown",
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
    Cancelled => "cancelled",
});

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl StepStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
        )
    }
}

/// A step that changes status as the run moves on; `sleep_secs` is set when a sleep
/// step becomes ready (it is due that much later).
#[derive(Debug, PartialEq)]
pub struct Change {
    pub step: String,
    pub status: StepStatus,
    pub sleep_secs: Option<f64>,
}

impl Change {
    /// `step` moves to `status`, due now.
    fn to(step: &str, status: StepStatus) -> Change {
        Change {
            step: step.to_string(),
            status,
            sleep_secs: None,
        }
    }
}

/// What follows from the steps' current statuses.
#[derive(Debug, PartialEq)]
pub struct Advance {
    pub changes: Vec<Change>,
    /// The run's new status, when it changes; with the reason when it fails.
    pub run: Option<(RunStatus, Option<String>)>,
}

/// Works out what follows. Only a running (or paused) run moves on; a run that
/// already finished keeps its status and its steps.
pub fn advance(
    template: &Template,
    run: RunStatus,
    steps: &BTreeMap<String, StepStatus>,
) -> Advance {
    let mut changes = Vec::new();
    if run.is_finished() {
        return Advance { changes, run: None };
    }
    let status = |id: &str| steps.get(id).copied().unwrap_or(StepStatus::Pending);
    let compensations = template.compensations();
    // A failed step with a compensation goes first, so a second failure while it
    // runs cannot cancel the compensation.
    let failed = |step: &&Step| {
        step.on_error != OnError::Continue
            && !compensations.contains(step.id.as_str())
            && status(&step.id) == StepStatus::Failed
    };
    let failing = template
        .steps
        .iter()
        .filter(failed)
        .find(|step| step.on_error.compensation().is_some())
        .or_else(|| template.steps.iter().find(failed));
    if let Some(failed) = failing {
        let compensation = failed.on_error.compensation();
        for step in &template.steps {
            if Some(step.id.as_str()) != compensation
                && matches!(
                    status(&step.id),
                    StepStatus::Pending
                        | StepStatus::Ready
                        | StepStatus::Waiting
                        | StepStatus::Unknown
                )
            {
                changes.push(Change::to(&step.id, StepStatus::Cancelled));
            }
        }
        let reason = match compensation {
            None => format!("step '{}' failed", failed.id),
            Some(undo) => match status(undo) {
                // The run fails once its compensation has run, not before.
                StepStatus::Pending => {
                    changes.push(Change::to(undo, StepStatus::Ready));
                    return Advance { changes, run: None };
                }
                StepStatus::Succeeded => {
                    format!("step '{}' failed; '{undo}' compensated for it", failed.id)
                }
                unfinished if !unfinished.is_finished() => {
                    return Advance { changes, run: None };
                }
                ended => format!(
                    "step '{}' failed, and its compensation '{undo}' {ended}",
                    failed.id
                ),
            },
        };
        return Advance {
            changes,
            run: Some((RunStatus::Failed, Some(reason))),
        };
    }
    let settled = |id: &str| match status(id) {
        StepStatus::Succeeded | StepStatus::Skipped => true,
        StepStatus::Failed => template
            .step(id)
            .is_some_and(|step| step.on_error == OnError::Continue),
        _ => false,
    };
    let mut now: BTreeMap<&str, StepStatus> = BTreeMap::new();
    for step in &template.steps {
        let current = status(&step.id);
        if compensations.contains(step.id.as_str()) {
            // Not part of the run's own course; skipped if the run succeeds.
            continue;
        }
        if current == StepStatus::Pending && step.needs.iter().all(|need| settled(need)) {
            changes.push(Change {
                step: step.id.clone(),
                status: StepStatus::Ready,
                sleep_secs: match step.kind {
                    StepKind::Sleep => step.seconds,
                    _ => None,
                },
            });
            now.insert(&step.id, StepStatus::Ready);
        } else {
            now.insert(&step.id, current);
        }
    }
    let all_finished = now.values().all(|status| status.is_finished());
    let run_change = if all_finished && run == RunStatus::Running {
        for unused in &compensations {
            if status(unused) == StepStatus::Pending {
                changes.push(Change::to(unused, StepStatus::Skipped));
            }
        }
        Some((RunStatus::Succeeded, None))
    } else {
        None
    };
    Advance {
        changes,
        run: run_change,
    }
}

/// The steps a new run starts with: those that need nothing are ready.
pub fn initial(template: &Template) -> Vec<Change> {
    let none = BTreeMap::new();
    let first = advance(template, RunStatus::Running, &none);
    let ready: BTreeMap<String, Change> = first
        .changes
        .into_iter()
        .map(|change| (change.step.clone(), change))
        .collect();
    template
        .steps
        .iter()
        .map(|step| match ready.get(&step.id) {
            Some(change) => Change {
                step: step.id.clone(),
                status: change.status,
                sleep_secs: change.sleep_secs,
            },
            None => Change::to(&step.id, StepStatus::Pending),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template() -> Template {
        serde_json::from_value(json!({
            "id": "t", "name": "T",
            "steps": [
                {"id": "a", "tool": "x"},
                {"id": "b", "tool": "x", "needs": ["a"]},
                {"id": "c", "tool": "x", "needs": ["a"], "on_error": "continue"},
                {"id": "d", "kind": "sleep", "seconds": 5, "needs": ["b", "c"]},
            ]
        }))
        .expect("template")
    }

    #[test]
    fn a_failure_with_a_compensation_runs_it_and_then_fails_the_run() {
        use StepStatus::*;
        let template: Template = serde_json::from_value(json!({
            "id": "t", "name": "T",
            "steps": [
                {"id": "charge", "tool": "x"},
                {"id": "ship", "tool": "x", "needs": ["charge"], "on_error": {"compensate": "refund"}},
                {"id": "notify", "tool": "x", "needs": ["ship"]},
                {"id": "refund", "tool": "x", "needs": ["ship"]},
            ]
        }))
        .expect("template");
        let first = initial(&template);
        assert!(
            first
                .iter()
                .all(|c| c.step == "charge" || c.status == Pending)
        );
        // The compensation is not part of the run's own course.
        let next = advance(
            &template,
            RunStatus::Running,
            &states(&[
                ("charge", Succeeded),
                ("ship", Succeeded),
                ("notify", Pending),
                ("refund", Pending),
            ]),
        );
        assert_eq!(moves(&next), vec![("notify", Ready)]);
        // The run succeeds without it, and it is skipped.
        let next = advance(
            &template,
            RunStatus::Running,
            &states(&[
                ("charge", Succeeded),
                ("ship", Succeeded),
                ("notify", Succeeded),
                ("refund", Pending),
            ]),
        );
        assert_eq!(next.changes, vec![Change::to("refund", Skipped)]);
        assert_eq!(next.run, Some((RunStatus::Succeeded, None)));
        // A failure cancels what has not started and readies the compensation; the
        // run goes on until it has run.
        let next = advance(
            &template,
            RunStatus::Running,
            &states(&[
                ("charge", Succeeded),
                ("ship", Failed),
                ("notify", Pending),
                ("refund", Pending),
            ]),
        );
        assert_eq!(moves(&next), vec![("notify", Cancelled), ("refund", Ready)]);
        assert_eq!(next.run, None);
        let running = states(&[
            ("charge", Succeeded),
            ("ship", Failed),
            ("notify", Cancelled),
            ("refund", Running),
        ]);
        assert_eq!(advance(&template, RunStatus::Running, &running).run, None);
        for (ended, reason) in [
            (Succeeded, "step 'ship' failed; 'refund' compensated for it"),
            (
                Failed,
                "step 'ship' failed, and its compensation 'refund' failed",
            ),
        ] {
            let next = advance(
                &template,
                RunStatus::Running,
                &states(&[
                    ("charge", Succeeded),
                    ("ship", Failed),
                    ("notify", Cancelled),
                    ("refund", ended),
                ]),
            );
            assert_eq!(
                next.run,
                Some((RunStatus::Failed, Some(reason.to_string())))
            );
        }
    }

    /// The steps an advance moves, with their new statuses.
    fn moves(next: &Advance) -> Vec<(&str, StepStatus)> {
        next.changes
            .iter()
            .map(|change| (change.step.as_str(), change.status))
            .collect()
    }

    fn states(pairs: &[(&str, StepStatus)]) -> BTreeMap<String, StepStatus> {
        pairs.iter().map(|(id, s)| (id.to_string(), *s)).collect()
    }

    #[test]
    fn a_new_run_readies_the_steps_that_need_nothing() {
        let first = initial(&template());
        let statuses: Vec<_> = first.iter().map(|c| (c.step.as_str(), c.status)).collect();
        assert_eq!(
            statuses,
            vec![
                ("a", StepStatus::Ready),
                ("b", StepStatus::Pending),
                ("c", StepStatus::Pending),
                ("d", StepStatus::Pending),
            ]
        );
    }

    #[test]
    fn dependents_become_ready_together_and_a_sleep_gets_its_wait() {
        use StepStatus::*;
        let next = advance(
            &template(),
            RunStatus::Running,
            &states(&[
                ("a", Succeeded),
                ("b", Pending),
                ("c", Pending),
                ("d", Pending),
            ]),
        );
        let ready: Vec<_> = next.changes.iter().map(|c| c.step.as_str()).collect();
        assert_eq!(ready, vec!["b", "c"]);
        assert_eq!(next.run, None);
        // c failed but continues; d waits for b, then sleeps.
        let next = advance(
            &template(),
            RunStatus::Running,
            &states(&[
                ("a", Succeeded),
                ("b", Succeeded),
                ("c", Failed),
                ("d", Pending),
            ]),
        );
        assert_eq!(
            next.changes,
            vec![Change {
                step: "d".into(),
                status: Ready,
                sleep_secs: Some(5.0)
            }]
        );
    }

    #[test]
    fn a_failed_step_fails_the_run_and_cancels_what_has_not_started() {
        use StepStatus::*;
        let next = advance(
            &template(),
            RunStatus::Running,
            &states(&[
                ("a", Succeeded),
                ("b", Failed),
                ("c", Running),
                ("d", Pending),
            ]),
        );
        assert_eq!(
            next.changes,
            vec![Change {
                step: "d".into(),
                status: Cancelled,
                sleep_secs: None
            }]
        );
        assert_eq!(
            next.run,
            Some((RunStatus::Failed, Some("step 'b' failed".into())))
        );
    }

    #[test]
    fn the_run_succeeds_when_every_step_finished_and_stays_as_it_ended() {
        use StepStatus::*;
        let done = states(&[
            ("a", Succeeded),
            ("b", Skipped),
            ("c", Failed),
            ("d", Succeeded),
        ]);
        let next = advance(&template(), RunStatus::Running, &done);
        assert_eq!(next.run, Some((RunStatus::Succeeded, None)));
        let next = advance(&template(), RunStatus::Cancelled, &done);
        assert_eq!(
            next,
            Advance {
                changes: vec![],
                run: None
            }
        );
    }
}
