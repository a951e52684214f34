//! The workflows REST API: the seed's paths (`GET /api/v1/workflows/templates`,
//! `POST /api/v1/workflows/start/{template_id}` with the input as the body,
//! `GET /api/v1/workflows/executions[/{execution_id}]`,
//! `POST /api/v1/workflows/executions/{execution_id}/cancel`) and the rest of a run's
//! controls, each one tool call through the Hub; and the run's live status as
//! server-sent events.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::stream::{self, Stream};
use serde_json::Value;
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    definition::Template,
    runs::ExecutionView,
    templates::TemplateVersion,
    tools::{ExecutionList, Saved, StepOutput, TemplateList, names},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments, call_for},
    },
    app::App,
    auth::Caller,
};

/// How often the event stream looks at a run (it may run on another server).
const EVENT_POLL: Duration = Duration::from_millis(250);

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(get_template, put_template))
        .routes(routes!(start))
        .routes(routes!(list_executions))
        .routes(routes!(get_execution))
        .routes(routes!(cancel))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(retry))
        .routes(routes!(approve))
        .routes(routes!(step_output))
        .routes(routes!(events))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    tool_routes::respond(
        calls,
        caller,
        headers,
        ("workflows", tool),
        arguments,
        answer,
    )
    .await
}

fn execution(id: String) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert("execution_id".into(), Value::String(id));
    arguments
}

/// The tenant's workflow templates, saved and built in.
#[utoipa::path(get, path = "/api/v1/workflows/templates", tag = "workflows",
    responses((status = 200, body = TemplateList)))]
async fn list_templates(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_WORKFLOW_TEMPLATES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// A template with its steps (the latest version, or `?version=`).
#[utoipa::path(get, path = "/api/v1/workflows/templates/{template_id}", tag = "workflows",
    params(("template_id" = String, Path), ("version" = Option<i64>, Query)),
    responses((status = 200, body = TemplateVersion), (status = 404, body = Problem)))]
async fn get_template(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(template_id): Path<String>,
    query: Q,
) -> Response {
    let mut arguments = match tool_routes::query_arguments(
        &calls,
        ("workflows", names::GET_WORKFLOW_TEMPLATE),
        query,
        &[],
    ) {
        Ok(arguments) => arguments,
        Err(problem) => return problem.into_response(),
    };
    arguments.insert("template_id".into(), Value::String(template_id));
    call(
        &calls,
        caller,
        &headers,
        names::GET_WORKFLOW_TEMPLATE,
        arguments,
        Answer::Ok,
    )
    .await
}

/// Saves a new version of a template; the body is the template, its `id` the one
/// in the path.
#[utoipa::path(put, path = "/api/v1/workflows/templates/{template_id}", tag = "workflows",
    params(("template_id" = String, Path)),
    request_body = Template,
    responses((status = 200, body = Saved), (status = 422, body = Problem)))]
async fn put_template(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(template_id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let mut template = match body_arguments(body, None, &HeaderMap::new()) {
        Ok(template) => template,
        Err(problem) => return problem.into_response(),
    };
    match template.get("id").and_then(Value::as_str) {
        Some(id) if id != template_id => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-arguments",
                format!(
                    "the body's id '{}' differs from the path's '{}'",
                    tideway_core::error::excerpt(id),
                    tideway_core::error::excerpt(&template_id)
                ),
            )
            .into_response();
        }
        _ => {
            template.insert("id".into(), Value::String(template_id));
        }
    }
    let mut arguments = JsonObject::new();
    arguments.insert("template".into(), Value::Object(template));
    call(
        &calls,
        caller,
        &headers,
        names::SAVE_WORKFLOW_TEMPLATE,
        arguments,
        Answer::Ok,
    )
    .await
}

/// Starts a run of a template; the body is the run's input. Answers 202 with the
/// execution at once; the run goes on in the background.
#[utoipa::path(post, path = "/api/v1/workflows/start/{template_id}", tag = "workflows",
    params(("template_id" = String, Path)),
    request_body(content = ref("#/components/schemas/tool.workflows.start_workflow/properties/input"),
        description = "The run's input, which the template's input schema checks, e.g. {\"customer_id\": 1}"),
    responses((status = 202, body = ExecutionView), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn start(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(template_id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let input = match body_arguments(body, None, &HeaderMap::new()) {
        Ok(input) => input,
        Err(problem) => return problem.into_response(),
    };
    let mut arguments = JsonObject::new();
    arguments.insert("template_id".into(), Value::String(template_id));
    arguments.insert("input".into(), Value::Object(input));
    match call_for(
        &calls,
        caller,
        &headers,
        ("workflows", names::START_WORKFLOW),
        arguments,
    )
    .await
    {
        Ok(view) => {
            let location = view["execution_id"]
                .as_str()
                .map(|id| format!("/api/v1/workflows/executions/{id}"));
            let mut response = (StatusCode::ACCEPTED, ApiJson(&view)).into_response();
            if let Some(location) = location
                && let Ok(value) = location.parse()
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::LOCATION, value);
            }
            response
        }
        Err(problem) => problem,
    }
}

/// The tenant's runs, newest first (`?status=`, `?template_id=`, `?limit=`).
#[utoipa::path(get, path = "/api/v1/workflows/executions", tag = "workflows",
    params(("status" = Option<String>, Query), ("template_id" = Option<String>, Query),
        ("limit" = Option<i64>, Query)),
    responses((status = 200, body = ExecutionList), (status = 422, body = Problem)))]
async fn list_executions(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(&calls, ("workflows", names::LIST_EXECUTIONS), query, &[]) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::LIST_EXECUTIONS,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// A run with each step's status, attempts, output and error.
#[utoipa::path(get, path = "/api/v1/workflows/executions/{execution_id}", tag = "workflows",
    params(("execution_id" = String, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = Problem)))]
