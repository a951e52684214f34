//! The monitor toolkit's MCP tools: the health report, trends, availability, the
//! complete status, metric reports, alerts (acknowledge, resolve), alert rules and
//! silences.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::typed::{Effect, ToolSet, ToolSpec, ToolText};
use utoipa::ToSchema;

use super::{
    alerts::{AlertEvent, AlertView},
    reports::{
        Availability, ComponentView, HealthReport, IntegrationStatus, MetricReport, Trends,
        check_metric,
    },
    rules::{METRICS, Rule},
    service::{Monitor, now_ms},
    silences::{SilenceInput, SilenceView},
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const GET_HEALTH_REPORT: &str = "get_health_report";
    pub const GET_COMPONENT_HEALTH: &str = "get_component_health";
    pub const GET_PERFORMANCE_TRENDS: &str = "get_performance_trends";
    pub const GET_AVAILABILITY: &str = "get_availability";
    pub const GET_INTEGRATION_STATUS: &str = "get_integration_status";
    pub const LIST_METRICS: &str = "list_metrics";
    pub const GET_METRIC: &str = "get_metric";
    pub const METRIC_REPORT: &str = "metric_report";
    pub const LIST_ALERTS: &str = "list_alerts";
    pub const GET_ALERT: &str = "get_alert";
    pub const ACKNOWLEDGE_ALERT: &str = "acknowledge_alert";
    pub const RESOLVE_ALERT: &str = "resolve_alert";
    pub const LIST_ALERT_RULES: &str = "list_alert_rules";
    pub const GET_ALERT_RULE: &str = "get_alert_rule";
    pub const CREATE_ALERT_RULE: &str = "create_alert_rule";
    pub const UPDATE_ALERT_RULE: &str = "update_alert_rule";
    pub const DELETE_ALERT_RULE: &str = "delete_alert_rule";
    pub const CREATE_SILENCE: &str = "create_silence";
    pub const LIST_SILENCES: &str = "list_silences";
    pub const DELETE_SILENCE: &str = "delete_silence";
}

