//! The MCP load generator: concurrent clients, each on its own HTTP/1.1 keep-alive
//! connection, speaking Streamable HTTP in either protocol era, a warm-up, then a
//! fixed duration or call count, and the figures that come out (calls per second,
//! latency percentiles, errors). It drives hyper's connection API directly rather
//! than a pooled client because on a 2-core machine the generator's own CPU cost sets
//! the ceiling of what can be measured.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, client::conn::http1};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, de::DeserializeOwned, de::IgnoredAny};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The protocol version of the stateless era.
pub const MODERN: &str = "2026-07-28";
/// The protocol version of the session era.
pub const LEGACY: &str = "2025-11-25";

/// How a client talks to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: no handshake; every request carries its protocol version, client
    /// capabilities and client info in `_meta` and the `Mcp-*` headers.
    Stateless,
    /// 2025-11-25: `initialize` and `notifications/initialized` first, then every
    /// request carries the `Mcp-Session-Id` the server gave (if it gave one).
    Sessions,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Stateless => "2026-07-28 stateless",
            Era::Sessions => "2025-11-25 sessions",
        }
    }
}

/// Where an MCP endpoint is: `http://host:port/path`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub authority: String,
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| LoadError::Setup(format!("only http:// endpoints: {url}")))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        Ok(Endpoint {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// Why one call failed. Every kind counts as an error in the report.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("connection: {0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("tool error: {0}")]
    Tool(String),
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

/// Why a run could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Setup(String),
    #[error("client {client} could not connect: {source}")]
    Connect { client: usize, source: CallError },
}

/// One client's connection and, in the session era, its session.
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    endpoint: Endpoint,
    era: Era,
    session: Option<String>,
    next_id: u64,
    meta: Value,
}

fn cut(text: &str) -> String {
    text.chars().take(300).collect()
}

impl Connection {
    /// Opens a connection and, in the session era, initializes a session on it.
    pub async fn open(endpoint: &Endpoint, era: Era) -> Result<Self, CallError> {
        let mut connection = Self::connect(endpoint, era).await?;
        if era == Era::Sessions {
            connection.initialize().await?;
        }
        Ok(connection)
    }

    async fn connect(endpoint: &Endpoint, era: Era) -> Result<Self, CallError> {
        let stream = TcpStream::connect(&endpoint.authority)
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|error| CallError::Transport(error.to_string()))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?;
        tokio::spawn(driver);
        Ok(Connection {
            sender,
            endpoint: endpoint.clone(),
            era,
            session: None,
            next_id: 0,
            meta: json!({
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "mcp-bench", "version": "1"},
            }),
        })
    }

    /// The session the server gave, if any.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    async fn initialize(&mut self) -> Result<(), CallError> {
        let params = json!({
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "mcp-bench", "version": "1"},
        });
        let (_, session) = self
            .exchange::<InitializeResult>("initialize", None, params, true)
            .await?;
        self.session = session;
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.send(notification.to_string(), "notifications/initialized", None);
        let (status, _, body) = response.await?;
        if !status.is_success() {
            return Err(CallError::Http {
                status: status.as_u16(),
                body: cut(&String::from_utf8_lossy(&body)),
            });
        }
        Ok(())
    }

    /// Sends one JSON-RPC request and returns its result, decoded as `R` (which names
    /// only the fields the caller checks, so the generator does not spend its CPU
    /// building values it throws away).
    pub async fn request<R: DeserializeOwned>(
        &mut self,
        method: &str,
        name: Option<&str>,
        params: Value,
    ) -> Result<R, CallError> {
        self.exchange(method, name, params, false)
            .await
            .map(|(result, _)| result)
    }

    async fn exchange<R: DeserializeOwned>(
        &mut self,
        method: &str,
        name: Option<&str>,
        mut params: Value,
        want_session: bool,
    ) -> Result<(R, Option<String>), CallError> {
        self.next_id += 1;
        let id = self.next_id;
        if self.era == Era::Stateless
            && let Some(object) = params.as_object_mut()
        {
            object.insert("_meta".into(), self.meta.clone());
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, session, bytes) = self.send(body.to_string(), method, name).await?;
        if !status.is_success() {
            return Err(CallError::Http {
                status: status.as_u16(),
                body: cut(&String::from_utf8_lossy(&bytes)),
            });
        }
        let message: Response<R> = response_message(&bytes, id)?;
        if let Some(error) = message.error {
            return Err(CallError::Rpc {
                code: error.code,
                message: error.message,
            });
        }
        let result = message.result.ok_or_else(|| {
            CallError::Unexpected(format!(
                "neither result nor error: {}",
                cut(&String::from_utf8_lossy(&bytes))
            ))
        })?;
        Ok((result, if want_session { session } else { None }))
    }

    async fn send(
        &mut self,
        body: String,
        method: &str,
        name: Option<&str>,
    ) -> Result<(StatusCode, Option<String>, Bytes), CallError> {
        let version = match self.era {
            Era::Stateless => MODERN,
            Era::Sessions => LEGACY,
        };
        let mut request = Request::post(self.endpoint.path.as_str())
            .header("host", self.endpoint.authority.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version);
        if self.era == Era::Stateless {
            request = request.header("mcp-method", method);
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| CallError::Transport(error.to_string()))?;
        self.sender
            .ready()
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?;
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?
            .to_bytes();
        Ok((status, session, bytes))
    }

    /// Opens the session's server-to-client stream (`GET` with `Accept:
    /// text/event-stream`) and keeps it open until the returned guard is dropped, as a
    /// connected client does. Needs its own connection: the stream occupies it.
    pub async fn open_stream(
        endpoint: &Endpoint,
        session: &str,
    ) -> Result<impl Send + 'static, CallError> {
        let mut connection = Self::connect(endpoint, Era::Sessions).await?;
        let request = Request::get(endpoint.path.as_str())
            .header("host", endpoint.authority.as_str())
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", LEGACY)
            .header("mcp-session-id", session)
            .body(Full::new(Bytes::new()))
            .map_err(|error| CallError::Transport(error.to_string()))?;
        let response = connection
            .sender
            .send_request(request)
            .await
            .map_err(|error| CallError::Transport(error.to_string()))?;
        if !response.status().is_success() {
            return Err(CallError::Http {
                status: response.status().as_u16(),
                body: String::new(),
            });
        }
        Ok((connection.sender, response))
    }
}

