//! The lakehouse REST API under `/api/v1/lakehouse`: tables (list, one described, its
//! lineage), SQL queries, syncs from database sources, Silver transforms, Gold tables,
//! and uploads as multipart form data (a `file` part, and `dataset_name`, `format`,
//! `mode` fields). Each route is one lakehouse tool through
//! the Hub, so REST gets the same tenant, validation and audit as MCP. With `Prefer:
//! respond-async` a route answers 202 at once and runs as a job (`/api/v1/jobs/{id}`).

use std::{path::PathBuf, sync::Arc};

use axum::{
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
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
    // An upload is bounded by lakehouse.max_upload_bytes while it streams, not by the
    // request body limit of every other route.
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(describe_table))
        .routes(routes!(query))
        .merge(uploads)
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

/// Copies a database table into Bronze, whole or from where the last run stopped.
#[utoipa::path(post, path = "/api/v1/lakehouse/sync", tag = "lakehouse",
    request_body(content = ref("#/components/schemas/tool.lakehouse.sync_table_to_bronze"), description = "The source table and how to copy it"),
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

/// Runs (or with `dry_run`, plans) the cleaning steps that make a Silver table of a
/// Bronze one.
#[utoipa::path(post, path = "/api/v1/lakehouse/transform", tag = "lakehouse",
    request_body(content = ref("#/components/schemas/tool.lakehouse.transform_to_silver"), description = "The Bronze table and the steps"),
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

/// Materialises a query as a Gold table.
#[utoipa::path(post, path = "/api/v1/lakehouse/gold", tag = "lakehouse",
    request_body(content = ref("#/components/schemas/tool.lakehouse.create_gold_table"), description = "The table's name and its query"),
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

/// Runs one read-only SQL statement over the tenant's tables, optionally as of past
/// versions.
#[utoipa::path(post, path = "/api/v1/lakehouse/query", tag = "lakehouse",
    request_body(content = ref("#/components/schemas/tool.lakehouse.query_sql"), description = "The statement, a row cap and table versions"),
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

/// The form of an upload. Only the API reference reads this type; the form is read
/// part by part as it streams.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The file: CSV, TSV, JSON lines, Parquet or a workbook (.xlsx).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The Bronze table to write: a lower-case identifier.
    dataset_name: String,
    /// The file's format when its extension does not tell it.
    format: Option<super::tools::Format>,
    /// Replace the table's rows (default) or append to them.
    mode: Option<super::tools::Mode>,
    /// The sheet of a workbook to load (default: the first).
    sheet: Option<String>,
}

/// Uploads a file into a Bronze table (multipart: `file`, `dataset_name`, and
/// optionally `format`, `mode` and `sheet`). The file is streamed to a staging file,
/// up to `lakehouse.max_upload_bytes`, and handed to the upload tool by id, so it
/// never passes through tool arguments and their size limit.
#[utoipa::path(post, path = "/api/v1/lakehouse/upload", tag = "lakehouse",
    request_body(content_type = "multipart/form-data", content = UploadForm, description = "The file and where it goes"),
    responses((status = 201, body = Uploaded), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn upload(
    State(app): State<Arc<App>>,
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let limit = match super::settings::from_config(&app.config) {
        Ok(settings) => settings.max_upload_bytes,
        Err(error) => {
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            )
            .into_response();
        }
    };
    let uploads = super::uploads_dir(&app.config.data_dir);
    let mut arguments = JsonObject::new();
    let mut staged: Option<PathBuf> = None;
    let outcome = async {
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(error) => return Err(bad_form(format!("the form cannot be read: {error}"))),
            };
            let name = field.name().unwrap_or_default().to_string();
            match name.as_str() {
                "file" if staged.is_none() => {
                    let file_name = field.file_name().unwrap_or("upload").to_string();
                    let id = uuid::Uuid::new_v4();
                    let path = super::staged_upload_path(&uploads, caller.tenant.as_str(), &id);
                    staged = Some(path.clone());
                    stage(field, &path, limit).await?;
                    arguments.insert("file_name".into(), Value::String(file_name));
                    arguments.insert("staged_upload".into(), Value::String(id.to_string()));
                }
                "file" => return Err(bad_form("the form has more than one 'file' part")),
                "dataset_name" | "format" | "mode" | "file_name" | "sheet" => {
                    match field.text().await {
                        Ok(text) => {
                            arguments.insert(name, Value::String(text));
                        }
                        Err(error) => return Err(bad_form(format!("{name}: {error}"))),
                    }
                }
                other => return Err(bad_form(format!("'{other}' is not a field of an upload"))),
            }
        }
        if staged.is_none() {
            return Err(bad_form("the form has no 'file' part"));
        }
        Ok(())
    }
    .await;
    if let Err(refused) = outcome {
        if let Some(path) = &staged {
            let _ = tokio::fs::remove_file(path).await;
        }
        return refused;
    }
    let response = call(
        &calls,
        caller,
        &headers,
        super::tools::names::UPLOAD_FILE,
        arguments,
        Answer::Created(None),
    )
    .await;
    // The tool deletes the staged file once it has read it; one it never read (a call
    // refused before it ran) goes now, unless a job will read it later.
    if response.status() != StatusCode::ACCEPTED
        && let Some(path) = &staged
    {
        let _ = tokio::fs::remove_file(path).await;
    }
    response
}

/// Streams one multipart field to `path`, refusing it past `limit` bytes.
async fn stage(
    mut field: axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
    limit: usize,
) -> Result<(), Response> {
    use tokio::io::AsyncWriteExt;
    let cannot_stage = |error: std::io::Error| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot stage the upload: {error}"),
        )
        .into_response()
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(cannot_stage)?;
    }
    let mut file = tokio::fs::File::create(path).await.map_err(cannot_stage)?;
    let mut size = 0usize;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => return Err(bad_form(format!("the file cannot be read: {error}"))),
        };
        size += chunk.len();
        if size > limit {
            let mut problem = Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("the file is larger than {limit} bytes (lakehouse.max_upload_bytes)"),
            );
            problem.field = Some("file".into());
            return Err(problem.into_response());
        }
        file.write_all(&chunk).await.map_err(cannot_stage)?;
    }
    file.flush().await.map_err(cannot_stage)?;
    Ok(())
}
