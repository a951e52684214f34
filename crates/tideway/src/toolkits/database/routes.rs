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

/// Registers a database source (admin only). The password is sealed at rest and never
/// returned; the answer includes a connection test. With `replace: true` an existing
/// source of that name is replaced (200) instead of refused (409).
#[utoipa::path(post, path = "/api/v1/sources", tag = "database",
    request_body(content = ref("#/components/schemas/tool.database.connect_source"), description = "The source: its name, kind and where it is"),
    responses((status = 201, body = ref("#/components/schemas/tool.database.connect_source.result"), description = "Registered; Location names the source"),
        (status = 200, body = ref("#/components/schemas/tool.database.connect_source.result"), description = "Replaced"),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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

/// Lists the tenant's database sources and those the configuration declares, without
/// their credentials.
#[utoipa::path(get, path = "/api/v1/sources", tag = "database",
    responses((status = 200, body = ref("#/components/schemas/tool.database.list_sources.result"))))]
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

/// One source, without its credentials.
#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "database",
    params(("id" = String, Path, description = "The source's name")),
    responses((status = 200, body = ref("#/components/schemas/tool.database.list_sources.result/properties/sources/items")), (status = 404, body = Problem)))]
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

/// Removes a source and closes its connections (admin only).
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "database",
    params(("id" = String, Path, description = "The source's name")),
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

/// Connects to a source now: the server's version and the latency, or precisely why
/// the connection failed, with a hint.
#[utoipa::path(post, path = "/api/v1/sources/{id}/test", tag = "database",
    params(("id" = String, Path, description = "The source's name")),
    responses((status = 200, body = ref("#/components/schemas/tool.database.test_connection.result")), (status = 404, body = Problem)))]
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

/// Runs one read-only SQL statement on a source, with bound parameters, a row cap and
/// the caller's deadline; the same as the `query_database` tool.
#[utoipa::path(post, path = "/api/v1/integration/mcp/database/query", tag = "database",
    request_body(content = ref("#/components/schemas/tool.database.query_database"), description = "The statement, its parameters and the source"),
    responses((status = 200, body = ref("#/components/schemas/tool.database.query_database.result")), (status = 422, body = Problem)))]
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
