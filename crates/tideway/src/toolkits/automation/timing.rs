//! When a schedule is due: a cron expression in a time zone (5 fields, or 6 with
//! seconds first; parsed by `croner`, which resolves daylight-saving gaps and overlaps
//! the way cron always has) or a fixed interval from the schedule's creation. And the
//! pure rule for a schedule found due: which due times to fire under its misfire
//! policy, and when it is next due. No clock is read here; callers pass `now`.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{HubError, error::excerpt};
use utoipa::ToSchema;

/// When a schedule is due, as it is stored and given: `cron` (with an optional
/// `time_zone`, UTC by default) or `every_secs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6
    /// with seconds first; names (MON, JAN), ranges, steps, `L`, `#` and `@daily`
    /// style nicknames are understood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone the cron expression is read in (`Europe/Paris`); UTC by
    /// default. Across daylight-saving changes a fixed time runs once a day: a time
    /// the clock skips runs when the clock resumes, a time it repeats runs once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A fixed interval in seconds, counted from when the schedule was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
}

/// What to do with due times that passed while no server could fire them (it was
/// down, or the schedule was paused).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Fire nothing for them; go on from the next due time.
    Skip,
    /// Fire once for all of them together.
    #[default]
    RunOnce,
    /// Fire once for each, the latest ones up to the server's cap.
    RunAll,
}

impl Misfire {
    pub fn as_str(self) -> &'static str {
        match self {
            Misfire::Skip => "skip",
            Misfire::RunOnce => "run_once",
            Misfire::RunAll => "run_all",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "skip" => Some(Misfire::Skip),
            "run_once" => Some(Misfire::RunOnce),
            "run_all" => Some(Misfire::RunAll),
            _ => None,
        }
    }
}

/// A checked timing.
#[derive(Clone, Debug)]
pub enum Timing {
    Cron { cron: Box<Cron>, zone: Tz },
    Every { every_ms: i64, anchor_ms: i64 },
}

/// How far ahead a cron expression's next due time is looked for.
const LONGEST_SEARCH_YEARS: i32 = 5;

impl Timing {
    /// Reads a spec; an interval counts from `anchor_ms`. The error names the field.
    pub fn parse(
        spec: &TimingSpec,
        anchor_ms: i64,
        min_interval_secs: u64,
    ) -> Result<Self, HubError> {
        match (&spec.cron, spec.every_secs) {
            (Some(_), Some(_)) => Err(HubError::invalid_argument(
                "timing",
                "give either cron or every_secs, not both",
            )),
            (None, None) => Err(HubError::invalid_argument(
                "timing",
                "give cron (with an optional time_zone) or every_secs",
            )),
            (None, Some(secs)) => {
                if spec.time_zone.is_some() {
                    return Err(HubError::invalid_argument(
                        "timing.time_zone",
                        "applies to cron only; an interval is the same in every zone",
                    ));
                }
                if secs < min_interval_secs || secs > 366 * 86_400 {
                    return Err(HubError::invalid_argument(
                        "timing.every_secs",
                        format!("must be between {min_interval_secs} and 31622400 seconds"),
                    ));
                }
                Ok(Timing::Every {
                    every_ms: (secs * 1000) as i64,
                    anchor_ms,
                })
            }
            (Some(expression), None) => {
                let zone = match &spec.time_zone {
                    None => Tz::UTC,
                    Some(name) => name.parse::<Tz>().map_err(|_| {
                        HubError::invalid_argument(
                            "timing.time_zone",
                            format!(
                                "'{}' is not an IANA time zone (such as Europe/Paris or UTC)",
                                excerpt(name)
                            ),
                        )
                    })?,
                };
                let fields = expression.split_whitespace().count();
                if !expression.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
                    return Err(HubError::invalid_argument(
                        "timing.cron",
                        format!("has {fields} fields; give 5 (minute first) or 6 (seconds first)"),
                    ));
                }
                let cron = CronParser::builder()
                    .seconds(Seconds::Optional)
                    .year(Year::Disallowed)
                    .build()
                    .parse(expression)
                    .map_err(|error| {
                        HubError::invalid_argument(
                            "timing.cron",
                            format!(
                                "'{}' is not a cron expression: {error}",
                                excerpt(expression)
                            ),
                        )
                    })?;
                let timing = Timing::Cron {
                    cron: Box::new(cron),
                    zone,
                };
                // A pattern that never matches (30 February) is refused now rather
                // than by a schedule that never fires.
                if timing.next_after(anchor_ms).is_none() {
                    return Err(HubError::invalid_argument(
                        "timing.cron",
                        format!(
                            "'{}' matches no time in the next {LONGEST_SEARCH_YEARS} years",
                            excerpt(expression)
                        ),
                    ));
                }
                if let Some(secs) = timing.shortest_gap(anchor_ms)
                    && secs < min_interval_secs as i64
                {
                    return Err(HubError::invalid_argument(
                        "timing.cron",
                        format!(
                            "fires every {secs} s; this server allows one firing per {min_interval_secs} s at most"
                        ),
                    ));
                }
                Ok(timing)
            }
        }
    }

    /// The first due time strictly after `after_ms`, if there is one within the
    /// search horizon.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Timing::Every {
                every_ms,
                anchor_ms,
            } => {
                if after_ms < *anchor_ms {
                    return Some(*anchor_ms);
                }
                let steps = (after_ms - anchor_ms) / every_ms + 1;
                anchor_ms.checked_add(steps.checked_mul(*every_ms)?)
            }
            Timing::Cron { cron, zone } => {
                let after = zone.timestamp_millis_opt(after_ms).single()?;
                let next = cron.find_next_occurrence(&after, false).ok()?;
                let horizon = after_ms + i64::from(LONGEST_SEARCH_YEARS) * 366 * 86_400_000;
                let next_ms = next.timestamp_millis();
                (next_ms <= horizon).then_some(next_ms)
            }
        }
    }

    /// The shortest gap in seconds between the next few due times, to hold a cron
    /// expression to the server's minimum interval.
    fn shortest_gap(&self, from_ms: i64) -> Option<i64> {
        let mut previous = self.next_after(from_ms)?;
        let mut shortest: Option<i64> = None;
        for _ in 0..4 {
            let next = self.next_after(previous)?;
            let gap = (next - previous) / 1000;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            previous = next;
        }
        shortest
    }
}

