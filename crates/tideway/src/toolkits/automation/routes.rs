//! The automation REST API: schedules, webhooks, event triggers, channels,
//! notifications and deliveries under `/api/v1/automation/...`, the integration path
//! `POST /api/v1/integration/mcp/automation/trigger`, each one tool call through the
//! Hub; and the public inbound webhook routes `POST /hooks/{tenant}/{name}` and
//! `POST /hooks/{token}`, which carry no credential: the signature is the proof, and
//! the run acts as the principal that made the endpoint.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    channels::{ChannelInput, ChannelWithSecret},
    deliveries::DeliveryView,
    event_triggers::{EventTriggerInput, EventTriggerView},
    firings::FiringView,
    schedules::{ScheduleInput, ScheduleView},
    service::{Accepted, Automation, HookPath, Refused},
    target::Started,
    tools::{
        ChannelList, DeliveryList, EventTriggerList, NotifyArgs, ScheduleList, TriggerArgs,
        WebhookList, names,
    },
    webhooks::{WebhookInput, WebhookWithSecret},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

/// An inbound delivery's body: any JSON object, laid under the target's input.
/// Described only: the route reads the raw bytes, to check their signature.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct WebhookDelivery(JsonObject);

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(delete_schedule))
        .routes(routes!(pause_schedule))
        .routes(routes!(resume_schedule))
        .routes(routes!(run_schedule))
        .routes(routes!(list_event_triggers, create_event_trigger))
        .routes(routes!(delete_event_trigger))
        .routes(routes!(pause_event_trigger))
        .routes(routes!(resume_event_trigger))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(rotate_webhook))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(delete_channel))
        .routes(routes!(test_channel))
        .routes(routes!(notify))
        .routes(routes!(list_deliveries))
        .routes(routes!(trigger))
        .routes(routes!(integration_trigger))
        .routes(routes!(receive_named))
        .routes(routes!(receive_token))
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
        ("automation", tool),
        arguments,
        answer,
    )
    .await
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

fn named(name: String) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert("name".into(), Value::String(name));
    arguments
}

/// The tenant's schedules with their next fire times and latest firings.
#[utoipa::path(get, path = "/api/v1/automation/schedules", tag = "automation",
    responses((status = 200, body = ScheduleList)))]
async fn list_schedules(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_SCHEDULES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Makes a schedule; it acts as the caller.
#[utoipa::path(post, path = "/api/v1/automation/schedules", tag = "automation",
    request_body = ScheduleInput,
    responses((status = 201, body = ScheduleView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_SCHEDULE,
        body,
        Answer::Created(None),
    )
    .await
}

/// Deletes a schedule and its firing history.
#[utoipa::path(delete, path = "/api/v1/automation/schedules/{name}", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_SCHEDULE,
        named(name),
        Answer::NoContent,
    )
    .await
}

/// Pauses a schedule.
#[utoipa::path(post, path = "/api/v1/automation/schedules/{name}/pause", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404, body = Problem)))]
async fn pause_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::PAUSE_SCHEDULE,
        named(name),
        Answer::Ok,
    )
    .await
}

/// Resumes a schedule from its next due time after now.
#[utoipa::path(post, path = "/api/v1/automation/schedules/{name}/resume", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404, body = Problem)))]
async fn resume_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::RESUME_SCHEDULE,
        named(name),
        Answer::Ok,
    )
    .await
}

/// Fires a schedule once now.
#[utoipa::path(post, path = "/api/v1/automation/schedules/{name}/run", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = FiringView), (status = 404, body = Problem)))]
async fn run_schedule(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::RUN_SCHEDULE_NOW,
        named(name),
        Answer::Ok,
    )
    .await
}

/// The tenant's event triggers with their latest runs.
#[utoipa::path(get, path = "/api/v1/automation/event-triggers", tag = "automation",
    responses((status = 200, body = EventTriggerList)))]