/// A JSON-RPC response with its result decoded as `R`.
#[derive(Deserialize)]
pub struct Response<R> {
    pub id: Option<u64>,
    pub result: Option<R>,
    pub error: Option<RpcError>,
}

#[derive(Deserialize)]
pub struct RpcError {
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    _protocol_version: String,
}

#[derive(Deserialize)]
struct ToolResult {
    content: Vec<ContentItem>,
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct ContentItem {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ToolList {
    tools: Vec<IgnoredAny>,
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<String>,
}

/// The JSON-RPC response with `id` in a body that is either one JSON object or an
/// SSE stream of `data:` lines (some servers answer in SSE even for one message).
pub fn response_message<R: DeserializeOwned>(
    body: &[u8],
    id: u64,
) -> Result<Response<R>, CallError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CallError::Unexpected("response body is not UTF-8".into()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed)
            .map_err(|error| CallError::Unexpected(format!("{error}: {}", cut(text))));
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Response<R>>(data.trim()).ok())
        .find(|message| message.id == Some(id))
        .ok_or_else(|| CallError::Unexpected(format!("no response to request {id}: {}", cut(text))))
}

/// What each client does, over and over.
#[derive(Clone, Debug)]
pub enum Operation {
    /// `tools/call` of an echo tool (`{message}` in); the text that comes back must be
    /// the message sent.
    Echo { tool: String },
    /// `tools/call` of `tool` with arguments made from the client and call numbers;
    /// any non-error result counts.
    Call {
        tool: String,
        arguments: fn(usize, u64) -> Value,
    },
    /// `tools/list`, following `nextCursor` to the end; the catalog must have
    /// `expect` tools.
    ListTools { expect: usize },
}

impl Operation {
    /// Runs the operation once; `client` and `n` make arguments distinct.
    pub async fn run(
        &self,
        connection: &mut Connection,
        client: usize,
        n: u64,
    ) -> Result<(), CallError> {
        match self {
            Operation::Echo { tool } => {
                let message = format!("client {client} call {n}");
                let result: ToolResult = connection
                    .request(
                        "tools/call",
                        Some(tool),
                        json!({"name": tool, "arguments": {"message": message}}),
                    )
                    .await?;
                check_tool_result(&result)?;
                let text = result.content.first().and_then(|item| item.text.as_deref());
                if text != Some(message.as_str()) {
                    return Err(CallError::Unexpected(format!(
                        "echo sent {message:?}, got {text:?}"
                    )));
                }
                Ok(())
            }
            Operation::Call { tool, arguments } => {
                let result: ToolResult = connection
                    .request(
                        "tools/call",
                        Some(tool),
                        json!({"name": tool, "arguments": arguments(client, n)}),
                    )
                    .await?;
                check_tool_result(&result)
            }
            Operation::ListTools { expect } => {
                let mut seen = 0;
                let mut cursor: Option<String> = None;
                loop {
                    let params = match &cursor {
                        Some(cursor) => json!({"cursor": cursor}),
                        None => json!({}),
                    };
                    let result: ToolList = connection.request("tools/list", None, params).await?;
                    seen += result.tools.len();
                    match result.next_cursor {
                        Some(next) if !next.is_empty() => cursor = Some(next),
                        _ => break,
                    }
                }
                if seen != *expect {
                    return Err(CallError::Unexpected(format!(
                        "tools/list gave {seen} tools, expected {expect}"
                    )));
                }
                Ok(())
            }
        }
    }
}

