//! Prometheus metrics for the call path: calls, errors and latency per toolkit and
//! tool, and audit records dropped. One registry per Hub (not a global), so tests and embedded uses stay separate.
//! Beside the registry, a running tally per tool (calls, failures, latency buckets)
//! that the monitor reads as numbers: the Prometheus types only encode themselves.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::{Metric, Registry},
};

/// Upper bounds of the latency buckets in seconds: 100 µs to ~100 s, which covers an
/// in-memory tool and a slow upstream alike. The last bucket has no upper bound.
pub const LATENCY_BOUNDS_SECONDS: [f64; 16] = {
    let mut bounds = [0.0001; 16];
    let mut i = 1;
    while i < 16 {
        bounds[i] = bounds[i - 1] * 2.5;
        i += 1;
    }
    bounds
};

/// One tool's calls since the process started: counts only grow, so a reader takes
/// the difference between two readings.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    failures: AtomicU64,
    /// One more than the bounds: the last counts calls slower than every bound.
    buckets: [AtomicU64; LATENCY_BOUNDS_SECONDS.len() + 1],
}

/// A tool's tally as read at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCounts {
    pub toolkit: String,
    pub tool: String,
    pub calls: u64,
    /// Calls that did not end `ok` (a tool's own error result included).
    pub failures: u64,
    /// Calls per latency bucket (`LATENCY_BOUNDS_SECONDS`, then the overflow).
    pub buckets: Vec<u64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub toolkit: String,
    pub tool: String,
    /// `ok`, `tool_error` (the tool reported a failure) or an error kind.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub toolkit: String,
    pub tool: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    latency: Family<ToolLabels, Histogram>,
    audit_dropped: Counter,
    /// Read-mostly: a tool's entry is made on its first call, then only its atomics
    /// change, so calls take the read lock and never wait on each other.
    tallies: RwLock<HashMap<ToolLabels, Arc<Tally>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tideway");
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Family::<ToolLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BOUNDS_SECONDS)
        });
        registry.register(
            "tool_calls",
            "Tool calls through the Hub, by outcome",
            calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Tool call latency through the Hub",
            latency.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_records_dropped",
            "Audit records dropped because the writer's queue was full (the store could not keep up)",
            audit_dropped.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            calls,
            latency,
            audit_dropped,
            tallies: RwLock::new(HashMap::new()),
        }
    }

    /// Adds a metric of another part of the program (the monitor's gauges) to what
    /// `/metrics` serves.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        let mut registry = match self.registry.lock() {
            Ok(registry) => registry,
            Err(poisoned) => poisoned.into_inner(),
        };
        registry.register(name, help, metric);
    }

    /// Every tool's tally now.
    pub fn tool_counts(&self) -> Vec<ToolCounts> {
        let tallies = match self.tallies.read() {
            Ok(tallies) => tallies,
            Err(poisoned) => poisoned.into_inner(),
        };
        tallies
            .iter()
            .map(|(labels, tally)| ToolCounts {
                toolkit: labels.toolkit.clone(),
                tool: labels.tool.clone(),
                calls: tally.calls.load(Ordering::Relaxed),
                failures: tally.failures.load(Ordering::Relaxed),
                buckets: tally
                    .buckets
                    .iter()
                    .map(|bucket| bucket.load(Ordering::Relaxed))
                    .collect(),
            })
            .collect()
    }

    fn tally(&self, labels: ToolLabels) -> Arc<Tally> {
        if let Some(tally) = self
            .tallies
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&labels)
        {
            return tally.clone();
        }
        self.tallies
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(labels)
            .or_default()
            .clone()
    }

    /// The counter the audit writer increments for each record it had to drop.
    pub fn audit_dropped(&self) -> Counter {
        self.audit_dropped.clone()
    }

    pub fn record_call(&self, toolkit: &str, tool: &str, outcome: &str, seconds: f64) {
        self.calls
            .get_or_create(&CallLabels {
                toolkit: toolkit.to_string(),
                tool: tool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        let labels = ToolLabels {
            toolkit: toolkit.to_string(),
            tool: tool.to_string(),
        };
        self.latency.get_or_create(&labels).observe(seconds);
        let tally = self.tally(labels);
        tally.calls.fetch_add(1, Ordering::Relaxed);
        if outcome != "ok" {
            tally.failures.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = LATENCY_BOUNDS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS_SECONDS.len());
        tally.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = match self.registry.lock() {
            Ok(registry) => registry,
            Err(poisoned) => poisoned.into_inner(),
        };
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_keeps_its_calls_failures_and_latency_buckets() {
        let metrics = Metrics::new();
        metrics.record_call("support", "get_ticket", "ok", 0.00005);
        metrics.record_call("support", "get_ticket", "tool_error", 0.2);
        metrics.record_call("support", "get_ticket", "ok", 1000.0);
        metrics.record_call("system", "echo", "deadline_exceeded", 0.0002);
        let mut counts = metrics.tool_counts();
        counts.sort_by(|a, b| a.tool.cmp(&b.tool));
        assert_eq!(counts.len(), 2);
        let echo = &counts[0];
        assert_eq!((echo.calls, echo.failures), (1, 1));
        assert_eq!(echo.buckets[1], 1, "200 µs is in the bucket up to 250 µs");
        let ticket = &counts[1];
        assert_eq!((ticket.calls, ticket.failures), (3, 1));
        assert_eq!(ticket.buckets.len(), LATENCY_BOUNDS_SECONDS.len() + 1);
        assert_eq!(ticket.buckets[0], 1);
        assert_eq!(
            ticket.buckets[LATENCY_BOUNDS_SECONDS.len()],
            1,
            "slower than every bound"
        );
        assert_eq!(ticket.buckets.iter().sum::<u64>(), 3);
        // The histogram on /metrics has the same bounds.
        assert!(metrics.render().contains("le=\"0.00025\""));
    }
}
