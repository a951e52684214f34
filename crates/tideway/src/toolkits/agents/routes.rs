//! The agents' REST API, each route one tool call through the Hub: definitions and
//! runs under `/api/v1/agents` and `/api/v1/agent-runs`, and the integration paths
//! (`/api/v1/integration/agents/health[/{agent_name}]`, `/delegate`, `/workflow`,
//! `/capabilities`). A start waits for the answer when asked with `Prefer: wait=N`.
//! The A2A face (`a2a/`) is mounted here too, outside the API description.

use std::sync::Arc;

use std::convert::Infallible;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::Value;
use tideway_core::{Face, mcp::JsonObject};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    definition::AgentDefinition,
    follow::{Follower, Update},
    remote::RemoteAgent,
    store::AgentVersion,
    team::{TeamHealth, TeamWorkflowArgs},
    tools::{
        AgentList, Capabilities, DelegateArgs, Delegated, RegisterRemoteArgs, RemoteAgentList,
        Removed, RunList, RunView, Saved, names,
    },
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

const TOOLKIT: &str = "agents";

/// The longest `Prefer: wait` honoured, in seconds.
const MAX_PREFER_WAIT: u64 = 600;

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(get_agent, save_agent))
        .routes(routes!(run_agent))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
        .routes(routes!(run_events))
        .routes(routes!(team_health))
        .routes(routes!(agent_health))
        .routes(routes!(delegate))
        .routes(routes!(team_workflow))
        .routes(routes!(capabilities))
        .routes(routes!(list_remote_agents, register_remote_agent))
        .routes(routes!(remove_remote_agent))
        .merge(super::quick::router())
        .merge(super::a2a::router())
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

fn one(field: &str, value: String) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert(field.to_string(), Value::String(value));
    arguments
}

/// The seconds of `Prefer: wait=N`, if the request says so (RFC 7240).
pub fn prefer_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .find_map(|preference| {
            let (name, value) = preference.trim().split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .map(|seconds| seconds.min(MAX_PREFER_WAIT))
}

/// A body's arguments with `wait_secs` from `Prefer: wait` unless the body says.
fn waiting(body: Value, headers: &HeaderMap) -> Result<JsonObject, Box<Problem>> {
    let mut arguments = body_arguments(body, None, &HeaderMap::new())?;
    if let Some(wait) = prefer_wait(headers)
        && !arguments.contains_key("wait_secs")
    {
        arguments.insert("wait_secs".into(), Value::from(wait));
    }
    Ok(arguments)
}

/// What to give an agent.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read by the tool from the JSON; declared for the API description.
pub struct RunRequest {
    pub task: String,
    pub priority: Option<i64>,
    pub wait_secs: Option<u64>,
}

/// The tenant's agents: the built-in roles and its own.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = AgentList)))]
async fn list_agents(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_AGENTS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// One agent's definition (`?version=`).
#[utoipa::path(get, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path), ("version" = Option<i64>, Query)),
    responses((status = 200, body = AgentVersion), (status = 404, body = Problem)))]
