//! The overview: each component's health with its latency and last error, the
//! tenant's firing alerts (acknowledge, resolve) and live charts of the tool calls'
//! rate, error ratio and p95 latency and the host's CPU and memory.

use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use serde_json::{Value, json};

use super::{Action, Done, Session, done, refused};
use crate::console::{Shared, api::segment, charts};

/// The charts, as (metric, title, unit, subject, floor for the scale).
const CHARTS: &[(&str, &str, &str, Option<&str>, f64)] = &[
    (
        "tool.calls_per_s",
        "Tool calls per second",
        "/s",
        Some("all"),
        1.0,
    ),
    ("tool.error_ratio", "Error ratio", "", Some("all"), 0.05),
    (
        "tool.latency_p95_ms",
        "p95 latency",
        " ms",
        Some("all"),
        10.0,
    ),
    ("host.cpu_percent", "CPU", "%", None, 10.0),
    ("host.memory_percent", "Memory", "%", None, 10.0),
];

async fn charts(console: &Shared, session: &Session) -> Vec<charts::Chart> {
    let reads = CHARTS.iter().map(|(metric, ..)| {
        // Five-second steps: a fresh server draws a line within seconds.
        let path = format!("/api/v1/integration/mcp/analytics/{metric}?window=15m&steps=180");
        async move {
            console
                .api
                .get(&session.caller, &session.request_id, &path)
                .await
        }
    });
    let reports = futures::future::join_all(reads).await;
    CHARTS
        .iter()
        .zip(reports)
        .map(|((_, title, unit, subject, floor), report)| {
            let values = report
                .map(|report| charts::series(&report, *subject))
                .unwrap_or_default();
            charts::line(title, unit, &values, *floor)
        })
        .collect()
}

async fn live_context(console: &Shared, session: &Session) -> Result<Value, Response> {
    let report = console
        .api
        .get(
            &session.caller,
            &session.request_id,
            "/api/v1/system/health-report",
        )
        .await
        .map_err(|refusal| refused(console, session, "overview", &refusal))?;
    Ok(json!({
        "report": report,
        "charts": charts(console, session).await,
    }))
}

pub async fn page(
    State(console): State<Shared>,
    session: Session,
    Query(query): Query<Done>,
) -> Response {
    let mut context = match live_context(&console, &session).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let alerts = console
        .api
        .get(
            &session.caller,
            &session.request_id,
            "/api/v1/system/alerts?status=firing&limit=50",
        )
        .await
        .map(|list| list["alerts"].clone())
        .unwrap_or(Value::Array(Vec::new()));
    context["alerts"] = alerts;
    context["title"] = "Overview".into();
    context["done"] = query.word().into();
    console
        .views
        .page("overview.html", &session, "overview", context)
}

/// The live part of the overview, which the page's script fetches every few seconds.
pub async fn live(State(console): State<Shared>, session: Session) -> Response {
    match live_context(&console, &session).await {
        Ok(context) => console.views.fragment("overview_live.html", context),
        Err(response) => response,
    }
}

/// Acknowledges or resolves an alert.
pub async fn alert_action(
    State(console): State<Shared>,
    Path((id, action)): Path<(String, String)>,
    Action { session, .. }: Action,
) -> Response {
    let (verb, word) = match action.as_str() {
        "acknowledge" => ("acknowledge", "acknowledged"),
        "resolve" => ("resolve", "resolved"),
        _ => {
            return console.views.message(
                axum::http::StatusCode::NOT_FOUND,
                "Not found",
                "An alert can be acknowledged or resolved.",
            );
        }
    };
    let path = format!("/api/v1/system/alerts/{}/{verb}", segment(&id));
    match console
        .api
        .post(&session.caller, &session.request_id, &path, json!({}))
        .await
    {
        Ok(_) => done("/console/overview", word),
        Err(refusal) => refused(&console, &session, "overview", &refusal),
    }
}
