//! The catalog and the generic tool call: `GET /api/v1/toolkits` lists what is
//! enabled (`GET /api/v1/toolkits/{name}` one toolkit of it), `POST /api/v1/tools/{toolkit}/{tool}` calls any tool through the Hub with
//! the same validation, deadline, metrics and audit as an MCP call.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use tideway_core::{
    CallContext, Face, HubError, NameCollision, Principal, hub::Entry, mcp::ContentBlock,
};
use utoipa::ToSchema;

use super::{
    problem::{ApiJson, Problem},
    tool_routes::Calls,
};
use crate::auth::Caller;

#[derive(Serialize, ToSchema)]
pub struct ToolInfo {
    /// The name on `/mcp/{toolkit}`.
    pub name: String,
    /// The name on `/mcp`; absent when another tool holds that name there (see
    /// `collisions`).
    pub qualified_name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub annotations: Option<Value>,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    #[schema(value_type = Object)]
    pub output_schema: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ToolkitInfo {
    pub name: String,
    pub description: String,
    pub tools: Vec<ToolInfo>,
    pub prompts: usize,
    pub resource_templates: usize,
    /// Tools and prompts left off `/mcp` because their name there is taken.
    #[schema(value_type = Vec<Object>)]
    pub collisions: Vec<NameCollision>,
}

/// Every enabled toolkit with its tools.
#[utoipa::path(get, path = "/api/v1/toolkits", tag = "toolkits",
    responses((status = 200, body = Vec<ToolkitInfo>)))]
pub async fn list_toolkits(
    State(calls): State<Calls>,
    caller: Caller,
) -> ApiJson<Vec<ToolkitInfo>> {
    let principal = &caller.principal;
    let toolkits = calls
        .hub
        .entries()
        .iter()
        .filter(|entry| {
            entry.shown_to(principal) && entry.callable_tools(principal).next().is_some()
        })
        .map(|entry| toolkit_info(entry, principal))
        .collect();
    ApiJson(toolkits)
}

/// One enabled toolkit with the tools the caller may call; 404 when it is not
/// enabled or the caller may call none of its tools (as the list leaves it out).
#[utoipa::path(get, path = "/api/v1/toolkits/{name}", tag = "toolkits",
    params(("name" = String, Path)),
    responses((status = 200, body = ToolkitInfo), (status = 404, body = Problem)))]
pub async fn get_toolkit(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let principal = &caller.principal;
    let entries = calls.hub.entries();
    let found = entries.iter().find(|entry| {
        entry.name() == name
            && entry.shown_to(principal)
            && entry.callable_tools(principal).next().is_some()
    });
    match found {
        Some(entry) => ApiJson(toolkit_info(entry, principal)).into_response(),
        None => {
            // The same answer as a call to a tool of a toolkit that is not there.
            let shown: String = name.chars().take(64).collect();
            Problem::from_hub(HubError::UnknownToolkit(shown), &request_id(&headers))
                .into_response()
        }
    }
}

fn toolkit_info(entry: &Entry, principal: &Principal) -> ToolkitInfo {
    ToolkitInfo {
        name: entry.name().to_string(),
        description: entry.toolkit.description().to_string(),
        tools: entry
            .callable_tools(principal)
            .map(|tool| ToolInfo {
                name: tool.name.to_string(),
                qualified_name: entry.mcp_tool_name(&tool.name).map(str::to_string),
                description: tool.description.as_ref().map(|d| d.to_string()),
                annotations: tool
                    .annotations
                    .as_ref()
                    .and_then(|a| serde_json::to_value(a).ok()),
                input_schema: Value::Object((*tool.input_schema).clone()),
                output_schema: tool
                    .output_schema
                    .as_ref()
                    .map(|s| Value::Object((**s).clone())),
            })
            .collect(),
        prompts: entry.prompts.len(),
        resource_templates: entry.templates.len(),
        collisions: entry.collisions.clone(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ToolCallResult {
    /// The tool's typed result, when it has an output schema.
    #[schema(value_type = Object)]
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// The MCP content blocks (text, images, embedded resources).
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<Value>,
}

pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The call context of a REST request: the caller the edge verified (the local user
/// when no authentication is configured), the request id and the call deadline.
pub fn call_context(calls: &Calls, caller: Caller, request_id: &str) -> CallContext {
    call_context_on(calls, caller, request_id, Face::Rest)
}

/// As [`call_context`], for a request that came in over another HTTP face (A2A).
pub fn call_context_on(calls: &Calls, caller: Caller, request_id: &str, face: Face) -> CallContext {
    CallContext::new(caller.tenant, caller.principal, request_id)
        .with_face(face)
        .with_timeout(calls.call_timeout)
}

/// Calls a tool. The body is the tool's arguments as a JSON object. With `Prefer:
/// respond-async` the call runs as a job: 202 at once, with where to poll it.
#[utoipa::path(post, path = "/api/v1/tools/{toolkit}/{tool}", tag = "toolkits",
    params(("toolkit" = String, Path, description = "A toolkit's name, as GET /api/v1/toolkits lists them"),
        ("tool" = String, Path, description = "One of its tools")),
    request_body(content = Object, description = "The tool's arguments: an object that the tool's input schema (in GET /api/v1/toolkits) describes"),
    responses(
        (status = 200, body = ToolCallResult),
        (status = 202, body = super::jobs::JobView, description = "Started as a job (Prefer: respond-async)"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn call_tool(
    State(calls): State<Calls>,
    Path((toolkit, tool)): Path<(String, String)>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(arguments): ApiJson<Value>,
) -> Response {
    let request_id = request_id(&headers);
    if super::jobs::wants_async(&headers) {
        let arguments = match arguments {
            Value::Object(arguments) => arguments,
            Value::Null => Default::default(),
            _ => return not_an_object(&request_id),
        };
        let started =
            super::jobs::Jobs::start(&calls, caller, &request_id, (&toolkit, &tool), arguments)
                .await;
        return super::jobs::accepted(started, &request_id);
    }
    call_and_respond(&calls, caller, &request_id, &toolkit, &tool, arguments).await
}

fn not_an_object(request_id: &str) -> Response {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-arguments",
        "the body must be a JSON object of the tool's arguments",
    )
    .with_request_id(request_id)
    .into_response()
}

/// Calls a tool through the Hub and answers as REST does: the result, a tool error
/// as 422, anything else as its problem.
pub async fn call_and_respond(
    calls: &Calls,
    caller: Caller,
    request_id: &str,
    toolkit: &str,
    tool: &str,
    arguments: Value,
) -> Response {
    let request_id = request_id.to_string();
    let arguments = match arguments {
        Value::Object(arguments) => arguments,
        Value::Null => Default::default(),
        _ => return not_an_object(&request_id),
    };
    let ctx = call_context(calls, caller, &request_id);
    match calls.hub.call(&ctx, toolkit, tool, Some(arguments)).await {
        Ok(result) if result.is_error == Some(true) => {
            let detail = result
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text(text) => Some(text.text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "tool-error", detail)
                .with_request_id(&request_id)
                .into_response()
        }
        Ok(result) => ApiJson(ToolCallResult {
            structured_content: result.structured_content,
            content: result
                .content
                .iter()
                .filter_map(|block| serde_json::to_value(block).ok())
                .collect(),
        })
        .into_response(),
        Err(error) => Problem::from_hub(error, &request_id).into_response(),
    }
}
