//! The monitor's REST API, each route one tool call through the Hub: the system
//! paths (`/api/v1/system/health-report`, `/performance-trends`, `/availability`,
//! `/alerts`, resolving and acknowledging an alert, alert rules and silences, and
//! `/status`, the complete status as one document) and the analytics path
//! `/api/v1/integration/mcp/analytics/{metric}`. The gateway serves
//! `/api/v1/integration/status` and `/api/v1/integration/mcp/health[/{server}]`
//! (each federated server's connection, circuit and catalog).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    alerts::AlertView,
    reports::{Availability, ComponentView, HealthReport, IntegrationStatus, MetricReport, Trends},
    rules::Rule,
    silences::{SilenceInput, SilenceView},
    tools::{AlertDetail, AlertList, RuleList, SilenceList, names},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

const TOOLKIT: &str = "monitor";

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(health_report))
        .routes(routes!(performance_trends))
        .routes(routes!(availability))
        .routes(routes!(list_alerts))
        .routes(routes!(get_alert))
        .routes(routes!(resolve_alert))
        .routes(routes!(acknowledge_alert))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(list_silences, create_silence))
        .routes(routes!(delete_silence))
        .routes(routes!(system_status))
        .routes(routes!(component_health))
        .routes(routes!(analytics))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    tool_routes::respond(calls, caller, headers, (TOOLKIT, tool), arguments, answer).await
}

/// A call whose arguments are the query string (typed by the tool's schema), with
/// `extra` laid over them.
async fn with_query(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    query: Q,
    extra: &[(&str, Value)],
) -> Response {
    match tool_routes::query_arguments(calls, (TOOLKIT, tool), query, &[]) {
        Ok(mut arguments) => {
            for (name, value) in extra {
                arguments.insert((*name).to_string(), value.clone());
            }
            call(calls, caller, headers, tool, arguments, Answer::Ok).await
        }
        Err(problem) => problem.into_response(),
    }
}

async fn with_body(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    body: Value,
    answer: Answer,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => call(calls, caller, headers, tool, arguments, answer).await,
        Err(problem) => problem.into_response(),
    }
}

fn one(field: &str, value: String) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert(field.to_string(), Value::String(value));
    arguments
}

/// Components, the latest system figures and the tenant's firing alerts.
#[utoipa::path(get, path = "/api/v1/system/health-report", tag = "monitor",
    responses((status = 200, body = HealthReport)))]
async fn health_report(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_HEALTH_REPORT,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Metrics over a window against the window before (`?window=1h`,
/// `?metrics=host.cpu_percent,tool.latency_p95_ms`, `?subject=`).
#[utoipa::path(get, path = "/api/v1/system/performance-trends", tag = "monitor",
    params(("window" = Option<String>, Query), ("metrics" = Option<String>, Query,
        description = "Metric names separated by commas"), ("subject" = Option<String>, Query)),
    responses((status = 200, body = Trends), (status = 422, body = Problem)))]
async fn performance_trends(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    let tool = names::GET_PERFORMANCE_TRENDS;
    match tool_routes::query_arguments(&calls, (TOOLKIT, tool), query, &[]) {
        Ok(mut arguments) => {
            // A query string carries the list as one comma-separated value.
            if let Some(Value::String(list)) = arguments.remove("metrics") {
                let metrics = list
                    .split(',')
                    .map(str::trim)
                    .filter(|metric| !metric.is_empty())
                    .map(|metric| Value::String(metric.to_string()))
                    .collect();
                arguments.insert("metrics".into(), Value::Array(metrics));
            }
            call(&calls, caller, &headers, tool, arguments, Answer::Ok).await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Each component's uptime over 24h, 7d, 30d (`?window=` adds one) against the target.
#[utoipa::path(get, path = "/api/v1/system/availability", tag = "monitor",
    params(("window" = Option<String>, Query), ("component" = Option<String>, Query)),
    responses((status = 200, body = Availability), (status = 404, body = Problem)))]
async fn availability(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    with_query(
        &calls,
        caller,
        &headers,
        names::GET_AVAILABILITY,
        query,
        &[],
    )
    .await
}

/// The tenant's alerts, newest first (`?status=firing|resolved`, `?limit=`).
#[utoipa::path(get, path = "/api/v1/system/alerts", tag = "monitor",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = AlertList), (status = 422, body = Problem)))]
async fn list_alerts(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    with_query(&calls, caller, &headers, names::LIST_ALERTS, query, &[]).await
}

/// One alert with its history.
#[utoipa::path(get, path = "/api/v1/system/alerts/{alert_id}", tag = "monitor",
    params(("alert_id" = String, Path)),
    responses((status = 200, body = AlertDetail), (status = 404, body = Problem)))]
