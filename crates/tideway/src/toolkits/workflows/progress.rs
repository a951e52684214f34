//! How a run moves on: the statuses of runs and steps, and, after any step changes,
//! which waiting steps become ready, which are cancelled, and what the run's status
//! becomes. Pure functions over the template and the steps' statuses, so the store
//! can apply them inside the transaction that records the change.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    str::FromStr,
};

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
    let mut now: BTreeMap<&str, StepStatus> = BTreeMap::new();
    for step in &template.steps {
        let current = status(&step.id);
        if compensations.contains(step.id.as_str()) {
            // Not part of the run's own course; skipped if the run succeeds.
            continue;
        }
        if current == StepStatus::Pending && is_unblocked(template, step, &status) {
            changes.push(readied(step));
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

/// Whether every step `step` needs has settled: succeeded, skipped, or failed where
/// failing lets the run go on.
fn is_unblocked(template: &Template, step: &Step, status: &dyn Fn(&str) -> StepStatus) -> bool {
    step.needs.iter().all(|need| match status(need) {
        StepStatus::Succeeded | StepStatus::Skipped => true,
        StepStatus::Failed => template
            .step(need)
            .is_some_and(|need| need.on_error == OnError::Continue),
        _ => false,
    })
}

/// `step` made ready: due now, or after its wait when it is a sleep.
fn readied(step: &Step) -> Change {
    Change {
        step: step.id.clone(),
        status: StepStatus::Ready,
        sleep_secs: match step.kind {
            StepKind::Sleep => step.seconds,
            _ => None,
        },
    }
}

/// What must be read to move a run on after one of its steps changed.
#[derive(Debug, PartialEq)]
pub enum AfterStep<'t> {
    /// Nothing follows: the step has not ended (it waits, or retries later), or
    /// the run has.
    Nothing,
    /// Only the step's dependents can move: read the statuses of these steps (the
    /// dependents and what they need) and pass them to [`ready_dependents`].
    Dependents(BTreeSet<&'t str>),
    /// The change can reach every step (a failure that cancels the rest, a
    /// compensation that ends the run): read them all and [`advance`].
    Whole,
}

/// What step `step_id` ending as `status` can change. A step that settled (the
/// common case: it succeeded) can only ready its own dependents, so a wide run's
/// steps each cost as much as a narrow run's instead of a read of every step.
pub fn after_step<'t>(
    template: &'t Template,
    run: RunStatus,
    step_id: &str,
    status: StepStatus,
) -> AfterStep<'t> {
    if run.is_finished() || !status.is_finished() {
        return AfterStep::Nothing;
    }
    let Some(step) = template.step(step_id) else {
        return AfterStep::Whole;
    };
    let settles = match status {
        StepStatus::Succeeded | StepStatus::Skipped => true,
        StepStatus::Failed => step.on_error == OnError::Continue,
        _ => false,
    };
    if !settles || template.compensations().contains(step_id) {
        return AfterStep::Whole;
    }
    let mut read = BTreeSet::new();
    for dependent in dependents(template, step_id) {
        read.insert(dependent.id.as_str());
        read.extend(dependent.needs.iter().map(String::as_str));
    }
    AfterStep::Dependents(read)
}

/// The steps of the run's own course that need `step_id` (a compensation needs the
/// step it undoes, but runs only when that step fails).
fn dependents<'t>(template: &'t Template, step_id: &str) -> impl Iterator<Item = &'t Step> {
    let compensations = template.compensations();
    template.steps.iter().filter(move |step| {
        step.needs.iter().any(|need| need == step_id) && !compensations.contains(step.id.as_str())
    })
}

/// The dependents of `step_id` that become ready, given the statuses of the steps
/// [`after_step`] named (a step missing from `states` counts as pending).
pub fn ready_dependents(
    template: &Template,
    step_id: &str,
    states: &BTreeMap<String, StepStatus>,
) -> Vec<Change> {
    let status = |id: &str| states.get(id).copied().unwrap_or(StepStatus::Pending);
    dependents(template, step_id)
        .filter(|step| status(&step.id) == StepStatus::Pending)
        .filter(|step| is_unblocked(template, step, &status))
        .map(readied)
        .collect()
}

