//! The monitor's latest figures as Prometheus gauges on `/metrics`: host CPU and
//! memory, the process's resident memory, each component's state and latency, and
//! how many alerts are firing.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{family::Family, gauge::Gauge},
};
use tideway_core::metrics::Metrics;

use super::{components, host, series::Point};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Default)]
pub struct Gauges {
    cpu: FloatGauge,
    memory: FloatGauge,
    rss: FloatGauge,
    up: Family<ComponentLabels, FloatGauge>,
    latency: Family<ComponentLabels, FloatGauge>,
    firing: Gauge,
}

impl Gauges {
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "host_cpu_percent",
            "Host CPU use, in percent",
            self.cpu.clone(),
        );
        metrics.register(
            "host_memory_percent",
            "Host memory in use, in percent",
            self.memory.clone(),
        );
        metrics.register(
            "process_resident_memory_bytes",
            "This process's resident memory",
            self.rss.clone(),
        );
        metrics.register(
            "component_up",
            "Each component's state at its last check: 1 healthy, 0.5 degraded, 0 down",
            self.up.clone(),
        );
        metrics.register(
            "component_check_latency_milliseconds",
            "Each component's health check latency",
            self.latency.clone(),
        );
        metrics.register(
            "alerts_firing",
            "Alerts firing, every tenant's",
            self.firing.clone(),
        );
    }

    pub fn update(&self, points: &[Point]) {
        for point in points {
            match point.metric.as_str() {
                host::metrics::CPU => {
                    self.cpu.set(point.value);
                }
                host::metrics::MEMORY => {
                    self.memory.set(point.value);
                }
                host::metrics::PROCESS_RSS => {
                    self.rss.set(point.value);
                }
                components::metrics::UP => {
                    self.up
                        .get_or_create(&labels(&point.subject))
                        .set(point.value);
                }
                components::metrics::LATENCY => {
                    self.latency
                        .get_or_create(&labels(&point.subject))
                        .set(point.value);
                }
                _ => {}
            }
        }
    }

    pub fn alerts_firing(&self, count: usize) {
        self.firing.set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

fn labels(component: &str) -> ComponentLabels {
    ComponentLabels {
        component: component.to_string(),
    }
}
