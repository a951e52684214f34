//! The documents the monitor answers with: the health report (components and the
//! latest system figures), performance trends against the previous window,
//! availability per component against the target, one metric as a chart-ready
//! series, and the complete status of the server.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tideway_core::{CallContext, HubError};
use utoipa::ToSchema;

use super::{
    alerts::round,
    availability::{Uptime, uptime},
    calls,
    components::{self, ComponentState},
    host,
    rules::METRICS,
    series::{Summary, resolution_for},
    service::{Monitor, now_ms},
    visibility::Visibility,
};

/// A window as people write it: `15m`, `1h`, `24h`, `7d`, `30d`, or seconds.
pub fn window_ms(text: Option<&str>, default: &str) -> Result<i64, HubError> {
    let text = text.unwrap_or(default).trim();
    let invalid = || {
        HubError::invalid_argument(
            "window",
            format!(
                "'{}' is not a window; write it as 15m, 1h, 24h, 7d, 30d or a number of seconds",
                tideway_core::error::excerpt(text)
            ),
        )
    };
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        's' => number,
        'm' => number * 60,
        'h' => number * 3600,
        'd' => number * 86_400,
        _ => return Err(invalid()),
    };
    if !(60..=366 * 86_400).contains(&seconds) {
        return Err(HubError::invalid_argument(
            "window",
            "must be between 1 minute and 366 days",
        ));
    }
    Ok(seconds * 1000)
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Disk {
    pub mount: String,
    pub used_percent: f64,
}

