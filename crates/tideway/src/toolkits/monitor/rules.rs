//! Alert rules: a metric compared with a threshold for a while, with a separate
//! threshold to resolve at (so a value hovering at the line does not flap), a
//! severity and the notification channels told of each change. Rules belong to a
//! tenant; the default tenant gets the usual ones (CPU, memory, disk, response
//! time, a component down) once, and may change or delete them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    HubError, Store, TenantId, context::DelegatedPrincipal, naming::is_valid_id, on_store,
};
use utoipa::ToSchema;

use super::{calls, components, host};

/// How a value is compared with a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtMost => value <= threshold,
        }
    }

    fn upward(self) -> bool {
        matches!(self, Comparison::Above | Comparison::AtLeast)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

fn enabled() -> bool {
    true
}

/// An alert rule as given and as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// 1-64 lower-case letters, digits, `_` or `-`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What is watched: `host.cpu_percent`, `host.memory_percent`, `host.disk_percent`,
    /// `tool.latency_p95_ms`, `tool.error_ratio`, `component.up` (1 healthy, 0.5
    /// degraded, 0 down), ... (`list_metrics` names them all).
    pub metric: String,
    /// Only this subject (a server, `server:/mount`, `toolkit/tool`, `all`, a
    /// component). Absent: every subject, each with an alert of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `>`, `>=`, `<` or `<=`.
    pub comparison: Comparison,
    pub threshold: f64,
    /// How long the condition must hold before the alert fires, in seconds.
    #[serde(default)]
    #[schemars(range(max = 604800))]
    pub for_secs: u64,
    /// The value past which a firing alert resolves (on the safe side of
    /// `threshold`); `threshold` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_threshold: Option<f64>,
    /// `info`, `warning` (the default) or `critical`.
    #[serde(default)]
    pub severity: Severity,
    /// Notification channels (the automation toolkit's) told when an alert of this
    /// rule fires and resolves.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

/// Every metric a rule may watch.
pub const METRICS: &[&str] = &[
    host::metrics::CPU,
    host::metrics::MEMORY,
    host::metrics::MEMORY_USED,
    host::metrics::DISK,
    host::metrics::DISK_READ,
    host::metrics::DISK_WRITE,
    host::metrics::NET_RX,
    host::metrics::NET_TX,
    host::metrics::PROCESS_CPU,
    host::metrics::PROCESS_RSS,
    host::metrics::PROCESS_FILES,
    host::metrics::PROCESS_THREADS,
    host::metrics::PROCESS_TASKS,
    calls::metrics::RATE,
    calls::metrics::ERROR_RATIO,
    calls::metrics::P50,
    calls::metrics::P95,
    calls::metrics::P99,
    components::metrics::UP,
    components::metrics::LATENCY,
];

const MAX_CHANNELS: usize = 10;

impl Rule {
    /// Checks every field; the error names the field.
    pub fn check(&self) -> Result<(), HubError> {
        if !is_valid_id(&self.name, 64) {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        if !METRICS.contains(&self.metric.as_str()) {
            return Err(HubError::invalid_argument(
                "metric",
                format!(
                    "'{}' is not a metric; one of: {}",
                    tideway_core::error::excerpt(&self.metric),
                    METRICS.join(", ")
                ),
            ));
        }
        if self
            .subject
            .as_ref()
            .is_some_and(|subject| subject.is_empty() || subject.len() > 300)
        {
            return Err(HubError::invalid_argument(
                "subject",
                "must be 1-300 characters",
            ));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|text| text.len() > 1000)
        {
            return Err(HubError::invalid_argument(
                "description",
                "must be at most 1000 characters",
            ));
        }
        if !self.threshold.is_finite() {
            return Err(HubError::invalid_argument(
                "threshold",
                "must be a finite number",
            ));
        }
        if self.for_secs > 7 * 86_400 {
            return Err(HubError::invalid_argument(
                "for_secs",
                "must be at most 604800 (7 days)",
            ));
        }
        if let Some(resolve) = self.resolve_threshold {
            let safe = if self.comparison.upward() {
                resolve <= self.threshold
            } else {
                resolve >= self.threshold
            };
            if !resolve.is_finite() || !safe {
                return Err(HubError::invalid_argument(
                    "resolve_threshold",
                    format!(
                        "must be a number on the safe side of the threshold ({} {} for a rule that fires on {} {})",
                        if self.comparison.upward() { "<=" } else { ">=" },
                        self.threshold,
                        self.comparison.symbol(),
                        self.threshold
                    ),
                ));
            }
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(HubError::invalid_argument(
                "channels",
                format!("at most {MAX_CHANNELS} channels"),
            ));
        }
        if let Some(bad) = self
            .channels
            .iter()
            .find(|channel| !is_valid_id(channel, 64))
        {
            return Err(HubError::invalid_argument(
                "channels",
                format!(
                    "'{}' is not a channel name",
                    tideway_core::error::excerpt(bad)
                ),
            ));
        }
        Ok(())
    }

    /// Whether a value breaches the rule.
    pub fn breached(&self, value: f64) -> bool {
        self.comparison.holds(value, self.threshold)
    }

    /// Whether a value is far enough back for a firing alert to resolve.
    pub fn cleared(&self, value: f64) -> bool {
        !self
            .comparison
            .holds(value, self.resolve_threshold.unwrap_or(self.threshold))
    }

    /// Whether the rule watches `subject` of its metric.
    pub fn covers(&self, subject: &str) -> bool {
        self.subject
            .as_deref()
            .is_none_or(|wanted| wanted == "*" || wanted == subject)
    }
}

/// The rules the default tenant starts with.
pub fn defaults() -> Vec<Rule> {
    let rule = |name: &str,
                description: &str,
                metric: &str,
                comparison,
                threshold,
                resolve,
                for_secs,
                severity| Rule {
        name: name.into(),
        description: Some(description.into()),
        metric: metric.into(),
        subject: None,
        comparison,
        threshold,
        for_secs,
        resolve_threshold: Some(resolve),
        severity,
        channels: Vec::new(),
        enabled: true,
    };
    let mut slow = rule(
        "slow_responses",
        "Tool calls' 95th percentile latency above 5 s",
        calls::metrics::P95,
        Comparison::Above,
        5000.0,
        4000.0,
        60,
        Severity::Warning,
    );
    slow.subject = Some(calls::ALL.into());
    vec![
        rule(
            "high_cpu",
            "Host CPU above 80%",
            host::metrics::CPU,
            Comparison::Above,
            80.0,
            75.0,
            60,
            Severity::Warning,
        ),
        rule(
            "high_memory",
            "Host memory above 85%",
            host::metrics::MEMORY,
            Comparison::Above,
            85.0,
            80.0,
            60,
            Severity::Warning,
        ),
        rule(
            "disk_full",
            "A disk above 90% full",
            host::metrics::DISK,
            Comparison::Above,
            90.0,
            88.0,
            0,
            Severity::Critical,
        ),
        slow,
        rule(
            "service_unavailable",
            "A component down for more than 30 s",
            components::metrics::UP,
            Comparison::Below,
            0.5,
            0.5,
            30,
            Severity::Critical,
        ),
    ]
}

/// A rule as kept, with the principal its notifications are sent as.
#[derive(Clone, Debug)]
pub struct StoredRule {
    pub tenant: TenantId,
    pub rule: Rule,
    pub principal: DelegatedPrincipal,
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    tenant_id: String,
    definition: String,
    principal: String,
}

impl RuleRow {
    fn stored(self) -> Result<StoredRule, HubError> {
        Ok(StoredRule {
            tenant: TenantId::new(self.tenant_id),
            rule: serde_json::from_str(&self.definition).map_err(HubError::internal)?,
            principal: serde_json::from_str(&self.principal).map_err(HubError::internal)?,
        })
    }
}

#[derive(Clone)]
pub struct Rules {
    store: Store,
}

impl Rules {
    pub fn new(store: Store) -> Self {
        Rules { store }
    }

    /// Every tenant's rules, for evaluation.
    pub async fn all(&self) -> Result<Vec<StoredRule>, HubError> {
        let rows: Vec<RuleRow> = on_store!(&self.store, pool => {
            sqlx::query_as("SELECT tenant_id, definition, principal FROM monitor_rules ORDER BY tenant_id, name")
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(RuleRow::stored).collect()
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Rule>, HubError> {
        let rows: Vec<RuleRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT tenant_id, definition, principal FROM monitor_rules WHERE tenant_id = $1 ORDER BY name",
            )
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| row.stored().map(|stored| stored.rule))
            .collect()
    }

    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<Rule, HubError> {
        let row: Option<RuleRow> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT tenant_id, definition, principal FROM monitor_rules WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(pool)
            .await
        })?;
        match row {
            Some(row) => Ok(row.stored()?.rule),
            None => Err(not_found(name)),
        }
    }

    /// Creates a rule (`replace` false: a rule of that name must not exist) or
    /// replaces one (`replace` true: it must).
    pub async fn save(
        &self,
        tenant: &TenantId,
        rule: &Rule,
        principal: &DelegatedPrincipal,
        replace: bool,
    ) -> Result<(), HubError> {
        rule.check()?;
        let definition = serde_json::to_string(rule).map_err(HubError::internal)?;
        let principal_json = serde_json::to_string(principal).map_err(HubError::internal)?;
        let now = chrono::Utc::now().timestamp_millis();
        let changed = if replace {
            on_store!(&self.store, pool => {
                sqlx::query(
                    "UPDATE monitor_rules SET definition = $3, principal = $4, updated_ms = $5 WHERE tenant_id = $1 AND name = $2",
                )
                .bind(tenant.as_str())
                .bind(&rule.name)
                .bind(&definition)
                .bind(&principal_json)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            })?
        } else {
            on_store!(&self.store, pool => {
                sqlx::query(
                    "INSERT INTO monitor_rules (tenant_id, name, definition, principal, created_by, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(&rule.name)
                .bind(&definition)
                .bind(&principal_json)
                .bind(&principal.id)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            })?
        };
        match (changed, replace) {
            (0, true) => Err(not_found(&rule.name)),
            (0, false) => Err(HubError::Conflict(format!(
                "an alert rule named '{}' exists; update it instead",
                rule.name
            ))),
            _ => Ok(()),
        }
    }

    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM monitor_rules WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Gives `tenant` the default rules, once: a tenant that has had them keeps
    /// what its admins made of them since.
    pub async fn install_defaults(
        &self,
        tenant: &TenantId,
        principal: &DelegatedPrincipal,
    ) -> Result<bool, HubError> {
        let now = chrono::Utc::now().timestamp_millis();
        let first = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO monitor_defaults (tenant_id, installed_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if first == 0 {
            return Ok(false);
        }
        for rule in defaults() {
            match self.save(tenant, &rule, principal, false).await {
                Ok(()) | Err(HubError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }
}

fn not_found(name: &str) -> HubError {
    HubError::NotFound(format!(
        "no alert rule named '{}'",
        tideway_core::error::excerpt(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_are_valid_and_resolve_on_their_safe_side() {
        for rule in defaults() {
            rule.check().expect(&rule.name);
            assert!(
                rule.breached(rule.threshold + if rule.comparison.upward() { 1.0 } else { -1.0 })
            );
            assert!(
                !rule.cleared(rule.threshold + if rule.comparison.upward() { 1.0 } else { -1.0 })
            );
        }
        let unavailable = defaults()
            .into_iter()
            .find(|rule| rule.name == "service_unavailable")
            .expect("the rule");
        // Degraded (0.5) is not unavailable; down (0) is.
        assert!(!unavailable.breached(0.5));
        assert!(unavailable.breached(0.0));
    }

    #[test]
    fn a_resolve_threshold_beyond_the_threshold_is_refused_by_name() {
        let mut rule = defaults().remove(0);
        rule.resolve_threshold = Some(90.0);
        let error = rule.check().expect_err("refused").to_string();
        assert!(error.contains("resolve_threshold"), "{error}");
        rule.resolve_threshold = None;
        rule.metric = "host.cpu".into();
        let error = rule.check().expect_err("refused").to_string();
        assert!(
            error.contains("metric") && error.contains("host.cpu_percent"),
            "{error}"
        );
    }
}
