//! The database REST API: `/api/v1/sources` (register, list, read, remove, test) and
//! the seed's `POST /api/v1/integration/mcp/database/query`. Each route calls the
//! matching database tool through the Hub, so REST gets the same role checks,
//! validation, tenant scoping, deadline, metrics and audit as MCP; bodies are the
//! tools' structured results.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::Calls,
        toolkits::{call_context, request_id},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(create_source, list_sources))
        .routes(routes!(get_source, delete_source))
        .routes(routes!(test_source))
        .routes(routes!(query))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
) -> Result<Value, Response> {
    let request_id = request_id(headers);
    let ctx = call_context(calls, caller, &request_id);
    match calls
        .hub
        .call(&ctx, "database", tool, Some(arguments))
        .await
    {
        Ok(result) => Ok(result.structured_content.unwrap_or(Value::Null)),
        Err(error) => Err(Problem::from_hub(error, &request_id).into_response()),
    }
}

fn object(value: Value) -> Result<JsonObject, Box<Problem>> {
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(Box::new(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-arguments",
            "the body must be a JSON object",
        ))),
    }
}

fn arguments(pairs: &[(&str, Value)]) -> JsonObject {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

/// Registers a source: the body is `connect_source`'s arguments (`name`, `kind`,
/// `host`, `port`, `database`, `user`, `password`, `ssl_mode`, `path`, `read_write`,
/// `explain_analyze`, `allow_privileged_role`,
/// `replace`). Admin only. The answer includes a connection test.
#[utoipa::path(post, path = "/api/v1/sources", tag = "database",
    request_body(content = Object, description = "connect_source's arguments"),
    responses((status = 201, body = Object), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_source(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let body = match object(body) {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::CONNECT_SOURCE,
        body,
    )
    .await
    {
        Ok(result) => {
            let status = if result["replaced"] == Value::Bool(true) {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut response = (status, ApiJson(&result)).into_response();
            if let Some(id) = result["source"]["id"].as_str()
                && let Ok(location) = HeaderValue::from_str(&format!("/api/v1/sources/{id}"))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(response) => response,
    }
}

#[utoipa::path(get, path = "/api/v1/sources", tag = "database",
    responses((status = 200, body = Object)))]
async fn list_sources(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::LIST_SOURCES,
        JsonObject::new(),
    )
    .await
    {
        Ok(result) => (StatusCode::OK, ApiJson(&result)).into_response(),
        Err(response) => response,
    }
}

#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "database",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn get_source(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::LIST_SOURCES,
        JsonObject::new(),
    )
    .await
    {
        Ok(result) => {
            let found = result["sources"]
                .as_array()
                .and_then(|sources| sources.iter().find(|source| source["id"] == json!(id)));
            match found {
                Some(source) => (StatusCode::OK, ApiJson(source)).into_response(),
                None => Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("no source named '{id}'"),
                )
                .into_response(),
            }
        }
        Err(response) => response,
    }
}

#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "database",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_source(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let args = arguments(&[("connection_id", json!(id))]);
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::REMOVE_SOURCE,
        args,
    )
    .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

#[utoipa::path(post, path = "/api/v1/sources/{id}/test", tag = "database",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn test_source(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let args = arguments(&[("connection_id", json!(id))]);
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::TEST_CONNECTION,
        args,
    )
    .await
    {
        Ok(result) => (StatusCode::OK, ApiJson(&result)).into_response(),
        Err(response) => response,
    }
}

/// The seed's endpoint: `{"query": "...", "params": [...], "connection_id": "..."}`,
/// answered with `query_database`'s result.
#[utoipa::path(post, path = "/api/v1/integration/mcp/database/query", tag = "database",
    request_body(content = Object, description = "query_database's arguments: query, params, connection_id, max_rows"),
    responses((status = 200, body = Object), (status = 422, body = Problem)))]
async fn query(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let body = match object(body) {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match call(
        &calls,
        caller,
        &headers,
        super::tools::names::QUERY_DATABASE,
        body,
    )
    .await
    {
        Ok(result) => (StatusCode::OK, ApiJson(&result)).into_response(),
        Err(response) => response,
    }
}