#[derive(Serialize, JsonSchema, ToSchema, Default)]
pub struct SystemFigures {
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    pub disks: Vec<Disk>,
    pub disk_read_bytes_per_s: Option<f64>,
    pub disk_write_bytes_per_s: Option<f64>,
    pub network_rx_bytes_per_s: Option<f64>,
    pub network_tx_bytes_per_s: Option<f64>,
    /// Percent of one core.
    pub process_cpu_percent: Option<f64>,
    pub process_rss_bytes: Option<f64>,
    pub process_open_files: Option<f64>,
    pub process_threads: Option<f64>,
    pub process_tasks: Option<f64>,
    /// Tool calls per second over the last interval, every tool.
    pub calls_per_s: Option<f64>,
    pub error_ratio: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub sampled_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ComponentView {
    /// `store`, a toolkit's name, or `{toolkit}/{tenant}/{part}` for a part.
    pub name: String,
    /// `store`, `toolkit`, or a part's kind: `source`, `cluster`, `account`,
    /// `provider`, `agent`.
    pub kind: String,
    /// `healthy`, `degraded` or `down`.
    pub status: String,
    pub latency_ms: Option<f64>,
    pub last_error: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
}

impl From<ComponentState> for ComponentView {
    fn from(state: ComponentState) -> Self {
        ComponentView {
            name: state.name,
            kind: state.kind.to_string(),
            status: state.status.to_string(),
            latency_ms: state.latency_ms.map(round),
            last_error: state.last_error,
            since: DateTime::from_timestamp_millis(state.since_ms),
            checked_at: DateTime::from_timestamp_millis(state.checked_ms),
        }
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AlertCounts {
    pub firing: usize,
    pub critical: usize,
    pub acknowledged: usize,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct HealthReport {
    /// `healthy`, `degraded` (a component degraded, or an alert firing) or `down`
    /// (a component down).
    pub status: String,
    /// The server these figures are from.
    pub replica: String,
    pub generated_at: Option<DateTime<Utc>>,
    pub system: SystemFigures,
    pub components: Vec<ComponentView>,
    /// This tenant's alerts.
    pub alerts: AlertCounts,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Trend {
    pub metric: String,
    pub subject: String,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub samples: i64,
    /// The mean over the window before, when there was one.
    pub previous_mean: Option<f64>,
    /// The change of the mean against the previous window, in percent.
    pub change_percent: Option<f64>,
    /// `up`, `down` or `flat` (within 5%).
    pub direction: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub seconds: i64,
    /// Seconds one stored row covers at the resolution read (0: raw samples).
    pub resolution_secs: i64,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Trends {
    pub replica: String,
    pub window: Window,
    pub trends: Vec<Trend>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct WindowAvailability {
    pub percent: f64,
    pub up_seconds: i64,
    pub observed_seconds: i64,
    pub outages: u32,
    /// Whether `percent` reaches the target.
    pub met: bool,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ComponentAvailability {
    pub component: String,
    pub status: String,
    /// By window: `24h`, `7d`, `30d`, and the window asked for.
    pub windows: BTreeMap<String, WindowAvailability>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Availability {
    pub replica: String,
    pub target_percent: f64,
    pub components: Vec<ComponentAvailability>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct SeriesPoint {
    pub at: Option<DateTime<Utc>>,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct SubjectReport {
    pub subject: String,
    #[serde(flatten)]
    pub trend: Trend,
    /// Chart-ready: one point per step, oldest first; steps without samples are left out.
    pub series: Vec<SeriesPoint>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct MetricReport {
    pub metric: String,
    pub replica: String,
    pub window: Window,
    pub step_seconds: i64,
    pub subjects: Vec<SubjectReport>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ToolkitStatus {
    pub name: String,
    pub tools: usize,
    pub status: String,
    pub latency_ms: Option<f64>,
    pub last_error: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct IntegrationStatus {
    pub status: String,
    pub version: &'static str,
    pub replica: String,
    pub generated_at: Option<DateTime<Utc>>,
    /// Every toolkit the caller can see (each federated server is one), with its
    /// health at the last check.
    pub toolkits: Vec<ToolkitStatus>,
    pub components: Vec<ComponentView>,
    pub system: SystemFigures,
    pub alerts: AlertCounts,
}

/// The default metrics of a trends report: every tool together, and the host.
const TREND_METRICS: &[(&str, Option<&str>)] = &[
    (calls::metrics::RATE, Some(calls::ALL)),
    (calls::metrics::ERROR_RATIO, Some(calls::ALL)),
    (calls::metrics::P50, Some(calls::ALL)),
    (calls::metrics::P95, Some(calls::ALL)),
    (calls::metrics::P99, Some(calls::ALL)),
    (host::metrics::CPU, None),
    (host::metrics::MEMORY, None),
    (host::metrics::PROCESS_CPU, None),
    (host::metrics::PROCESS_RSS, None),
];

pub fn check_metric(metric: &str) -> Result<(), HubError> {
    if METRICS.contains(&metric) {
        Ok(())
    } else {
        Err(HubError::invalid_argument(
            "metric",
            format!(
                "'{}' is not a metric; one of: {}",
                tideway_core::error::excerpt(metric),
                METRICS.join(", ")
            ),
        ))
    }
}

impl Monitor {
    async fn system_figures(&self, now: i64) -> Result<SystemFigures, HubError> {
        let recent = now - 3 * self.config.interval_secs as i64 * 1000 - 60_000;
        let mut figures = SystemFigures::default();
        let replica = self.replica();
        for (metric, subject, value, at_ms) in self.series.latest(recent).await? {
            let value = round(value);
            let mine = subject == replica;
            match metric.as_str() {
                host::metrics::CPU if mine => figures.cpu_percent = Some(value),
                host::metrics::MEMORY if mine => figures.memory_percent = Some(value),
                host::metrics::MEMORY_USED if mine => figures.memory_used_bytes = Some(value),
                host::metrics::DISK => {
                    if let Some(mount) = subject.strip_prefix(&format!("{replica}:")) {
                        figures.disks.push(Disk {
                            mount: mount.to_string(),
                            used_percent: value,
                        });
                    }
                }
                host::metrics::DISK_READ if mine => figures.disk_read_bytes_per_s = Some(value),
                host::metrics::DISK_WRITE if mine => figures.disk_write_bytes_per_s = Some(value),
                host::metrics::NET_RX if mine => figures.network_rx_bytes_per_s = Some(value),
                host::metrics::NET_TX if mine => figures.network_tx_bytes_per_s = Some(value),
                host::metrics::PROCESS_CPU if mine => figures.process_cpu_percent = Some(value),
                host::metrics::PROCESS_RSS if mine => figures.process_rss_bytes = Some(value),
                host::metrics::PROCESS_FILES if mine => figures.process_open_files = Some(value),
                host::metrics::PROCESS_THREADS if mine => figures.process_threads = Some(value),
                host::metrics::PROCESS_TASKS if mine => figures.process_tasks = Some(value),
                calls::metrics::RATE if subject == calls::ALL => figures.calls_per_s = Some(value),
                calls::metrics::ERROR_RATIO if subject == calls::ALL => {
                    figures.error_ratio = Some(value)
                }
                calls::metrics::P95 if subject == calls::ALL => {
                    figures.latency_p95_ms = Some(value)
                }
                _ => continue,
            }
            let at = DateTime::from_timestamp_millis(at_ms);
            if figures
                .sampled_at
                .is_none_or(|seen| at.is_some_and(|at| at > seen))
            {
                figures.sampled_at = at;
            }
        }
        Ok(figures)
    }

    fn interval_ms(&self) -> i64 {
        self.config.interval_secs as i64 * 1000
    }

    /// Which series the callers of this moment may see.
    pub fn visibility(&self) -> Result<Visibility, HubError> {
        Ok(Visibility::of(&*self.hub()?, &self.default_tenant))
    }

    async fn alert_counts(&self, ctx: &CallContext) -> Result<AlertCounts, HubError> {
        let firing = self
            .alerts
            .list(&ctx.tenant, Some("firing"), 10_000)
            .await?;
        Ok(AlertCounts {
            firing: firing.len(),
            critical: firing
                .iter()
                .filter(|alert| alert.severity == "critical")
                .count(),
            acknowledged: firing
                .iter()
                .filter(|alert| alert.acknowledged_by.is_some())
                .count(),
        })
    }

    /// Components the caller may see: the store, the toolkits visible to it and
    /// their parts that are its tenant's.
    fn visible_components(&self, ctx: &CallContext) -> Result<Vec<ComponentState>, HubError> {
        let hub = self.hub()?;
        let visible: Vec<String> = hub
            .entries()
            .iter()
            .filter(|entry| entry.visible_to(&ctx.principal))
            .map(|entry| entry.name().to_string())
            .collect();
        Ok(self
            .components
            .current()
            .into_iter()
            .filter(|state| match components::owner_of(&state.name) {
                (components::STORE, None) => true,
                (toolkit, tenant) => {
                    visible.iter().any(|name| name == toolkit)
                        && tenant.is_none_or(|tenant| tenant == ctx.tenant.as_str())
                }
            })
            .collect())
    }

    pub async fn health_report(&self, ctx: &CallContext) -> Result<HealthReport, HubError> {
        let now = now_ms();
        let components = self.visible_components(ctx)?;
        let alerts = self.alert_counts(ctx).await?;
        Ok(HealthReport {
            status: overall(&components, &alerts).to_string(),
            replica: self.replica().to_string(),
            generated_at: DateTime::from_timestamp_millis(now),
            system: self.system_figures(now).await?,
            components: components.into_iter().map(ComponentView::from).collect(),
            alerts,
        })
    }

    /// One component's health (a toolkit or federated server's name, or `store`).
    pub fn component(&self, ctx: &CallContext, name: &str) -> Result<ComponentView, HubError> {
        self.visible_components(ctx)?
            .into_iter()
            .find(|state| state.name == name)
            .map(ComponentView::from)
            .ok_or_else(|| {
                HubError::NotFound(format!(
                    "no component named '{}'",
                    tideway_core::error::excerpt(name)
                ))
            })
    }

    pub async fn trends(
        &self,
        ctx: &CallContext,
        window: Option<&str>,
        metrics: &[String],
        subject: Option<&str>,
    ) -> Result<Trends, HubError> {
        let now = now_ms();
        let span = window_ms(window, "1h")?;
        let range = (now - span, now);
        let previous = (now - 2 * span, now - span);
        let retention = self.config.retention_ms();
        let resolution = resolution_for(now, range, &retention, self.interval_ms());
        let previous_resolution = resolution_for(now, previous, &retention, self.interval_ms());
        // Each metric asked for, with the one subject it is reported for (`None`:
        // every subject).
        let wanted: Vec<(&str, Option<&str>)> = if metrics.is_empty() {
            TREND_METRICS.to_vec()
        } else {
            for metric in metrics {
                check_metric(metric)?;
            }
            metrics
                .iter()
                .map(|metric| (metric.as_str(), subject))
                .collect()
        };
        let names: Vec<&str> = wanted.iter().map(|(metric, _)| *metric).collect();
        let asked = |summary: &&Summary| {
            wanted.iter().any(|(metric, subject)| {
                *metric == summary.metric
                    && subject.is_none_or(|subject| subject == summary.subject)
            })
        };
        let visibility = self.visibility()?;
        let now_figures = self
            .series
            .summarize(&names, subject, resolution, range)
            .await?;
        let before = self
            .series
            .summarize(&names, subject, previous_resolution, previous)
            .await?;
        let trends = now_figures
            .iter()
            .filter(asked)
            .filter(|summary| visibility.sees(&ctx.tenant, &summary.metric, &summary.subject))
            .map(|summary| {
                let previous_mean = before
                    .iter()
                    .find(|earlier| {
                        earlier.metric == summary.metric && earlier.subject == summary.subject
                    })
                    .map(|earlier| earlier.mean);
                trend(summary.clone(), previous_mean)
            })
            .collect();
        Ok(Trends {
            replica: self.replica().to_string(),
            window: window_of(range, resolution),
            trends,
        })
    }

    pub async fn metric_report(
        &self,
        ctx: &CallContext,
        metric: &str,
        subject: Option<&str>,
        window: Option<&str>,
        steps: Option<u32>,
    ) -> Result<MetricReport, HubError> {
        check_metric(metric)?;
        let now = now_ms();
        let span = window_ms(window, "1h")?;
        let range = (now - span, now);
        let retention = self.config.retention_ms();
        let resolution = resolution_for(now, range, &retention, self.interval_ms());
        let steps = i64::from(steps.unwrap_or(60).clamp(1, 1000));
        let step_ms = (span / steps).max(1000);
        let summaries = self
            .series
            .summarize(&[metric], subject, resolution, range)
            .await?;
        let before = self
            .series
            .summarize(
                &[metric],
                subject,
                resolution_for(
                    now,
                    (now - 2 * span, now - span),
                    &retention,
                    self.interval_ms(),
                ),
                (now - 2 * span, now - span),
            )
            .await?;
        let buckets = self
            .series
            .buckets(metric, subject, resolution, range, step_ms)
            .await?;
        let visibility = self.visibility()?;
        let subjects = summaries
            .into_iter()
            .filter(|summary| visibility.sees(&ctx.tenant, metric, &summary.subject))
            .map(|summary| {
                let series = buckets
                    .iter()
                    .filter(|bucket| bucket.subject == summary.subject)
                    .map(|bucket| SeriesPoint {
                        at: DateTime::from_timestamp_millis(range.0 + bucket.bucket * step_ms),
                        mean: round(bucket.mean),
                        min: round(bucket.min),
                        max: round(bucket.max),
                    })
                    .collect();
                let previous_mean = before
                    .iter()
                    .find(|earlier| earlier.subject == summary.subject)
                    .map(|earlier| earlier.mean);
                SubjectReport {
                    subject: summary.subject.clone(),
                    trend: trend(summary, previous_mean),
                    series,
                }
            })
            .collect();
        Ok(MetricReport {
            metric: metric.to_string(),
            replica: self.replica().to_string(),
            window: window_of(range, resolution),
            step_seconds: step_ms / 1000,
            subjects,
        })
    }

    pub async fn availability(
        &self,
        ctx: &CallContext,
        window: Option<&str>,
        component: Option<&str>,
    ) -> Result<Availability, HubError> {
        let now = now_ms();
        let mut windows = vec![
            ("24h".to_string(), 86_400_000i64),
            ("7d".to_string(), 7 * 86_400_000),
            ("30d".to_string(), 30 * 86_400_000),
        ];
        if let Some(text) = window {
            let span = window_ms(Some(text), "24h")?;
            if !windows.iter().any(|(_, known)| *known == span) {
                windows.push((text.to_string(), span));
            }
        }
        let longest = windows.iter().map(|(_, span)| *span).max().unwrap_or(0);
        let target = self.config.sla_target_percent;
        let mut components = Vec::new();
        for state in self.visible_components(ctx)? {
            if component.is_some_and(|wanted| wanted != state.name) {
                continue;
            }
            let transitions = self
                .components
                .transitions(Some(&state.name), (now - longest, now))
                .await?;
            let windows = windows
                .iter()
                .map(|(name, span)| {
                    let Uptime {
                        observed_ms,
                        up_ms,
                        percent,
                        outages,
                    } = uptime(&transitions, (now - span, now));
                    (
                        name.clone(),
                        WindowAvailability {
                            percent: round(percent),
                            up_seconds: up_ms / 1000,
                            observed_seconds: observed_ms / 1000,
                            outages,
                            met: percent >= target,
                        },
                    )
                })
                .collect();
            components.push(ComponentAvailability {
                component: state.name,
                status: state.status.to_string(),
                windows,
            });
        }
        if let Some(wanted) = component
            && components.is_empty()
        {
            return Err(HubError::NotFound(format!(
                "no component named '{}'",
                tideway_core::error::excerpt(wanted)
            )));
        }
        Ok(Availability {
            replica: self.replica().to_string(),
            target_percent: target,
            components,
        })
    }

    pub async fn integration_status(
        &self,
        ctx: &CallContext,
    ) -> Result<IntegrationStatus, HubError> {
        let now = now_ms();
        let hub = self.hub()?;
        let components = self.visible_components(ctx)?;
        let toolkits = hub
            .entries()
            .iter()
            .filter(|entry| entry.visible_to(&ctx.principal))
            .map(|entry| {
                let state = components.iter().find(|state| state.name == entry.name());
                ToolkitStatus {
                    name: entry.name().to_string(),
                    tools: entry.callable_tools(&ctx.principal).count(),
                    status: state.map_or("unknown", |state| state.status).to_string(),
                    latency_ms: state.and_then(|state| state.latency_ms).map(round),
                    last_error: state.and_then(|state| state.last_error.clone()),
                }
            })
            .collect();
        let alerts = self.alert_counts(ctx).await?;
        Ok(IntegrationStatus {
            status: overall(&components, &alerts).to_string(),
            version: env!("CARGO_PKG_VERSION"),
            replica: self.replica().to_string(),
            generated_at: DateTime::from_timestamp_millis(now),
            toolkits,
            components: components.into_iter().map(ComponentView::from).collect(),
            system: self.system_figures(now).await?,
            alerts,
        })
    }
}

fn overall(components: &[ComponentState], alerts: &AlertCounts) -> &'static str {
    if components.iter().any(|state| state.status == "down") {
        "down"
    } else if alerts.firing > 0 || components.iter().any(|state| state.status == "degraded") {
        "degraded"
    } else {
        "healthy"
    }
}

fn window_of((from, to): (i64, i64), resolution: i64) -> Window {
    Window {
        from: DateTime::from_timestamp_millis(from),
        to: DateTime::from_timestamp_millis(to),
        seconds: (to - from) / 1000,
        resolution_secs: resolution,
    }
}

fn trend(summary: Summary, previous_mean: Option<f64>) -> Trend {
    let change = previous_mean
        .filter(|previous| previous.abs() > f64::EPSILON)
        .map(|previous| (summary.mean - previous) * 100.0 / previous.abs());
    Trend {
        metric: summary.metric,
        subject: summary.subject,
        mean: round(summary.mean),
        min: round(summary.min),
        max: round(summary.max),
        samples: summary.samples,
        previous_mean: previous_mean.map(round),
        change_percent: change.map(round),
        direction: change.map(|change| {
            if change > 5.0 {
                "up".to_string()
            } else if change < -5.0 {
                "down".to_string()
            } else {
                "flat".to_string()
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_people_write_them_and_odd_ones_are_refused_by_name() {
        assert_eq!(window_ms(Some("15m"), "1h").ok(), Some(900_000));
        assert_eq!(window_ms(Some("7d"), "1h").ok(), Some(604_800_000));
        assert_eq!(window_ms(None, "24h").ok(), Some(86_400_000));
        assert_eq!(window_ms(Some("3600"), "1h").ok(), Some(3_600_000));
        for bad in ["fortnight", "5x", "10s", "999d", ""] {
            let error = window_ms(Some(bad), "1h").expect_err(bad).to_string();
            assert!(error.contains("window"), "{bad}: {error}");
        }
    }
}
