//! The fetch REST API: `POST /api/v1/integration/mcp/fetch` (the seed's shape; the
//! body is the `fetch` tool's arguments), `POST /api/v1/integration/mcp/fetch/request`
//! for `http_request`, and the tenant's connections under `/api/v1/fetch/connections`
//! (storing or deleting one is for the tenant's admins; credentials are never
//! returned). Each route is one tool call through the Hub.

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
    connections::ConnectionInput,
    tools::{ConnectionList, FetchArgs, FetchResult, HttpRequestArgs, HttpResponse, names},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, body_arguments, respond},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(fetch))
        .routes(routes!(request))
        .routes(routes!(list_connections))
        .routes(routes!(put_connection, delete_connection))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
) -> Response {
    respond(
        calls,
        caller,
        headers,
        ("fetch", tool),
        arguments,
        Answer::Ok,
    )
    .await
}

async fn with_body(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    body: Value,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => call(calls, caller, headers, tool, arguments).await,
        Err(problem) => problem.into_response(),
    }
}

/// Fetches a page: Markdown of its main content (or the raw text), one window of it.
#[utoipa::path(post, path = "/api/v1/integration/mcp/fetch", tag = "fetch",
    request_body = FetchArgs,
    responses((status = 200, body = FetchResult), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn fetch(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(&calls, caller, &headers, names::FETCH, body).await
}

/// Makes an HTTP request, through a stored connection if one is named.
#[utoipa::path(post, path = "/api/v1/integration/mcp/fetch/request", tag = "fetch",
    request_body = HttpRequestArgs,
    responses((status = 200, body = HttpResponse), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn request(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    with_body(&calls, caller, &headers, names::HTTP_REQUEST, body).await
}

/// The tenant's HTTP connections (never their credentials).
#[utoipa::path(get, path = "/api/v1/fetch/connections", tag = "fetch",
    responses((status = 200, body = ConnectionList)))]
async fn list_connections(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        names::LIST_HTTP_CONNECTIONS,
        JsonObject::new(),
    )
    .await
}

/// Stores a connection for the tenant (admins); its credential is sealed and never shown.
#[utoipa::path(put, path = "/api/v1/fetch/connections/{name}", tag = "fetch",
    params(("name" = String, Path)),
    request_body = ConnectionInput,
    responses((status = 200), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_connection(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match tool_routes::named_with(name, "connection", body) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                names::SET_HTTP_CONNECTION,
                arguments,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Deletes a connection and its sealed credential (admins).
#[utoipa::path(delete, path = "/api/v1/fetch/connections/{name}", tag = "fetch",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_connection(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    respond(
        &calls,
        caller,
        &headers,
        ("fetch", names::DELETE_HTTP_CONNECTION),
        tool_routes::named(name),
        Answer::NoContent,
    )
    .await
}
