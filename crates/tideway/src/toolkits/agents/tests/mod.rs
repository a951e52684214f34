//! The agents toolkit through the Hub, on both store backends, with runs carried by
//! the workflow engine and the model reached over HTTP: a local server speaking
//! OpenAI's chat completions API answers from a script (tool calls, then a final
//! text), the paid API it stands in for being remote. The tools the agents use are
//! the workflow tests' probe, which records each call.

mod runs;
mod spending;
mod workflow_steps;

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Config, HubError, Store, context::Role, mcp::JsonObject, secrets::MasterKey,
};

use super::{AgentsToolkit, settings::AgentsConfig};
use crate::toolkits::{
    models::ModelsToolkit,
    testing::ctx,
    workflows::{
        settings::WorkflowsConfig,
        tests::{Probe, Server, quick},
    },
};

/// What the scripted model answers, in order; once the script is used up it answers
/// `repeat` (when set) or a plain final text.
#[derive(Clone, Default)]
pub struct Script {
    answers: Arc<Mutex<VecDeque<Value>>>,
    repeat: Arc<Mutex<Option<Value>>>,
    /// The requests it was sent, in order.
    pub seen: Arc<Mutex<Vec<Value>>>,
    ids: Arc<AtomicU32>,
    /// The cost each answer reports, as routers in front of many vendors do.
    reported_cost: Arc<Mutex<Option<f64>>>,
}

impl Script {
    /// A turn asking for tool calls: (tool name on `/mcp`, arguments).
    pub fn calls(&self, calls: &[(&str, Value)]) -> &Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(name, arguments)| json!([name, arguments]))
            .collect();
        self.push(json!({ "calls": calls }))
    }

    pub fn text(&self, text: &str) -> &Self {
        self.push(json!({ "text": text }))
    }

    fn push(&self, answer: Value) -> &Self {
        self.answers.lock().expect("lock").push_back(answer);
        self
    }

    pub fn repeat_calls(&self, calls: &[(&str, Value)]) {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(name, arguments)| json!([name, arguments]))
            .collect();
        *self.repeat.lock().expect("lock") = Some(json!({ "calls": calls }));
    }

    pub fn requests(&self) -> Vec<Value> {
        self.seen.lock().expect("lock").clone()
    }

    /// Has every answer from now on report `cost` US dollars (none: no cost).
    pub fn report_cost(&self, cost: Option<f64>) {
        *self.reported_cost.lock().expect("lock") = cost;
    }
}

async fn answer(State(script): State<Script>, Json(body): Json<Value>) -> Json<Value> {
    script.seen.lock().expect("lock").push(body);
    let next = script.answers.lock().expect("lock").pop_front();
    let next = next
        .or_else(|| script.repeat.lock().expect("lock").clone())
        .unwrap_or_else(|| json!({"text": "(the script has ended)"}));
    let message = match next["calls"].as_array() {
        Some(calls) => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|call| {
                    let id = script.ids.fetch_add(1, Ordering::SeqCst);
                    json!({"id": format!("call_{id}"), "type": "function", "function": {
                        "name": call[0], "arguments": call[1].to_string()}})
                })
                .collect();
            json!({"role": "assistant", "content": null, "tool_calls": tool_calls})
        }
        None => json!({"role": "assistant", "content": next["text"]}),
    };
    let finish = if message["tool_calls"].is_array() {
        "tool_calls"
    } else {
        "stop"
    };
    let mut usage = json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120});
    if let Some(cost) = *script.reported_cost.lock().expect("lock") {
        usage["cost"] = json!(cost);
    }
    Json(json!({
        "id": "chatcmpl-agents", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage
    }))
}

/// The scripted model's base URL and its script.
pub async fn scripted_model() -> (String, Script) {
    let script = Script::default();
    let router = Router::new()
        .route("/v1/chat/completions", post(answer))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/v1"), script)
}

/// A server's worth of Hub: probe, workflows (the durable engine), models and
/// agents on `store`.
pub async fn server(store: &Store, key: &Arc<MasterKey>, probe: Arc<Probe>) -> Server {
    server_with(store, key, probe, quick()).await
}

/// [`server`] with the workflow engine set as `config` says.
pub async fn server_with(
    store: &Store,
    key: &Arc<MasterKey>,
    probe: Arc<Probe>,
    config: WorkflowsConfig,
) -> Server {
    let server = Server::start_with(store, probe, config).await;
    let hub = &server.hub;
    hub.register(Arc::new(
        ModelsToolkit::new(
            store.clone(),
            key.clone(),
            &Config::default(),
            Arc::downgrade(hub),
        )
        .expect("models settings"),
    ))
    .expect("models");
    hub.register(Arc::new(
        AgentsToolkit::new(
            store.clone(),
            key.clone(),
            AgentsConfig::default(),
            Arc::new(crate::egress::SystemLookup),
            Arc::downgrade(hub),
        )
        .expect("agents settings"),
    ))
    .expect("agents");
    server
}

/// A fresh server on `store` whose tenant acme uses the scripted model at `base`.
pub async fn fixture(store: &Store, key: &Arc<MasterKey>, base: &str) -> Server {
    fixture_with(store, key, base, quick()).await
}

/// [`fixture`] with the workflow engine set as `config` says.
pub async fn fixture_with(
    store: &Store,
    key: &Arc<MasterKey>,
    base: &str,
    config: WorkflowsConfig,
) -> Server {
    let server = server_with(store, key, Arc::new(Probe::default()), config).await;
    call(
        &server,
        &ctx("acme", Role::Admin),
        "models",
        "set_model_provider",
        json!({"name": "main", "provider": {"kind": "openai", "base_url": base, "model": "scripted",
               "api_key": "sk-test-agents", "stream": false, "default": true}}),
    )
    .await
    .expect("provider stored");
    server
}

pub async fn call(
    server: &Server,
    ctx: &CallContext,
    toolkit: &str,
    tool: &str,
    arguments: Value,
) -> Result<Value, HubError> {
    let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
    let result = server.hub.call(ctx, toolkit, tool, Some(arguments)).await?;
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    Ok(crate::toolkits::testing::structured(
        &server.hub,
        toolkit,
        tool,
        result,
    ))
}

pub async fn agents(
    server: &Server,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, HubError> {
    call(server, ctx, "agents", tool, arguments).await
}

/// Saves an agent for acme that may use `tools`, with `extra` fields merged in.
pub async fn save_agent(server: &Server, name: &str, tools: &[&str], extra: Value) {
    let mut agent = json!({
        "name": name,
        "description": "Probes things for tests.",
        "instructions": "Use the probe tools, then say done.",
        "capabilities": ["probing"],
        "tools": tools,
    });
    if let (Some(agent), Some(extra)) = (agent.as_object_mut(), extra.as_object()) {
        agent.extend(extra.clone());
    }
    agents(
        server,
        &ctx("acme", Role::Admin),
        "save_agent",
        json!({ "agent": agent }),
    )
    .await
    .expect("agent saved");
}

/// Waits until run `id` has ended; the run with its events.
pub async fn finished(server: &Server, ctx: &CallContext, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = agents(server, ctx, "get_run", json!({ "id": id }))
            .await
            .expect("run");
        if !matches!(view["run"]["status"].as_str(), Some("queued" | "running")) {
            return view;
        }
        assert!(Instant::now() < deadline, "the run did not end: {view:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The kinds of a run's events, in order.
pub fn kinds(view: &Value) -> Vec<String> {
    view["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|event| event["kind"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
