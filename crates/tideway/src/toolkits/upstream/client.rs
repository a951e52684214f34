// Sampling, roots and logging are deprecated for 2026-07-28 (SEP-2577) but still part
// of 2025-11-25, which upstreams speak; the relay uses them on purpose.
#![allow(deprecated)]
//! The MCP client side of one upstream: connecting (a child process leading its own
//! process group, or Streamable HTTP, negotiating the protocol era), and the handler
//! for what the upstream sends back. Progress and log messages go to the caller whose
//! call they belong to; sampling, elicitation and roots requests are relayed to that
//! caller's client (or refused clearly when there is none); list_changed asks the
//! supervisor to refresh the catalog.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    process::Stdio,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures::{Stream, StreamExt, stream::BoxStream};
use http::{HeaderName, HeaderValue};
use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::ClientJsonRpcMessage,
    model::{
        ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, Implementation, ListRootsResult, LoggingLevel,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
        RequestId, ResourceUpdatedNotificationParam,
    },
    service::{
        ClientLifecycleMode, ClientServiceExt, InboundStreamOrigin, NotificationContext,
        RequestContext, RunningService,
    },
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::{
            SseError, StreamableHttpClient, StreamableHttpClientTransportConfig,
            StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
        },
    },
};
use serde_json::Value;
use tideway_core::{ClientChannel, Hub, HubEvent, TenantId, context::LogLevel};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::Notify,
};

use super::settings::{UpstreamSpec, UpstreamTransport};

pub type Connection = RunningService<RoleClient, Relay>;

/// What a stdio child inherits from Tideway's environment; everything else it gets
/// only through `env` or `env_from`.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "TZ",
    "TMPDIR",
    "TERM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
];

/// Lines of a child's stderr kept for the status report.
const STDERR_TAIL: usize = 20;

/// One call in flight: its request id, its progress token, and its caller.
type Call = (RequestId, ProgressToken, Arc<dyn ClientChannel>);

/// The calls in flight to one upstream, so what it sends back reaches the right caller.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<Vec<Call>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        match self.calls.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn register(
        self: &Arc<Self>,
        id: RequestId,
        token: ProgressToken,
        channel: Arc<dyn ClientChannel>,
    ) -> Registration {
        self.lock().push((id.clone(), token, channel));
        Registration {
            calls: self.clone(),
            id,
        }
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn by_token(&self, token: &ProgressToken) -> Option<Arc<dyn ClientChannel>> {
        self.lock()
            .iter()
            .find(|(_, t, _)| t == token)
            .map(|(_, _, channel)| channel.clone())
    }

    /// The caller a message from the upstream belongs to: the call whose HTTP
    /// response stream carried it, or else the only call in flight. With several
    /// calls in flight on a transport that cannot tell them apart, nobody.
    fn owner(&self, origin: Option<&InboundStreamOrigin>) -> Option<Arc<dyn ClientChannel>> {
        let calls = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin {
            return calls
                .iter()
                .find(|(call, _, _)| call == id)
                .map(|(_, _, channel)| channel.clone());
        }
        match calls.as_slice() {
            [(_, _, channel)] => Some(channel.clone()),
            _ => None,
        }
    }
}

/// Removes a call from [`InFlight`] when it ends, however it ends.
pub struct Registration {
    calls: Arc<InFlight>,
    id: RequestId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.calls.lock().retain(|(id, _, _)| id != &self.id);
    }
}

/// The client handler of one upstream connection.
pub struct Relay {
    pub upstream: String,
    pub calls: Arc<InFlight>,
    /// Woken when the upstream says its tools, prompts or resources changed.
    pub changed: Arc<Notify>,
    /// Where a resource update from the upstream is published to subscribers.
    pub hub: Weak<Hub>,
    /// The tenant that owns the upstream, if one does.
    pub owner: Option<TenantId>,
}

/// Passes an upstream's resource update to the clients subscribed to it: those of
/// the owning tenant, or of every tenant that may see a shared upstream.
pub fn publish_update(hub: &Weak<Hub>, owner: Option<&TenantId>, uri: String) {
    if let Some(hub) = hub.upgrade() {
        hub.publish(HubEvent::ResourceUpdated {
            tenant: owner.cloned(),
            uri,
        });
    }
}

impl Relay {
    async fn relay(
        &self,
        method: &str,
        params: Value,
        extensions: &rmcp::model::Extensions,
    ) -> Result<Value, ErrorData> {
        let Some(channel) = self.calls.owner(extensions.get::<InboundStreamOrigin>()) else {
            return Err(ErrorData::invalid_request(
                format!(
                    "Tideway cannot relay '{method}' from upstream '{}': it is not tied to one call in flight",
                    self.upstream
                ),
                None,
            ));
        };
        let params = match params {
            Value::Object(params) => params,
            _ => Default::default(),
        };
        channel
            .request(method, params)
            .await
            .map_err(|error| ErrorData::invalid_request(error.to_string(), None))
    }
}