/// How many unfinished steps to look at to tell whether a run may have ended: one
/// more than it has compensations, so at least one is of the run's own course
/// whenever such a step is unfinished.
pub fn unfinished_probe(template: &Template) -> usize {
    template.compensations().len() + 1
}

/// Whether a run may have ended, given up to [`unfinished_probe`] of its unfinished
/// steps: it goes on while one of them is of its own course (not a compensation).
/// When it may have ended, [`advance`] over every step says how.
pub fn may_have_ended<'s>(
    template: &Template,
    unfinished: impl IntoIterator<Item = &'s str>,
) -> bool {
    let compensations = template.compensations();
    unfinished
        .into_iter()
        .all(|step| compensations.contains(step))
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

    /// Deterministic pseudo-random numbers for the simulations below (xorshift64).
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A template of 2 to 9 steps, each needing some earlier ones, some going on
    /// after a failure, some sleeping, and up to two with a compensation.
    fn random_template(dice: &mut Dice) -> Template {
        let count = 2 + dice.below(8);
        let mut steps: Vec<serde_json::Value> = Vec::new();
        for index in 0..count {
            let needs: Vec<String> = (0..index)
                .filter(|_| dice.below(3) == 0)
                .map(|need| format!("s{need}"))
                .collect();
            let mut step = json!({"id": format!("s{index}"), "tool": "x", "needs": needs});
            if dice.below(4) == 0 {
                step["on_error"] = json!("continue");
            }
            if dice.below(5) == 0 {
                step = json!({"id": format!("s{index}"), "kind": "sleep", "seconds": 1,
                              "needs": step["needs"].clone(), "on_error": step["on_error"].clone()});
                if step["on_error"].is_null() {
                    step.as_object_mut().map(|step| step.remove("on_error"));
                }
            }
            steps.push(step);
        }
        for _ in 0..dice.below(3) {
            let undone = dice.below(count);
            if steps[undone].get("on_error").is_some() {
                continue;
            }
            let undo = format!("undo_s{undone}");
            steps[undone]["on_error"] = json!({"compensate": undo});
            steps.push(json!({"id": undo, "tool": "x", "needs": [format!("s{undone}")]}));
        }
        serde_json::from_value(json!({"id": "t", "name": "T", "steps": steps})).expect("template")
    }

    /// Applies an advance to the statuses, as the store does.
    fn apply(
        states: &mut BTreeMap<String, StepStatus>,
        run: &mut RunStatus,
        next: Advance,
    ) -> Vec<Change> {
        for change in &next.changes {
            states.insert(change.step.clone(), change.status);
        }
        if let Some((status, _)) = next.run {
            *run = status;
        }
        next.changes
    }

    /// Moves a run on after `step` ended, as the store does: from its dependents
    /// alone when it can, and over every step otherwise. `shown` picks which of the
    /// unfinished steps the store's probe happens to return.
    fn after_step_as_stored(
        template: &Template,
        states: &mut BTreeMap<String, StepStatus>,
        run: &mut RunStatus,
        step: &str,
        dice: &mut Dice,
    ) -> Vec<Change> {
        let status = states[step];
        match after_step(template, *run, step, status) {
            AfterStep::Nothing => Vec::new(),
            AfterStep::Whole => {
                let next = advance(template, *run, states);
                apply(states, run, next)
            }
            AfterStep::Dependents(read) => {
                // Only what the store would read.
                let some: BTreeMap<String, StepStatus> = read
                    .iter()
                    .filter_map(|id| states.get(*id).map(|status| (id.to_string(), *status)))
                    .collect();
                let changes = ready_dependents(template, step, &some);
                if !changes.is_empty() {
                    return apply(states, run, Advance { changes, run: None });
                }
                let mut unfinished: Vec<&str> = states
                    .iter()
                    .filter(|(_, status)| !status.is_finished())
                    .map(|(id, _)| id.as_str())
                    .collect();
                // The store returns them in no promised order.
                for index in (1..unfinished.len()).rev() {
                    unfinished.swap(index, dice.below(index + 1));
                }
                unfinished.truncate(unfinished_probe(template));
                if may_have_ended(template, unfinished) {
                    let next = advance(template, *run, states);
                    apply(states, run, next)
                } else {
                    Vec::new()
                }
            }
        }
    }

    #[test]
    fn moving_on_from_dependents_alone_ends_every_run_as_the_whole_advance_does() {
        use StepStatus::*;
        let mut dice = Dice(0x5eed_1234_abcd_0001);
        let mut fast_paths = 0;
        for _ in 0..3000 {
            let template = random_template(&mut dice);
            let first: BTreeMap<String, StepStatus> = initial(&template)
                .into_iter()
                .map(|change| (change.step, change.status))
                .collect();
            let (mut whole, mut stored) = (first.clone(), first);
            let (mut whole_run, mut stored_run) = (RunStatus::Running, RunStatus::Running);
            for _ in 0..40 {
                let ready: Vec<String> = whole
                    .iter()
                    .filter(|(_, status)| **status == Ready)
                    .map(|(id, _)| id.clone())
                    .collect();
                if ready.is_empty() || whole_run.is_finished() {
                    break;
                }
                let step = &ready[dice.below(ready.len())];
                let ended = [
                    Succeeded, Succeeded, Succeeded, Skipped, Failed, Failed, Ready,
                ][dice.below(7)];
                whole.insert(step.clone(), ended);
                stored.insert(step.clone(), ended);
                let next = advance(&template, whole_run, &whole);
                let mut by_whole = apply(&mut whole, &mut whole_run, next);
                if matches!(
                    after_step(&template, stored_run, step, ended),
                    AfterStep::Dependents(_)
                ) {
                    fast_paths += 1;
                }
                let mut by_stored =
                    after_step_as_stored(&template, &mut stored, &mut stored_run, step, &mut dice);
                by_whole.sort_by(|a, b| a.step.cmp(&b.step));
                by_stored.sort_by(|a, b| a.step.cmp(&b.step));
                assert_eq!(by_stored, by_whole, "{step} {ended} in {template:?}");
                assert_eq!(stored, whole);
                assert_eq!(stored_run, whole_run);
            }
        }
        // The simulation exercised the short way, not only the whole advance.
        assert!(fast_paths > 3000, "{fast_paths}");
    }

    #[test]
    fn a_settled_step_reads_only_its_dependents_and_their_needs() {
        use StepStatus::*;
        let template = template();
        match after_step(&template, RunStatus::Running, "b", Succeeded) {
            AfterStep::Dependents(read) => {
                assert_eq!(read.into_iter().collect::<Vec<_>>(), vec!["b", "c", "d"]);
            }
            other => panic!("{other:?}"),
        }
        // c may fail and the run goes on; b may not.
        assert!(matches!(
            after_step(&template, RunStatus::Running, "c", Failed),
            AfterStep::Dependents(_)
        ));
        assert_eq!(
            after_step(&template, RunStatus::Running, "b", Failed),
            AfterStep::Whole
        );
        // A retry later, or a run that ended, moves nothing.
        assert_eq!(
            after_step(&template, RunStatus::Running, "b", Ready),
            AfterStep::Nothing
        );
        assert_eq!(
            after_step(&template, RunStatus::Cancelled, "b", Succeeded),
            AfterStep::Nothing
        );
        let only_b_and_c = states(&[("b", Succeeded), ("c", Running)]);
        assert!(ready_dependents(&template, "b", &only_b_and_c).is_empty());
        let both = states(&[("b", Succeeded), ("c", Failed), ("d", Pending)]);
        assert_eq!(
            ready_dependents(&template, "b", &both),
            vec![Change {
                step: "d".into(),
                status: Ready,
                sleep_secs: Some(5.0)
            }]
        );
    }
}
