//! Every component's health as this server last checked it, and each change of
//! state recorded as a transition (availability is read from those). Components are
//! the store, each registered toolkit (each federated server is a toolkit of its
//! own) and each toolkit's parts in use (a tenant's database source, Kafka cluster,
//! cloud account, model provider, agent); their checks run on the same path and
//! credentials as real calls.

use std::{collections::HashMap, sync::Mutex};

use serde::Serialize;
use tideway_core::{Health, HealthStatus, HubError, Store, error::bounded, on_store};

use super::series::Point;

pub mod metrics {
    /// 1 healthy, 0.5 degraded, 0 down.
    pub const UP: &str = "component.up";
    pub const LATENCY: &str = "component.latency_ms";
}

/// The longest detail kept with a transition.
const MAX_DETAIL: usize = 500;

/// The store's component name.
pub const STORE: &str = "store";

/// A part's component name: `{toolkit}/{tenant}/{part}`. Toolkit names and tenant
/// ids hold no `/`, so the name reads back unambiguously, and which tenant may see a
/// part's series stays known after the part itself is gone.
pub fn part_name(toolkit: &str, tenant: &str, part: &str) -> String {
    format!("{toolkit}/{tenant}/{part}")
}

/// The toolkit a component belongs to and, for a part, its tenant (`store` gives
/// `("store", None)`).
pub fn owner_of(name: &str) -> (&str, Option<&str>) {
    let mut segments = name.splitn(3, '/');
    let toolkit = segments.next().unwrap_or(name);
    match (segments.next(), segments.next()) {
        (Some(tenant), Some(_)) => (toolkit, Some(tenant)),
        _ => (toolkit, None),
    }
}

/// One component's check result.
pub struct Check {
    pub name: String,
    /// `store`, `toolkit`, or the part's kind (`source`, `cluster`, ...).
    pub kind: &'static str,
    pub health: Health,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComponentState {
    pub name: String,
    /// `store`, `toolkit`, or a part's kind (`source`, `cluster`, `account`,
    /// `provider`, `agent`); `part` for a part not checked since this server started.
    pub kind: &'static str,
    /// `healthy`, `degraded` or `down`.
    pub status: &'static str,
    pub latency_ms: Option<f64>,
    /// What is wrong, when not healthy.
    pub last_error: Option<String>,
    /// When it entered this status (milliseconds since the epoch).
    pub since_ms: i64,
    pub checked_ms: i64,
}

/// One change of state.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Transition {
    pub component: String,
    pub at_ms: i64,
    pub status: String,
    pub detail: Option<String>,
}

pub fn status_name(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Down => "down",
    }
}

fn up_value(status: HealthStatus) -> f64 {
    match status {
        HealthStatus::Healthy => 1.0,
        HealthStatus::Degraded => 0.5,
        HealthStatus::Down => 0.0,
    }
}

pub struct Components {
    store: Store,
    replica: String,
    /// Replaced whole on each check; read by reports between checks.
    states: Mutex<HashMap<String, ComponentState>>,
}

