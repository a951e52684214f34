//! Tideway's agents over the agent-to-agent protocol (A2A 1.0, JSON-RPC binding):
//! agent cards (`card.rs`), runs as tasks (`task.rs`), and the methods at `/a2a`
//! (Tideway: a task goes to the agent that fits it best) and `/a2a/{agent}` (one
//! agent). Every method is one or more calls of the agents toolkit's tools through
//! the Hub as the caller, so A2A gets the same keys, tenants, rights, limits and
//! audit as MCP and REST. Streams follow the run as it is recorded.

mod card;
mod errors;
mod task;

pub use card::PROTOCOL_VERSION;

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use tideway_core::{CallContext, Face, HubError, error::excerpt, mcp::JsonObject};
use utoipa_axum::router::OpenApiRouter;

use self::errors::RpcError;
use super::{
    definition::builtin_agents,
    follow::{Follower, Update},
    store::{AgentVersion, RunSummary},
    tools::{AgentList, Delegated, RunList, RunView, names},
};
use crate::{
    api::{
        problem::Problem,
        tool_routes::Calls,
        toolkits::{call_context_on, request_id},
    },
    app::App,
    auth::Caller,
};

/// The longest a `SendMessage` that waits for the task's end holds its request (the
/// call's own deadline may be shorter; the task is then answered as it stands).
const MAX_WAIT_SECS: u64 = 600;
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 100;

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .route("/.well-known/agent-card.json", get(public_card))
        .route("/a2a", post(hub_rpc))
        .route("/a2a/{agent}", post(agent_rpc))
        .route("/a2a/{agent}/.well-known/agent-card.json", get(agent_card))
}

/// Where this server is reached: the configured resource URL's origin when there
/// is one (behind a proxy), otherwise the `Host` the request came to (which the
/// edge guard has checked).
fn base_url(app: &App, headers: &HeaderMap) -> String {
    if let Some(resource) = &app.config.auth.resource_url
        && let Ok(url) = url::Url::parse(resource)
    {
        return url.origin().ascii_serialization();
    }
    let host = headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| app.config.bind.to_string());
    format!("http://{host}")
}

/// Tideway's public card: the built-in roles as skills.
async fn public_card(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    Json(card::hub(&base_url(&app, &headers), builtin_agents())).into_response()
}

/// One of the tenant's agents' card.
async fn agent_card(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(agent): Path<String>,
) -> Response {
    let session = Session::new(&app, caller, &headers, Some(agent));
    match session.card().await {
        Ok(card) => Json(card).into_response(),
        Err(error) => Problem::from_hub(error, &session.request_id).into_response(),
    }
}

async fn hub_rpc(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = Session::new(&app, caller, &headers, None);
    session.handle(&headers, &body).await
}

async fn agent_rpc(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(agent): Path<String>,
    body: Bytes,
) -> Response {
    let session = Session::new(&app, caller, &headers, Some(agent));
    session.handle(&headers, &body).await
}