async fn get_execution(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(execution_id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_EXECUTION,
        execution(execution_id),
        Answer::Ok,
    )
    .await
}

macro_rules! control_route {
    ($name:ident, $path:literal, $tool:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "workflows",
                    params(("execution_id" = String, Path)),
                    responses((status = 200, body = ExecutionView), (status = 404, body = Problem),
                        (status = 409, body = Problem)))]
        async fn $name(
            State(calls): State<Calls>,
            caller: Caller,
            headers: HeaderMap,
            Path(execution_id): Path<String>,
        ) -> Response {
            call(
                &calls,
                caller,
                &headers,
                $tool,
                execution(execution_id),
                Answer::Ok,
            )
            .await
        }
    };
}

control_route!(
    cancel,
    "/api/v1/workflows/executions/{execution_id}/cancel",
    names::CANCEL_EXECUTION,
    "Cancels a run: steps in flight are cancelled, no new step starts."
);
control_route!(
    pause,
    "/api/v1/workflows/executions/{execution_id}/pause",
    names::PAUSE_EXECUTION,
    "Pauses a run: steps in flight finish, no new step starts until it is resumed."
);
control_route!(
    resume,
    "/api/v1/workflows/executions/{execution_id}/resume",
    names::RESUME_EXECUTION,
    "Resumes a paused run."
);
control_route!(
    retry,
    "/api/v1/workflows/executions/{execution_id}/retry",
    names::RETRY_EXECUTION,
    "Runs a failed or cancelled run on from its failed, cancelled and unknown steps."
);

/// The body of an approval: what `approve_step` takes besides the ids in the path.
/// Only the API reference reads this type; the body goes to the tool, which checks it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Approval {
    /// true approves (the step succeeds); false rejects (the step fails).
    approve: bool,
    /// Recorded with the answer.
    comment: Option<String>,
}

/// Answers an approval step: `{"approve": true|false, "comment": "..."}`.
#[utoipa::path(post, path = "/api/v1/workflows/executions/{execution_id}/steps/{step_id}/approve",
    tag = "workflows",
    params(("execution_id" = String, Path), ("step_id" = String, Path)),
    request_body(content = Approval, description = "The answer"),
    responses((status = 200, body = ExecutionView), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn approve(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path((execution_id, step_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let mut arguments = match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => arguments,
        Err(problem) => return problem.into_response(),
    };
    arguments.insert("execution_id".into(), Value::String(execution_id));
    arguments.insert("step_id".into(), Value::String(step_id));
    call(
        &calls,
        caller,
        &headers,
        names::APPROVE_STEP,
        arguments,
        Answer::Ok,
    )
    .await
}

/// One step's whole output: also one the run's view shows as a preview marked
/// `truncated`, with its size as `output_bytes`.
#[utoipa::path(get, path = "/api/v1/workflows/executions/{execution_id}/steps/{step_id}/output",
    tag = "workflows",
    params(("execution_id" = String, Path), ("step_id" = String, Path)),
    responses((status = 200, body = StepOutput), (status = 404, body = Problem)))]
async fn step_output(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path((execution_id, step_id)): Path<(String, String)>,
) -> Response {
    let mut arguments = execution(execution_id);
    arguments.insert("step_id".into(), Value::String(step_id));
    call(
        &calls,
        caller,
        &headers,
        names::GET_STEP_OUTPUT,
        arguments,
        Answer::Ok,
    )
    .await
}

/// The run's live status as server-sent events: an `execution` event with the whole
/// run (as `GET …/executions/{id}` gives it) now and on every change, until it
/// finishes.
#[utoipa::path(get, path = "/api/v1/workflows/executions/{execution_id}/events", tag = "workflows",
    params(("execution_id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream", description = "`execution` events"),
        (status = 404, body = Problem)))]
async fn events(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(execution_id): Path<String>,
) -> Response {
    // The first read answers a missing run or a refused caller as a problem.
    let first = match call_for(
        &calls,
        caller.clone(),
        &headers,
        ("workflows", names::GET_EXECUTION),
        execution(execution_id.clone()),
    )
    .await
    {
        Ok(view) => view,
        Err(problem) => return problem,
    };
    Sse::new(changes(calls, caller, headers, execution_id, first))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Watch {
    calls: Calls,
    caller: Caller,
    headers: HeaderMap,
    execution_id: String,
    /// The last state sent; `None` before the first.
    sent: Option<Value>,
    next: Option<Value>,
    done: bool,
}

fn finished(view: &Value) -> bool {
    matches!(
        view["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

fn changes(
    calls: Calls,
    caller: Caller,
    headers: HeaderMap,
    execution_id: String,
    first: Value,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let watch = Watch {
        calls,
        caller,
        headers,
        execution_id,
        sent: None,
        next: Some(first),
        done: false,
    };
    stream::unfold(watch, |mut watch| async move {
        if watch.done {
            return None;
        }
        loop {
            let view = match watch.next.take() {
                Some(view) => view,
                None => {
                    tokio::time::sleep(EVENT_POLL).await;
                    match call_for(
                        &watch.calls,
                        watch.caller.clone(),
                        &watch.headers,
                        ("workflows", names::GET_EXECUTION),
                        execution(watch.execution_id.clone()),
                    )
                    .await
                    {
                        Ok(view) => view,
                        // The run went away (or the store did): end the stream.
                        Err(_) => return None,
                    }
                }
            };
            if watch.sent.as_ref() == Some(&view) {
                continue;
            }
            watch.done = finished(&view);
            let event = Event::default()
                .event("execution")
                .json_data(&view)
                .unwrap_or_else(|_| Event::default().event("execution"));
            watch.sent = Some(view);
            return Some((Ok(event), watch));
        }
    })
}