pub use tideway_core::typed::NoArgs;

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    pub name: String,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    pub id: String,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrendsArgs {
    /// The window: `15m`, `1h` (the default), `24h`, `7d`, `30d`, or seconds. It is
    /// compared with the window before it.
    #[serde(default)]
    pub window: Option<String>,
    /// Metrics to report (`list_metrics`); by default the tool calls' rate, error
    /// ratio and latency percentiles, and the host's and process's CPU and memory.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Only this subject of the metrics asked for.
    #[serde(default)]
    pub subject: Option<String>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityArgs {
    /// A window besides 24h, 7d and 30d (`12h`, `90d`, or seconds).
    #[serde(default)]
    pub window: Option<String>,
    /// Only this component.
    #[serde(default)]
    pub component: Option<String>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricArgs {
    /// The metric (`list_metrics`).
    pub metric: String,
    /// Only this subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// `15m`, `1h` (the default), `24h`, `7d`, `30d`, or seconds.
    #[serde(default)]
    pub window: Option<String>,
    /// Points in the chart series (default 60).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub steps: Option<u32>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatestArgs {
    /// The metric (`list_metrics`).
    pub metric: String,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsArgs {
    /// `firing` or `resolved`; both when absent.
    #[serde(default)]
    pub status: Option<AlertStatus>,
    /// At most this many, newest first (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

#[derive(Clone, Copy, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct MetricList {
    pub metrics: Vec<&'static str>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct LatestValue {
    pub subject: String,
    pub value: f64,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct LatestValues {
    pub metric: String,
    pub replica: String,
    pub values: Vec<LatestValue>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertView,
    pub events: Vec<AlertEvent>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct RuleList {
    pub rules: Vec<Rule>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct SilenceList {
    pub silences: Vec<SilenceView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

impl ToolText for HealthReport {
    fn text(&self) -> String {
        let mut lines = vec![format!(
            "Status: {} ({} alert(s) firing, {} critical).",
            self.status, self.alerts.firing, self.alerts.critical
        )];
        for component in &self.components {
            lines.push(format!(
                "- {}: {}{}",
                component.name,
                component.status,
                component
                    .last_error
                    .as_ref()
                    .filter(|_| component.status != "healthy")
                    .map(|error| format!(" ({error})"))
                    .unwrap_or_default()
            ));
        }
        lines.push(serde_json::to_string_pretty(self).unwrap_or_default());
        lines.join("\n")
    }
}
impl ToolText for ComponentView {}
impl ToolText for Trends {}
impl ToolText for Availability {}
impl ToolText for IntegrationStatus {}
impl ToolText for MetricReport {}
impl ToolText for MetricList {}
impl ToolText for LatestValues {}
impl ToolText for AlertList {}
impl ToolText for AlertView {}
impl ToolText for AlertDetail {}
impl ToolText for Rule {}
impl ToolText for RuleList {}
impl ToolText for SilenceView {}
impl ToolText for SilenceList {}
impl ToolText for Deleted {}

fn deleted(name: String) -> Deleted {
    Deleted {
        name,
        deleted: true,
    }
}

pub fn tool_set() -> ToolSet<Monitor> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::GET_HEALTH_REPORT,
                title: "Health report",
                description: "The server's health now: every component (store, toolkits, federated servers) with status, check latency and last error; the latest CPU, memory, disk, network and process figures; tool call rate, error ratio and p95 latency; and how many of your alerts are firing.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, _args: NoArgs| async move { state.health_report(&ctx).await },
        )
        .add(
            ToolSpec {
                name: names::GET_COMPONENT_HEALTH,
                title: "One component's health",
                description: "One component's status, check latency, last error and since when, by name (`store`, a toolkit's or a federated server's name).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: NameArgs| async move { state.component(&ctx, &args.name) },
        )
        .add(
            ToolSpec {
                name: names::GET_PERFORMANCE_TRENDS,
                title: "Performance trends",
                description: "Metrics over a window (default 1h) with mean, least, greatest and the change against the window before: tool call rate, error ratio, p50/p95/p99 latency, CPU and memory by default, or the metrics named.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: TrendsArgs| async move {
                state
                    .trends(&ctx, args.window.as_deref(), &args.metrics, args.subject.as_deref())
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::GET_AVAILABILITY,
                title: "Availability",
                description: "Each component's time-weighted uptime over 24h, 7d and 30d (and a window of your choice) from its recorded state changes, with outages counted and whether the availability target is met.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: AvailabilityArgs| async move {
                state
                    .availability(&ctx, args.window.as_deref(), args.component.as_deref())
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::GET_INTEGRATION_STATUS,
                title: "Complete status",
                description: "One document with everything: each toolkit and federated server with its tool count, status, latency and last error; every component; the system figures; your firing alerts.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, _args: NoArgs| async move { state.integration_status(&ctx).await },
        )
        .add(
            ToolSpec {
                name: names::LIST_METRICS,
                title: "List metrics",
                description: "The metrics the monitor records, for trends, reports and alert rules.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |_state: Arc<Monitor>, _ctx, _args: NoArgs| async move {
                Ok(MetricList {
                    metrics: METRICS.to_vec(),
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_METRIC,
                title: "A metric's latest values",
                description: "A metric's latest sampled value for each of its subjects (a server, a disk, a tool, a component).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: LatestArgs| async move {
                check_metric(&args.metric)?;
                let since = now_ms() - 3 * state.config.interval_secs as i64 * 1000 - 60_000;
                let visibility = state.visibility()?;
                let values = state
                    .series
                    .latest(since)
                    .await?
                    .into_iter()
                    .filter(|(metric, subject, ..)| {
                        *metric == args.metric && visibility.sees(&ctx.tenant, metric, subject)
                    })
                    .map(|(_, subject, value, at)| LatestValue {
                        subject,
                        value,
                        at: chrono::DateTime::from_timestamp_millis(at),
                    })
                    .collect();
                Ok(LatestValues {
                    metric: args.metric,
                    replica: state.replica().to_string(),
                    values,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::METRIC_REPORT,
                title: "Metric report",
                description: "One metric over a window: per subject its mean, least, greatest, the change against the window before, and a chart-ready series of evenly spaced points.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: MetricArgs| async move {
                state
                    .metric_report(&ctx, &args.metric, args.subject.as_deref(), args.window.as_deref(), args.steps)
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_ALERTS,
                title: "List alerts",
                description: "Your tenant's alerts, newest first: firing and resolved (or one of them), with rule, subject, severity, the value that fired it, and who acknowledged or resolved it.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: AlertsArgs| async move {
                let status = args.status.map(|status| match status {
                    AlertStatus::Firing => "firing",
                    AlertStatus::Resolved => "resolved",
                });
                Ok(AlertList {
                    alerts: state
                        .alerts
                        .list(&ctx.tenant, status, i64::from(args.limit.unwrap_or(100)))
                        .await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_ALERT,
                title: "Get an alert",
                description: "One alert with its history: fired, notified (which channels, or why none), acknowledged, resolved.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: IdArgs| async move {
                let alert = state.alerts.get(&ctx.tenant, &args.id).await?;
                Ok(AlertDetail {
                    events: state.alerts.events(&alert.id).await?,
                    alert,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::ACKNOWLEDGE_ALERT,
                title: "Acknowledge an alert",
                description: "Marks a firing alert as being looked at, by you. Notifies no one; the alert still resolves when its condition clears.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: IdArgs| async move {
                state
                    .alerts
                    .acknowledge(&ctx.tenant, &args.id, &ctx.principal.id, now_ms())
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::RESOLVE_ALERT,
                title: "Resolve an alert",
                description: "Resolves a firing alert by hand and tells its rule's channels. If its condition still holds it stays quiet until the condition clears, then may fire again.",
                effect: Effect::Idempotent,
                open_world: true,
            },
            |state: Arc<Monitor>, ctx, args: IdArgs| async move { state.resolve(&ctx, &args.id).await },
        )
        .add(
            ToolSpec {
                name: names::LIST_ALERT_RULES,
                title: "List alert rules",
                description: "Your tenant's alert rules: metric, subject, comparison, threshold, for how long, resolve threshold, severity, channels.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, _args: NoArgs| async move {
                Ok(RuleList {
                    rules: state.rules.list(&ctx.tenant).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::GET_ALERT_RULE,
                title: "Get an alert rule",
                description: "One alert rule by name.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: NameArgs| async move { state.rules.get(&ctx.tenant, &args.name).await },
        )
        .add(
            ToolSpec {
                name: names::CREATE_ALERT_RULE,
                title: "Create an alert rule",
                description: "Makes an alert rule: it fires when `metric` (of `subject`, or of each subject) compares with `threshold` for `for_secs`, and resolves past `resolve_threshold`; each change is sent to `channels` (the automation toolkit's notification channels) as you.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: Rule| async move {
                let principal = tideway_core::context::DelegatedPrincipal::of(&ctx.principal);
                state.rules.save(&ctx.tenant, &args, &principal, false).await?;
                Ok(args)
            },
        )
        .add(
            ToolSpec {
                name: names::UPDATE_ALERT_RULE,
                title: "Update an alert rule",
                description: "Replaces an alert rule (found by its name) with the one given; its notifications are sent as you from now on.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: Rule| async move {
                let principal = tideway_core::context::DelegatedPrincipal::of(&ctx.principal);
                state.rules.save(&ctx.tenant, &args, &principal, true).await?;
                Ok(args)
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_ALERT_RULE,
                title: "Delete an alert rule",
                description: "Deletes an alert rule; its firing alerts resolve at the next evaluation.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: NameArgs| async move {
                state.rules.delete(&ctx.tenant, &args.name).await?;
                Ok(deleted(args.name))
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_SILENCE,
                title: "Silence alerts",
                description: "For `duration_secs`, alerts of a rule (or a subject, or all of your tenant's) still fire and resolve but notify no one.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: SilenceInput| async move {
                state
                    .silences
                    .create(&ctx.tenant, args, &ctx.principal.id, now_ms())
                    .await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_SILENCES,
                title: "List silences",
                description: "Your tenant's silences in force, with when each ends.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, _args: NoArgs| async move {
                Ok(SilenceList {
                    silences: state.silences.active(&ctx.tenant, now_ms()).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_SILENCE,
                title: "End a silence",
                description: "Ends a silence now; later changes of its alerts are notified again.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Monitor>, ctx, args: IdArgs| async move {
                state.silences.delete(&ctx.tenant, &args.id).await?;
                Ok(deleted(args.id))
            },
        )
}
