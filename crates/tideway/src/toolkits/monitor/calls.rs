//! Tool calls as rates: the Hub keeps running totals per tool (calls, failures,
//! latency buckets); between two readings the difference gives calls per second,
//! the error ratio and latency percentiles over that interval, per tool and for all
//! tools together (subject `all`).

use std::collections::HashMap;

use tideway_core::metrics::{LATENCY_BOUNDS_SECONDS, ToolCounts};

use super::series::Point;

pub mod metrics {
    pub const RATE: &str = "tool.calls_per_s";
    pub const ERROR_RATIO: &str = "tool.error_ratio";
    pub const P50: &str = "tool.latency_p50_ms";
    pub const P95: &str = "tool.latency_p95_ms";
    pub const P99: &str = "tool.latency_p99_ms";
}

/// The subject of the figures over every tool.
pub const ALL: &str = "all";

#[derive(Default)]
pub struct CallReader {
    previous: HashMap<(String, String), ToolCounts>,
}

impl CallReader {
    /// The figures since the last reading. The first reading only sets the baseline,
    /// so calls made before the monitor started are not counted into one interval.
    pub fn read(&mut self, now: Vec<ToolCounts>, elapsed_secs: f64) -> Vec<Point> {
        let first = self.previous.is_empty() && !now.is_empty();
        let elapsed = elapsed_secs.max(0.001);
        let mut points = Vec::new();
        let mut all = Delta::default();
        for counts in now {
            let key = (counts.toolkit.clone(), counts.tool.clone());
            let delta = match self.previous.get(&key) {
                Some(before) => Delta::between(before, &counts),
                None if first => Delta::default(),
                None => Delta::between(&none_like(&counts), &counts),
            };
            self.previous.insert(key, counts);
            if delta.calls == 0 {
                continue;
            }
            all.add(&delta);
            points.extend(delta.points(&delta.subject, elapsed));
        }
        if all.calls == 0 {
            points.push(Point::new(metrics::RATE, ALL, 0.0));
            points.push(Point::new(metrics::ERROR_RATIO, ALL, 0.0));
        } else {
            points.extend(all.points(ALL, elapsed));
        }
        points
    }
}

/// Calls in one interval.
#[derive(Default)]
struct Delta {
    subject: String,
    calls: u64,
    failures: u64,
    buckets: Vec<u64>,
}

impl Delta {
    fn between(before: &ToolCounts, now: &ToolCounts) -> Delta {
        Delta {
            subject: format!("{}/{}", now.toolkit, now.tool),
            calls: now.calls.saturating_sub(before.calls),
            failures: now.failures.saturating_sub(before.failures),
            buckets: now
                .buckets
                .iter()
                .zip(before.buckets.iter().chain(std::iter::repeat(&0)))
                .map(|(now, before)| now.saturating_sub(*before))
                .collect(),
        }
    }

    fn add(&mut self, other: &Delta) {
        self.calls += other.calls;
        self.failures += other.failures;
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (sum, count) in self.buckets.iter_mut().zip(&other.buckets) {
            *sum += count;
        }
    }

    fn points(&self, subject: &str, elapsed: f64) -> Vec<Point> {
        let mut points = vec![
            Point::new(metrics::RATE, subject, self.calls as f64 / elapsed),
            Point::new(
                metrics::ERROR_RATIO,
                subject,
                self.failures as f64 / self.calls.max(1) as f64,
            ),
        ];
        for (metric, quantile) in [
            (metrics::P50, 0.5),
            (metrics::P95, 0.95),
            (metrics::P99, 0.99),
        ] {
            if let Some(seconds) = quantile_seconds(&self.buckets, quantile) {
                points.push(Point::new(metric, subject, seconds * 1000.0));
            }
        }
        points
    }
}

/// No calls yet, for a tool first seen after the baseline.
fn none_like(like: &ToolCounts) -> ToolCounts {
    ToolCounts {
        toolkit: like.toolkit.clone(),
        tool: like.tool.clone(),
        calls: 0,
        failures: 0,
        buckets: vec![0; like.buckets.len()],
    }
}

