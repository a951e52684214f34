//! What REST routes share when they call a toolkit's tools: a route turns the HTTP
//! request into one tool call through the Hub (so REST gets the same validation,
//! tenant scoping, deadline, metrics and audit as MCP) and answers with the tool's
//! structured result. Query parameters become arguments typed by the tool's schema,
//! so a bad one gets a 422 that names it; `If-Match` becomes `expected_version`; a
//! versioned result carries its version as the ETag.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, Query, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Number, Value};
use tideway_core::{Hub, HubError, mcp::JsonObject};

use crate::{
    api::{
        jobs::Jobs,
        problem::{ApiJson, Problem},
        toolkits::{call_context, request_id},
    },
    app::App,
    auth::Caller,
};

/// What a REST route that calls tools needs from the application, and nothing more:
/// the Hub, the deadlines and the background jobs. Handlers take it as
/// `State<Calls>`; the router's state stays the application, from which it is made.
#[derive(Clone)]
pub struct Calls {
    pub hub: Arc<Hub>,
    pub call_timeout: Duration,
    pub job_timeout: Duration,
    pub jobs: Arc<Jobs>,
}

impl FromRef<Arc<App>> for Calls {
    fn from_ref(app: &Arc<App>) -> Self {
        Calls::of(app)
    }
}

impl Calls {
    /// The application's part that tool-calling routes use.
    pub fn of(app: &App) -> Self {
        Calls {
            hub: app.hub.clone(),
            call_timeout: Duration::from_secs(app.config.limits.call_timeout_secs),
            job_timeout: Duration::from_secs(app.config.limits.job_timeout_secs),
            jobs: app.jobs.clone(),
        }
    }
}

