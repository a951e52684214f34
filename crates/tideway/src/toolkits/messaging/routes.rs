//! The messaging REST API: `POST /api/v1/messaging/{operation}`, where the operation is one
//! of the messaging tools and the JSON body its arguments. Each request is one tool call
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

/// The operations the route serves: every messaging tool.
pub const OPERATIONS: &[&str] = &[
    names::LIST_CLUSTERS,
    names::TEST_CLUSTER,
    names::SET_CLUSTER,
    names::DELETE_CLUSTER,
    names::PUBLISH_MESSAGE,
    names::CONSUME_MESSAGES,
    names::PEEK_MESSAGES,
    names::GET_TOPIC_METADATA,
    names::LIST_TOPICS,
    names::CREATE_TOPIC,
    names::DELETE_TOPIC,
    names::LIST_CONSUMER_GROUPS,
    names::GET_CONSUMER_GROUP_LAG,
    names::COMMIT_OFFSETS,
];

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(operation))
}

/// Runs one messaging operation, e.g. `publish_message` with `{"topic": "customer-queries", "message": {"ticket": 42}}`.
#[utoipa::path(post, path = "/api/v1/messaging/{operation}", tag = "messaging",
    params(("operation" = String, Path, description = "A messaging tool: publish_message, consume_messages, peek_messages, get_topic_metadata, get_consumer_group_lag, ...")),
    request_body(content = ref("#/components/schemas/tool.messaging.any"), description = "The operation's arguments, e.g. {\"topic\": \"customer-queries\", \"group_id\": \"agents\"}"),
    responses((status = 200, body = ref("#/components/schemas/tool.messaging.any.result"), description = "The operation's result"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn operation(
    State(calls): State<Calls>,
    caller: Caller,
    headers: HeaderMap,
    Path(operation): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    respond_to_operation(
        &calls,
        caller,
        &headers,
        "messaging",
        OPERATIONS,
        &operation,
        body,
    )
    .await
}