/// The `quantile` of calls counted per latency bucket, interpolated linearly inside
/// its bucket (as Prometheus' `histogram_quantile` does). Calls slower than the last
/// bound are reported at that bound: the figure is then a floor.
pub fn quantile_seconds(buckets: &[u64], quantile: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = quantile.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    for (index, count) in buckets.iter().enumerate() {
        if *count > 0 && (below + count) as f64 >= rank {
            let Some(upper) = LATENCY_BOUNDS_SECONDS.get(index) else {
                return LATENCY_BOUNDS_SECONDS.last().copied();
            };
            let lower = if index == 0 {
                0.0
            } else {
                LATENCY_BOUNDS_SECONDS[index - 1]
            };
            let within = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    LATENCY_BOUNDS_SECONDS.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(tool: &str, calls: u64, failures: u64, slow: u64) -> ToolCounts {
        let mut buckets = vec![0; LATENCY_BOUNDS_SECONDS.len() + 1];
        // Fast calls in the first bucket (up to 100 µs), slow ones in the one up to
        // about 6.1 s (0.0001 × 2.5¹²).
        buckets[0] = calls - slow;
        buckets[12] = slow;
        ToolCounts {
            toolkit: "support".into(),
            tool: tool.into(),
            calls,
            failures,
            buckets,
        }
    }

    fn value(points: &[Point], metric: &str, subject: &str) -> Option<f64> {
        points
            .iter()
            .find(|point| point.metric == metric && point.subject == subject)
            .map(|point| point.value)
    }

    #[test]
    fn rates_ratios_and_percentiles_come_from_the_interval_only() {
        let mut reader = CallReader::default();
        // The baseline: 1,000 calls made before the monitor looked.
        let points = reader.read(vec![counts("get_ticket", 1000, 500, 0)], 10.0);
        assert_eq!(value(&points, metrics::RATE, ALL), Some(0.0));
        assert_eq!(value(&points, metrics::RATE, "support/get_ticket"), None);

        // 100 more calls in 10 s, 10 failed, 2 slow.
        let points = reader.read(vec![counts("get_ticket", 1100, 510, 2)], 10.0);
        assert_eq!(
            value(&points, metrics::RATE, "support/get_ticket"),
            Some(10.0)
        );
        assert_eq!(
            value(&points, metrics::ERROR_RATIO, "support/get_ticket"),
            Some(0.1)
        );
        let p50 = value(&points, metrics::P50, ALL).expect("p50");
        assert!(p50 <= 0.1, "{p50}");
        let p99 = value(&points, metrics::P99, ALL).expect("p99");
        assert!(p99 > 2440.0 && p99 <= 6104.0, "{p99}");

        // A tool first called after the baseline counts from zero.
        let points = reader.read(
            vec![
                counts("get_ticket", 1100, 510, 2),
                counts("search", 5, 0, 0),
            ],
            5.0,
        );
        assert_eq!(value(&points, metrics::RATE, "support/search"), Some(1.0));
        assert_eq!(value(&points, metrics::RATE, "support/get_ticket"), None);
        assert_eq!(value(&points, metrics::RATE, ALL), Some(1.0));
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket_and_stop_at_the_last_bound() {
        let mut buckets = vec![0; LATENCY_BOUNDS_SECONDS.len() + 1];
        buckets[1] = 10;
        // Half of the calls in the bucket from 100 µs to 250 µs: its middle.
        let median = quantile_seconds(&buckets, 0.5).expect("median");
        assert!((median - 0.000175).abs() < 1e-9, "{median}");
        let mut overflow = vec![0; LATENCY_BOUNDS_SECONDS.len() + 1];
        overflow[LATENCY_BOUNDS_SECONDS.len()] = 3;
        assert_eq!(
            quantile_seconds(&overflow, 0.99),
            LATENCY_BOUNDS_SECONDS.last().copied()
        );
        assert_eq!(quantile_seconds(&[0, 0], 0.5), None);
    }
}