/// What a due schedule does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The due times to fire, oldest first.
    pub fire: Vec<i64>,
    /// Due times passed over (misfires the policy does not run).
    pub passed_over: u64,
    /// When it is next due; `None` when it never will be.
    pub next_due: Option<i64>,
}

/// The due times from `due_ms` up to `now_ms` and what to do about them. A due time
/// older than `grace_ms` was missed (no server could fire it in time); the policy
/// decides those. On-time ones always fire, the latest first if there are several
/// (a server that fell behind by a few polls catches up on those).
pub fn plan(
    timing: &Timing,
    due_ms: i64,
    now_ms: i64,
    misfire: Misfire,
    cap: usize,
    grace_ms: i64,
) -> Plan {
    // Walking every missed second of a long outage would be slow; past the cap and
    // the on-time window only the count matters, and `run_all` keeps the latest.
    const WALK_LIMIT: usize = 100_000;
    let mut missed = std::collections::VecDeque::new();
    let mut on_time = Vec::new();
    let mut passed_over = 0u64;
    let mut at = Some(due_ms);
    let mut walked = 0usize;
    while let Some(time) = at
        && time <= now_ms
    {
        if now_ms - time > grace_ms {
            missed.push_back(time);
            if missed.len() > cap.max(1) {
                missed.pop_front();
                passed_over += 1;
            }
        } else {
            on_time.push(time);
        }
        walked += 1;
        if walked == WALK_LIMIT && now_ms - time > grace_ms {
            // Jump to the on-time window rather than walk the rest one by one; the
            // times jumped over count as one passed over.
            passed_over += 1;
            at = timing.next_after(now_ms - grace_ms - 1);
            continue;
        }
        at = timing.next_after(time);
    }
    let next_due = match at {
        Some(time) if time > now_ms => Some(time),
        _ => timing.next_after(now_ms),
    };
    let mut fire = Vec::new();
    match misfire {
        Misfire::Skip => passed_over += missed.len() as u64,
        Misfire::RunOnce => {
            if on_time.is_empty()
                && let Some(last) = missed.back()
            {
                fire.push(*last);
            }
            passed_over += missed.len().saturating_sub(1) as u64;
            if !on_time.is_empty() {
                passed_over += 1;
            }
        }
        Misfire::RunAll => fire.extend(missed.iter().copied()),
    }
    fire.extend(on_time);
    if misfire == Misfire::RunAll && fire.len() > cap {
        passed_over += (fire.len() - cap) as u64;
        fire.drain(..fire.len() - cap);
    }
    Plan {
        fire,
        passed_over,
        next_due,
    }
}

/// Milliseconds since the epoch as a UTC time, for showing.
pub fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}
