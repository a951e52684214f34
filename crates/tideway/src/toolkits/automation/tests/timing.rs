//! When schedules are due: cron in a time zone (both daylight-saving changes),
//! intervals, and what a due schedule fires under each misfire policy, all under a
//! clock the test sets.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::toolkits::automation::timing::{Misfire, Timing, TimingSpec, plan};

fn cron(expression: &str, zone: &str) -> Timing {
    Timing::parse(
        &TimingSpec {
            cron: Some(expression.into()),
            time_zone: Some(zone.into()),
            every_secs: None,
        },
        0,
        1,
    )
    .expect("a cron timing")
}

fn every(secs: u64, anchor_ms: i64) -> Timing {
    Timing::parse(
        &TimingSpec {
            every_secs: Some(secs),
            ..TimingSpec::default()
        },
        anchor_ms,
        1,
    )
    .expect("an interval")
}

fn ms(zone: Tz, (y, mo, d, h, mi): (i32, u32, u32, u32, u32)) -> i64 {
    zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("a local time")
        .timestamp_millis()
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a time")
}

/// The due times from `from` (exclusive) up to `to` (inclusive).
fn due_between(timing: &Timing, from: i64, to: i64) -> Vec<DateTime<Utc>> {
    let mut times = Vec::new();
    let mut at = timing.next_after(from);
    while let Some(time) = at
        && time <= to
    {
        times.push(utc(time));
        at = timing.next_after(time);
    }
    times
}

#[test]
fn five_and_six_field_expressions_are_read_in_their_zone() {
    let paris: Tz = "Europe/Paris".parse().expect("zone");
    let nine = cron("0 9 * * MON-FRI", "Europe/Paris");
    // Friday 2027-01-08 10:00 Paris: next is Monday 09:00 Paris (08:00 UTC).
    let next = nine
        .next_after(ms(paris, (2027, 1, 8, 10, 0)))
        .expect("next");
    assert_eq!(utc(next).to_rfc3339(), "2027-01-11T08:00:00+00:00");
    let seconds = cron("*/15 * * * * *", "UTC");
    let start = ms(Tz::UTC, (2027, 1, 1, 0, 0));
    assert_eq!(seconds.next_after(start), Some(start + 15_000));
}

#[test]
fn spring_forward_runs_a_skipped_time_once_when_the_clock_resumes() {
    // 2027-03-14 in New York: 02:00 jumps to 03:00, so 02:30 does not exist.
    let york: Tz = "America/New_York".parse().expect("zone");
    let daily = cron("30 2 * * *", "America/New_York");
    let times = due_between(
        &daily,
        ms(york, (2027, 3, 13, 0, 0)),
        ms(york, (2027, 3, 16, 0, 0)),
    );
    let local: Vec<String> = times
        .iter()
        .map(|time| time.with_timezone(&york).format("%m-%d %H:%M").to_string())
        .collect();
    assert_eq!(
        local,
        ["03-13 02:30", "03-14 03:00", "03-15 02:30"],
        "one run a day, the skipped one when the clock resumes"
    );
}

#[test]
fn fall_back_runs_a_repeated_time_once() {
    // 2027-11-07 in New York: 02:00 goes back to 01:00, so 01:30 happens twice.
    let york: Tz = "America/New_York".parse().expect("zone");
    let daily = cron("30 1 * * *", "America/New_York");
    let times = due_between(
        &daily,
        ms(york, (2027, 11, 6, 0, 0)),
        ms(york, (2027, 11, 9, 0, 0)),
    );
    assert_eq!(times.len(), 3, "one run a day: {times:?}");
    let on_the_day: Vec<String> = times
        .iter()
        .map(|time| {
            time.with_timezone(&york)
                .format("%m-%d %H:%M %Z")
                .to_string()
        })
        .collect();
    assert_eq!(on_the_day[1], "11-07 01:30 EDT", "the first 01:30 only");
    // An hourly expression keeps its real-time rhythm through the repeated hour:
    // four runs between 00:00 EDT and 02:00 EST, one an hour.
    let hourly = cron("0 * * * *", "America/New_York");
    let start = ms(york, (2027, 11, 7, 0, 0));
    let hourly_times = due_between(&hourly, start - 1, start + 3 * 3_600_000);
    assert_eq!(hourly_times.len(), 4, "{hourly_times:?}");
    for pair in hourly_times.windows(2) {
        assert_eq!((pair[1] - pair[0]).num_minutes(), 60, "{hourly_times:?}");
    }
}

