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

    // Quick actions: a named agent's task, and a template's input checked by its schema.
    let (status, proposal) = send(
        Method::POST,
        url("/api/v1/integration/quick/generate-proposal"),
        Some(json!({"request": "A support plan for Initech", "context": {"seats": 40}})),
        Some("wait=20"),
    )
    .await;
    assert_eq!(status, 200, "{proposal:#}");
    assert_eq!(proposal["run"]["agent"], "content_creator", "{proposal:#}");
    assert_eq!(proposal["run"]["status"], "succeeded", "{proposal:#}");
    assert!(
        proposal["run"]["task"]
            .as_str()
            .unwrap_or_default()
            .contains("\"seats\":40"),
        "{proposal:#}"
    );
    let (status, problem) = send(
        Method::POST,
        url("/api/v1/integration/quick/customer-support"),
        Some(json!({"question": "Where is my order?"})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("customer_id"),
        "{problem:#}"
    );
    let (status, problem) = send(
        Method::POST,
        url("/api/v1/integration/quick/optimize-schedule"),
        Some(json!({"ask": "faster"})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem:#}");

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

/// A JSON-RPC call to an A2A endpoint with an API key; the HTTP status and body.
async fn a2a(url: String, key: Option<&str>, method: &str, params: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("a2a-version", "1.0")
        .json(&json!({"jsonrpc": "2.0", "id": "r1", "method": method, "params": params}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn agents_answer_over_a2a_as_the_tenant_of_the_key_and_runs_stream_their_events() {
    let (model_url, _turns) = stand_in().await;
    let server = start(|config| {
        config.toolkits = ["system", "workflows", "models", "agents"]
            .map(String::from)
            .to_vec();
        config.auth.modes = vec![tideway_core::config::AuthMode::ApiKey];
    })
    .await;
    let base = server.base.as_str();
    let acme = common::key(&server.app, "acme", tideway_core::Role::Admin).await;
    let globex = common::key(&server.app, "globex", tideway_core::Role::Admin).await;
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/api/v1/models/providers/main",
            json!({"kind": "openai", "base_url": model_url, "model": "scripted", "api_key": "sk-test", "default": true}),
        ),
        (
            "/api/v1/agents/pinger",
            json!({"description": "Checks that things answer.", "instructions": "Echo, then report.",
                "capabilities": ["ping"], "tools": ["system.echo"]}),
        ),
    ] {
        let response = http
            .put(format!("{base}{path}"))
            .bearer_auth(&acme)
            .json(&body)
            .send()
            .await
            .expect("put");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }

    // The public card needs no credential; the endpoint does.
    let card: Value = http
        .get(format!("{base}/.well-known/agent-card.json"))
        .send()
        .await
        .expect("card")
        .json()
        .await
        .expect("json");
    assert_eq!(card["supportedInterfaces"][0]["url"], format!("{base}/a2a"));
    assert_eq!(card["skills"].as_array().map(Vec::len), Some(6), "{card:#}");
    let (status, _) = a2a(
        format!("{base}/a2a/pinger"),
        None,
        "GetTask",
        json!({"id": "x"}),
    )
    .await;
    assert_eq!(status, 401);
    let agent_card = http
        .get(format!("{base}/a2a/pinger/.well-known/agent-card.json"))
        .bearer_auth(&acme)
        .send()
        .await
        .expect("card");
    assert_eq!(agent_card.status().as_u16(), 200);
    let agent_card: Value = agent_card.json().await.expect("json");
    assert_eq!(
        agent_card["supportedInterfaces"][0]["url"],
        format!("{base}/a2a/pinger")
    );

    let message = |text: &str, context: &str| json!({"message": {"messageId": "m1", "role": "ROLE_USER", "contextId": context, "parts": [{"text": text}]}});
    let (status, sent) = a2a(
        format!("{base}/a2a/pinger"),
        Some(&acme),
        "SendMessage",
        message("Ping the hub.", "talk-9"),
    )
    .await;
    assert_eq!(status, 200);
    let task = &sent["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{sent:#}");
    assert_eq!(task["contextId"], "talk-9");
    let id = task["id"].as_str().expect("task id").to_string();

    // Another tenant's key sees no such task, on either endpoint.
    for endpoint in ["/a2a", "/a2a/pinger"] {
        let (_, got) = a2a(
            format!("{base}{endpoint}"),
            Some(&globex),
            "GetTask",
            json!({"id": id}),
        )
        .await;
        assert_eq!(got["error"]["code"], -32001, "{got:#}");
    }
    let (_, listed) = a2a(format!("{base}/a2a"), Some(&globex), "ListTasks", json!({})).await;
    assert_eq!(listed["result"]["totalSize"], 0, "{listed:#}");
    let (_, listed) = a2a(
        format!("{base}/a2a"),
        Some(&acme),
        "ListTasks",
        json!({"contextId": "talk-9", "status": "TASK_STATE_COMPLETED", "includeArtifacts": true}),
    )
    .await;
    assert_eq!(listed["result"]["totalSize"], 1, "{listed:#}");
    assert_eq!(listed["result"]["tasks"][0]["id"], id.as_str());
    let (_, bad) = a2a(
        format!("{base}/a2a"),
        Some(&acme),
        "ListTasks",
        json!({"pageToken": "not-a-cursor"}),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad:#}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("params.pageToken"),
        "{bad:#}"
    );
    let (_, bad) = a2a(
        format!("{base}/a2a/pinger"),
        Some(&acme),
        "SendMessage",
        message("x", "a context id that is far too spacious"),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad:#}");
    assert_eq!(
        bad["error"]["data"][0]["metadata"]["field"], "context_id",
        "{bad:#}"
    );
    let (_, push) = a2a(
        format!("{base}/a2a"),
        Some(&acme),
        "CreateTaskPushNotificationConfig",
        json!({}),
    )
    .await;
    assert_eq!(push["error"]["code"], -32003, "{push:#}");

    // The run's events as server-sent events, resumable after an event id.
    let events = |after: Option<&str>| {
        let mut request = http
            .get(format!("{base}/api/v1/agent-runs/{id}/events"))
            .bearer_auth(&acme);
        if let Some(after) = after {
            request = request.header("last-event-id", after);
        }
        async move {
            request
                .send()
                .await
                .expect("events")
                .text()
                .await
                .expect("text")
        }
    };
    let stream = events(None).await;
    let names: Vec<&str> = stream
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        ["model", "call", "result", "model", "status"],
        "{stream}"
    );
    let resumed = events(Some("1")).await;
    let names: Vec<&str> = resumed
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["result", "model", "status"], "{resumed}");
    let refused = http
        .get(format!("{base}/api/v1/agent-runs/{id}/events"))
        .bearer_auth(&globex)
        .send()
        .await
        .expect("events");
    assert_eq!(refused.status().as_u16(), 404);

    // Runs listed a page at a time.
    let page = |query: String| {
        let request = http
            .get(format!("{base}/api/v1/agent-runs{query}"))
            .bearer_auth(&acme);
        async move {
            let response = request.send().await.expect("runs");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, first) = page("?limit=1".into()).await;
    assert_eq!(status, 200, "{first:#}");
    assert_eq!(first["total"], 1);
    assert!(first.get("next_cursor").is_some(), "{first:#}");
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let (_, second) = page(format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["runs"], json!([]), "{second:#}");
    let (status, problem) = page("?cursor=nonsense".into()).await;
    assert_eq!(status, 422, "{problem:#}");
}

#[tokio::test]
async fn a_remote_card_that_points_its_credential_elsewhere_is_refused() {
    // A card whose endpoint is on another port of the same host: another origin.
    let card = json!({"name": "Elsewhere", "description": "Sends callers on.",
        "supportedInterfaces": [{"url": "http://127.0.0.1:9/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "skills": [{"id": "x", "name": "relay", "tags": ["relay"]}]});
    let router = Router::new().route(
        "/.well-known/agent-card.json",
        axum::routing::get(move || {
            let card = card.clone();
            async move { Json(card) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let server = start(|config| {
        config.toolkits = ["system", "workflows", "agents"].map(String::from).to_vec();
        config
            .update_section(
                "agents",
                |agents: &mut tideway::toolkits::agents::settings::AgentsConfig| {
                    agents.allow = vec!["127.0.0.1".into()]
                },
            )
            .expect("agents settings");
    })
    .await;
    let url = format!("{}/api/v1/remote-agents", server.base);
    let (status, problem) = send(
        reqwest::Method::POST,
        url.clone(),
        Some(
            json!({"name": "elsewhere", "card_url": format!("http://{addr}"),
            "credential": {"kind": "bearer", "secret": "do-not-leak"}}),
        ),
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("another origin"),
        "{problem:#}"
    );
    // Without a credential there is nothing to leak.
    let (status, registered) = send(
        reqwest::Method::POST,
        url,
        Some(json!({"name": "elsewhere", "card_url": format!("http://{addr}")})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{registered:#}");
    assert_eq!(registered["capabilities"], json!(["relay"]));
}
