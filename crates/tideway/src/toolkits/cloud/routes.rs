//! The cloud REST API: `POST /api/v1/cloud/{operation}`, where the operation is one
//! of the cloud tools and the JSON body its arguments. Each request is one tool call
//! through the Hub, so REST has the same roles, checks, audit and limits as MCP.

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

/// The operations the route serves: every cloud tool.
pub const OPERATIONS: &[&str] = &[
    names::LIST_ACCOUNTS,
    names::TEST_ACCOUNT,
    names::SET_ACCOUNT,
    names::DELETE_ACCOUNT,
    names::S3_UPLOAD_FILE,
    names::S3_DOWNLOAD_FILE,
    names::S3_LIST_OBJECTS,
    names::S3_DELETE_OBJECT,
    names::S3_LIST_BUCKETS,
    names::S3_GET_OBJECT_INFO,
    names::S3_PRESIGN_URL,
    names::LAMBDA_INVOKE,
    names::LAMBDA_LIST_FUNCTIONS,
    names::GET_PARAMETER_STORE_VALUE,
    names::GET_PARAMETERS_BY_PATH,
    names::PUT_PARAMETER,
];

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(operation))
}

/// Runs one cloud operation, e.g. `s3_list_objects` with `{"bucket": "tickets"}`.
#[utoipa::path(post, path = "/api/v1/cloud/{operation}", tag = "cloud",
    params(("operation" = String, Path, description = "A cloud tool: s3_upload_file, s3_download_file, s3_list_objects, lambda_invoke, get_parameter_store_value, ...")),
    request_body(content = ref("#/components/schemas/tool.cloud.any"), description = "The operation's arguments, e.g. {\"bucket\": \"tickets\", \"prefix\": \"2026/\"}"),
    responses((status = 200, body = ref("#/components/schemas/tool.cloud.any.result"), description = "The operation's result"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn operation(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(operation): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    respond_to_operation(
        &calls, caller, &headers, "cloud", OPERATIONS, &operation, body,
    )
    .await
}
