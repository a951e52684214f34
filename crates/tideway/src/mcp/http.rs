//! Streamable HTTP: `/mcp` serves every toolkit with prefixed names,
//! `/mcp/{toolkit}` serves one toolkit with bare names, and `/mcp/{virtual server}`
//! a curated set of tools with their `/mcp` names. Each scope gets its own rmcp
//! service (and session manager), created on first use, so a toolkit added at runtime
//! is reachable at once. rmcp serves 2025-11-25 clients with sessions and 2026-07-28
//! clients statelessly on the same endpoint. Host and Origin checks happen earlier,
//! in the edge guard shared with REST.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::json;
use tideway_core::{HubError, Scope};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::handler::{McpHandler, McpShared};
use crate::api::problem::Problem;

type ScopeService = StreamableHttpService<McpHandler, LocalSessionManager>;

pub struct McpHttp {
    shared: Arc<McpShared>,
    config: StreamableHttpServerConfig,
    services: RwLock<HashMap<Scope, ScopeService>>,
}

impl McpHttp {
    pub fn new(
        shared: Arc<McpShared>,
        sessions: bool,
        max_body_bytes: usize,
        shutdown: CancellationToken,
    ) -> Self {
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(sessions)
            .with_max_request_body_bytes(max_body_bytes)
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            // A reply that is one message goes out as plain JSON (an event stream only
            // when progress or requests come first): less to parse for every client,
            // and its connection is reused at once (gateway-bench in BENCHMARKS.md).
            .with_json_response(true)
            .with_cancellation_token(shutdown)
            // The edge guard validates Host and Origin for every route, MCP included.
            .disable_allowed_hosts()
            .disable_allowed_origins();
        McpHttp {
            shared,
            config,
            services: RwLock::new(HashMap::new()),
        }
    }

    fn service(&self, scope: Scope) -> ScopeService {
        if let Ok(services) = self.services.read()
            && let Some(service) = services.get(&scope)
        {
            return service.clone();
        }
        let mut services = match self.services.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        services
            .entry(scope.clone())
            .or_insert_with(|| {
                let shared = self.shared.clone();
                StreamableHttpService::new(
                    move || Ok(McpHandler::new(shared.clone(), scope.clone())),
                    Arc::new(LocalSessionManager::default()),
                    self.config.clone(),
                )
            })
            .clone()
    }

    async fn serve(&self, scope: Scope, request: Request) -> Response {
        let request = match self.check_json(request).await {
            Ok(request) => request,
            Err(response) => return response,
        };
        match self.service(scope).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    }
}

impl McpHttp {
    /// Answers a POST whose body is not JSON with a JSON-RPC parse error (-32700), which
    /// rmcp would otherwise answer in plain text. The syntax check allocates nothing.
    async fn check_json(&self, request: Request) -> Result<Request, Response> {
        if request.method() != Method::POST {
            return Ok(request);
        }
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, self.config.max_request_body_bytes).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!(
                        "the body exceeds {} bytes",
                        self.config.max_request_body_bytes
                    ),
                )
                .into_response());
            }
        };
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            let answer = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32700, "message": format!("Parse error: the body is not valid JSON ({error})")}
            });
            return Err((StatusCode::BAD_REQUEST, axum::Json(answer)).into_response());
        }
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }
}

pub fn router(mcp: Arc<McpHttp>) -> Router {
    Router::new()
        .route("/mcp", any(all_toolkits))
        .route("/mcp/{toolkit}", any(one_toolkit))
        .with_state(mcp)
}

async fn all_toolkits(State(mcp): State<Arc<McpHttp>>, request: Request) -> Response {
    mcp.serve(Scope::All, request).await
}

async fn one_toolkit(
    State(mcp): State<Arc<McpHttp>>,
    Path(toolkit): Path<String>,
    request: Request,
) -> Response {
    if mcp.shared.hub.has_toolkit(&toolkit) {
        return mcp.serve(Scope::Toolkit(toolkit), request).await;
    }
    if mcp.shared.hub.has_view(&toolkit) {
        return mcp.serve(Scope::View(toolkit), request).await;
    }
    Problem::from_hub(HubError::UnknownToolkit(toolkit), "").into_response()
}
