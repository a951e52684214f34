//! The models toolkit against a local server that speaks OpenAI's chat completions
//! and Anthropic's Messages API (the providers are paid, remote APIs; the stand-in
//! speaks their HTTP protocol: request and answer shapes, streaming as server-sent
//! events, tool calls, errors), and against sampling through a client channel. Run on
//! both store backends where the store matters.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, ClientChannel, Config, Hub, HubError, TenantId,
    config::TenantConfig,
    context::{LogLevel, Role},
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::super::{
    ModelsToolkit,
    settings::{ModelProviderConfig, ModelsConfig, ProviderKind, TENANT_KEY, TenantModels},
};
use crate::toolkits::prompts::PromptsToolkit;

/// What the stand-in saw of one request.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) path: String,
    headers: HeaderMap,
    pub(super) body: Value,
}

#[derive(Clone, Default)]
pub(super) struct StandIn {
    pub(super) seen: Arc<Mutex<Vec<Seen>>>,
    attempts: Arc<AtomicU32>,
}

/// The text of the last message, as the stand-in echoes it: a user's text or a tool's
/// result.
fn last_text(body: &Value, anthropic: bool) -> String {
    let last = body["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .cloned()
        .unwrap_or(Value::Null);
    if anthropic {
        for block in last["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("text") => return block["text"].as_str().unwrap_or_default().to_string(),
                Some("tool_result") => {
                    return format!(
                        "tool said: {}",
                        block["content"].as_str().unwrap_or_default()
                    );
                }
                _ => {}
            }
        }
        String::new()
    } else if last["role"] == "tool" {
        format!(
            "tool said: {}",
            last["content"].as_str().unwrap_or_default()
        )
    } else {
        last["content"].as_str().unwrap_or_default().to_string()
    }
}