fn check_tool_result(result: &ToolResult) -> Result<(), CallError> {
    if result.is_error == Some(true) {
        let texts: Vec<&str> = result
            .content
            .iter()
            .filter_map(|item| item.text.as_deref())
            .collect();
        return Err(CallError::Tool(cut(&texts.join(" "))));
    }
    Ok(())
}

/// When a run stops measuring.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    After(Duration),
    Calls(u64),
}

/// How hard and how long to drive the server.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub clients: usize,
    pub warmup: Duration,
    pub stop: Stop,
}

/// What a run measured. Latencies are of successful operations only.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub clients: usize,
    pub elapsed: Duration,
    pub ok: u64,
    pub errors: u64,
    /// The first few errors, for the log.
    pub error_samples: Vec<String>,
    /// Sorted ascending.
    pub latencies: Vec<Duration>,
    /// When the measured window opened (the end of the warm-up); it lasts `elapsed`.
    pub measured_from: Option<Instant>,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds == 0.0 {
            0.0
        } else {
            self.ok as f64 / seconds
        }
    }

    /// The `p` quantile of the latencies in milliseconds (NaN when there are none).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        crate::percentile(&self.latencies, p)
    }

    /// Operations attempted in the measured window, successful or not.
    pub fn total(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies
            .last()
            .map_or(f64::NAN, |max| max.as_secs_f64() * 1e3)
    }

    /// Folds one client's results in; call [`Report::finish`] after the last.
    fn absorb(&mut self, client: ClientResult) {
        self.ok += client.latencies.len() as u64;
        self.errors += client.errors;
        self.latencies.extend(client.latencies);
        for sample in client.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(sample);
            }
        }
    }

    fn finish(&mut self) {
        self.latencies.sort_unstable();
    }
}

#[derive(Default)]
struct ClientResult {
    latencies: Vec<Duration>,
    errors: u64,
    error_samples: Vec<String>,
}

impl ClientResult {
    fn record(&mut self, outcome: Result<(), CallError>, took: Duration) {
        match outcome {
            Ok(()) => self.latencies.push(took),
            Err(error) => {
                self.errors += 1;
                if self.error_samples.len() < 5 {
                    self.error_samples.push(error.to_string());
                }
            }
        }
    }
}

/// Drives `operation` at `endpoint` with `plan.clients` concurrent clients. All
/// clients connect (and initialize, in the session era) before the warm-up starts;
/// the measured window opens for everyone at once when the warm-up ends.
pub async fn run(
    endpoint: &Endpoint,
    era: Era,
    operation: &Operation,
    plan: Plan,
) -> Result<Report, LoadError> {
    if plan.clients == 0 {
        return Err(LoadError::Setup("at least one client".into()));
    }
    let mut connections = Vec::with_capacity(plan.clients);
    for client in 0..plan.clients {
        let connection = Connection::open(endpoint, era)
            .await
            .map_err(|source| LoadError::Connect { client, source })?;
        connections.push(connection);
    }
    let warm_until = Instant::now() + plan.warmup;
    let tickets = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(plan.clients);
    for (client, mut connection) in connections.into_iter().enumerate() {
        let operation = operation.clone();
        let tickets = tickets.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = ClientResult::default();
            let mut n = 0u64;
            while Instant::now() < warm_until {
                n += 1;
                // Warm-up outcomes are not counted; a broken server shows up in the
                // measured window anyway.
                let _ = operation.run(&mut connection, client, n).await;
            }
            let started = Instant::now();
            loop {
                match plan.stop {
                    Stop::After(duration) if started.elapsed() >= duration => break,
                    Stop::Calls(total) if tickets.fetch_add(1, Ordering::Relaxed) >= total => {
                        break;
                    }
                    _ => {}
                }
                n += 1;
                let begun = Instant::now();
                let outcome = operation.run(&mut connection, client, n).await;
                result.record(outcome, begun.elapsed());
            }
            (result, started.elapsed())
        }));
    }
    let mut report = Report {
        clients: plan.clients,
        measured_from: Some(warm_until),
        ..Report::default()
    };
    for task in tasks {
        let (result, elapsed) = task
            .await
            .map_err(|error| LoadError::Setup(format!("a client task failed: {error}")))?;
        report.elapsed = report.elapsed.max(elapsed);
        report.absorb(result);
    }
    report.finish();
    Ok(report)
}