async fn list_event_triggers(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_EVENT_TRIGGERS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Makes an event trigger; what it starts acts as the caller.
#[utoipa::path(post, path = "/api/v1/automation/event-triggers", tag = "automation",
    request_body = EventTriggerInput,
    responses((status = 201, body = EventTriggerView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_event_trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_EVENT_TRIGGER,
        body,
        Answer::Created(None),
    )
    .await
}

/// Deletes an event trigger and its firing history.
#[utoipa::path(delete, path = "/api/v1/automation/event-triggers/{name}", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_event_trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_EVENT_TRIGGER,
        named(name),
        Answer::NoContent,
    )
    .await
}

/// Pauses an event trigger.
#[utoipa::path(post, path = "/api/v1/automation/event-triggers/{name}/pause", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = EventTriggerView), (status = 404, body = Problem)))]
async fn pause_event_trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::PAUSE_EVENT_TRIGGER,
        named(name),
        Answer::Ok,
    )
    .await
}

/// Resumes an event trigger from now.
#[utoipa::path(post, path = "/api/v1/automation/event-triggers/{name}/resume", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = EventTriggerView), (status = 404, body = Problem)))]
async fn resume_event_trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::RESUME_EVENT_TRIGGER,
        named(name),
        Answer::Ok,
    )
    .await
}

/// The tenant's inbound webhooks (never their secrets).
#[utoipa::path(get, path = "/api/v1/automation/webhooks", tag = "automation",
    responses((status = 200, body = WebhookList)))]
async fn list_webhooks(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_WEBHOOKS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Makes an inbound webhook; its signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/automation/webhooks", tag = "automation",
    request_body = WebhookInput,
    responses((status = 201, body = WebhookWithSecret), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_webhook(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_WEBHOOK,
        body,
        Answer::Created(None),
    )
    .await
}

/// Deletes an inbound webhook.
#[utoipa::path(delete, path = "/api/v1/automation/webhooks/{name}", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_webhook(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_WEBHOOK,
        named(name),
        Answer::NoContent,
    )
    .await
}

/// Gives a webhook a new signing secret; the old one stops working.
#[utoipa::path(post, path = "/api/v1/automation/webhooks/{name}/rotate", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = WebhookWithSecret), (status = 404, body = Problem)))]
async fn rotate_webhook(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::ROTATE_WEBHOOK_SECRET,
        named(name),
        Answer::Ok,
    )
    .await
}

/// The tenant's notification channels.
#[utoipa::path(get, path = "/api/v1/automation/channels", tag = "automation",
    responses((status = 200, body = ChannelList)))]
async fn list_channels(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_CHANNELS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Stores a notification channel.
#[utoipa::path(post, path = "/api/v1/automation/channels", tag = "automation",
    request_body = ChannelInput,
    responses((status = 201, body = ChannelWithSecret), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_channel(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(
        &calls,
        caller,
        &headers,
        names::CREATE_CHANNEL,
        body,
        Answer::Created(None),
    )
    .await
}

/// Deletes a notification channel.
#[utoipa::path(delete, path = "/api/v1/automation/channels/{name}", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_channel(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::DELETE_CHANNEL,
        named(name),
        Answer::NoContent,
    )
    .await
}

/// Sends a test notification through a channel now.
#[utoipa::path(post, path = "/api/v1/automation/channels/{name}/test", tag = "automation",
    params(("name" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, body = Problem)))]
async fn test_channel(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::TEST_CHANNEL,
        named(name),
        Answer::Ok,
    )
    .await
}

/// Records a notification; it is sent in the background.
#[utoipa::path(post, path = "/api/v1/automation/notify", tag = "automation",
    request_body = NotifyArgs,
    responses((status = 202, body = DeliveryView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn notify(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let response = with_body(&calls, caller, &headers, names::NOTIFY, body, Answer::Ok).await;
    accepted_if_ok(response)
}

/// The tenant's latest notification deliveries (`?channel=`, `?limit=`).
#[utoipa::path(get, path = "/api/v1/automation/deliveries", tag = "automation",
    params(("channel" = Option<String>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = DeliveryList)))]
