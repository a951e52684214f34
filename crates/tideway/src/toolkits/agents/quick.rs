//! Quick actions: one REST call for a common job, each a thin start of a named
//! workflow or agent through the Hub (`analyze-revenue` and `customer-support` start
//! the built-in templates of those names; `generate-proposal` gives the content
//! creator a task, `optimize-schedule` the operations manager). They answer with the
//! run as it stands, or its result with `Prefer: wait=N`.

use std::sync::Arc;

use axum::{extract::State, http::HeaderMap, response::IntoResponse, response::Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tideway_core::mcp::JsonObject;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    routes::prefer_wait,
    tools::{RunView, names},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, body_arguments},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(analyze_revenue))
        .routes(routes!(customer_support))
        .routes(routes!(generate_proposal))
        .routes(routes!(optimize_schedule))
}

/// Starts built-in template `template` with the body as its input.
async fn workflow(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    template: &str,
    body: Value,
) -> Response {
    let input = match body_arguments(body, None, &HeaderMap::new()) {
        Ok(input) => input,
        Err(problem) => return problem.into_response(),
    };
    let mut arguments = JsonObject::new();
    arguments.insert("template_id".into(), json!(template));
    arguments.insert("input".into(), Value::Object(input));
    arguments.insert("wait_secs".into(), json!(prefer_wait(headers).unwrap_or(0)));
    tool_routes::respond(
        calls,
        caller,
        headers,
        ("workflows", "start_workflow"),
        arguments,
        Answer::Ok,
    )
    .await
}

/// The `revenue_analysis` template's input (its schema checks the body).
#[derive(ToSchema)]
#[allow(dead_code)] // Declared for the API description; the template reads the JSON.
pub struct RevenueInput {
    /// The database source to query.
    pub connection_id: String,
    /// A read-only SQL query returning the revenue figures.
    pub query: String,
    /// What the figures cover, e.g. `30d` or `2026-Q3` (default `30d`).
    pub timeframe: Option<String>,
    /// Publish the report as a knowledge article (default true).
    pub publish: Option<bool>,
}

/// The `customer_support` template's input (its schema checks the body).
#[derive(ToSchema)]
#[allow(dead_code)] // Declared for the API description; the template reads the JSON.
pub struct SupportInput {
    pub customer_id: i64,
    pub ticket_id: i64,
    pub question: String,
    /// Escalate whatever the customer's tier.
    pub urgent: Option<bool>,
}

/// What to ask an agent for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickTask {
    /// What is wanted, in a sentence or a page.
    pub request: String,
    /// Facts the agent should work from (a customer, figures, constraints), as JSON.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    pub priority: Option<i64>,
}

/// Gives `agent` the task `purpose` with the body's request and context.
async fn agent_task(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    (agent, purpose): (&str, &str),
    body: Value,
) -> Response {
    let quick: QuickTask = match serde_json::from_value(body) {
        Ok(quick) => quick,
        Err(error) => {
            let error = tideway_core::HubError::invalid_argument("body", error.to_string());
            return Problem::from_hub(error, &crate::api::toolkits::request_id(headers))
                .into_response();
        }
    };
    let mut task = format!("{purpose}\n\n{}", quick.request);
    if let Some(context) = &quick.context {
        task.push_str(&format!("\n\nWork from these facts:\n{context}"));
    }
    let mut arguments = JsonObject::new();
    arguments.insert("agent".into(), json!(agent));
    arguments.insert("task".into(), json!(task));
    arguments.insert("wait_secs".into(), json!(prefer_wait(headers).unwrap_or(0)));
    if let Some(priority) = quick.priority {
        arguments.insert("priority".into(), json!(priority));
    }
    tool_routes::respond(
        calls,
        caller,
        headers,
        (super::BUILTIN.name, names::RUN_AGENT),
        arguments,
        Answer::Ok,
    )
    .await
}

/// Revenue analysis: queries the figures, has the model analyse them and (if asked)
/// publishes the report; the body is the `revenue_analysis` template's input.
#[utoipa::path(post, path = "/api/v1/integration/quick/analyze-revenue", tag = "agents",
    params(("prefer" = Option<String>, Header, description = "wait=N")),
    request_body = RevenueInput,
    responses((status = 200, description = "The workflow run, as the workflows API shows it"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn analyze_revenue(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    workflow(&calls, caller, &headers, "revenue_analysis", body).await
}

/// Customer support: the customer's context and the knowledge base read, a reply
/// drafted, the ticket escalated when it must be; the body is the
/// `customer_support` template's input.
#[utoipa::path(post, path = "/api/v1/integration/quick/customer-support", tag = "agents",
    params(("prefer" = Option<String>, Header, description = "wait=N")),
    request_body = SupportInput,
    responses((status = 200, description = "The workflow run, as the workflows API shows it"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn customer_support(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    workflow(&calls, caller, &headers, "customer_support", body).await
}

/// A proposal drafted by the content creator from the request and its facts.
#[utoipa::path(post, path = "/api/v1/integration/quick/generate-proposal", tag = "agents",
    params(("prefer" = Option<String>, Header, description = "wait=N")),
    request_body = QuickTask,
    responses((status = 200, body = RunView), (status = 422, body = Problem)))]
async fn generate_proposal(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let purpose = "Draft a proposal for the customer: the problem as they see it, what we offer, scope, timeline and price where the facts give them, and next steps.";
    agent_task(&calls, caller, &headers, ("content_creator", purpose), body).await
}

/// A schedule reviewed by the operations manager (workflows, schedules, load) with
/// changes proposed.
#[utoipa::path(post, path = "/api/v1/integration/quick/optimize-schedule", tag = "agents",
    params(("prefer" = Option<String>, Header, description = "wait=N")),
    request_body = QuickTask,
    responses((status = 200, body = RunView), (status = 422, body = Problem)))]
async fn optimize_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let purpose = "Review the schedules, workflows and load you can see and propose a better schedule: what to move, merge or drop, and why.";
    agent_task(
        &calls,
        caller,
        &headers,
        ("operations_manager", purpose),
        body,
    )
    .await
}
