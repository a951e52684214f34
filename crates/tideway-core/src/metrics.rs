//! Prometheus metrics for the call path: calls, errors and latency per toolkit and
//! tool, and audit records dropped. One registry per Hub (not a global), so tests and embedded uses stay separate.

use std::sync::Mutex;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

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
            // 100 µs to ~100 s: covers an in-memory tool and a slow upstream alike.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 2.5, 16,
            ))
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
        }
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
        self.latency
            .get_or_create(&ToolLabels {
                toolkit: toolkit.to_string(),
                tool: tool.to_string(),
            })
            .observe(seconds);
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