async fn list_deliveries(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(&calls, ("automation", names::LIST_DELIVERIES), query, &[]) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::LIST_DELIVERIES,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Starts a schedule's or webhook's target now, as the caller.
#[utoipa::path(post, path = "/api/v1/automation/trigger", tag = "automation",
    request_body = TriggerArgs,
    responses((status = 202, body = Started), (status = 404, body = Problem)))]
async fn trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let response = with_body(&calls, caller, &headers, names::TRIGGER, body, Answer::Ok).await;
    accepted_if_ok(response)
}

/// The integration path for starting an automation now, as the caller.
#[utoipa::path(post, path = "/api/v1/integration/mcp/automation/trigger", tag = "automation",
    request_body = TriggerArgs,
    responses((status = 202, body = Started), (status = 404, body = Problem)))]
async fn integration_trigger(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let response = with_body(&calls, caller, &headers, names::TRIGGER, body, Answer::Ok).await;
    accepted_if_ok(response)
}

/// What started in the background answers 202.
fn accepted_if_ok(mut response: Response) -> Response {
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::ACCEPTED;
    }
    response
}

/// An inbound webhook delivery, by tenant and name. No credential: the signature
/// (`X-Signature` with `X-Timestamp`, or `X-Hub-Signature-256`) is checked instead.
/// An unknown path and a wrong signature get the same answer.
#[utoipa::path(post, path = "/hooks/{tenant}/{name}", tag = "automation",
    params(("tenant" = String, Path), ("name" = String, Path)),
    request_body(content = WebhookDelivery, description = "A JSON object: the target's input"),
    responses((status = 202, description = "The run was recorded", body = Accepted),
        (status = 200, description = "A repeated delivery: the run it started", body = Accepted),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)),
    security(()))]
async fn receive_named(
    State(calls): State<Calls>,
    headers: HeaderMap,
    Path((tenant, name)): Path<(String, String)>,
    body: Body,
) -> Response {
    receive(
        &calls,
        HookPath::Named {
            tenant: &tenant,
            name: &name,
        },
        &headers,
        body,
    )
    .await
}

/// An inbound webhook delivery at its unguessable path.
#[utoipa::path(post, path = "/hooks/{token}", tag = "automation",
    params(("token" = String, Path)),
    request_body(content = WebhookDelivery, description = "A JSON object: the target's input"),
    responses((status = 202, description = "The run was recorded", body = Accepted),
        (status = 200, description = "A repeated delivery: the run it started", body = Accepted),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)),
    security(()))]
async fn receive_token(
    State(calls): State<Calls>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    receive(&calls, HookPath::Token(&token), &headers, body).await
}

async fn receive(calls: &Calls, path: HookPath<'_>, headers: &HeaderMap, body: Body) -> Response {
    let request_id = crate::api::toolkits::request_id(headers);
    let not_accepted = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no webhook here accepts this request (the path is unknown, or the signature is missing or wrong)",
        )
        .with_request_id(&request_id)
        .into_response()
    };
    let Some(automation) = calls.hub.shared::<Automation>() else {
        return not_accepted();
    };
    let limit = automation.config.max_webhook_body_bytes;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("body: a webhook delivery may be at most {limit} bytes"),
            )
            .with_request_id(&request_id)
            .into_response();
        }
    };
    match automation.receive(path, headers, &body, &request_id).await {
        Ok(accepted) => {
            let status = if accepted.duplicate {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (status, axum::Json(json!(accepted))).into_response()
        }
        Err(Refused::NotAccepted) => not_accepted(),
        Err(Refused::Stale { skew_secs }) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale-delivery",
            format!(
                "X-Timestamp: the signed time is {skew_secs} s from this server's clock, outside the {} s window; a replay is refused",
                automation.config.replay_window_secs
            ),
        )
        .with_request_id(&request_id)
        .into_response(),
        Err(Refused::Body(message)) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-arguments",
            format!("body: {message}"),
        )
        .with_request_id(&request_id)
        .into_response(),
        Err(Refused::Failed(error)) => Problem::from_hub(error, &request_id).into_response(),
    }
}
