//! The prompt templates' REST API under `/api/v1/prompts` (seed 003's management
//! endpoints): list and create, read, change (`If-Match` for the version you read),
//! delete, versions and restore, render (GET with the arguments as query parameters,
//! or POST), categories and usage statistics, and the seed's short paths
//! (`/api/prompts`, `/api/categories`, `/api/stats`) as aliases. Each route is one
//! prompts tool called through the Hub.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::Value;
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    model::{Template, TemplateInput, TemplatePatch},
    service::PromptStats,
    tools::{CategoryList, Rendered, TemplateList, VersionList},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{self, Answer, Calls, Q, body_arguments},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(categories))
        .routes(routes!(stats))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(versions))
        .routes(routes!(restore))
        .routes(routes!(render_get, render_post))
        // The short paths users of the seed's prompt service already call, served by
        // the same handlers (and documented once, under /api/v1).
        .route("/api/prompts", get(list_templates).post(create_template))
        .route(
            "/api/prompts/{name}/render",
            get(render_get).post(render_post),
        )
        .route("/api/categories", get(categories))
        .route("/api/stats", get(stats))
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    tool_routes::respond(calls, caller, headers, ("prompts", tool), arguments, answer).await
}

fn with_name(body: Value, name: String, headers: &HeaderMap) -> Result<JsonObject, Box<Problem>> {
    let mut arguments = body_arguments(body, None, headers)?;
    arguments.insert("name".into(), Value::String(name));
    Ok(arguments)
}

/// The prompt templates, optionally of one category or with one tag.
#[utoipa::path(get, path = "/api/v1/prompts", tag = "prompts",
    params(("category" = Option<String>, Query), ("tag" = Option<String>, Query)),
    responses((status = 200, body = TemplateList), (status = 422, body = Problem)))]
async fn list_templates(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(
        &calls,
        ("prompts", super::tools::names::LIST_PROMPT_TEMPLATES),
        query,
        &[],
    ) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::tools::names::LIST_PROMPT_TEMPLATES,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Creates a template; it is served as an MCP prompt at once.
#[utoipa::path(post, path = "/api/v1/prompts", tag = "prompts",
    request_body = TemplateInput,
    responses((status = 201, body = Template), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_template(
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
                super::tools::names::CREATE_PROMPT_TEMPLATE,
                arguments,
                Answer::Created(Some("/api/v1/prompts")),
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// The categories, with how many templates each holds.
#[utoipa::path(get, path = "/api/v1/prompts/categories", tag = "prompts",
    responses((status = 200, body = CategoryList)))]
async fn categories(State(calls): State<Calls>, caller: Caller, headers: HeaderMap) -> Response {
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::LIST_PROMPT_CATEGORIES,
        JsonObject::new(),
        Answer::Ok,
    )
    .await
}

/// Renders per template, version and day.
#[utoipa::path(get, path = "/api/v1/prompts/stats", tag = "prompts",
    params(("name" = Option<String>, Query), ("days" = Option<u32>, Query)),
    responses((status = 200, body = PromptStats), (status = 422, body = Problem)))]
async fn stats(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(
        &calls,
        ("prompts", super::tools::names::GET_PROMPT_STATS),
        query,
        &[],
    ) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::tools::names::GET_PROMPT_STATS,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct VersionQuery {
    version: Option<i64>,
}

/// One template, at its current version or `?version=`.
#[utoipa::path(get, path = "/api/v1/prompts/{name}", tag = "prompts",
    params(("name" = String, Path), ("version" = Option<i64>, Query)),
    responses((status = 200, body = Template), (status = 404, body = Problem)))]
async fn get_template(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let mut arguments = tool_routes::named(name);
    if let Some(version) = query.version {
        arguments.insert("version".into(), Value::from(version));
    }
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::GET_PROMPT_TEMPLATE,
        arguments,
        Answer::Ok,
    )
    .await
}

/// Changes a template: a new version. `If-Match` with the ETag read refuses a
/// template changed meanwhile (409).
#[utoipa::path(patch, path = "/api/v1/prompts/{name}", tag = "prompts",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read")),
    request_body = TemplatePatch,
    responses((status = 200, body = Template), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_template(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match with_name(body, name, &headers) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::tools::names::UPDATE_PROMPT_TEMPLATE,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Deletes a template with all its versions.
#[utoipa::path(delete, path = "/api/v1/prompts/{name}", tag = "prompts",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_template(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::DELETE_PROMPT_TEMPLATE,
        tool_routes::named(name),
        Answer::NoContent,
    )
    .await
}

/// Every version of a template, newest first.
#[utoipa::path(get, path = "/api/v1/prompts/{name}/versions", tag = "prompts",
    params(("name" = String, Path)),
    responses((status = 200, body = VersionList), (status = 404, body = Problem)))]
async fn versions(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::LIST_PROMPT_VERSIONS,
        tool_routes::named(name),
        Answer::Ok,
    )
    .await
}

/// Makes a past version current again (as a new version).
#[utoipa::path(post, path = "/api/v1/prompts/{name}/versions/{version}/restore", tag = "prompts",
    params(("name" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = Template), (status = 404, body = Problem)))]
async fn restore(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path((name, version)): Path<(String, i64)>,
) -> Response {
    let mut arguments = tool_routes::named(name);
    arguments.insert("version".into(), Value::from(version));
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::RESTORE_PROMPT_VERSION,
        arguments,
        Answer::Ok,
    )
    .await
}

/// Renders a template; every query parameter but `version` is one of its arguments.
#[utoipa::path(get, path = "/api/v1/prompts/{name}/render", tag = "prompts",
    params(("name" = String, Path), ("version" = Option<i64>, Query)),
    responses((status = 200, body = Rendered), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn render_get(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let mut arguments = tool_routes::named(name);
    let mut template_arguments = JsonObject::new();
    for (key, value) in pairs {
        if key == "version" {
            match value.parse::<i64>() {
                Ok(version) => {
                    arguments.insert("version".into(), Value::from(version));
                }
                Err(_) => {
                    return Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-arguments",
                        format!("version '{value}' is not a number"),
                    )
                    .into_response();
                }
            }
        } else {
            template_arguments.insert(key, Value::String(value));
        }
    }
    arguments.insert("arguments".into(), Value::Object(template_arguments));
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::RENDER_PROMPT,
        arguments,
        Answer::Ok,
    )
    .await
}

/// The body of a render: what `render_prompt` takes besides the name in the path.
/// Only the API reference reads this type; the body goes to the tool, which checks it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct RenderBody {
    /// The template's arguments by name (values are text).
    arguments: std::collections::BTreeMap<String, String>,
    /// Render a past version instead of the current one.
    version: Option<i64>,
}

/// Renders a template: `{"arguments": {...}, "version": n}`.
#[utoipa::path(post, path = "/api/v1/prompts/{name}/render", tag = "prompts",
    params(("name" = String, Path)),
    request_body(content = RenderBody, description = "The template's arguments and, optionally, a version"),
    responses((status = 200, body = Rendered), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn render_post(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    match with_name(body, name, &HeaderMap::new()) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::tools::names::RENDER_PROMPT,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}