async fn get_agent(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(&calls, (TOOLKIT, names::GET_AGENT), query, &[]) {
        Ok(mut arguments) => {
            arguments.insert("name".into(), Value::String(name));
            call(
                &calls,
                caller,
                &headers,
                names::GET_AGENT,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Saves a new version of an agent; the name in the path wins over the body's.
#[utoipa::path(put, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path)), request_body = AgentDefinition,
    responses((status = 200, body = Saved), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn save_agent(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(mut agent) => {
            agent.insert("name".into(), Value::String(name));
            let mut arguments = JsonObject::new();
            arguments.insert("agent".into(), Value::Object(agent));
            call(
                &calls,
                caller,
                &headers,
                names::SAVE_AGENT,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Gives the agent a task; with `Prefer: wait=N` the answer comes back when the run
/// ends within N seconds, otherwise the run as it is (follow it at its URL).
#[utoipa::path(post, path = "/api/v1/agents/{name}/runs", tag = "agents",
    params(("name" = String, Path), ("prefer" = Option<String>, Header, description = "wait=N")),
    request_body = RunRequest,
    responses((status = 200, body = RunView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn run_agent(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match waiting(body, &headers) {
        Ok(mut arguments) => {
            arguments.insert("agent".into(), Value::String(name));
            call(
                &calls,
                caller,
                &headers,
                names::RUN_AGENT,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// The tenant's runs, newest first (`?agent=`, `?status=`, `?limit=`).
#[utoipa::path(get, path = "/api/v1/agent-runs", tag = "agents",
    params(("agent" = Option<String>, Query), ("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = RunList), (status = 422, body = Problem)))]
async fn list_runs(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(&calls, (TOOLKIT, names::LIST_RUNS), query, &[]) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::LIST_RUNS,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// One run with every model turn, tool call and result.
#[utoipa::path(get, path = "/api/v1/agent-runs/{id}", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 404, body = Problem)))]
async fn get_run(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::GET_RUN,
        one("id", id),
        Answer::Ok,
    )
    .await
}

/// Stops a run, queued or mid-call.
#[utoipa::path(post, path = "/api/v1/agent-runs/{id}/cancel", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn cancel_run(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::CANCEL_RUN,
        one("id", id),
        Answer::Ok,
    )
    .await
}

/// The run as it goes, as server-sent events: each recorded event (`model`, `call`,
/// `result`, with its sequence number as the event id) as it is recorded, and a
/// `status` event with the run whenever its status moves, ending after the run
/// ends. `Last-Event-ID` resumes after that event.
#[utoipa::path(get, path = "/api/v1/agent-runs/{id}/events", tag = "agents",
    params(("id" = String, Path), ("last-event-id" = Option<i64>, Header)),
    responses((status = 200, content_type = "text/event-stream", description = "`model`, `call`, `result` and `status` events"),
        (status = 404, body = Problem)))]
async fn run_events(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    let request_id = crate::api::toolkits::request_id(&headers);
    let mut follower = Follower::new(calls, caller, request_id.clone(), Face::Rest, id, after);
    // The first read answers a missing run or a refused caller as a problem.
    let first = match follower.next().await {
        Ok(first) => first,
        Err(error) => return Problem::from_hub(error, &request_id).into_response(),
    };
    let events = stream::unfold(
        (follower, Some(first)),
        |(mut follower, pending)| async move {
            let updates = match pending {
                Some(updates) => updates,
                None if follower.finished() => return None,
                // A read that fails (the run or the store went away) ends the stream.
                None => follower.next().await.ok()?,
            };
            let events: Vec<Result<Event, Infallible>> = updates
                .into_iter()
                .map(|update| Ok(sse_event(update)))
                .collect();
            Some((stream::iter(events), (follower, None)))
        },
    )
    .flatten();
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn sse_event(update: Update) -> Event {
    match update {
        Update::Event(event) => Event::default()
            .event(event.kind.as_str())
            .id(event.seq.to_string())
            .json_data(&event),
        Update::Status(run) => Event::default().event("status").json_data(&run),
    }
    .unwrap_or_else(|_| Event::default().comment("an event that could not be written"))
}

/// Every agent's health: a model to reach, load, recent failures.
#[utoipa::path(get, path = "/api/v1/integration/agents/health", tag = "agents",
    responses((status = 200, body = TeamHealth)))]
async fn team_health(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::AGENT_HEALTH,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// One agent's health.
#[utoipa::path(get, path = "/api/v1/integration/agents/health/{agent_name}", tag = "agents",
    params(("agent_name" = String, Path)),
    responses((status = 200, body = TeamHealth), (status = 404, body = Problem)))]
async fn agent_health(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(agent_name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::AGENT_HEALTH,
        one("agent", agent_name),
        Answer::Ok,
    )
    .await
}

/// Gives a task to the agent that fits it best and has room (`Prefer: wait=N` waits
/// for the answer).
#[utoipa::path(post, path = "/api/v1/integration/agents/delegate", tag = "agents",
    request_body = DelegateArgs,
    responses((status = 200, body = Delegated), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn delegate(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match waiting(body, &headers) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::DELEGATE,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Runs agent tasks as one durable workflow, each passing its answer on.
#[utoipa::path(post, path = "/api/v1/integration/agents/workflow", tag = "agents",
    request_body = TeamWorkflowArgs,
    responses((status = 200, description = "The workflow run, as the workflows API shows it"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn team_workflow(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::RUN_AGENT_WORKFLOW,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// What each agent can do and how busy it is.
#[utoipa::path(get, path = "/api/v1/integration/agents/capabilities", tag = "agents",
    responses((status = 200, body = Capabilities)))]
async fn capabilities(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::AGENT_CAPABILITIES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// The remote A2A agents the tenant registered.
#[utoipa::path(get, path = "/api/v1/remote-agents", tag = "agents",
    responses((status = 200, body = RemoteAgentList)))]
async fn list_remote_agents(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_REMOTE_AGENTS,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Registers a remote A2A agent by its card's URL (admin).
#[utoipa::path(post, path = "/api/v1/remote-agents", tag = "agents",
    request_body = RegisterRemoteArgs,
    responses((status = 201, body = RemoteAgent), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register_remote_agent(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::REGISTER_REMOTE_AGENT,
                arguments,
                Answer::Created(Some("/api/v1/remote-agents")),
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Forgets a remote agent and its credential (admin).
#[utoipa::path(delete, path = "/api/v1/remote-agents/{name}", tag = "agents",
    params(("name" = String, Path)),
    responses((status = 200, body = Removed), (status = 403, body = Problem)))]
async fn remove_remote_agent(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::REMOVE_REMOTE_AGENT,
        one("name", name),
        Answer::Ok,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_read_among_other_preferences_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(prefer_wait(&headers), None);
        headers.insert("prefer", "respond-async, wait=15".parse().expect("header"));
        assert_eq!(prefer_wait(&headers), Some(15));
        headers.insert("prefer", "wait=99999".parse().expect("header"));
        assert_eq!(prefer_wait(&headers), Some(MAX_PREFER_WAIT));
        headers.insert("prefer", "wait=soon".parse().expect("header"));
        assert_eq!(prefer_wait(&headers), None);
    }
}