#[test]
fn intervals_count_from_their_anchor() {
    let timing = every(60, 1_000);
    assert_eq!(timing.next_after(1_000), Some(61_000));
    assert_eq!(timing.next_after(60_999), Some(61_000));
    assert_eq!(timing.next_after(61_000), Some(121_000));
}

#[test]
fn bad_timings_are_refused_naming_the_field() {
    let refused = |spec: TimingSpec, field: &str| {
        let error = Timing::parse(&spec, 0, 60).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains(field), "{field}: {text}");
    };
    refused(
        TimingSpec {
            cron: Some("* * *".into()),
            ..TimingSpec::default()
        },
        "timing.cron",
    );
    refused(
        TimingSpec {
            cron: Some("0 0 30 2 *".into()),
            ..TimingSpec::default()
        },
        "timing.cron",
    );
    refused(
        TimingSpec {
            cron: Some("0 9 * * *".into()),
            time_zone: Some("Mars/Olympus".into()),
            ..TimingSpec::default()
        },
        "timing.time_zone",
    );
    refused(
        TimingSpec {
            every_secs: Some(5),
            ..TimingSpec::default()
        },
        "timing.every_secs",
    );
    // Every second is more often than the server's 60 s minimum here.
    refused(
        TimingSpec {
            cron: Some("* * * * * *".into()),
            ..TimingSpec::default()
        },
        "timing.cron",
    );
    refused(TimingSpec::default(), "timing");
}

#[test]
fn an_on_time_due_time_fires_once_and_moves_on() {
    let timing = every(60, 0);
    let planned = plan(&timing, 60_000, 60_200, Misfire::Skip, 10, 5_000);
    assert_eq!(planned.fire, [60_000]);
    assert_eq!(planned.next_due, Some(120_000));
    assert_eq!(planned.passed_over, 0);
}

#[test]
fn missed_times_follow_the_misfire_policy() {
    let timing = every(60, 0);
    // Down from just before 60 s until 10 min 30 s: due times 60 s … 600 s missed.
    let now = 630_000;
    let skip = plan(&timing, 60_000, now, Misfire::Skip, 3, 5_000);
    assert!(skip.fire.is_empty(), "{skip:?}");
    assert_eq!(skip.passed_over, 10);
    assert_eq!(skip.next_due, Some(660_000));

    let once = plan(&timing, 60_000, now, Misfire::RunOnce, 3, 5_000);
    assert_eq!(once.fire, [600_000], "the latest missed time, once");
    assert_eq!(once.passed_over, 9);

    let all = plan(&timing, 60_000, now, Misfire::RunAll, 3, 5_000);
    assert_eq!(
        all.fire,
        [480_000, 540_000, 600_000],
        "the latest, up to the cap"
    );
    assert_eq!(all.passed_over, 7);
    assert_eq!(all.next_due, Some(660_000));
}

#[test]
fn a_long_outage_is_not_walked_second_by_second() {
    let timing = every(1, 0);
    // A year of one-second due times missed.
    let now = 366 * 86_400_000;
    let planned = plan(&timing, 1_000, now, Misfire::RunAll, 5, 5_000);
    assert_eq!(planned.fire.len(), 5, "{:?}", planned.fire);
    assert!(planned.fire.iter().all(|due| *due <= now));
    assert!(planned.next_due.is_some_and(|next| next > now));
}