fn decode<T: serde::de::DeserializeOwned>(method: &str, value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value).map_err(|error| {
        ErrorData::internal_error(
            format!("the client's answer to '{method}' is malformed: {error}"),
            None,
        )
    })
}

fn log_level(level: LoggingLevel) -> LogLevel {
    match level {
        LoggingLevel::Debug => LogLevel::Debug,
        LoggingLevel::Info => LogLevel::Info,
        LoggingLevel::Notice => LogLevel::Notice,
        LoggingLevel::Warning => LogLevel::Warning,
        LoggingLevel::Error => LogLevel::Error,
        LoggingLevel::Critical => LogLevel::Critical,
        LoggingLevel::Alert => LogLevel::Alert,
        LoggingLevel::Emergency => LogLevel::Emergency,
    }
}

impl ClientHandler for Relay {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(
            capabilities,
            Implementation::new("tideway-gateway", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let method = "sampling/createMessage";
        let params = serde_json::to_value(params)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        decode(
            method,
            self.relay(method, params, &context.extensions).await?,
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let method = "elicitation/create";
        let params = serde_json::to_value(request)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        decode(
            method,
            self.relay(method, params, &context.extensions).await?,
        )
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let method = "roots/list";
        decode(
            method,
            self.relay(method, Value::Null, &context.extensions).await?,
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(channel) = self.calls.by_token(&params.progress_token) {
            channel
                .progress(params.progress, params.total, params.message)
                .await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        let logger = params
            .logger
            .clone()
            .unwrap_or_else(|| self.upstream.clone());
        tracing::debug!(upstream = %self.upstream, level = ?params.level, %logger, data = %params.data, "upstream log message");
        if let Some(channel) = self
            .calls
            .owner(context.extensions.get::<InboundStreamOrigin>())
        {
            channel
                .log(log_level(params.level), &logger, params.data)
                .await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        publish_update(&self.hub, self.owner.as_ref(), params.uri);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }
}

/// Why connecting failed, said for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot start '{command}': {reason}")]
    Spawn { command: String, reason: String },
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Invalid(String),
}

/// The secret values of a spec, opened for this process only.
pub struct Opened {
    pub env: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub bearer_token: Option<String>,
}

/// What a running stdio child leaves for the status report.
#[derive(Default)]
pub struct ChildInfo {
    pub pid: Option<u32>,
    pub stderr_tail: Mutex<VecDeque<String>>,
    /// Becomes true when its stderr is closed (the child exited).
    stderr_closed: Option<tokio::sync::watch::Receiver<bool>>,
}

impl ChildInfo {
    /// Waits (briefly) until everything the child wrote to stderr has been read, so a
    /// failure report carries its last words.
    pub async fn drained(&self) {
        if let Some(closed) = &self.stderr_closed {
            let mut closed = closed.clone();
            let _ = tokio::time::timeout(Duration::from_millis(500), closed.wait_for(|c| *c)).await;
        }
    }

    pub fn tail(&self) -> Vec<String> {
        match self.stderr_tail.lock() {
            Ok(tail) => tail.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }
}

/// Both eras: 2026-07-28 when the upstream knows it, else the 2025-11-25 handshake.
fn lifecycle() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    }
}

/// Starts the upstream and completes the MCP handshake within `timeout`.
pub async fn connect(
    spec: &UpstreamSpec,
    secrets: &Opened,
    relay: Relay,
    timeout: Duration,
) -> Result<(Connection, Arc<ChildInfo>), ConnectError> {
    let handshake = async {
        match spec.transport {
            UpstreamTransport::Stdio => {
                let (transport, info) = spawn(spec, secrets)?;
                let connection = relay
                    .serve_with_lifecycle(transport, lifecycle())
                    .await
                    .map_err(|error| error.to_string());
                match connection {
                    Ok(connection) => Ok((connection, info)),
                    Err(error) => {
                        info.drained().await;
                        Err(ConnectError::Handshake(handshake_error(error, &info)))
                    }
                }
            }
            UpstreamTransport::Http => {
                let transport = http_transport(spec, secrets)?;
                let connection = relay
                    .serve_with_lifecycle(transport, lifecycle())
                    .await
                    .map_err(|error| ConnectError::Handshake(error.to_string()))?;
                Ok((connection, Arc::new(ChildInfo::default())))
            }
        }
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ConnectError::Timeout(timeout)),
    }
}

/// A handshake that failed because the child died says what it printed last.
fn handshake_error(error: String, info: &ChildInfo) -> String {
    let tail = info.tail();
    if tail.is_empty() {
        error
    } else {
        format!("{error}; its stderr ended with: {}", tail.join(" | "))
    }
}

fn spawn(
    spec: &UpstreamSpec,
    secrets: &Opened,
) -> Result<(TokioChildProcess, Arc<ChildInfo>), ConnectError> {
    let program = spec.command.clone().unwrap_or_default();
    let mut command = tokio::process::Command::new(&program);
    command.args(&spec.args);
    // A third-party server must not see Tideway's own secrets (the master key, the
    // database URL, tokens): it starts from a clean environment with only what
    // programs need to run, plus what its definition gives it.
    command.env_clear();
    for (name, value) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if INHERITED_ENV.contains(&name_text.as_ref()) || name_text.starts_with("LC_") {
            command.env(name, value);
        }
    }
    for (child_name, ours) in &spec.env_from {
        let value = std::env::var(ours).map_err(|_| {
            ConnectError::Invalid(format!(
                "env_from: Tideway's environment has no variable {ours} for the child's {child_name}"
            ))
        })?;
        command.env(child_name, value);
    }
    command.envs(&secrets.env);
    if let Some(dir) = &spec.cwd {
        command.current_dir(dir);
    }
    // Its own process group: on stop the whole tree (npx and the node it starts)
    // gets the signal, so nothing is left behind.
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader());
    let (transport, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| ConnectError::Spawn {
            command: program.clone(),
            reason: error.to_string(),
        })?;
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(false);
    let info = Arc::new(ChildInfo {
        pid: transport.id(),
        stderr_tail: Mutex::new(VecDeque::new()),
        stderr_closed: Some(closed_rx),
    });
    if let Some(stderr) = stderr {
        let upstream = spec.name.clone();
        let sink = info.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "tideway::upstream::stderr", upstream = %upstream, "{line}");
                let mut tail = match sink.stderr_tail.lock() {
                    Ok(tail) => tail,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            closed_tx.send_replace(true);
        });
    }
    Ok((transport, info))
}

