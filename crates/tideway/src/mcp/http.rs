//! Streamable HTTP: `/mcp` serves every toolkit with prefixed names,
//! `/mcp/{toolkit}` serves one toolkit with bare names, and `/mcp/{virtual server}`
//! a curated set of tools with their `/mcp` names. Each scope gets its own rmcp
//! service (and session manager), created on first use, so a toolkit added at runtime
//! is reachable at once. rmcp serves 2025-11-25 clients with sessions and 2026-07-28
//! clients statelessly on the same endpoint. Host and Origin checks happen earlier,
//! in the edge guard shared with REST.
//!
//! A 2026-07-28 request that rmcp would answer with one message is answered on the
//! direct path instead (`direct.rs`), without a protocol service of its own.
//!
//! A session belongs to the caller that opened it. rmcp answers GET (the event
//! stream) and DELETE itself, without asking the handler, so ownership is checked
//! here, before rmcp sees the request, on every verb: another caller's session id
//! answers exactly like an unknown one.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::any,
};
use futures::StreamExt;
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
        session::{SessionManager, local::LocalSessionManager},
    },
};
use tideway_core::{HubError, Scope};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{
    direct::{self, Direct},
    envelope,
    handler::{McpHandler, McpShared},
};
use crate::{api::problem::Problem, auth::Caller};

type ScopeService = StreamableHttpService<McpHandler, LocalSessionManager>;

/// How one scope is served: rmcp's service with its sessions, and the handler
/// the direct path shares between 2026-07-28 requests.
struct ScopeEntry {
    service: ScopeService,
    sessions: Arc<LocalSessionManager>,
    stateless: McpHandler,
}

pub(super) const SESSION_HEADER: &str = "mcp-session-id";

/// Who opened a session: its tenant and principal.
#[derive(Clone, PartialEq, Eq)]
struct Owner {
    tenant: String,
    principal: String,
}

impl Owner {
    fn of(caller: &Caller) -> Self {
        Owner {
            tenant: caller.tenant.to_string(),
            principal: caller.principal.id.clone(),
        }
    }
}

pub struct McpHttp {
    shared: Arc<McpShared>,
    config: StreamableHttpServerConfig,
    /// POSTs whose answers are not yet all sent; a shutdown waits for them.
    in_flight: Arc<AtomicUsize>,
    /// Cancelled once the calls in flight at shutdown have had their grace.
    stop_calls: CancellationToken,
    /// Off when `http.mcp_direct` is.
    direct: Option<Direct>,
    services: RwLock<HashMap<Scope, Arc<ScopeEntry>>>,
    /// The owner of every session opened here, by session id, with the session
    /// manager that holds it.
    owners: Mutex<HashMap<String, (Owner, Arc<LocalSessionManager>)>>,
}

impl McpHttp {
    /// `shutdown` is cancelled when the server starts to stop: sessions and event
    /// streams end once the calls in flight have answered, or after `grace`.
    pub fn new(
        shared: Arc<McpShared>,
        sessions: bool,
        direct: bool,
        max_body_bytes: usize,
        shutdown: CancellationToken,
        grace: Duration,
    ) -> Self {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let stop_sessions = CancellationToken::new();
        tokio::spawn(drain(
            shutdown,
            in_flight.clone(),
            grace,
            stop_sessions.clone(),
        ));
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(sessions)
            .with_max_request_body_bytes(max_body_bytes)
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            // A reply that is one message goes out as plain JSON (an event stream only
            // when progress or requests come first): less to parse for every client,
            // and its connection is reused at once (gateway-bench in BENCHMARKS.md).
            .with_json_response(true)
            .with_cancellation_token(stop_sessions.clone())
            // The edge guard validates Host and Origin for every route, MCP included.
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let direct = direct.then(|| Direct::new(McpHandler::stateless(shared.clone(), Scope::All)));
        McpHttp {
            shared,
            config,
            in_flight,
            stop_calls: stop_sessions,
            direct,
            services: RwLock::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
        }
    }