fn sse(events: Vec<(Option<&str>, Value)>, done: bool) -> Response {
    let mut body = String::new();
    for (event, data) in events {
        if let Some(event) = event {
            body.push_str(&format!("event: {event}\n"));
        }
        body.push_str(&format!("data: {data}\n\n"));
    }
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn answer(
    State(stand_in): State<StandIn>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Json(body): Json<Value>,
) -> Response {
    let anthropic = uri.path().ends_with("/messages");
    stand_in.seen.lock().expect("lock").push(Seen {
        path: uri.path().to_string(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let attempt = stand_in.attempts.fetch_add(1, Ordering::SeqCst) + 1;
    let model = body["model"].as_str().unwrap_or_default().to_string();
    match (model.as_str(), attempt) {
        ("denied", _) => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": {"message": "invalid api key"}})),
            )
                .into_response();
        }
        ("broken", _) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream melted").into_response();
        }
        ("flaky", 1) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                Json(json!({"error": {"message": "slow down"}})),
            )
                .into_response();
        }
        ("flaky", 2) => return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        _ => {}
    }
    let text = format!("echo: {}", last_text(&body, anthropic));
    let tool = (model == "tool")
        .then(|| body["tools"][0].clone())
        .filter(|tool| !tool.is_null());
    let stream = body["stream"] == true;
    if anthropic {
        let tool_name = tool
            .as_ref()
            .map(|t| t["name"].as_str().unwrap_or_default().to_string());
        if !stream {
            let content = match &tool_name {
                Some(name) => {
                    json!([{"type": "tool_use", "id": "toolu_1", "name": name, "input": {"q": last_text(&body, true)}}])
                }
                None => json!([{"type": "text", "text": text}]),
            };
            return Json(json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "stand-in-claude",
                "content": content,
                "stop_reason": if tool_name.is_some() { "tool_use" } else { "end_turn" },
                "usage": {"input_tokens": 7, "output_tokens": 3}
            }))
            .into_response();
        }
        let mut events = vec![(
            Some("message_start"),
            json!({"type": "message_start", "message": {"model": "stand-in-claude", "usage": {"input_tokens": 7}}}),
        )];
        match &tool_name {
            Some(name) => {
                let input = json!({"q": last_text(&body, true)}).to_string();
                let (first, rest) = input.split_at(input.len() / 2);
                events.push((Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}})));
                for piece in [first, rest] {
                    events.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}})));
                }
            }
            None => {
                events.push((Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
                let (first, rest) = text.split_at(text.len() / 2);
                for piece in [first, rest] {
                    events.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
                }
            }
        }
        events.push((
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": if tool_name.is_some() { "tool_use" } else { "end_turn" }}, "usage": {"output_tokens": 3}})));
        events.push((Some("message_stop"), json!({"type": "message_stop"})));
        return sse(events, false);
    }
    let tool_name = tool.as_ref().map(|t| {
        t["function"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    let arguments = json!({"q": last_text(&body, false)}).to_string();
    if !stream {
        let message = match &tool_name {
            Some(name) => {
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]})
            }
            None => json!({"role": "assistant", "content": text}),
        };
        return Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "stand-in-gpt",
            "choices": [{"index": 0, "message": message, "finish_reason": if tool_name.is_some() { "tool_calls" } else { "stop" }}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        }))
        .into_response();
    }
    let mut events = Vec::new();
    match &tool_name {
        Some(name) => {
            let (first, rest) = arguments.split_at(arguments.len() / 2);
            events.push((None, json!({"model": "stand-in-gpt", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": first}}]}, "finish_reason": null}]})));
            events.push((None, json!({"model": "stand-in-gpt", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": rest}}]}, "finish_reason": "tool_calls"}]})));
        }
        None => {
            let (first, rest) = text.split_at(text.len() / 2);
            events.push((None, json!({"model": "stand-in-gpt", "choices": [{"index": 0, "delta": {"role": "assistant", "content": first}, "finish_reason": null}]})));
            events.push((None, json!({"model": "stand-in-gpt", "choices": [{"index": 0, "delta": {"content": rest}, "finish_reason": "stop"}]})));
        }
    }
    events.push((None, json!({"model": "stand-in-gpt", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})));
    sse(events, true)
}

pub(super) async fn stand_in() -> (String, StandIn) {
    let stand_in = StandIn::default();
    let router = Router::new()
        .route("/v1/chat/completions", post(answer))
        .route("/v1/messages", post(answer))
        .with_state(stand_in.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/v1"), stand_in)
}

pub(super) struct Fixture {
    pub(super) hub: Arc<Hub>,
    backend: &'static str,
    store: TestStore,
}

pub(super) async fn fixtures(configure: impl Fn(&mut Config)) -> Vec<Fixture> {
    let mut fixtures = Vec::new();
    for test in test_stores().await {
        let store = test.store.clone();
        store
            .migrate(&crate::toolkits::migrations())
            .await
            .expect("migrate");
        for tenant in ["acme", "globex"] {
            store
                .ensure_tenant(&TenantId::new(tenant), tenant)
                .await
                .expect("tenant");
        }
        let mut config = Config::default();
        configure(&mut config);
        let (key, _) = MasterKey::generate().expect("key");
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(
            ModelsToolkit::new(store.clone(), Arc::new(key), &config, Arc::downgrade(&hub))
                .expect("models settings"),
        ))
        .expect("models");
        hub.register(Arc::new(PromptsToolkit::new(
            store.clone(),
            Arc::downgrade(&hub),
        )))
        .expect("prompts");
        fixtures.push(Fixture {
            hub,
            backend: store.backend(),
            store: test,
        });
    }
    fixtures
}

use crate::toolkits::testing::ctx;

pub(super) fn admin() -> CallContext {
    ctx("acme", Role::Admin)
}

pub(super) async fn call(
    hub: &Hub,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, HubError> {
    let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
    let result = hub.call(ctx, "models", tool, Some(arguments)).await?;
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    Ok(crate::toolkits::testing::structured(
        hub, "models", tool, result,
    ))
}

/// Stores a provider for acme as its default.
pub(super) async fn provider(hub: &Hub, base: &str, kind: &str, model: &str, stream: bool) {
    call(
        hub,
        &admin(),
        "set_model_provider",
        json!({"name": "main", "provider": {"kind": kind, "base_url": base, "model": model, "api_key": "sk-test-4711", "stream": stream, "default": true}}),
    )
    .await
    .expect("provider stored");
}

#[tokio::test]
async fn each_provider_kind_answers_whole_and_streamed() {
    let (base, server) = stand_in().await;
    for fixture in fixtures(|_| {}).await {
        for kind in ["openai", "anthropic"] {
            for stream in [false, true] {
                provider(&fixture.hub, &base, kind, "echo", stream).await;
                let answer = call(
                    &fixture.hub,
                    &admin(),
                    "generate",
                    json!({"prompt": "hello there", "system": "Be brief."}),
                )
                .await
                .unwrap_or_else(|error| panic!("{kind} stream={stream}: {error}"));
                assert_eq!(
                    answer["text"], "echo: hello there",
                    "{kind} stream={stream}"
                );
                assert_eq!(
                    answer["usage"],
                    json!({"input_tokens": 7, "output_tokens": 3}),
                    "{kind} stream={stream}"
                );
                assert_eq!(answer["stop_reason"], "end_turn");
                let seen = server
                    .seen
                    .lock()
                    .expect("lock")
                    .last()
                    .cloned()
                    .expect("a request");
                if kind == "openai" {
                    assert_eq!(seen.path, "/v1/chat/completions");
                    assert_eq!(seen.headers["authorization"], "Bearer sk-test-4711");
                    assert_eq!(
                        seen.body["messages"][0],
                        json!({"role": "system", "content": "Be brief."})
                    );
                    assert_eq!(
                        seen.body["messages"][1],
                        json!({"role": "user", "content": "hello there"})
                    );
                    assert_eq!(answer["model"], "stand-in-gpt");
                } else {
                    assert_eq!(seen.path, "/v1/messages");
                    assert_eq!(seen.headers["x-api-key"], "sk-test-4711");
                    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
                    assert_eq!(seen.body["system"], "Be brief.");
                    assert_eq!(
                        seen.body["messages"][0]["content"][0],
                        json!({"type": "text", "text": "hello there"})
                    );
                    assert_eq!(answer["model"], "stand-in-claude");
                }
                assert_eq!(seen.body["stream"] == true, stream);
                assert_eq!(seen.body["max_tokens"], 1024);
            }
        }
        let _ = fixture.backend;
    }
}

#[tokio::test]
async fn tool_calls_go_out_and_their_results_come_back() {
    let (base, server) = stand_in().await;
    let fixture = fixtures(|_| {}).await.remove(0);
    let lookup = json!({"name": "lookup", "description": "Looks a word up.", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}});
    for kind in ["openai", "anthropic"] {
        for stream in [false, true] {
            provider(&fixture.hub, &base, kind, "tool", stream).await;
            let answer = call(
                &fixture.hub,
                &admin(),
                "generate",
                json!({"prompt": "tides", "tools": [lookup]}),
            )
            .await
            .expect("generate");
            assert_eq!(answer["stop_reason"], "tool_use", "{kind} stream={stream}");
            let call_part = answer["content"]
                .as_array()
                .expect("content")
                .iter()
                .find(|part| part["type"] == "tool_use")
                .cloned()
                .unwrap_or_else(|| panic!("{kind} stream={stream}: {answer}"));
            assert_eq!(call_part["name"], "lookup");
            assert_eq!(
                call_part["input"],
                json!({"q": "tides"}),
                "{kind} stream={stream}"
            );
            let seen = server
                .seen
                .lock()
                .expect("lock")
                .last()
                .cloned()
                .expect("request");
            if kind == "openai" {
                assert_eq!(seen.body["tools"][0]["function"]["name"], "lookup");
                assert_eq!(
                    seen.body["tools"][0]["function"]["parameters"]["properties"]["q"]["type"],
                    "string"
                );
            } else {
                assert_eq!(
                    seen.body["tools"][0]["input_schema"]["properties"]["q"]["type"],
                    "string"
                );
            }

            // The tool's result goes back in the provider's own shape.
            provider(&fixture.hub, &base, kind, "echo", stream).await;
            let id = call_part["id"].clone();
            let answer = call(
                &fixture.hub,
                &admin(),
                "generate",
                json!({"messages": [
                    {"role": "user", "content": [{"type": "text", "text": "tides"}]},
                    {"role": "assistant", "content": [call_part]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "42"}]}
                ], "tools": [lookup]}),
            )
            .await
            .expect("generate");
            assert_eq!(
                answer["text"], "echo: tool said: 42",
                "{kind} stream={stream}"
            );
            let seen = server
                .seen
                .lock()
                .expect("lock")
                .last()
                .cloned()
                .expect("request");
            if kind == "openai" {
                let messages = seen.body["messages"].as_array().expect("messages");
                assert_eq!(messages[1]["tool_calls"][0]["id"], id);
                assert_eq!(
                    messages[1]["tool_calls"][0]["function"]["arguments"],
                    "{\"q\":\"tides\"}"
                );
                assert_eq!(
                    messages[2],
                    json!({"role": "tool", "tool_call_id": id, "content": "42"})
                );
            } else {
                assert_eq!(seen.body["messages"][1]["content"][0]["type"], "tool_use");
                assert_eq!(seen.body["messages"][2]["content"][0]["tool_use_id"], id);
            }
        }
    }
}

#[tokio::test]
async fn failures_are_retried_or_reported_as_they_should() {
    let fixture = fixtures(|config| {
        config
            .update_section("models", |models: &mut ModelsConfig| models.max_retries = 2)
            .expect("models")
    })
    .await
    .remove(0);
    for kind in ["openai", "anthropic"] {
        let (base, server) = stand_in().await;
        provider(&fixture.hub, &base, kind, "flaky", false).await;
        let answer = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
            .await
            .expect("third time lucky");
        assert_eq!(answer["text"], "echo: x");
        assert_eq!(
            server.attempts.load(Ordering::SeqCst),
            3,
            "a 429 and a 503 were retried"
        );

        let (base, server) = stand_in().await;
        provider(&fixture.hub, &base, kind, "broken", false).await;
        let error = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
            .await
            .expect_err("broken");
        assert_eq!(error.kind(), "unavailable");
        assert!(error.to_string().contains("500"), "{error}");
        assert_eq!(server.attempts.load(Ordering::SeqCst), 3, "1 + max_retries");

        let (base, server) = stand_in().await;
        provider(&fixture.hub, &base, kind, "denied", false).await;
        let error = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
            .await
            .expect_err("denied");
        assert!(error.to_string().contains("refused the API key"), "{error}");
        assert!(error.to_string().contains("invalid api key"), "{error}");
        assert_eq!(
            server.attempts.load(Ordering::SeqCst),
            1,
            "a refused key is not retried"
        );
    }
    // Nothing listens here: the connection failure is named.
    provider(
        &fixture.hub,
        "http://127.0.0.1:9/v1",
        "openai",
        "echo",
        false,
    )
    .await;
    let error = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
        .await
        .expect_err("unreachable");
    assert!(error.to_string().contains("cannot be reached"), "{error}");
}

fn tenant_with_models(models: TenantModels) -> TenantConfig {
    let mut tenant = TenantConfig::default();
    tenant
        .set_section(TENANT_KEY, &models)
        .expect("serializable");
    tenant
}

#[tokio::test]
async fn budgets_refuse_with_the_reason_and_generations_are_recorded_per_tenant() {
    let (base, _) = stand_in().await;
    let configure = |config: &mut Config| {
        config.tenants.insert(
            "acme".into(),
            tenant_with_models(TenantModels {
                tokens_per_day: Some(15),
                ..Default::default()
            }),
        );
        config.tenants.insert(
            "globex".into(),
            tenant_with_models(TenantModels {
                requests_per_minute: Some(2),
                ..Default::default()
            }),
        );
    };
    for fixture in fixtures(configure).await {
        provider(&fixture.hub, &base, "openai", "echo", false).await;
        call(&fixture.hub, &ctx("globex", Role::Admin), "set_model_provider",
            json!({"name": "main", "provider": {"kind": "anthropic", "base_url": base, "model": "echo", "default": true}}))
            .await
            .expect("globex provider");
        let listed = call(&fixture.hub, &admin(), "list_model_providers", json!({}))
            .await
            .expect("providers");
        assert_eq!(listed["tokens_left_today"], 15, "{listed:#}");
        // Each answer costs 10 tokens: the second reaches 20, the third is refused.
        for _ in 0..2 {
            call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
                .await
                .expect("within budget");
        }
        let refused = call(&fixture.hub, &admin(), "generate", json!({"prompt": "x"}))
            .await
            .expect_err("over budget");
        assert_eq!(refused.kind(), "rate-limited", "{}", fixture.backend);
        assert!(refused.to_string().contains("tokens_per_day"), "{refused}");
        let listed = call(&fixture.hub, &admin(), "list_model_providers", json!({}))
            .await
            .expect("providers");
        assert_eq!(listed["tokens_left_today"], 0, "{listed:#}");
        let unbounded = call(
            &fixture.hub,
            &ctx("globex", Role::Admin),
            "list_model_providers",
            json!({}),
        )
        .await
        .expect("providers");
        assert!(
            unbounded.get("tokens_left_today").is_none(),
            "{unbounded:#}"
        );

        let globex = ctx("globex", Role::Operator);
        for _ in 0..2 {
            call(&fixture.hub, &globex, "generate", json!({"prompt": "y"}))
                .await
                .expect("within budget");
        }
        let refused = call(&fixture.hub, &globex, "generate", json!({"prompt": "y"}))
            .await
            .expect_err("third this minute");
        assert!(
            refused.to_string().contains("requests_per_minute"),
            "{refused}"
        );

        // Every generation is recorded, for its own tenant only.
        let listed = call(&fixture.hub, &admin(), "list_generations", json!({}))
            .await
            .expect("list");
        let generations = listed["generations"].as_array().expect("list");
        assert_eq!(generations.len(), 2, "{}", fixture.backend);
        assert_eq!(generations[0]["tokens_in"], 7);
        assert_eq!(generations[0]["tokens_out"], 3);
        assert_eq!(generations[0]["provider"], "main");
        assert_eq!(generations[0]["outcome"], "ok");
        assert_eq!(
            generations[0]["request"]["messages"][0]["content"][0]["text"],
            "x"
        );
        assert_eq!(generations[0]["response"]["content"][0]["text"], "echo: x");
        let id = generations[0]["id"].clone();
        let own = call(&fixture.hub, &admin(), "get_generation", json!({"id": id}))
            .await
            .expect("own");
        assert_eq!(own["principal"], "acme-admin");
        let theirs = call(&fixture.hub, &globex, "get_generation", json!({"id": id}))
            .await
            .expect_err("other tenant");
        assert_eq!(theirs.kind(), "not-found");
        let globex_list = call(&fixture.hub, &globex, "list_generations", json!({}))
            .await
            .expect("list");
        assert_eq!(
            globex_list["generations"].as_array().expect("list").len(),
            2
        );
    }
}

#[tokio::test]
async fn stored_keys_are_sealed_never_shown_and_only_admins_store_them() {
    let (base, server) = stand_in().await;
    for fixture in fixtures(|_| {}).await {
        let refused = call(
            &fixture.hub,
            &ctx("acme", Role::Operator),
            "set_model_provider",
            json!({"name": "main", "provider": {"kind": "openai", "model": "echo", "api_key": "sk-nope"}}),
        )
        .await
        .expect_err("operators do not store keys");
        assert_eq!(refused.kind(), "forbidden");
        provider(&fixture.hub, &base, "openai", "echo", false).await;
        let listed = call(
            &fixture.hub,
            &ctx("acme", Role::Viewer),
            "list_model_providers",
            json!({}),
        )
        .await
        .expect("list");
        assert_eq!(listed["current"], "main");
        assert_eq!(listed["providers"][0]["has_api_key"], true);
        assert!(!listed.to_string().contains("sk-test-4711"));
        call(&fixture.hub, &admin(), "generate", json!({"prompt": "k"}))
            .await
            .expect("generate");
        assert_eq!(
            server
                .seen
                .lock()
                .expect("lock")
                .last()
                .expect("seen")
                .headers["authorization"],
            "Bearer sk-test-4711"
        );
        // Sealed in the store, under the master key.
        let secrets = fixture
            .store
            .store
            .sealed_secrets(&crate::toolkits::sealed_columns())
            .await
            .expect("secrets");
        assert!(
            secrets
                .iter()
                .any(|s| s.at == crate::toolkits::models::service::SEALED.at(["acme", "main"]))
        );
        assert!(secrets.iter().all(|s| !s.sealed.contains("sk-test-4711")));
        // Another tenant has its own providers: acme's is not there.
        let theirs = call(
            &fixture.hub,
            &ctx("globex", Role::Admin),
            "list_model_providers",
            json!({}),
        )
        .await
        .expect("list");
        assert_eq!(theirs["current"], "sampling");
        assert_eq!(theirs["providers"], json!([]));
        call(
            &fixture.hub,
            &admin(),
            "delete_model_provider",
            json!({"name": "main"}),
        )
        .await
        .expect("delete");
        let listed = call(&fixture.hub, &admin(), "list_model_providers", json!({}))
            .await
            .expect("list");
        assert_eq!(listed["current"], "sampling", "{}", fixture.backend);
    }
}

#[tokio::test]
async fn a_declared_provider_takes_its_key_from_the_environment() {
    let (base, server) = stand_in().await;
    // SAFETY: this test alone reads or writes this variable.
    unsafe { std::env::set_var("TIDEWAY_TEST_MODELS_KEY_FROM_ENV", "sk-from-env") };
    let fixture = fixtures(|config| {
        config
            .update_section("models", |models: &mut ModelsConfig| {
                models.provider = "house".into();
                models.providers.insert(
                    "house".into(),
                    ModelProviderConfig {
                        kind: ProviderKind::Anthropic,
                        base_url: Some(base.clone()),
                        model: "echo".into(),
                        api_key_env: Some("TIDEWAY_TEST_MODELS_KEY_FROM_ENV".into()),
                        max_tokens: 256,
                        stream: false,
                        input_usd_per_mtok: Some(2.0),
                        output_usd_per_mtok: Some(10.0),
                    },
                );
            })
            .expect("models")
    })
    .await
    .remove(0);
    let answer = call(
        &fixture.hub,
        &admin(),
        "generate",
        json!({"prompt": "from config", "max_tokens": 64}),
    )
    .await
    .expect("generate");
    assert_eq!(answer["text"], "echo: from config");
    // Declared prices: 7 tokens in at $2/M and 3 out at $10/M.
    let cost = answer["usage"]["cost_usd"].as_f64().expect("a cost");
    assert!((cost - 0.000_044).abs() < 1e-12, "{cost}");
    let seen = server
        .seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("seen");
    assert_eq!(seen.headers["x-api-key"], "sk-from-env");
    assert_eq!(
        seen.body["max_tokens"], 64,
        "the call's limit wins over the provider's"
    );
    // A stored template renders into the message.
    call_prompts(&fixture.hub).await;
    let answer = call(
        &fixture.hub,
        &admin(),
        "generate",
        json!({"template": {"name": "greet", "arguments": {"who": "Ada"}}}),
    )
    .await
    .expect("generate");
    assert_eq!(answer["text"], "echo: Hello Ada");
}

async fn call_prompts(hub: &Hub) {
    let arguments: JsonObject = serde_json::from_value(json!({"name": "greet", "arguments": [{"name": "who", "required": true}], "body": "Hello {{ who }}"}))
        .expect("object");
    hub.call(
        &admin(),
        "prompts",
        "create_prompt_template",
        Some(arguments),
    )
    .await
    .expect("template");
}

/// A client that samples: it answers with the first message's text and the tools it
/// was offered.
struct Sampler(Mutex<Vec<JsonObject>>);

#[async_trait]
impl ClientChannel for Sampler {
    async fn progress(&self, _: f64, _: Option<f64>, _: Option<String>) {}
    async fn log(&self, _: LogLevel, _: &str, _: Value) {}
    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        assert_eq!(method, "sampling/createMessage");
        self.0.lock().expect("lock").push(params.clone());
        let text = params["messages"][0]["content"]["text"]
            .as_str()
            .unwrap_or_default();
        Ok(
            json!({"role": "assistant", "content": {"type": "text", "text": format!("client says: {text}")}, "model": "client-model", "stopReason": "endTurn"}),
        )
    }
}

#[tokio::test]
async fn sampling_asks_the_calling_clients_model() {
    let fixture = fixtures(|_| {}).await.remove(0);
    let sampler = Arc::new(Sampler(Mutex::new(Vec::new())));
    let with_client = admin().with_client(sampler.clone());
    let lookup = json!({"name": "lookup", "description": "d", "input_schema": {"type": "object"}});
    let answer = call(
        &fixture.hub,
        &with_client,
        "generate",
        json!({"prompt": "ahoy", "system": "s", "tools": [lookup]}),
    )
    .await
    .expect("sampled");
    assert_eq!(answer["text"], "client says: ahoy");
    assert_eq!(answer["provider"], "sampling");
    assert_eq!(answer["model"], "client-model");
    let params = sampler.0.lock().expect("lock")[0].clone();
    assert_eq!(params["systemPrompt"], "s");
    assert_eq!(params["maxTokens"], 1024);
    assert_eq!(params["tools"][0]["inputSchema"], json!({"type": "object"}));
    // A caller with no client to sample from (REST) is told so.
    let error = call(
        &fixture.hub,
        &admin(),
        "generate",
        json!({"prompt": "ahoy"}),
    )
    .await
    .expect_err("no client");
    assert!(
        error.to_string().contains("sampling/createMessage"),
        "{error}"
    );
    let recorded = call(&fixture.hub, &admin(), "list_generations", json!({}))
        .await
        .expect("list");
    assert_eq!(recorded["generations"][0]["outcome"], "error");
    assert_eq!(recorded["generations"][1]["outcome"], "ok");
    // Exactly one way to say what to ask.
    let both = call(
        &fixture.hub,
        &with_client,
        "generate",
        json!({"prompt": "a", "messages": []}),
    )
    .await
    .expect_err("both");
    assert_eq!(both.kind(), "invalid-arguments");
}
