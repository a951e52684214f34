//! The models REST API under `/api/v1/models`: generate, the recorded generations,
//! and the tenant's providers (storing one or deleting one is for the tenant's
//! admins; keys are never returned; any provider can be tested). Each route is one models tool through the Hub.

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
    GenerateArgs, Generated, GenerationList, ProviderList,
    service::{Generation, ProviderCheck, ProviderInput},
};
use crate::{
    api::{
        problem::{ApiJson, ApiPath, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(list_generations))
        .routes(routes!(get_generation))
        .routes(routes!(list_providers))
        .routes(routes!(put_provider, delete_provider))
        .routes(routes!(test_provider))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
) -> Response {
    tool_routes::respond(
        calls,
        caller,
        headers,
        ("models", tool),
        arguments,
        Answer::Ok,
    )
    .await
}

async fn delete(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    name: String,
) -> Response {
    tool_routes::respond(
        calls,
        caller,
        headers,
        ("models", tool),
        tool_routes::named(name),
        Answer::NoContent,
    )
    .await
}

/// Asks the tenant's language model; the generation is recorded.
#[utoipa::path(post, path = "/api/v1/models/generate", tag = "models",
    request_body = GenerateArgs,
    responses((status = 200, body = Generated), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
async fn generate(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => call(&calls, caller, &headers, super::names::GENERATE, arguments).await,
        Err(problem) => problem.into_response(),
    }
}

/// The tenant's generations, newest first.
#[utoipa::path(get, path = "/api/v1/models/generations", tag = "models",
    params(("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, body = GenerationList)))]
async fn list_generations(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(
        &calls,
        ("models", super::names::LIST_GENERATIONS),
        query,
        &[],
    ) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::names::LIST_GENERATIONS,
                arguments,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// One recorded generation: the request and response, provider and model, outcome,
/// tokens and latency.
#[utoipa::path(get, path = "/api/v1/models/generations/{id}", tag = "models",
    params(("id" = i64, Path)),
    responses((status = 200, body = Generation), (status = 404, body = Problem)))]
async fn get_generation(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Response {
    let mut arguments = JsonObject::new();
    arguments.insert("id".into(), Value::from(id));
    call(
        &calls,
        caller,
        &headers,
        super::names::GET_GENERATION,
        arguments,
    )
    .await
}

/// The model the tenant uses and the providers it may use.
#[utoipa::path(get, path = "/api/v1/models/providers", tag = "models",
    responses((status = 200, body = ProviderList)))]
async fn list_providers(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        super::names::LIST_MODEL_PROVIDERS,
        JsonObject::new(),
    )
    .await
}

/// Stores a provider for the tenant (admins); its API key is sealed and never shown.
#[utoipa::path(put, path = "/api/v1/models/providers/{name}", tag = "models",
    params(("name" = String, Path)),
    request_body = ProviderInput,
    responses((status = 200), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_provider(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match tool_routes::named_with(name, "provider", body) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::names::SET_MODEL_PROVIDER,
                arguments,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Deletes a provider and its sealed API key (admins).
#[utoipa::path(delete, path = "/api/v1/models/providers/{name}", tag = "models",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_provider(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    delete(
        &calls,
        caller,
        &headers,
        super::names::DELETE_MODEL_PROVIDER,
        name,
    )
    .await
}

/// Asks a provider whether it answers, with its key and without spending tokens.
#[utoipa::path(post, path = "/api/v1/models/providers/{name}/test", tag = "models",
    params(("name" = String, Path)),
    responses((status = 200, body = ProviderCheck), (status = 422, body = Problem)))]
async fn test_provider(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let mut arguments = JsonObject::new();
    arguments.insert("name".into(), Value::String(name));
    call(
        &calls,
        caller,
        &headers,
        super::names::TEST_MODEL_PROVIDER,
        arguments,
    )
    .await
}