    fn service(&self, scope: Scope) -> Arc<ScopeEntry> {
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
                let stateless = McpHandler::stateless(shared.clone(), scope.clone());
                let sessions = Arc::new(LocalSessionManager::default());
                let service = StreamableHttpService::new(
                    move || Ok(McpHandler::new(shared.clone(), scope.clone())),
                    sessions.clone(),
                    self.config.clone(),
                );
                Arc::new(ScopeEntry {
                    service,
                    sessions,
                    stateless,
                })
            })
            .clone()
    }

    fn owners(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Owner, Arc<LocalSessionManager>)>> {
        match self.owners.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn serve(&self, scope: Scope, request: Request) -> Response {
        let entry = self.service(scope);
        let request = if request.method() == Method::POST {
            let (parts, body, era) = match self.check_json(request).await {
                Ok(checked) => checked,
                Err(response) => return response,
            };
            if era == envelope::Era::Stateless
                && let Some(direct) = &self.direct
                && let Some(admitted) = direct::admit(&parts.headers, &body, |name| {
                    entry.stateless.get_tool(name).is_some()
                })
            {
                let _counted = InFlight::enter(&self.in_flight);
                return direct
                    .answer(&entry.stateless, parts, admitted, &self.stop_calls)
                    .await;
            }
            Request::from_parts(parts, Body::from(body))
        } else {
            request
        };
        let caller = request.extensions().get::<Caller>().map(Owner::of);
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        if let Some(id) = &session {
            let owner = self.owners().get(id).map(|(owner, _)| owner.clone());
            if owner.is_some_and(|owner| Some(owner) != caller) {
                return session_not_found();
            }
        }
        let method = request.method().clone();
        let counted = (method == Method::POST).then(|| InFlight::enter(&self.in_flight));
        let mut response = match entry.service.clone().oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        // An answer streamed as events is in flight until its stream ends.
        if let Some(counted) = counted {
            response = response.map(|body| {
                Body::from_stream(body.into_data_stream().map(move |chunk| {
                    let _held = &counted;
                    chunk
                }))
            });
        }
        // rmcp accepts a session's end with 202; clients expect 200 or 204 for a
        // DELETE done (the Python SDK warns on anything else).
        if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        match (&session, caller) {
            // A new session: it is the caller's from now on.
            (None, Some(owner)) => {
                if let Some(id) = response
                    .headers()
                    .get(SESSION_HEADER)
                    .and_then(|value| value.to_str().ok())
                {
                    let count = {
                        let mut owners = self.owners();
                        owners.insert(id.to_string(), (owner, entry.sessions.clone()));
                        owners.len()
                    };
                    if count.is_power_of_two() && count >= 64 {
                        self.forget_ended_sessions().await;
                    }
                }
            }
            (Some(id), _)
                if response.status() == StatusCode::NOT_FOUND
                    || (method == Method::DELETE && response.status().is_success()) =>
            {
                self.owners().remove(id);
            }
            _ => {}
        }
        response
    }

    /// Drops the owners of sessions rmcp has ended on its own (idle timeouts).
    async fn forget_ended_sessions(&self) {
        let entries: Vec<(String, Arc<LocalSessionManager>)> = self
            .owners()
            .iter()
            .map(|(id, (_, sessions))| (id.clone(), sessions.clone()))
            .collect();
        for (id, sessions) in entries {
            if !sessions
                .has_session(&id.as_str().into())
                .await
                .unwrap_or(true)
            {
                self.owners().remove(&id);
            }
        }
    }
}

/// One POST being answered: counted while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Once the server starts to stop, lets the MCP calls in flight answer (up to
/// `grace`), then ends sessions and event streams, which would otherwise keep the
/// listener open. Ending them at once would cut the calls off mid-answer.
async fn drain(
    shutdown: CancellationToken,
    in_flight: Arc<AtomicUsize>,
    grace: Duration,
    stop_sessions: CancellationToken,
) {
    shutdown.cancelled().await;
    let deadline = tokio::time::Instant::now() + grace;
    while in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_sessions.cancel();
}

/// What rmcp answers for a session it does not know, so another caller's session
/// looks exactly like none.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

impl McpHttp {
    /// Reads a POST's body and tells its era. Answers a body that is not one
    /// JSON-RPC message, or whose params cannot be what its method takes, with the
    /// JSON-RPC error for it (`envelope.rs`), where rmcp would answer in plain text
    /// or with "method not found".
    async fn check_json(
        &self,
        request: Request,
    ) -> Result<(Parts, Bytes, envelope::Era), Response> {
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
        let stateless = parts
            .headers
            .get("mcp-protocol-version")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|version| version.trim() >= "2026-07-28");
        let era = if stateless {
            envelope::Era::Stateless
        } else {
            envelope::Era::Sessions
        };
        if let Err(refusal) = envelope::check(&bytes, era) {
            // A request the server understood but whose params are wrong is answered
            // as any failed request is (200 with the error), so clients show the
            // error; a body that is not one message at all is a bad request.
            let status = if refusal.code == envelope::INVALID_PARAMS {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            return Err((status, axum::Json(refusal.answer())).into_response());
        }
        Ok((parts, bytes, era))
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