fn reply(id: &Value, outcome: Result<Value, RpcError>) -> Response {
    let body = match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error.body() }),
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// Parameters as `T`; what does not fit is named by its path.
fn parse_params<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(params).map_err(|error| {
        let path = error.path().to_string();
        let field = match path.as_str() {
            "." | "" => "params".to_string(),
            path => format!("params.{path}"),
        };
        RpcError::invalid_params(&field, error.into_inner())
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    message: InMessage,
    #[serde(default)]
    configuration: SendConfiguration,
    #[serde(default)]
    metadata: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InMessage {
    #[allow(dead_code)] // Required by the protocol; Tideway names its own messages.
    message_id: String,
    context_id: Option<String>,
    task_id: Option<String>,
    role: Option<String>,
    #[serde(default)]
    parts: Vec<InPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InPart {
    text: Option<String>,
    raw: Option<String>,
    url: Option<String>,
    data: Option<Value>,
    filename: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SendConfiguration {
    accepted_output_modes: Vec<String>,
    history_length: Option<u32>,
    return_immediately: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskParams {
    id: String,
    history_length: Option<u32>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ListParams {
    context_id: Option<String>,
    status: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
    history_length: Option<u32>,
    status_timestamp_after: Option<String>,
    include_artifacts: bool,
}

/// What the agent is asked: the message's text parts, its data parts as JSON, and
/// files it points at by URL.
fn task_text(parts: &[InPart]) -> Result<String, RpcError> {
    let mut text = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if let Some(part_text) = &part.text {
            text.push(part_text.clone());
        } else if let Some(data) = &part.data {
            text.push(data.to_string());
        } else if let Some(url) = &part.url {
            let name = part.filename.as_deref().unwrap_or("a file");
            text.push(format!("(attached: {name} at {url})"));
        } else if part.raw.is_some() {
            return Err(RpcError::content_type(format!(
                "params.message.parts[{index}]: Tideway's agents take text, data and files by URL, not raw bytes"
            )));
        }
    }
    let text = text.join("\n");
    match text.trim().is_empty() {
        true => Err(RpcError::invalid_params(
            "params.message.parts",
            "has no text, data or file for the agent to work on",
        )),
        false => Ok(text),
    }
}

/// Whether the client takes what an agent answers (text, or JSON when it has an
/// output schema): an empty list takes anything.
fn accepts_answers(modes: &[String]) -> bool {
    modes.is_empty()
        || modes.iter().any(|mode| {
            matches!(
                mode.as_str(),
                "text/plain" | "text/*" | "*/*" | "application/json"
            )
        })
}

/// One caller's A2A request, at Tideway's endpoint or one agent's.
struct Session {
    calls: Calls,
    caller: Caller,
    request_id: String,
    base: String,
    agent: Option<String>,
}

impl Session {
    fn new(app: &App, caller: Caller, headers: &HeaderMap, agent: Option<String>) -> Self {
        Session {
            calls: Calls::of(app),
            caller,
            request_id: request_id(headers),
            base: base_url(app, headers),
            agent,
        }
    }

    fn ctx(&self) -> CallContext {
        call_context_on(
            &self.calls,
            self.caller.clone(),
            &self.request_id,
            Face::A2a,
        )
    }

    async fn call<T: DeserializeOwned>(&self, tool: &str, arguments: Value) -> Result<T, HubError> {
        let arguments = match arguments {
            Value::Object(arguments) => arguments,
            _ => JsonObject::new(),
        };
        let result = self
            .calls
            .hub
            .call(&self.ctx(), super::BUILTIN.name, tool, Some(arguments))
            .await?;
        serde_json::from_value(result.structured_content.unwrap_or_default())
            .map_err(HubError::internal)
    }

    fn rpc(&self, error: HubError) -> RpcError {
        RpcError::from_hub(error, &self.request_id)
    }

    /// The card of this endpoint for the signed-in tenant.
    async fn card(&self) -> Result<Value, HubError> {
        match &self.agent {
            Some(agent) => {
                let version: AgentVersion = self
                    .call(names::GET_AGENT, json!({ "name": agent }))
                    .await?;
                Ok(card::agent(&self.base, &version))
            }
            None => {
                let list: AgentList = self.call(names::LIST_AGENTS, json!({})).await?;
                Ok(card::hub(
                    &self.base,
                    list.agents.iter().map(|version| &version.agent),
                ))
            }
        }
    }

    async fn handle(self, headers: &HeaderMap, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => return reply(&Value::Null, Err(RpcError::parse(error.to_string()))),
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !matches!(id, Value::String(_) | Value::Number(_)) {
            return reply(
                &Value::Null,
                Err(RpcError::invalid_request(
                    "a request needs an id (a string or a number)",
                )),
            );
        }
        if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return reply(
                &id,
                Err(RpcError::invalid_request("jsonrpc must be \"2.0\"")),
            );
        }
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return reply(
                &id,
                Err(RpcError::invalid_request("a request needs a method")),
            );
        };
        // Without the header a client means the version it found on the card.
        if let Some(asked) = headers.get("a2a-version").and_then(|v| v.to_str().ok())
            && !asked.trim().is_empty()
            && !serves(asked)
        {
            return reply(&id, Err(RpcError::version(asked)));
        }
        let params = request.get("params").cloned().unwrap_or(json!({}));
        tracing::debug!(method = %excerpt(method), agent = ?self.agent, "a2a request");
        match method {
            "SendMessage" => reply(&id, self.send(params).await),
            "SendStreamingMessage" => match self.send_streaming(params).await {
                Ok(first) => self.stream(id, first),
                Err(error) => reply(&id, Err(error)),
            },
            "SubscribeToTask" => match self.subscribe(params).await {
                Ok(first) => self.stream(id, first),
                Err(error) => reply(&id, Err(error)),
            },
            "GetTask" => reply(&id, self.get(params).await),
            "ListTasks" => reply(&id, self.list(params).await),
            "CancelTask" => reply(&id, self.cancel(params).await),
            "GetExtendedAgentCard" => reply(&id, self.card().await.map_err(|e| self.rpc(e))),
            "CreateTaskPushNotificationConfig"
            | "GetTaskPushNotificationConfig"
            | "ListTaskPushNotificationConfigs"
            | "DeleteTaskPushNotificationConfig" => reply(&id, Err(RpcError::push_not_supported())),
            other => reply(&id, Err(RpcError::method_not_found(other))),
        }
    }

    /// Starts a run for a message, waiting `wait_secs` for its end.
    async fn start(
        &self,
        params: Value,
        wait_secs: Option<u64>,
    ) -> Result<(RunSummary, SendConfiguration), RpcError> {
        let params: SendParams = parse_params::<SendParams>(params)?;
        if params.message.role.as_deref() == Some("ROLE_AGENT") {
            return Err(RpcError::invalid_params(
                "params.message.role",
                "a task is asked by the user (ROLE_USER)",
            ));
        }
        if let Some(task_id) = &params.message.task_id {
            // Tideway's agents work a task to its end without asking for more.
            let run = self.run(task_id).await?;
            return Err(RpcError::unsupported(format!(
                "task '{}' is {}; Tideway's agents take no further input on a task. Send a new message (with contextId '{}' to keep the conversation)",
                excerpt(task_id),
                task::state(run.status),
                run.context_id
            )));
        }
        if !accepts_answers(&params.configuration.accepted_output_modes) {
            return Err(RpcError::content_type(
                "params.configuration.acceptedOutputModes: Tideway's agents answer in text/plain or application/json",
            ));
        }
        let text = task_text(&params.message.parts)?;
        let wait = match params.configuration.return_immediately {
            true => 0,
            false => wait_secs.unwrap_or(MAX_WAIT_SECS),
        };
        let mut arguments = json!({ "task": text, "wait_secs": wait });
        if let Some(context_id) = &params.message.context_id {
            arguments["context_id"] = json!(context_id);
        }
        if let Some(priority) = params.metadata.get("priority").and_then(Value::as_i64) {
            arguments["priority"] = json!(priority);
        }
        let run = match &self.agent {
            Some(agent) => {
                arguments["agent"] = json!(agent);
                self.call::<RunView>(names::RUN_AGENT, arguments)
                    .await
                    .map(|view| view.run)
            }
            None => {
                if let Some(capabilities) = params.metadata.get("capabilities") {
                    arguments["capabilities"] = capabilities.clone();
                }
                self.call::<Delegated>(names::DELEGATE, arguments)
                    .await
                    .map(|delegated| delegated.run)
            }
        };
        let run = run.map_err(|error| match error {
            // The endpoint's agent, not a task, is what was missing.
            HubError::NotFound(message) => RpcError::invalid_params("agent", message),
            error => self.rpc(error),
        })?;
        Ok((run, params.configuration))
    }

    async fn send(&self, params: Value) -> Result<Value, RpcError> {
        let (run, configuration) = self.start(params, None).await?;
        Ok(
            json!({ "task": task::task(&run, configuration.history_length.map(|n| n as usize), true) }),
        )
    }

    async fn send_streaming(&self, params: Value) -> Result<RunSummary, RpcError> {
        Ok(self.start(params, Some(0)).await?.0)
    }

    /// A task of this endpoint: another agent's counts as missing here.
    async fn run(&self, id: &str) -> Result<RunSummary, RpcError> {
        let view: RunView = self
            .call(names::GET_RUN, json!({ "id": id, "summary_only": true }))
            .await
            .map_err(|error| match error {
                HubError::NotFound(_) => RpcError::task_not_found(id),
                error => self.rpc(error),
            })?;
        match &self.agent {
            Some(agent) if *agent != view.run.agent => Err(RpcError::task_not_found(id)),
            _ => Ok(view.run),
        }
    }

    async fn get(&self, params: Value) -> Result<Value, RpcError> {
        let params: TaskParams = parse_params::<TaskParams>(params)?;
        let run = self.run(&params.id).await?;
        Ok(task::task(
            &run,
            params.history_length.map(|n| n as usize),
            true,
        ))
    }

    async fn subscribe(&self, params: Value) -> Result<RunSummary, RpcError> {
        let params: TaskParams = parse_params::<TaskParams>(params)?;
        let run = self.run(&params.id).await?;
        if run.status.is_finished() {
            return Err(RpcError::unsupported(format!(
                "task '{}' has ended ({}); GetTask shows it",
                excerpt(&params.id),
                task::state(run.status)
            )));
        }
        Ok(run)
    }

    async fn cancel(&self, params: Value) -> Result<Value, RpcError> {
        let params: TaskParams = parse_params::<TaskParams>(params)?;
        let run = self.run(&params.id).await?;
        if run.status.is_finished() {
            return Err(RpcError::not_cancelable(
                &params.id,
                task::state(run.status),
            ));
        }
        let view: RunView = self
            .call(names::CANCEL_RUN, json!({ "id": params.id }))
            .await
            .map_err(|error| self.rpc(error))?;
        if view.run.status.is_finished() && view.run.status != super::store::RunStatus::Cancelled {
            // It ended on its own before the cancel landed.
            return Err(RpcError::not_cancelable(
                &params.id,
                task::state(view.run.status),
            ));
        }
        Ok(task::task(
            &view.run,
            params.history_length.map(|n| n as usize),
            true,
        ))
    }

    async fn list(&self, params: Value) -> Result<Value, RpcError> {
        let params: ListParams = parse_params::<ListParams>(params)?;
        let page_size = params.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(RpcError::invalid_params(
                "params.pageSize",
                format!("must be 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        let mut arguments = json!({ "limit": page_size });
        if let Some(state) = &params.status {
            match task::statuses(state) {
                // States a run never has: nothing to list.
                Some([]) => {
                    return Ok(
                        json!({ "tasks": [], "nextPageToken": "", "pageSize": page_size, "totalSize": 0 }),
                    );
                }
                Some(statuses) => arguments["status"] = json!(statuses),
                None => {
                    return Err(RpcError::invalid_params(
                        "params.status",
                        format!("'{}' is not a task state", excerpt(state)),
                    ));
                }
            }
        }
        if let Some(agent) = &self.agent {
            arguments["agent"] = json!(agent);
        }
        if let Some(context_id) = &params.context_id {
            arguments["context_id"] = json!(context_id);
        }
        if let Some(after) = &params.status_timestamp_after {
            let after = chrono::DateTime::parse_from_rfc3339(after).map_err(|_| {
                RpcError::invalid_params(
                    "params.statusTimestampAfter",
                    format!("'{}' is not an RFC 3339 time", excerpt(after)),
                )
            })?;
            arguments["changed_since_ms"] = json!(after.timestamp_millis());
        }
        if let Some(token) = params
            .page_token
            .as_deref()
            .filter(|token| !token.is_empty())
        {
            arguments["cursor"] = json!(token);
        }
        let list: RunList = self
            .call(names::LIST_RUNS, arguments)
            .await
            .map_err(|error| match error {
                HubError::InvalidArguments { field, message } if field == "cursor" => {
                    RpcError::invalid_params("params.pageToken", message)
                }
                error => self.rpc(error),
            })?;
        let tasks: Vec<Value> = list
            .runs
            .iter()
            .map(|run| {
                task::task(
                    run,
                    params.history_length.map(|n| n as usize),
                    params.include_artifacts,
                )
            })
            .collect();
        Ok(json!({
            "tasks": tasks,
            "nextPageToken": list.next_cursor.unwrap_or_default(),
            "pageSize": page_size,
            "totalSize": list.total,
        }))
    }

    /// A stream that starts with the task as it is and follows it to its end.
    fn stream(self, id: Value, first: RunSummary) -> Response {
        let mut follower = Follower::new(
            self.calls.clone(),
            self.caller.clone(),
            self.request_id.clone(),
            Face::A2a,
            first.id.clone(),
            -1,
        );
        follower.seen(first.status);
        let opening = vec![json!({ "task": task::task(&first, None, true) })];
        let done = first.status.is_finished();
        let results = stream::unfold(
            (follower, first, Some(opening), done),
            |(mut follower, mut run, pending, done)| async move {
                let results = match pending {
                    Some(results) => results,
                    None if done => return None,
                    None => match follower.next().await {
                        Ok(updates) => {
                            let mut results = Vec::new();
                            for update in updates {
                                match update {
                                    Update::Event(event) => {
                                        results.push(task::event_update(&run, &event))
                                    }
                                    Update::Status(now) => {
                                        run = *now;
                                        if run.status.is_finished()
                                            && let Some(artifact) = task::artifact_update(&run)
                                        {
                                            results.push(artifact);
                                        }
                                        results.push(task::status_update(&run));
                                    }
                                }
                            }
                            results
                        }
                        Err(error) => {
                            let error = RpcError::from_hub(error, "a2a-stream");
                            return Some((vec![Err(error)], (follower, run, None, true)));
                        }
                    },
                };
                let done = done || follower.finished();
                Some((
                    results.into_iter().map(Ok).collect(),
                    (follower, run, None, done),
                ))
            },
        );
        Sse::new(events(id, results))
            .keep_alive(KeepAlive::default())
            .into_response()
    }
}

/// Each result (or error) as one SSE event carrying a JSON-RPC response.
fn events(
    id: Value,
    batches: impl Stream<Item = Vec<Result<Value, RpcError>>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    batches
        .map(move |batch| {
            let id = id.clone();
            stream::iter(batch.into_iter().map(move |outcome| {
                let body = match outcome {
                    Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
                    Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error.body() }),
                };
                Ok(Event::default().data(body.to_string()))
            }))
        })
        .flatten()
}

/// Whether a requested `A2A-Version` (major.minor, any patch) is the one served.
fn serves(asked: &str) -> bool {
    let mut asked = asked.trim().split('.');
    let mut served = card::PROTOCOL_VERSION.split('.');
    asked.next() == served.next() && asked.next().unwrap_or("0") == served.next().unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a2a_one_point_zero_is_served() {
        assert!(serves("1.0"));
        assert!(serves("1.0.3"));
        assert!(serves("1"));
        assert!(!serves("0.3"));
        assert!(!serves("1.1"));
        assert!(!serves("2.0"));
    }

    #[test]
    fn a_message_becomes_the_agents_task_and_raw_bytes_are_refused() {
        let parts: Vec<InPart> = serde_json::from_value(json!([
            { "text": "Summarise this" },
            { "data": { "ticket": 7 } },
            { "url": "https://files.example.com/a.pdf", "filename": "a.pdf" },
        ]))
        .expect("parts");
        let text = task_text(&parts).expect("text");
        assert_eq!(
            text,
            "Summarise this\n{\"ticket\":7}\n(attached: a.pdf at https://files.example.com/a.pdf)"
        );
        let raw: Vec<InPart> = serde_json::from_value(json!([{ "raw": "AAEC" }])).expect("parts");
        assert_eq!(task_text(&raw).map_err(|e| e.code).err(), Some(-32005));
        assert_eq!(task_text(&[]).map_err(|e| e.code).err(), Some(-32602));
    }

    #[test]
    fn a_bad_parameter_is_named_by_its_path() {
        let error = parse_params::<SendParams>(
            json!({ "message": { "messageId": "m", "parts": [{ "text": 5 }] } }),
        )
        .err()
        .expect("refused");
        assert_eq!(error.code, -32602);
        assert!(
            error.message.starts_with("params.message.parts[0].text:"),
            "{}",
            error.message
        );
    }

    #[test]
    fn answers_go_to_clients_that_take_text_or_json() {
        assert!(accepts_answers(&[]));
        assert!(accepts_answers(&["image/png".into(), "text/plain".into()]));
        assert!(!accepts_answers(&["image/png".into()]));
    }
}