/// Opens `count` sessions (2025-11-25 era), one after another, and returns their ids.
pub async fn open_sessions(endpoint: &Endpoint, count: usize) -> Result<Vec<String>, CallError> {
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        let connection = Connection::open(endpoint, Era::Sessions).await?;
        let session = connection
            .session()
            .ok_or_else(|| CallError::Unexpected("the server gave no session id".into()))?;
        sessions.push(session.to_string());
    }
    Ok(sessions)
}

/// Holds a server-to-client stream open for each session, as connected clients do;
/// the streams close when the returned guards are dropped.
pub async fn open_streams(
    endpoint: &Endpoint,
    sessions: &[String],
) -> Result<Vec<Box<dyn Send>>, CallError> {
    let mut guards: Vec<Box<dyn Send>> = Vec::with_capacity(sessions.len());
    for session in sessions {
        guards.push(Box::new(Connection::open_stream(endpoint, session).await?));
    }
    Ok(guards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_authority_and_path() {
        let endpoint = Endpoint::parse("http://127.0.0.1:8080/mcp/system").expect("endpoint");
        assert_eq!(endpoint.authority, "127.0.0.1:8080");
        assert_eq!(endpoint.path, "/mcp/system");
        assert_eq!(Endpoint::parse("http://h:1").expect("endpoint").path, "/");
        assert!(Endpoint::parse("https://h/mcp").is_err());
    }

    #[test]
    fn responses_are_found_in_json_and_in_sse() {
        let json = br#"{"jsonrpc":"2.0","id":3,"result":{"ok":true}}"#;
        let message: Response<Value> = response_message(json, 3).expect("response");
        assert_eq!(message.result.expect("result")["ok"], true);
        let sse = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,\"message\":\"bad\"}}\n\n";
        let message: Response<Value> = response_message(sse, 7).expect("response");
        assert_eq!(message.error.expect("error").code, -32602);
        assert!(matches!(
            response_message::<Value>(sse, 8),
            Err(CallError::Unexpected(_))
        ));
        assert!(matches!(
            response_message::<Value>(b"not json", 1),
            Err(CallError::Unexpected(_))
        ));
    }

    #[test]
    fn errors_are_counted_and_sampled_and_latencies_kept_only_for_successes() {
        let mut client = ClientResult::default();
        client.record(Ok(()), Duration::from_millis(3));
        client.record(
            Err(CallError::Tool("boom".into())),
            Duration::from_millis(1),
        );
        client.record(Ok(()), Duration::from_millis(1));
        for _ in 0..10 {
            client.record(
                Err(CallError::Http {
                    status: 500,
                    body: String::new(),
                }),
                Duration::ZERO,
            );
        }
        let mut report = Report::default();
        report.absorb(client);
        report.absorb(ClientResult {
            latencies: vec![Duration::from_millis(2)],
            ..ClientResult::default()
        });
        report.finish();
        assert_eq!(report.ok, 3);
        assert_eq!(report.errors, 11);
        assert_eq!(report.total(), 14);
        assert_eq!(report.error_samples.len(), 5);
        assert_eq!(report.error_samples[0], "tool error: boom");
        assert_eq!(report.percentile_ms(0.0), 1.0);
        assert_eq!(report.percentile_ms(0.5), 2.0);
        assert_eq!(report.max_ms(), 3.0);
    }

    #[test]
    fn tool_results_marked_as_errors_fail_and_results_without_content_do_not_decode() {
        let decode = |value: Value| serde_json::from_value::<ToolResult>(value);
        assert!(
            check_tool_result(&decode(json!({"content": [], "isError": false})).expect("decodes"))
                .is_ok()
        );
        let failed = decode(json!({"content": [{"type": "text", "text": "no"}], "isError": true}));
        assert!(
            matches!(check_tool_result(&failed.expect("decodes")), Err(CallError::Tool(text)) if text == "no")
        );
        // A result without content is not a tool result at all.
        assert!(decode(json!({"structuredContent": {}})).is_err());
    }

    #[test]
    fn an_empty_report_has_no_rate_and_no_percentiles() {
        let report = Report::default();
        assert_eq!(report.per_second(), 0.0);
        assert!(report.percentile_ms(0.99).is_nan());
        assert!(report.max_ms().is_nan());
    }
}
