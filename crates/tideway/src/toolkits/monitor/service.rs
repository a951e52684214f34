//! The monitor's state and one round of its work: check every component, read the
//! host, the process and the tool calls, record the samples, evaluate the alert
//! rules, and open, resolve and notify alerts. The background loop (`runner.rs`)
//! calls `tick` at the configured interval; tests call it with a clock of their own.

use std::{
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tideway_core::{
    CallContext, Health, Hub, HubError, Role, Store, TenantId,
    context::{Credential, DelegatedPrincipal, Principal},
    hub::HubEvent,
    mcp::JsonObject,
};
use tokio_util::sync::CancellationToken;

use super::{
    alerts::{AlertView, Alerts},
    calls::CallReader,
    components::{self, Check, Components},
    evaluate::{ChangeKind, Evaluator},
    gauges::Gauges,
    host::{self, HostReader},
    resources,
    rules::{Rules, StoredRule},
    series::{Point, Series},
    settings::MonitorConfig,
    silences::Silences,
    visibility::Visibility,
};

/// The automation toolkit's tool alerts are sent through.
const AUTOMATION: &str = "automation";
const NOTIFY: &str = "notify";

/// What one round found, for tests and the figures.
#[derive(Debug, Default)]
pub struct Round {
    pub points: usize,
    pub fired: Vec<AlertView>,
    pub resolved: Vec<AlertView>,
}

/// What is read between rounds: the previous readings rates are taken against.
struct Readers {
    host: HostReader,
    calls: CallReader,
    last: Option<Instant>,
}

pub struct Monitor {
    pub config: MonitorConfig,
    hub: Weak<Hub>,
    store: Store,
    pub series: Series,
    pub components: Components,
    pub rules: Rules,
    pub alerts: Alerts,
    pub silences: Silences,
    pub default_tenant: TenantId,
    /// Behind a blocking lock: the host is read on a blocking thread.
    readers: Arc<Mutex<Readers>>,
    evaluator: Mutex<Evaluator>,
    gauges: Gauges,
    /// One round at a time, whether the loop or a test asks.
    round: tokio::sync::Mutex<()>,
    pub stop: CancellationToken,
}

impl Monitor {
    pub fn new(
        config: MonitorConfig,
        hub: &Arc<Hub>,
        store: Store,
        default_tenant: TenantId,
    ) -> Self {
        let replica = config
            .replica
            .clone()
            .or_else(sysinfo::System::host_name)
            .unwrap_or_else(|| "tideway".into());
        let gauges = Gauges::default();
        gauges.register(hub.metrics());
        Monitor {
            series: Series::new(store.clone(), replica.clone()),
            components: Components::new(store.clone(), replica),
            rules: Rules::new(store.clone()),
            alerts: Alerts::new(store.clone()),
            silences: Silences::new(store.clone()),
            config,
            hub: Arc::downgrade(hub),
            store,
            default_tenant,
            readers: Arc::new(Mutex::new(Readers {
                host: HostReader::new(),
                calls: CallReader::default(),
                last: None,
            })),
            evaluator: Mutex::new(Evaluator::default()),
            gauges,
            round: tokio::sync::Mutex::new(()),
            stop: CancellationToken::new(),
        }
    }

    pub fn hub(&self) -> Result<Arc<Hub>, HubError> {
        self.hub
            .upgrade()
            .ok_or_else(|| HubError::Internal("the server is stopping".into()))
    }

    pub fn replica(&self) -> &str {
        self.series.replica()
    }

    /// Takes up what the store remembers: component states, firing alerts, and the
    /// default rules for the default tenant the first time.
    pub async fn start(&self) -> Result<(), HubError> {
        self.components.load().await?;
        let open = self.alerts.open_keys().await?;
        {
            let mut evaluator = self
                .evaluator
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for key in open {
                evaluator.restore_firing(key);
            }
        }
        if self.config.default_rules {
            let installer =
                DelegatedPrincipal::of(&Principal::new("monitor", Role::Admin, Credential::Local));
            if self
                .rules
                .install_defaults(&self.default_tenant, &installer)
                .await?
            {
                tracing::info!(tenant = %self.default_tenant.as_str(), "gave the default tenant the default alert rules");
            }
        }
        Ok(())
    }

    /// One round at `now_ms`: sample, record, evaluate, notify.
    pub async fn tick(&self, now_ms: i64) -> Result<Round, HubError> {
        let _one = self.round.lock().await;
        let hub = self.hub()?;
        let mut points = self.check_components(&hub, now_ms).await?;
        points.extend(self.read_host_and_calls(&hub).await?);
        self.series.record(now_ms, &points).await?;
        self.gauges.update(&points);
        let round = self.evaluate(&hub, now_ms, &points).await?;
        Ok(Round {
            points: points.len(),
            ..round
        })
    }

    /// Store, toolkits and their parts checked concurrently, each within the check
    /// timeout.
    async fn check_components(&self, hub: &Hub, now_ms: i64) -> Result<Vec<Point>, HubError> {
        let timeout = Duration::from_secs(self.config.check_timeout_secs);
        let store = async {
            let started = Instant::now();
            match tokio::time::timeout(timeout, self.store.check_writable()).await {
                Ok(Ok(latency)) => Health::healthy().with_latency(latency),
                Ok(Err(error)) => Health::down(format!("the store cannot write: {error}"))
                    .with_latency(started.elapsed()),
                Err(_) => Health::down(format!("the store did not answer within {timeout:?}")),
            }
        };
        let (store, toolkits, parts) = tokio::join!(store, hub.health(timeout), hub.parts(timeout));
        let mut checks = vec![Check {
            name: components::STORE.to_string(),
            kind: "store",
            health: store,
        }];
        checks.extend(toolkits.into_iter().map(|(name, health)| Check {
            name,
            kind: "toolkit",
            health,
        }));
        checks.extend(parts.into_iter().flat_map(|(toolkit, parts)| {
            parts.into_iter().map(move |part| Check {
                name: components::part_name(&toolkit, part.tenant.as_str(), &part.name),
                kind: part.kind,
                health: part.health,
            })
        }));
        self.components.observe(now_ms, checks).await
    }

    async fn read_host_and_calls(&self, hub: &Hub) -> Result<Vec<Point>, HubError> {
        let counts = hub.metrics().tool_counts();
        let readers = self.readers.clone();
        let subject = self.replica().to_string();
        let mut points = tokio::task::spawn_blocking(move || {
            let mut readers = readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let elapsed = readers
                .last
                .replace(now)
                .map_or(0.0, |last| now.duration_since(last).as_secs_f64());
            let mut points = readers.host.read(&subject, elapsed);
            points.extend(readers.calls.read(counts, elapsed));
            points
        })
        .await
        .map_err(HubError::internal)?;
        points.push(Point::new(
            host::metrics::PROCESS_TASKS,
            self.replica(),
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks() as f64,
        ));
        Ok(points)
    }

    /// Evaluates every tenant's rules against `points`; opens and resolves alerts
    /// and notifies their channels.
    pub async fn evaluate(
        &self,
        hub: &Hub,
        now_ms: i64,
        points: &[Point],
    ) -> Result<Round, HubError> {
        let rules = self.rules.all().await?;
        let visibility = Visibility::of(hub, &self.default_tenant);
        let changes = {
            let mut evaluator = self
                .evaluator
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            evaluator.evaluate(now_ms, &rules, points, |rule, point| {
                visibility.sees(&rule.tenant, &point.metric, &point.subject)
            })
        };
        let mut round = Round::default();
        for change in changes {
            let (tenant, rule_name, subject) = &change.key;
            let stored = change.rule.as_ref();
            let alert = match (&change.kind, stored) {
                (ChangeKind::Fired { since_ms }, Some(stored)) => {
                    let value = change.value.unwrap_or(f64::NAN);
                    self.alerts
                        .open(&stored.tenant, &stored.rule, subject, value, *since_ms)
                        .await?
                }
                (ChangeKind::Fired { .. }, None) => None,
                (ChangeKind::Resolved, _) => {
                    self.alerts
                        .close(tenant, rule_name, subject, change.value, now_ms)
                        .await?
                }
            };
            let Some(alert) = alert else { continue };
            let tenant_id = TenantId::new(tenant);
            if let Some(stored) = stored {
                self.notify(hub, stored, &alert, now_ms).await?;
            }
            hub.publish(HubEvent::ResourceUpdated {
                tenant: Some(tenant_id),
                uri: resources::ALERTS.to_string(),
            });
            match change.kind {
                ChangeKind::Fired { .. } => round.fired.push(alert),
                ChangeKind::Resolved => round.resolved.push(alert),
            }
        }
        let firing = self.alerts.open_keys().await?.len();
        self.gauges.alerts_firing(firing);
        Ok(round)
    }

    /// Tells the rule's channels of an alert's change, through the automation
    /// toolkit's `notify` as the rule's maker, unless a silence covers it. What was
    /// done is kept with the alert.
    async fn notify(
        &self,
        hub: &Hub,
        stored: &StoredRule,
        alert: &AlertView,
        now_ms: i64,
    ) -> Result<(), HubError> {
        if stored.rule.channels.is_empty() {
            return Ok(());
        }
        let outcome = if self
            .silences
            .silenced(&stored.tenant, &alert.rule, &alert.subject, now_ms)
            .await?
        {
            "silenced: no channel told".to_string()
        } else {
            let ctx = CallContext::new(
                stored.tenant.clone(),
                stored.principal.principal(),
                format!("monitor-{}", uuid::Uuid::now_v7().simple()),
            )
            .with_timeout(Duration::from_secs(30));
            let mut outcomes = Vec::new();
            for channel in &stored.rule.channels {
                let arguments = notification(channel, alert);
                let outcome = match hub.call(&ctx, AUTOMATION, NOTIFY, Some(arguments)).await {
                    Ok(result) if result.is_error != Some(true) => {
                        let delivery = result
                            .structured_content
                            .as_ref()
                            .and_then(|body| body.get("id"))
                            .and_then(Value::as_str)
                            .unwrap_or("queued");
                        format!("{channel}: {delivery}")
                    }
                    Ok(result) => format!("{channel}: refused: {}", text_of(&result)),
                    Err(error) => format!("{channel}: {error}"),
                };
                outcomes.push(outcome);
            }
            outcomes.join("; ")
        };
        tracing::info!(alert = %alert.id, status = %alert.status, %outcome, "alert notification");
        self.alerts
            .record(
                &alert.id,
                now_ms,
                "notified",
                Some("monitor"),
                None,
                Some(&outcome),
            )
            .await
    }

    /// A person resolves an alert; it stays quiet until its condition clears.
    pub async fn resolve(&self, ctx: &CallContext, id: &str) -> Result<AlertView, HubError> {
        let now = now_ms();
        let (alert, resolved) = self
            .alerts
            .resolve(&ctx.tenant, id, &ctx.principal.id, now)
            .await?;
        if resolved {
            self.evaluator
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .hold((
                    ctx.tenant.as_str().to_string(),
                    alert.rule.clone(),
                    alert.subject.clone(),
                ));
            let hub = self.hub()?;
            if let Some(stored) = self
                .rules
                .all()
                .await?
                .into_iter()
                .find(|stored| stored.tenant == ctx.tenant && stored.rule.name == alert.rule)
            {
                self.notify(&hub, &stored, &alert, now).await?;
            }
            hub.publish(HubEvent::ResourceUpdated {
                tenant: Some(ctx.tenant.clone()),
                uri: resources::ALERTS.to_string(),
            });
        }
        Ok(alert)
    }

    /// Rolls samples up and deletes what is past its retention.
    pub async fn maintain(&self, now_ms: i64) -> Result<(), HubError> {
        let rolled = self.series.roll_up(now_ms).await?;
        let retention = self.config.retention_ms();
        let pruned = self.series.prune(now_ms, &retention).await?;
        let longest = retention.iter().map(|(_, kept)| *kept).max().unwrap_or(0);
        self.components.prune(now_ms - longest).await?;
        self.alerts.prune(now_ms - longest).await?;
        self.silences.prune(now_ms).await?;
        tracing::debug!(rolled, pruned, "monitor history maintained");
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The `notify` arguments for an alert's change.
fn notification(channel: &str, alert: &AlertView) -> JsonObject {
    let state = if alert.status == "firing" {
        "FIRING"
    } else {
        "RESOLVED"
    };
    let arguments = json!({
        "channel": channel,
        "subject": format!("[{state}] {} {} on {}", alert.severity, alert.rule, alert.subject),
        "text": alert.summary,
        "data": {"alert": alert},
    });
    match arguments {
        Value::Object(arguments) => arguments,
        _ => JsonObject::new(),
    }
}

fn text_of(result: &tideway_core::mcp::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join(" ")
}
