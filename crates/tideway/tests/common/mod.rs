//! What the gateway suites share: a Tideway started in-process on a loopback port
//! with quick restart backoff, waiting for a condition, and a client channel that
//! collects progress and answers sampling and elicitation like a client would.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway::{
    app::App,
    server::http_app,
    toolkits::upstream::settings::{GatewayConfig, UpstreamSpec},
};
use tideway_core::{
    CallContext, ClientChannel, Config, HubError, Principal, TenantId, context::LogLevel,
    mcp::JsonObject,
};
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
}

/// Changes the `[gateway]` settings of a configuration built in code.
pub fn gateway(config: &mut Config, change: impl FnOnce(&mut GatewayConfig)) {
    config
        .update_section("gateway", change)
        .expect("gateway settings");
}

/// Declares an upstream, as `[[upstreams]]` in a file would.
pub fn add_upstream(config: &mut Config, spec: UpstreamSpec) {
    config
        .update_section("upstreams", |upstreams: &mut Vec<UpstreamSpec>| {
            upstreams.push(spec)
        })
        .expect("upstreams");
}

pub async fn start(configure: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("hub");
    start_in(dir, data_dir, configure).await
}

/// As [`start`], on the data folder `data_dir` (another server's, to start again on
/// its store); `dir` is kept as long as the server runs.
pub async fn start_in(
    dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    configure: impl FnOnce(&mut Config),
) -> Running {
    let mut config = Config {
        data_dir,
        ..Config::default()
    };
    gateway(&mut config, |gateway| {
        gateway.restart_initial_backoff_ms = 20;
        gateway.restart_max_backoff_ms = 200;
        gateway.connect_timeout_secs = 20;
    });
    config.toolkits = vec!["system".into()];
    configure(&mut config);
    let app = App::start(config, &[]).await.expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Running {
        base: format!("http://{addr}"),
        dir,
        app,
    }
}

pub async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A client as a test plays it: it keeps the progress and log messages it is sent and answers
/// sampling with `sampled: {prompt}` and elicitation by accepting `{"name": "Ada"}`.
#[derive(Default)]
pub struct Collector {
    pub progress: Mutex<Vec<f64>>,
    pub requests: Mutex<Vec<String>>,
    /// Log messages as `level: data`.
    pub logs: Mutex<Vec<String>>,
}

#[async_trait]
impl ClientChannel for Collector {
    async fn progress(&self, progress: f64, _total: Option<f64>, _message: Option<String>) {
        self.progress.lock().expect("lock").push(progress);
    }
    async fn log(&self, level: LogLevel, _logger: &str, data: Value) {
        self.logs
            .lock()
            .expect("lock")
            .push(format!("{level:?}: {data}"));
    }
    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        self.requests.lock().expect("lock").push(method.to_string());
        match method {
            "sampling/createMessage" => {
                let prompt = params["messages"][0]["content"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                Ok(json!({
                    "role": "assistant",
                    "content": {"type": "text", "text": format!("sampled: {prompt}")},
                    "model": "stand-in",
                }))
            }
            "elicitation/create" => Ok(json!({"action": "accept", "content": {"name": "Ada"}})),
            _ => Err(HubError::Unsupported(format!("no {method} here"))),
        }
    }
}

pub fn local() -> CallContext {
    CallContext::new(TenantId::new("default"), Principal::local(), "test")
}

pub fn args(value: Value) -> Option<JsonObject> {
    Some(serde_json::from_value(value).expect("an arguments object"))
}

/// The text blocks of a tool result, joined.
pub fn text_of(result: &tideway_core::mcp::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An API key of `role` for `tenant` (created if missing).
pub async fn key(app: &App, tenant: &str, role: tideway_core::Role) -> String {
    let tenant = TenantId::new(tenant);
    app.store
        .ensure_tenant(&tenant, tenant.as_str())
        .await
        .expect("tenant");
    app.store
        .create_api_key(tideway_core::store::NewApiKey {
            tenant,
            name: format!("{role} key"),
            role,
            rules: tideway_core::ToolRules::default(),
            inherited_rules: Vec::new(),
            expires_at: None,
            created_by: "test".into(),
        })
        .await
        .expect("key")
        .1
}

/// A JSON-RPC request to an MCP endpoint in the 2026-07-28 era, with a bearer
/// credential if given; the answer's JSON (from a JSON body or the last SSE event).
pub async fn mcp(url: &str, credential: Option<&str>, method: &str, params: Value) -> Value {
    mcp_declaring(url, credential, method, params, json!({})).await
}

/// As [`mcp`], from a client declaring `capabilities`.
pub async fn mcp_declaring(
    url: &str,
    credential: Option<&str>,
    method: &str,
    params: Value,
    capabilities: Value,
) -> Value {
    let mut body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    body["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities
    });
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    let name = body["params"]["name"]
        .as_str()
        .or(body["params"]["taskId"].as_str());
    if let Some(name) = name {
        request = request.header("mcp-name", name.to_string());
    }
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    let text = request
        .body(body.to_string())
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .next_back()
        .unwrap_or(&text)
        .trim()
        .to_string();
    serde_json::from_str(&json).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The names in a `tools/list` answer.
pub fn tool_names(listed: &Value) -> Vec<String> {
    listed["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|tool| tool["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
