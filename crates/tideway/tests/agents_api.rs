//! The agents' REST shapes on a running server whose model is a local server
//! speaking OpenAI's chat completions API (the paid API it stands in for is
//! remote): an agent saved and run with `Prefer: wait`, its run and transcript,
//! delegation, capabilities and health, a multi-agent workflow, and bad input
//! answered with problem documents that name the field.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};

use common::start;

/// Asks for `system_echo` once per conversation, then answers with what it saw.
async fn model(State(count): State<Arc<AtomicU32>>, Json(body): Json<Value>) -> Json<Value> {
    count.fetch_add(1, Ordering::SeqCst);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let result = messages.iter().rev().find(|m| m["role"] == "tool");
    let message = match result {
        None => json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
            "type": "function", "function": {"name": "system_echo", "arguments": "{\"message\":\"ping\"}"}}]}),
        Some(result) => json!({"role": "assistant",
            "content": format!("answer after {}", result["content"].as_str().unwrap_or_default().len())}),
    };
    let finish = if result.is_none() {
        "tool_calls"
    } else {
        "stop"
    };
    Json(
        json!({"id": "c", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}}),
    )
}

async fn stand_in() -> (String, Arc<AtomicU32>) {
    let count = Arc::new(AtomicU32::new(0));
    let router = Router::new()
        .route("/v1/chat/completions", post(model))
        .with_state(count.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/v1"), count)
}

async fn send(
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    prefer: Option<&str>,
) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn agents_are_saved_run_delegated_and_followed_over_rest() {
    let (model_url, turns) = stand_in().await;
    let server = start(|config| {
        config.toolkits = ["system", "workflows", "models", "agents"]
            .map(String::from)
            .to_vec();
    })
    .await;
    let base = server.base.as_str();
    let url = |path: &str| format!("{base}{path}");
    use reqwest::Method;

    // Without a provider (the client's own model cannot be asked from the
    // background) every agent is down, and says why.
    let (status, health) = send(
        Method::GET,
        url("/api/v1/integration/agents/health"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{health:#}");
    assert_eq!(
        health["agents"].as_array().map(Vec::len),
        Some(6),
        "{health:#}"
    );
    assert_eq!(health["agents"][0]["status"], "down", "{health:#}");
    assert!(
        health["agents"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("model provider"),
        "{health:#}"
    );

    let (status, body) = send(
        Method::PUT,
        url("/api/v1/models/providers/main"),
        Some(json!({"kind": "openai", "base_url": model_url, "model": "scripted", "api_key": "sk-test", "default": true})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let (status, saved) = send(
        Method::PUT,
        url("/api/v1/agents/pinger"),
        Some(json!({"description": "Checks that things answer.", "instructions": "Echo, then report.",
            "capabilities": ["connectivity checks", "ping"], "tools": ["system.echo"]})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{saved:#}");
    assert_eq!(saved["version"], 1);

    // A run answered within the wait.
    let (status, view) = send(
        Method::POST,
        url("/api/v1/agents/pinger/runs"),
        Some(json!({"task": "Ping the hub."})),
        Some("wait=20"),
    )
    .await;
    assert_eq!(status, 200, "{view:#}");
    assert_eq!(view["run"]["status"], "succeeded", "{view:#}");
    assert!(
        view["run"]["answer"]
            .as_str()
            .unwrap_or_default()
            .starts_with("answer after"),
        "{view:#}"
    );
    let id = view["run"]["id"].as_str().expect("id").to_string();
    let (status, view) = send(
        Method::GET,
        url(&format!("/api/v1/agent-runs/{id}")),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = view["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["model", "call", "result", "model"], "{view:#}");
    assert_eq!(view["events"][2]["body"]["is_error"], false, "{view:#}");
    assert_eq!(turns.load(Ordering::SeqCst), 2);

    // Delegation by capability, answered within the wait.
    let (status, delegated) = send(
        Method::POST,
        url("/api/v1/integration/agents/delegate"),
        Some(json!({"task": "Run a connectivity check (ping)"})),
        Some("wait=20"),
    )
    .await;
    assert_eq!(status, 200, "{delegated:#}");
    assert_eq!(delegated["agent"], "pinger", "{delegated:#}");
    assert_eq!(delegated["run"]["status"], "succeeded", "{delegated:#}");

    let (status, capabilities) = send(
        Method::GET,
        url("/api/v1/integration/agents/capabilities"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        capabilities["agents"].as_array().map(Vec::len),
        Some(7),
        "{capabilities:#}"
    );
    let (status, health) = send(
        Method::GET,
        url("/api/v1/integration/agents/health/pinger"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{health:#}");
    assert_eq!(health["agents"][0]["status"], "healthy", "{health:#}");
    assert_eq!(health["agents"][0]["runs_24h"], 2, "{health:#}");

    // Two agent tasks as one workflow, the second quoting the first's answer.
    let (status, started) = send(
        Method::POST,
        url("/api/v1/integration/agents/workflow"),
        Some(json!({"name": "double_ping", "wait_secs": 25, "steps": [
            {"id": "first", "agent": "pinger", "task": "Ping once."},
            {"id": "second", "agent": "pinger", "needs": ["first"], "task": "Ping again; the first said: {{ steps.first.output.run.answer }}"}
        ]})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{started:#}");
    assert_eq!(started["status"], "succeeded", "{started:#}");
    let (_, runs) = send(
        Method::GET,
        url("/api/v1/agent-runs?agent=pinger"),
        None,
        None,
    )
    .await;
    let tasks: Vec<&str> = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["task"].as_str())
        .collect();
    assert!(
        tasks
            .iter()
            .any(|t| t.starts_with("Ping again; the first said: answer after")),
        "{tasks:?}"
    );

    // Bad input names the field.
    let (status, problem) = send(
        Method::PUT,
        url("/api/v1/agents/broken"),
        Some(json!({"description": "x", "instructions": "x", "tools": ["system.echo"], "limits": {"max_steps": 0}})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("max_steps"),
        "{problem:#}"
    );
    let (status, problem) = send(
        Method::GET,
        url("/api/v1/agent-runs/no-such-run"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "{problem:#}");
    let (status, problem) = send(
        Method::POST,
        url("/api/v1/agents/nobody/runs"),
        Some(json!({"task": "x"})),
        None,
    )
    .await;
    assert_eq!(status, 404, "{problem:#}");
}
