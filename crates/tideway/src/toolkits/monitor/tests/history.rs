//! History stays bounded: a simulated month of samples, rolled up and deleted as the
//! background loop does, leaves about a day of raw samples, a week of minutes and a
//! month of hours, and the hourly means are the means of the samples they replaced.

use tideway_core::store::testing::test_stores;

use crate::toolkits::monitor::{
    series::{Point, Series},
    settings::MonitorConfig,
};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

#[tokio::test]
async fn a_simulated_month_keeps_a_day_raw_a_week_of_minutes_and_hourly_means_that_are_right() {
    for test in test_stores().await {
        crate::toolkits::testing::prepare_store(&test.store, &[]).await;
        let series = Series::new(test.store.clone(), "sim".into());
        let retention = MonitorConfig::default().retention_ms();
        // A month back from a whole hour, one sample every 5 minutes, two metrics;
        // each sample's value is its minute of the day, so an hour's mean is known.
        let start = (chrono::Utc::now().timestamp_millis() / HOUR) * HOUR - 30 * DAY;
        let mut at = start;
        let end = start + 30 * DAY;
        while at < end {
            let minute_of_day = ((at % DAY) / MINUTE) as f64;
            series
                .record(
                    at,
                    &[
                        Point::new("host.cpu_percent", "sim", minute_of_day),
                        Point::new("host.memory_percent", "sim", 50.0),
                    ],
                )
                .await
                .expect("recorded");
            at += 5 * MINUTE;
            if at % HOUR == 0 {
                series.roll_up(at).await.expect("rolled up");
                series.prune(at, &retention).await.expect("pruned");
            }
        }
        let rows: std::collections::HashMap<i64, i64> =
            series.rows().await.expect("rows").into_iter().collect();
        // Raw: the last 24 h at 12 samples an hour, 2 metrics.
        let raw = rows.get(&0).copied().unwrap_or(0);
        assert!((2 * 12 * 24..=2 * 12 * 25).contains(&raw), "{rows:?}");
        // Minutes: 7 days of minutes that had samples (every fifth), 2 metrics.
        let minutes = rows.get(&60).copied().unwrap_or(0);
        assert!(
            (2 * 12 * 24 * 7..=2 * 12 * 24 * 7 + 48).contains(&minutes),
            "{rows:?}"
        );
        // Hours: the whole month, within the 90 days they are kept.
        let hours = rows.get(&3600).copied().unwrap_or(0);
        assert!((2 * 24 * 30 - 4..=2 * 24 * 30).contains(&hours), "{rows:?}");

        // The hour from 10:00 has samples at minutes 600, 605, ..., 655.
        let ten = (start / DAY) * DAY + 2 * DAY + 10 * HOUR;
        let hourly = series
            .summarize(&["host.cpu_percent"], Some("sim"), 3600, (ten, ten + HOUR))
            .await
            .expect("summary");
        assert_eq!(hourly.len(), 1);
        assert!((hourly[0].mean - 627.5).abs() < 1e-6, "{hourly:?}");
        assert_eq!((hourly[0].min, hourly[0].max), (600.0, 655.0));
        assert_eq!(hourly[0].samples, 12);
    }
}