pub type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// How a successful call is answered.
pub enum Answer {
    Ok,
    /// 200, with the ETag taken from the version at this JSON pointer, for a body
    /// whose versioned resource is not at the top (`/ticket/version`).
    OkVersionedAt(&'static str),
    /// 201, with a Location of `{base}/{id}` (or `{base}/{name}`) when the new thing
    /// has a URL of its own.
    Created(Option<&'static str>),
    /// 204 without a body (a deletion).
    NoContent,
}

/// Calls `tool` of `toolkit` for an HTTP request and turns the outcome into a
/// response: the tool's structured result as the body, a problem on failure.
pub async fn respond(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    (toolkit, tool): (&str, &str),
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    match call_for(calls, caller, headers, (toolkit, tool), arguments).await {
        Ok(body) => {
            let version_at = match answer {
                Answer::OkVersionedAt(pointer) => pointer,
                _ => "/version",
            };
            let mut response = match answer {
                Answer::Ok | Answer::OkVersionedAt(_) => {
                    (StatusCode::OK, ApiJson(&body)).into_response()
                }
                Answer::NoContent => return StatusCode::NO_CONTENT.into_response(),
                Answer::Created(base) => {
                    let mut response = (StatusCode::CREATED, ApiJson(&body)).into_response();
                    let key = body
                        .get("id")
                        .and_then(Value::as_i64)
                        .map(|id| id.to_string())
                        .or_else(|| body.get("name").and_then(Value::as_str).map(str::to_string));
                    if let Some(base) = base
                        && let Some(key) = key
                        && let Ok(location) = HeaderValue::from_str(&format!("{base}/{key}"))
                    {
                        response.headers_mut().insert(header::LOCATION, location);
                    }
                    response
                }
            };
            // Versioned resources carry their version as a strong ETag, for If-Match.
            if let Some(version) = body.pointer(version_at).and_then(Value::as_i64)
                && let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\""))
            {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Err(problem) => problem,
    }
}

/// Calls `tool` of `toolkit` for an HTTP request: the tool's structured result, or
/// the problem to answer with.
pub async fn call_for(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    (toolkit, tool): (&str, &str),
    arguments: JsonObject,
) -> Result<Value, Response> {
    call_naming(calls, caller, headers, (toolkit, tool), arguments, &[]).await
}

/// Like `call_for`, for arguments renamed from the query (`rename` as given to
/// `query_arguments`): an argument error names the parameter the caller sent (`q`),
/// not the tool's argument (`search_term`).
pub async fn call_naming(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    (toolkit, tool): (&str, &str),
    arguments: JsonObject,
    rename: &[(&str, &str)],
) -> Result<Value, Response> {
    let request_id = request_id(headers);
    let ctx = call_context(calls, caller, &request_id);
    match calls.hub.call(&ctx, toolkit, tool, Some(arguments)).await {
        Ok(result) => Ok(result.structured_content.unwrap_or(Value::Null)),
        Err(HubError::InvalidArguments { field, message }) => {
            let field = rename
                .iter()
                .find(|(_, to)| *to == field)
                .map(|(from, _)| from.to_string())
                .unwrap_or(field);
            let error = HubError::InvalidArguments { field, message };
            Err(Problem::from_hub(error, &request_id).into_response())
        }
        Err(error) => Err(Problem::from_hub(error, &request_id).into_response()),
    }
}

/// Like `respond`, but with `Prefer: respond-async` the call runs as a background job
/// and the answer is 202 with the job (poll `/api/v1/jobs/{id}`).
pub async fn respond_or_defer(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    (toolkit, tool): (&str, &str),
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    if crate::api::jobs::wants_async(headers) {
        let request_id = request_id(headers);
        let started =
            crate::api::jobs::Jobs::start(calls, caller, &request_id, (toolkit, tool), arguments)
                .await;
        return crate::api::jobs::accepted(started, &request_id);
    }
    respond(calls, caller, headers, (toolkit, tool), arguments, answer).await
}

/// The `properties` of a tool's input schema.
fn argument_schemas(calls: &Calls, toolkit: &str, tool: &str) -> Option<JsonObject> {
    let entry = calls
        .hub
        .entries()
        .into_iter()
        .find(|e| e.name() == toolkit)?;
    let tool = entry.tools.iter().find(|t| t.name == tool)?;
    tool.input_schema.get("properties")?.as_object().cloned()
}

/// The JSON type a schema gives an argument (`integer`, `boolean`, ...), if it names one.
fn argument_type(properties: Option<&JsonObject>, argument: &str) -> Option<String> {
    match properties?.get(argument)?.get("type")? {
        Value::String(kind) => Some(kind.clone()),
        // `["integer", "null"]` for optional arguments.
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .map(str::to_string),
        _ => None,
    }
}

/// Query parameters as tool arguments, typed as the tool's schema says (a query
/// string has only text), so the schema check reports what does not fit, by name.
pub fn query_arguments(
    calls: &Calls,
    (toolkit, tool): (&str, &str),
    query: Q,
    rename: &[(&str, &str)],
) -> Result<JsonObject, Box<Problem>> {
    let Query(pairs) = query.map_err(|rejection| {
        Box::new(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            format!("the query string cannot be read: {rejection}"),
        ))
    })?;
    let properties = argument_schemas(calls, toolkit, tool);
    let mut arguments = JsonObject::new();
    for (key, value) in pairs {
        let key = rename
            .iter()
            .find(|(from, _)| *from == key)
            .map(|(_, to)| to.to_string())
            .unwrap_or(key);
        let value = match argument_type(properties.as_ref(), &key).as_deref() {
            Some("integer") => value
                .parse::<i64>()
                .map(|n| Value::Number(Number::from(n)))
                .unwrap_or(Value::String(value)),
            Some("boolean") if value == "true" || value == "false" => Value::Bool(value == "true"),
            _ => Value::String(value),
        };
        arguments.insert(key, value);
    }
    Ok(arguments)
}

/// The arguments of a tool that acts on one stored thing by its name, taken from the
/// path (`DELETE /…/{name}`).
pub fn named(name: String) -> JsonObject {
    let mut arguments = JsonObject::new();
    arguments.insert("name".into(), Value::String(name));
    arguments
}

/// The arguments of a tool that stores a thing under the name in the path, with the
/// body (a JSON object) as its `field` (`PUT /…/{name}`).
pub fn named_with(name: String, field: &str, body: Value) -> Result<JsonObject, Box<Problem>> {
    let thing = body_arguments(body, None, &HeaderMap::new())?;
    let mut arguments = named(name);
    arguments.insert(field.to_string(), Value::Object(thing));
    Ok(arguments)
}

/// For a route `POST …/{operation}` whose operation is one of a toolkit's tools and
/// whose body is its arguments (files, cloud): an unknown operation is a 404 that
/// lists the ones there are; a known one is called like any other route's tool.
pub async fn respond_to_operation(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    toolkit: &'static str,
    operations: &'static [&'static str],
    operation: &str,
    body: Value,
) -> Response {
    let Some(tool) = operations.iter().find(|name| **name == operation) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-operation",
            format!(
                "no {toolkit} operation named '{}'; the operations are: {}",
                tideway_core::error::excerpt(operation),
                operations.join(", ")
            ),
        )
        .into_response();
    };
    let arguments = match body_arguments(body, None, headers) {
        Ok(arguments) => arguments,
        Err(problem) => return problem.into_response(),
    };
    respond(
        calls,
        caller,
        headers,
        (toolkit, tool),
        arguments,
        Answer::Ok,
    )
    .await
}

/// A JSON body as tool arguments, with the path id added and `If-Match` taken as the
/// expected version.
pub fn body_arguments(
    body: Value,
    id_field: Option<(&str, i64)>,
    headers: &HeaderMap,
) -> Result<JsonObject, Box<Problem>> {
    let mut arguments = match body {
        Value::Object(object) => object,
        Value::Null => JsonObject::new(),
        _ => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-arguments",
                "the body must be a JSON object",
            )
            .into());
        }
    };
    if let Some((field, id)) = id_field {
        arguments.insert(field.to_string(), Value::from(id));
    }
    if let Some(value) = headers.get(header::IF_MATCH) {
        let version = value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse::<i64>().ok());
        match version {
            Some(version) => {
                arguments.insert("expected_version".into(), Value::from(version));
            }
            None => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-if-match",
                    "If-Match must be the ETag of the resource, e.g. \"3\"",
                )
                .into());
            }
        }
    }
    Ok(arguments)
}
