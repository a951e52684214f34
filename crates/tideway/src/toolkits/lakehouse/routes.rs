//! The lakehouse REST API under `/api/v1/lakehouse`: tables (list, one described, its
//! lineage), SQL queries, syncs from database sources, Silver transforms, Gold tables,
//! and uploads as multipart form data (a `file` part, and `dataset_name`, `format`,
//! `mode` fields). Each route is one lakehouse tool through
//! the Hub, so REST gets the same tenant, validation and audit as MCP. With `Prefer:
//! respond-async` a route answers 202 at once and runs as a job (`/api/v1/jobs/{id}`).

use std::sync::Arc;

use axum::{
    extract::{Multipart, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde_json::Value;
use tideway_core::mcp::JsonObject;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    pipelines::{GoldOutcome, Lineage, SyncOutcome, TransformOutcome},
    tools::{Description, QueryAnswer, TableList, Uploaded},
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
        .routes(routes!(list_tables))
        .routes(routes!(describe_table))
        .routes(routes!(query))
        .routes(routes!(upload))
        .routes(routes!(sync))
        .routes(routes!(transform))
        .routes(routes!(gold))
        .routes(routes!(lineage))
}

/// A JSON body as the arguments of `tool`.
async fn body_call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    body: Value,
    answer: Answer,
) -> Response {
    match body_arguments(body, None, &HeaderMap::new()) {
        Ok(arguments) => call(calls, caller, headers, tool, arguments, answer).await,
        Err(problem) => problem.into_response(),
    }
}

/// Copies a database table into Bronze: `{"connection_id", "table_name", "sync_mode",
/// "cursor_column", "key_columns", "target_table"}`.
#[utoipa::path(post, path = "/api/v1/lakehouse/sync", tag = "lakehouse",
    request_body(content = Object, description = "the arguments of sync_table_to_bronze"),
    responses((status = 200, body = SyncOutcome), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn sync(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    body_call(
        &calls,
        caller,
        &headers,
        super::tools::names::SYNC_TABLE_TO_BRONZE,
        body,
        Answer::Ok,
    )
    .await
}

/// Runs (or with `dry_run`, plans) a Silver transform: `{"bronze_table",
/// "transformations", "target_table", "dry_run"}`.
#[utoipa::path(post, path = "/api/v1/lakehouse/transform", tag = "lakehouse",
    request_body(content = Object, description = "the arguments of transform_to_silver"),
    responses((status = 200, body = TransformOutcome), (status = 422, body = Problem)))]
async fn transform(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    body_call(
        &calls,
        caller,
        &headers,
        super::tools::names::TRANSFORM_TO_SILVER,
        body,
        Answer::Ok,
    )
    .await
}

/// Materialises a query as a Gold table: `{"table_name", "sql"}`.
#[utoipa::path(post, path = "/api/v1/lakehouse/gold", tag = "lakehouse",
    request_body(content = Object, description = "the arguments of create_gold_table"),
    responses((status = 200, body = GoldOutcome), (status = 422, body = Problem)))]
async fn gold(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    body_call(
        &calls,
        caller,
        &headers,
        super::tools::names::CREATE_GOLD_TABLE,
        body,
        Answer::Ok,
    )
    .await
}

/// Where a table's data comes from, what it feeds, and its recent runs.
#[utoipa::path(get, path = "/api/v1/lakehouse/tables/{layer}/{name}/lineage", tag = "lakehouse",
    params(("layer" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Lineage), (status = 422, body = Problem)))]
async fn lineage(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path((layer, name)): Path<(String, String)>,
) -> Response {
    let mut arguments = JsonObject::new();
    arguments.insert("table_name".into(), Value::String(name));
    arguments.insert("layer".into(), Value::String(layer));
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::TABLE_LINEAGE,
        arguments,
        Answer::Ok,
    )
    .await
}

async fn call(
    calls: &Calls,
    caller: Caller,
    headers: &HeaderMap,
    tool: &str,
    arguments: JsonObject,
    answer: Answer,
) -> Response {
    tool_routes::respond_or_defer(
        calls,
        caller,
        headers,
        ("lakehouse", tool),
        arguments,
        answer,
    )
    .await
}

/// The caller's tables, optionally of one layer.
#[utoipa::path(get, path = "/api/v1/lakehouse/tables", tag = "lakehouse",
    params(("layer" = Option<String>, Query)),
    responses((status = 200, body = TableList), (status = 422, body = Problem)))]
async fn list_tables(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    query: Q,
) -> Response {
    match tool_routes::query_arguments(
        &calls,
        ("lakehouse", super::tools::names::LIST_TABLES),
        query,
        &[],
    ) {
        Ok(arguments) => {
            call(
                &calls,
                caller,
                &headers,
                super::tools::names::LIST_TABLES,
                arguments,
                Answer::Ok,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// One table with its statistics and sample rows.
#[utoipa::path(get, path = "/api/v1/lakehouse/tables/{layer}/{name}", tag = "lakehouse",
    params(("layer" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Description), (status = 404, body = Problem)))]
async fn describe_table(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path((layer, name)): Path<(String, String)>,
) -> Response {
    let mut arguments = JsonObject::new();
    arguments.insert("table_name".into(), Value::String(name));
    arguments.insert("layer".into(), Value::String(layer));
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::DESCRIBE_TABLE,
        arguments,
        Answer::Ok,
    )
    .await
}

/// Runs one read-only SQL statement: `{"sql": "...", "max_rows": n, "versions": {...}}`.
#[utoipa::path(post, path = "/api/v1/lakehouse/query", tag = "lakehouse",
    request_body(content = Object, description = "sql, and optionally max_rows and versions"),
    responses((status = 200, body = QueryAnswer), (status = 422, body = Problem)))]
async fn query(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    body_call(
        &calls,
        caller,
        &headers,
        super::tools::names::QUERY_SQL,
        body,
        Answer::Ok,
    )
    .await
}

fn bad_form(message: impl Into<String>) -> Response {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-arguments",
        message,
    )
    .into_response()
}

/// Uploads a file into a Bronze table (multipart: `file`, `dataset_name`, and
/// optionally `format` and `mode`).
#[utoipa::path(post, path = "/api/v1/lakehouse/upload", tag = "lakehouse",
    request_body(content_type = "multipart/form-data", content = Object, description = "file, dataset_name, format, mode"),
    responses((status = 201, body = Uploaded), (status = 422, body = Problem)))]
async fn upload(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut arguments = JsonObject::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return bad_form(format!("the form cannot be read: {error}")),
        };
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().unwrap_or("upload").to_string();
                let bytes = match field.bytes().await {
                    Ok(bytes) => bytes,
                    Err(error) => return bad_form(format!("the file cannot be read: {error}")),
                };
                arguments.insert("file_name".into(), Value::String(file_name));
                arguments.insert(
                    "file_content".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                );
            }
            "dataset_name" | "format" | "mode" | "file_name" | "sheet" => {
                match field.text().await {
                    Ok(text) => {
                        arguments.insert(name, Value::String(text));
                    }
                    Err(error) => return bad_form(format!("{name}: {error}")),
                }
            }
            other => return bad_form(format!("'{other}' is not a field of an upload")),
        }
    }
    if !arguments.contains_key("file_content") {
        return bad_form("the form has no 'file' part");
    }
    call(
        &calls,
        caller,
        &headers,
        super::tools::names::UPLOAD_FILE,
        arguments,
        Answer::Created(None),
    )
    .await
}
