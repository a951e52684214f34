//! The files REST API: `POST /api/v1/integration/mcp/filesystem/{operation}`, where
//! the operation is one of the files tools and the JSON body its arguments, and the
//! resource routes under `/api/v1/files/` (`file_routes.rs`). Each
//! request is one tool call through the Hub, so REST gets the same roles, checks,
//! audit and limits as MCP; the body of the answer is the tool's structured result.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::tools::names;
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::{Calls, respond_to_operation},
    },
    app::App,
    auth::Caller,
};

/// The operations the route serves: every files tool.
pub const OPERATIONS: &[&str] = &[
    names::READ_TEXT_FILE,
    names::READ_MEDIA_FILE,
    names::READ_MULTIPLE_FILES,
    names::WRITE_FILE,
    names::EDIT_FILE,
    names::CREATE_DIRECTORY,
    names::LIST_DIRECTORY,
    names::LIST_DIRECTORY_WITH_SIZES,
    names::DIRECTORY_TREE,
    names::MOVE_FILE,
    names::SEARCH_FILES,
    names::GREP_FILES,
    names::GET_FILE_INFO,
    names::LIST_ALLOWED_DIRECTORIES,
    names::DELETE_FILE,
];

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(operation))
        .merge(super::file_routes::router())
}

/// Runs one files operation, e.g. `read_text_file` with `{"path": "home/notes.md"}`.
#[utoipa::path(post, path = "/api/v1/integration/mcp/filesystem/{operation}", tag = "files",
    params(("operation" = String, Path, description = "A files tool: read_text_file, write_file, edit_file, list_directory, search_files, ...")),
    request_body(content = ref("#/components/schemas/tool.files.any"), description = "The operation's arguments, e.g. {\"path\": \"home/notes.md\"}"),
    responses((status = 200, body = ref("#/components/schemas/tool.files.any.result"), description = "The operation's result"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn operation(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(operation): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    respond_to_operation(
        &calls, caller, &headers, "files", OPERATIONS, &operation, body,
    )
    .await
}