/// The reqwest client rmcp uses, with one change: a response stream dropped before
/// its end is read to the end in the background (briefly), so its HTTP/1.1
/// connection goes back to the pool. rmcp stops reading a POST's event stream as
/// soon as the response arrives, which otherwise closes the connection; a busy
/// gateway then opens one connection per call (measured: 14,000 sockets in
/// TIME-WAIT after 4 s, and a third of the throughput).
#[derive(Clone)]
pub struct PooledHttp(reqwest::Client);

type EventStream = BoxStream<'static, Result<sse_stream::Sse, SseError>>;

/// A stream that drains itself, for a bounded time, when dropped unfinished.
struct DrainOnDrop {
    inner: Option<EventStream>,
    done: bool,
}

impl Stream for DrainOnDrop {
    type Item = Result<sse_stream::Sse, SseError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let next = inner.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(None) = next {
            self.done = true;
        }
        next
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(mut inner) = self.inner.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // A stream still open after this (a call that was cancelled) is closed.
            runtime.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(200), async {
                    while inner.next().await.is_some() {}
                })
                .await;
            });
        }
    }
}

fn draining(response: StreamableHttpPostResponse) -> StreamableHttpPostResponse {
    match response {
        StreamableHttpPostResponse::Sse(stream, session) => StreamableHttpPostResponse::Sse(
            Box::pin(DrainOnDrop {
                inner: Some(stream),
                done: false,
            }),
            session,
        ),
        other => other,
    }
}

impl StreamableHttpClient for PooledHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.0
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
            .map(draining)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.0
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
            .map(draining)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
            .map(draining)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<EventStream, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<EventStream, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

fn http_transport(
    spec: &UpstreamSpec,
    secrets: &Opened,
) -> Result<StreamableHttpClientTransport<PooledHttp>, ConnectError> {
    let url = spec.url.clone().unwrap_or_default();
    let mut headers = HashMap::new();
    for (name, value) in &secrets.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectError::Invalid(format!("header name '{name}' is not valid")))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| {
            ConnectError::Invalid(format!("the value of header '{name}' is not valid"))
        })?;
        headers.insert(name, value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers);
    if let Some(token) = &secrets.bearer_token {
        config = config.auth_header(token.clone());
    }
    Ok(StreamableHttpClientTransport::with_client(
        PooledHttp(crate::http_client::client().map_err(|error| {
            ConnectError::Invalid(format!("the HTTP client cannot be built: {error}"))
        })?),
        config,
    ))
}