impl Components {
    pub fn new(store: Store, replica: String) -> Self {
        Components {
            store,
            replica,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Takes up the states this server recorded before it restarted, so a component
    /// healthy since yesterday is not reported as healthy since now.
    pub async fn load(&self) -> Result<(), HubError> {
        let rows: Vec<Transition> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT t.component, t.at_ms, t.status, t.detail FROM monitor_transitions t \
                 JOIN (SELECT component, MAX(at_ms) AS at_ms FROM monitor_transitions WHERE replica = $1 GROUP BY component) last \
                 ON t.component = last.component AND t.at_ms = last.at_ms WHERE t.replica = $1",
            )
            .bind(&self.replica)
            .fetch_all(pool)
            .await
        })?;
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for row in rows {
            let status = match row.status.as_str() {
                "healthy" => "healthy",
                "degraded" => "degraded",
                _ => "down",
            };
            let kind = match owner_of(&row.component) {
                (STORE, None) => "store",
                (_, None) => "toolkit",
                (_, Some(_)) => "part",
            };
            states.insert(
                row.component.clone(),
                ComponentState {
                    name: row.component,
                    kind,
                    status,
                    latency_ms: None,
                    last_error: row.detail,
                    since_ms: row.at_ms,
                    checked_ms: row.at_ms,
                },
            );
        }
        Ok(())
    }

    /// Takes the results of one round of checks made at `now_ms`: records the
    /// components whose status changed and answers their figures as points.
    pub async fn observe(&self, now_ms: i64, checks: Vec<Check>) -> Result<Vec<Point>, HubError> {
        let mut points = Vec::with_capacity(checks.len() * 2);
        let mut changed = Vec::new();
        let mut next = HashMap::with_capacity(checks.len());
        {
            let states = self
                .states
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for Check { name, kind, health } in checks {
                let status = status_name(health.status);
                points.push(Point::new(metrics::UP, &name, up_value(health.status)));
                if let Some(latency) = health.latency_ms {
                    points.push(Point::new(metrics::LATENCY, &name, latency));
                }
                let detail = health
                    .detail
                    .map(|detail| bounded(&detail, MAX_DETAIL).into_owned());
                let previous = states.get(&name);
                let since_ms = match previous {
                    Some(previous) if previous.status == status => previous.since_ms,
                    _ => {
                        changed.push(Transition {
                            component: name.clone(),
                            at_ms: now_ms,
                            status: status.to_string(),
                            detail: detail.clone(),
                        });
                        now_ms
                    }
                };
                let last_error = if health.status == HealthStatus::Healthy {
                    previous.and_then(|previous| previous.last_error.clone())
                } else {
                    detail
                };
                next.insert(
                    name.clone(),
                    ComponentState {
                        name,
                        kind,
                        status,
                        latency_ms: health.latency_ms,
                        last_error,
                        since_ms,
                        checked_ms: now_ms,
                    },
                );
            }
        }
        for transition in &changed {
            on_store!(&self.store, pool => {
                sqlx::query(
                    "INSERT INTO monitor_transitions (replica, component, at_ms, status, detail) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&self.replica)
                .bind(&transition.component)
                .bind(transition.at_ms)
                .bind(&transition.status)
                .bind(&transition.detail)
                .execute(pool)
                .await
                .map(|_| ())
            })?;
        }
        *self
            .states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
        Ok(points)
    }

    /// The components as last checked, by name.
    pub fn current(&self) -> Vec<ComponentState> {
        let states = self
            .states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut current: Vec<ComponentState> = states.values().cloned().collect();
        current.sort_by(|a, b| a.name.cmp(&b.name));
        current
    }

    /// This server's transitions of `component` (or of every component) in
    /// `[from_ms, to_ms)`, with the last one before `from_ms` (the state the window
    /// opened in), oldest first.
    pub async fn transitions(
        &self,
        component: Option<&str>,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<Vec<Transition>, HubError> {
        let rows: Vec<Transition> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT component, at_ms, status, detail FROM monitor_transitions t \
                 WHERE replica = $1 AND ($2 IS NULL OR component = $2) AND at_ms < $4 AND ( \
                   at_ms >= $3 OR at_ms = (SELECT MAX(at_ms) FROM monitor_transitions b \
                     WHERE b.replica = t.replica AND b.component = t.component AND b.at_ms < $3)) \
                 ORDER BY component, at_ms",
            )
            .bind(&self.replica)
            .bind(component)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes transitions older than `before_ms`, keeping each component's latest.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query(
                "DELETE FROM monitor_transitions WHERE at_ms < $1 AND at_ms < (SELECT MAX(at_ms) \
                 FROM monitor_transitions b WHERE b.replica = monitor_transitions.replica \
                 AND b.component = monitor_transitions.component)",
            )
            .bind(before_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }
}
