//! Alert rules evaluated against one round of samples: the state of each rule and
//! subject (pending while the condition has not held for its `for` yet, firing,
//! held after a person resolved it while it still breached) and the changes that
//! are worth telling someone: an alert fired, an alert resolved. Nothing else
//! notifies, so a value hovering at the line gives one alert, not a storm. Pure: the
//! clock is an argument, so tests drive it.

use std::collections::HashMap;

use super::{rules::StoredRule, series::Point};

/// One alert's identity: tenant, rule, subject.
pub type Key = (String, String, String);

pub fn key(rule: &StoredRule, subject: &str) -> Key {
    (
        rule.tenant.as_str().to_string(),
        rule.rule.name.clone(),
        subject.to_string(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// Breaching since then, not yet for long enough.
    Pending {
        since_ms: i64,
    },
    Firing,
    /// Resolved by a person while still breaching: quiet until it clears.
    Held,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    /// The condition held for the rule's `for`; `since_ms` is when it began.
    Fired { since_ms: i64 },
    /// The value came back past the resolve threshold, or is no longer reported
    /// (`value` is then `None`), or the rule is gone.
    Resolved,
}

#[derive(Clone, Debug)]
pub struct Change {
    pub key: Key,
    /// The rule as it is, or as it was when the alert fired if it has been deleted
    /// or disabled since (its channels are told of the resolve); `None` only for an
    /// alert taken up after a restart whose rule is gone.
    pub rule: Option<StoredRule>,
    pub value: Option<f64>,
    pub kind: ChangeKind,
}

#[derive(Default)]
pub struct Evaluator {
    states: HashMap<Key, State>,
    /// The rule of each alert this evaluator saw fire, for telling its channels of
    /// the resolve even once the rule is gone.
    fired_by: HashMap<Key, StoredRule>,
}

impl Evaluator {
    /// Takes up an alert the store says is firing (after a restart).
    pub fn restore_firing(&mut self, key: Key) {
        self.states.insert(key, State::Firing);
    }

    /// A person resolved the alert: it stays quiet until its condition clears.
    pub fn hold(&mut self, key: Key) {
        if self.states.contains_key(&key) {
            self.states.insert(key, State::Held);
        }
    }

    /// Evaluates `rules` against the values sampled at `now_ms`; a rule sees only
    /// the points `sees` lets it (its tenant's).
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        rules: &[StoredRule],
        points: &[Point],
        sees: impl Fn(&StoredRule, &Point) -> bool,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut seen: HashMap<Key, ()> = HashMap::new();
        for stored in rules {
            let rule = &stored.rule;
            if !rule.enabled {
                continue;
            }
            for point in points.iter().filter(|point| {
                point.metric == rule.metric && rule.covers(&point.subject) && sees(stored, point)
            }) {
                let key = key(stored, &point.subject);
                seen.insert(key.clone(), ());
                let value = point.value;
                let next = match self.states.get(&key).copied() {
                    None if rule.breached(value) => {
                        if rule.for_secs == 0 {
                            changes.push(fired(&key, stored, value, now_ms));
                            Some(State::Firing)
                        } else {
                            Some(State::Pending { since_ms: now_ms })
                        }
                    }
                    None => None,
                    Some(State::Pending { since_ms }) if rule.breached(value) => {
                        if now_ms - since_ms >= rule.for_secs as i64 * 1000 {
                            changes.push(fired(&key, stored, value, since_ms));
                            Some(State::Firing)
                        } else {
                            Some(State::Pending { since_ms })
                        }
                    }
                    Some(State::Pending { .. }) => None,
                    Some(State::Firing) if rule.cleared(value) => {
                        self.fired_by.remove(&key);
                        changes.push(Change {
                            key: key.clone(),
                            rule: Some(stored.clone()),
                            value: Some(value),
                            kind: ChangeKind::Resolved,
                        });
                        None
                    }
                    Some(State::Held) if rule.cleared(value) => None,
                    Some(state) => Some(state),
                };
                match next {
                    Some(State::Firing) => {
                        self.fired_by.insert(key.clone(), stored.clone());
                        self.states.insert(key, State::Firing);
                    }
                    Some(state) => {
                        self.states.insert(key, state);
                    }
                    None => {
                        self.states.remove(&key);
                        self.fired_by.remove(&key);
                    }
                }
            }
        }
        // What was not seen this round is no longer reported, or its rule is gone or
        // disabled: a firing alert resolves, anything else is forgotten.
        let gone: Vec<Key> = self
            .states
            .keys()
            .filter(|key| !seen.contains_key(*key))
            .cloned()
            .collect();
        for key in gone {
            let remembered = self.fired_by.remove(&key);
            if self.states.remove(&key) == Some(State::Firing) {
                let rule = rules
                    .iter()
                    .find(|stored| {
                        stored.rule.enabled
                            && stored.tenant.as_str() == key.0
                            && stored.rule.name == key.1
                    })
                    .cloned()
                    .or(remembered);
                changes.push(Change {
                    key,
                    rule,
                    value: None,
                    kind: ChangeKind::Resolved,
                });
            }
        }
        changes
    }
}

fn fired(key: &Key, rule: &StoredRule, value: f64, since_ms: i64) -> Change {
    Change {
        key: key.clone(),
        rule: Some(rule.clone()),
        value: Some(value),
        kind: ChangeKind::Fired { since_ms },
    }
}

#[cfg(test)]
mod tests {
    use tideway_core::{
        Role, TenantId,
        context::{Credential, DelegatedPrincipal, Principal},
    };

    use super::*;
    use crate::toolkits::monitor::rules::{Comparison, Rule, Severity};

    fn rule(for_secs: u64, resolve: Option<f64>) -> StoredRule {
        StoredRule {
            tenant: TenantId::new("acme"),
            rule: Rule {
                name: "high_cpu".into(),
                description: None,
                metric: "host.cpu_percent".into(),
                subject: None,
                comparison: Comparison::Above,
                threshold: 80.0,
                for_secs,
                resolve_threshold: resolve,
                severity: Severity::Warning,
                channels: Vec::new(),
                enabled: true,
            },
            principal: DelegatedPrincipal::of(&Principal::new(
                "local",
                Role::Admin,
                Credential::Local,
            )),
        }
    }

    impl Evaluator {
        fn evaluate_all(
            &mut self,
            now_ms: i64,
            rules: &[StoredRule],
            points: &[Point],
        ) -> Vec<Change> {
            self.evaluate(now_ms, rules, points, |_, _| true)
        }
    }

    fn cpu(subject: &str, value: f64) -> Point {
        Point::new("host.cpu_percent", subject, value)
    }

    fn kinds(changes: &[Change]) -> Vec<&'static str> {
        changes
            .iter()
            .map(|change| match change.kind {
                ChangeKind::Fired { .. } => "fired",
                ChangeKind::Resolved => "resolved",
            })
            .collect()
    }

    #[test]
    fn an_alert_fires_only_after_the_condition_held_for_its_duration() {
        let rules = [rule(60, None)];
        let mut evaluator = Evaluator::default();
        assert!(
            evaluator
                .evaluate_all(0, &rules, &[cpu("a", 95.0)])
                .is_empty()
        );
        assert!(
            evaluator
                .evaluate_all(30_000, &rules, &[cpu("a", 95.0)])
                .is_empty()
        );
        // A dip below the line restarts the wait.
        assert!(
            evaluator
                .evaluate_all(45_000, &rules, &[cpu("a", 50.0)])
                .is_empty()
        );
        assert!(
            evaluator
                .evaluate_all(60_000, &rules, &[cpu("a", 95.0)])
                .is_empty()
        );
        assert!(
            evaluator
                .evaluate_all(105_000, &rules, &[cpu("a", 95.0)])
                .is_empty()
        );
        let changes = evaluator.evaluate_all(120_000, &rules, &[cpu("a", 95.0)]);
        assert_eq!(kinds(&changes), ["fired"]);
        assert_eq!(changes[0].kind, ChangeKind::Fired { since_ms: 60_000 });
        // Still firing: nothing new to say.
        assert!(
            evaluator
                .evaluate_all(135_000, &rules, &[cpu("a", 99.0)])
                .is_empty()
        );
        assert_eq!(
            kinds(&evaluator.evaluate_all(150_000, &rules, &[cpu("a", 10.0)])),
            ["resolved"]
        );
    }

    #[test]
    fn a_value_oscillating_around_the_threshold_gives_one_alert_with_hysteresis() {
        let rules = [rule(0, Some(70.0))];
        let mut evaluator = Evaluator::default();
        let mut changes = Vec::new();
        for step in 0..100 {
            let value = if step % 2 == 0 { 81.0 } else { 79.0 };
            changes.extend(evaluator.evaluate_all(step * 15_000, &rules, &[cpu("a", value)]));
        }
        assert_eq!(kinds(&changes), ["fired"]);
        changes.extend(evaluator.evaluate_all(100 * 15_000, &rules, &[cpu("a", 65.0)]));
        assert_eq!(kinds(&changes), ["fired", "resolved"]);

        // Without a separate resolve threshold the same values flap.
        let rules = [rule(0, None)];
        let mut evaluator = Evaluator::default();
        let flaps: usize = (0..10)
            .map(|step| {
                let value = if step % 2 == 0 { 81.0 } else { 79.0 };
                evaluator
                    .evaluate_all(step * 15_000, &rules, &[cpu("a", value)])
                    .len()
            })
            .sum();
        assert_eq!(flaps, 10);
    }

    #[test]
    fn each_subject_has_its_own_alert_and_one_no_longer_reported_resolves() {
        let rules = [rule(0, None)];
        let mut evaluator = Evaluator::default();
        let changes =
            evaluator.evaluate_all(0, &rules, &[cpu("a", 90.0), cpu("b", 90.0), cpu("c", 10.0)]);
        assert_eq!(changes.len(), 2);
        let changes = evaluator.evaluate_all(15_000, &rules, &[cpu("a", 90.0)]);
        assert_eq!(kinds(&changes), ["resolved"]);
        assert_eq!(changes[0].key.2, "b");
        assert_eq!(changes[0].value, None);
    }

    #[test]
    fn an_alert_a_person_resolved_stays_quiet_until_it_clears_then_can_fire_again() {
        let rules = [rule(0, None)];
        let mut evaluator = Evaluator::default();
        assert_eq!(
            evaluator.evaluate_all(0, &rules, &[cpu("a", 90.0)]).len(),
            1
        );
        evaluator.hold(key(&rules[0], "a"));
        assert!(
            evaluator
                .evaluate_all(15_000, &rules, &[cpu("a", 90.0)])
                .is_empty()
        );
        assert!(
            evaluator
                .evaluate_all(30_000, &rules, &[cpu("a", 10.0)])
                .is_empty()
        );
        assert_eq!(
            kinds(&evaluator.evaluate_all(45_000, &rules, &[cpu("a", 90.0)])),
            ["fired"]
        );
    }

    #[test]
    fn a_disabled_or_deleted_rule_resolves_its_firing_alerts() {
        let mut rules = vec![rule(0, None)];
        let mut evaluator = Evaluator::default();
        assert_eq!(
            evaluator.evaluate_all(0, &rules, &[cpu("a", 90.0)]).len(),
            1
        );
        rules[0].rule.enabled = false;
        let changes = evaluator.evaluate_all(15_000, &rules, &[cpu("a", 90.0)]);
        assert_eq!(kinds(&changes), ["resolved"]);
        let told = changes[0].rule.as_ref().expect("the rule as it fired");
        assert!(told.rule.enabled, "the rule as it was when the alert fired");
        // Taken up after a restart with its rule gone: resolved, with no rule to tell.
        let mut evaluator = Evaluator::default();
        evaluator.restore_firing(key(&rules[0], "a"));
        let changes = evaluator.evaluate_all(30_000, &[], &[cpu("a", 90.0)]);
        assert_eq!(kinds(&changes), ["resolved"]);
        assert!(changes[0].rule.is_none());
    }
}
