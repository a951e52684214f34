//! Liveness and readiness. `/health` answers as long as the process serves HTTP;
//! `/ready` checks the store and every toolkit and answers 503 when one is down, so a
//! load balancer stops sending traffic to a replica that cannot serve it.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use serde::Serialize;
use tideway_core::{Health, HealthStatus};
use utoipa::ToSchema;

use super::problem::ApiJson;
use crate::app::App;

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `store` or a toolkit's name.
    pub name: String,
    /// `healthy`, `degraded` or `down`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub components: Vec<ComponentHealth>,
}

fn status_name(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Down => "down",
    }
}

fn component(name: String, health: Health) -> ComponentHealth {
    ComponentHealth {
        name,
        status: status_name(health.status).to_string(),
        detail: health.detail,
        latency_ms: health.latency_ms,
    }
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Liveness)))]
pub async fn health(State(app): State<Arc<App>>) -> ApiJson<Liveness> {
    ApiJson(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.started.elapsed().as_secs(),
    })
}

/// Store and toolkit health, checked now.
pub async fn check_all(app: &App) -> Vec<ComponentHealth> {
    let store = match app.store.check_writable().await {
        Ok(latency) => Health::healthy().with_latency(latency),
        Err(error) => Health::down(format!("the store cannot write: {error}")),
    };
    let mut components = vec![component(format!("store ({})", app.store.backend()), store)];
    for (name, health) in app.hub.health(Duration::from_secs(5)).await {
        components.push(component(name, health));
    }
    components
}

/// Readiness: 200 when the store and every toolkit are healthy or degraded, else 503.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(app): State<Arc<App>>) -> impl IntoResponse {
    let components = check_all(&app).await;
    let down = components
        .iter()
        .any(|c| c.status == status_name(HealthStatus::Down));
    let status = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        ApiJson(Readiness {
            status: if down { "not_ready" } else { "ready" },
            components,
        }),
    )
}
