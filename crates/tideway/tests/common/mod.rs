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
use tideway::{app::App, server::http_app};
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

pub async fn start(configure: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().join("hub"),
        ..Config::default()
    };
    config.gateway.restart_initial_backoff_ms = 20;
    config.gateway.restart_max_backoff_ms = 200;
    config.gateway.connect_timeout_secs = 20;
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

/// A client as a test plays it: it keeps the progress it is sent and answers
/// sampling with `sampled: {prompt}` and elicitation by accepting `{"name": "Ada"}`.
#[derive(Default)]
pub struct Collector {
    pub progress: Mutex<Vec<f64>>,
    pub requests: Mutex<Vec<String>>,
}

#[async_trait]
impl ClientChannel for Collector {
    async fn progress(&self, progress: f64, _total: Option<f64>, _message: Option<String>) {
        self.progress.lock().expect("lock").push(progress);
    }
    async fn log(&self, _level: LogLevel, _logger: &str, _data: Value) {}
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