async fn get_alert(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(alert_id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_ALERT,
        one("id", alert_id),
        Answer::Ok,
    )
    .await
}

/// Resolves a firing alert by hand; its rule's channels are told.
#[utoipa::path(post, path = "/api/v1/system/alerts/{alert_id}/resolve", tag = "monitor",
    params(("alert_id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = Problem)))]
async fn resolve_alert(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(alert_id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::RESOLVE_ALERT,
        one("id", alert_id),
        Answer::Ok,
    )
    .await
}

/// Acknowledges a firing alert.
#[utoipa::path(post, path = "/api/v1/system/alerts/{alert_id}/acknowledge", tag = "monitor",
    params(("alert_id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn acknowledge_alert(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(alert_id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::ACKNOWLEDGE_ALERT,
        one("id", alert_id),
        Answer::Ok,
    )
    .await
}

/// The tenant's alert rules.
#[utoipa::path(get, path = "/api/v1/system/alert-rules", tag = "monitor",
    responses((status = 200, body = RuleList)))]
async fn list_rules(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_ALERT_RULES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Makes an alert rule; its notifications are sent as the caller.
#[utoipa::path(post, path = "/api/v1/system/alert-rules", tag = "monitor",
    request_body = Rule,
    responses((status = 201, body = Rule), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_rule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_ALERT_RULE,
        body,
        Answer::Created(None),
    )
    .await
}

/// One alert rule.
#[utoipa::path(get, path = "/api/v1/system/alert-rules/{name}", tag = "monitor",
    params(("name" = String, Path)),
    responses((status = 200, body = Rule), (status = 404, body = Problem)))]
async fn get_rule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_ALERT_RULE,
        one("name", name),
        Answer::Ok,
    )
    .await
}

/// Replaces an alert rule; the name in the path wins over the body's.
#[utoipa::path(put, path = "/api/v1/system/alert-rules/{name}", tag = "monitor",
    params(("name" = String, Path)), request_body = Rule,
    responses((status = 200, body = Rule), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_rule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(mut arguments) => {
            arguments.insert("name".into(), Value::String(name));
            call(
                &calls,
                caller,
                &headers,
                names::UPDATE_ALERT_RULE,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Deletes an alert rule.
#[utoipa::path(delete, path = "/api/v1/system/alert-rules/{name}", tag = "monitor",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_rule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_ALERT_RULE,
        one("name", name),
        Answer::NoContent,
    )
    .await
}

/// The tenant's silences in force.
#[utoipa::path(get, path = "/api/v1/system/silences", tag = "monitor",
    responses((status = 200, body = SilenceList)))]
async fn list_silences(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_SILENCES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Silences the alerts of a rule, a subject or the whole tenant for a while.
#[utoipa::path(post, path = "/api/v1/system/silences", tag = "monitor",
    request_body = SilenceInput,
    responses((status = 201, body = SilenceView), (status = 422, body = Problem)))]
async fn create_silence(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_SILENCE,
        body,
        Answer::Created(None),
    )
    .await
}

/// Ends a silence.
#[utoipa::path(delete, path = "/api/v1/system/silences/{id}", tag = "monitor",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_silence(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_SILENCE,
        one("id", id),
        Answer::NoContent,
    )
    .await
}

/// Everything in one document: toolkits and federated servers, components, system
/// figures, firing alerts.
#[utoipa::path(get, path = "/api/v1/system/status", tag = "monitor",
    responses((status = 200, body = IntegrationStatus)))]
async fn system_status(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_INTEGRATION_STATUS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// One component's health as last checked (`store`, a toolkit, a federated server, or
/// a part as `{toolkit}/{tenant}/{part}` with its slashes percent-encoded).
#[utoipa::path(get, path = "/api/v1/system/components/{name}", tag = "monitor",
    params(("name" = String, Path)),
    responses((status = 200, body = ComponentView), (status = 404, body = Problem)))]
async fn component_health(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_COMPONENT_HEALTH,
        one("name", name),
        Answer::Ok,
    )
    .await
}

/// One metric over a window with a chart-ready series (`?window=`, `?subject=`, `?steps=`).
#[utoipa::path(get, path = "/api/v1/integration/mcp/analytics/{metric}", tag = "monitor",
    params(("metric" = String, Path), ("window" = Option<String>, Query),
        ("subject" = Option<String>, Query), ("steps" = Option<i64>, Query)),
    responses((status = 200, body = MetricReport), (status = 422, body = Problem)))]
async fn analytics(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(metric): Path<String>,
    query: Q,
) -> Response {
    with_query(
        &calls,
        caller,
        &headers,
        names::METRIC_REPORT,
        query,
        &[("metric", Value::String(metric))],
    )
    .await
}
