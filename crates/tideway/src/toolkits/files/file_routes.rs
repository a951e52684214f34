//! The files toolkit's resource routes, `/api/v1/files/<root>/<path>`: GET a file's
//! bytes with its media type (or a folder's entries as JSON), PUT a text file's new
//! content, DELETE a file or folder. Each request is made of the files tools, called
//! through the Hub like every REST route, so the same roots, roles, checks and audit
//! apply; the path is written as the tools take it.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tideway_core::mcp::JsonObject;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::tools::names;
use crate::{
    api::{
        problem::Problem,
        tool_routes::{Answer, Calls, call_for, respond},
    },
    app::App,
    auth::Caller,
};

/// The path's documentation; the route itself takes any number of segments.
#[derive(OpenApi)]
#[openapi(paths(get_file, put_file, delete_file))]
struct Documented;

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(Documented::openapi()).route(
        "/api/v1/files/{*path}",
        get(get_file).put(put_file).delete(delete_file),
    )
}

fn arguments(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

/// A file's bytes with its media type, or, for a folder, its entries with sizes.
#[utoipa::path(get, path = "/api/v1/files/{path}", tag = "files",
    params(("path" = String, Path, description = "`<root>/<path>`, e.g. home/notes/today.md; may hold slashes")),
    responses((status = 200, description = "The file's bytes (Content-Type is its media type), or a folder's entries as JSON"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_file(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let info = match call_for(
        &calls,
        caller.clone(),
        &headers,
        ("files", names::GET_FILE_INFO),
        arguments(json!({"path": path})),
    )
    .await
    {
        Ok(info) => info,
        Err(problem) => return problem,
    };
    if info["kind"] == "folder" {
        return respond(
            &calls,
            caller,
            &headers,
            ("files", names::LIST_DIRECTORY_WITH_SIZES),
            arguments(json!({"path": path})),
            Answer::Ok,
        )
        .await;
    }
    let media = match call_for(
        &calls,
        caller,
        &headers,
        ("files", names::READ_MEDIA_FILE),
        arguments(json!({"path": path})),
    )
    .await
    {
        Ok(media) => media,
        Err(problem) => return problem,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(media["data"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let content_type = media["mimeType"]
        .as_str()
        .and_then(|mime| HeaderValue::from_str(mime).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PutQuery {
    /// Replace the file if it exists (off: an existing file is left alone, 409).
    #[serde(default)]
    overwrite: bool,
}

/// Writes a text file (UTF-8 body) atomically; missing folders above it are created.
#[utoipa::path(put, path = "/api/v1/files/{path}", tag = "files",
    params(("path" = String, Path, description = "`<root>/<path>` of the file"), PutQuery),
    request_body(content = String, content_type = "text/plain", description = "The whole new content, UTF-8"),
    responses((status = 200, body = ref("#/components/schemas/tool.files.write_file.result"), description = "What was written"),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem)))]
async fn put_file(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(path): Path<String>,
    query: Result<Query<PutQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(query)) = query else {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-arguments",
            "the only query parameter is overwrite=true|false",
        )
        .into_response();
    };
    let Ok(content) = String::from_utf8(body.to_vec()) else {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-text",
            "the body must be UTF-8 text: files are written as text",
        )
        .into_response();
    };
    respond(
        &calls,
        caller,
        &headers,
        ("files", names::WRITE_FILE),
        arguments(json!({"path": path, "content": content, "overwrite": query.overwrite})),
        Answer::Ok,
    )
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    /// Delete a folder with everything it holds (off: only an empty folder).
    #[serde(default)]
    recursive: bool,
}

/// Deletes a file, a symlink (not what it points to) or a folder.
#[utoipa::path(delete, path = "/api/v1/files/{path}", tag = "files",
    params(("path" = String, Path, description = "`<root>/<path>`"), DeleteQuery),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_file(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(path): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-arguments",
            "the only query parameter is recursive=true|false",
        )
        .into_response();
    };
    respond(
        &calls,
        caller,
        &headers,
        ("files", names::DELETE_FILE),
        arguments(json!({"path": path, "recursive": query.recursive})),
        Answer::NoContent,
    )
    .await
}
