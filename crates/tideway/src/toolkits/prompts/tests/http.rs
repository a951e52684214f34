//! The prompts REST API and MCP prompts over HTTP with API keys: create (201,
//! Location, ETag), read, change with If-Match, render by GET and POST, versions and
//! restore, categories and stats, delete; `prompts/list`, `prompts/get` and
//! `completion/complete` over MCP; another tenant and a viewer get what they should.

use std::net::SocketAddr;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tideway_core::{Config, Role, TenantId, ToolRules, config::AuthMode, store::NewApiKey};
use tokio_util::sync::CancellationToken;

use crate::{app::App, server::http_app};

struct Server {
    base: String,
    app: std::sync::Arc<App>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.auth.modes = vec![AuthMode::ApiKey];
    config.limits.key_requests_per_second = 0.0;
    config.limits.tenant_requests_per_second = 0.0;
    let app = App::start(config, &["prompts".into()])
        .await
        .expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        base: format!("http://{addr}"),
        app,
        _dir: dir,
    }
}

async fn key(server: &Server, tenant: &str, role: Role) -> String {
    let tenant = TenantId::new(tenant);
    server
        .app
        .store
        .ensure_tenant(&tenant, tenant.as_str())
        .await
        .expect("tenant");
    server
        .app
        .store
        .create_api_key(NewApiKey {
            tenant,
            name: "test".into(),
            role,
            rules: ToolRules::default(),
            inherited_rules: Vec::new(),
            expires_at: None,
            created_by: "test".into(),
        })
        .await
        .expect("key")
        .1
}

async fn mcp(server: &Server, key: &str, method: &str, params: Value) -> Value {
    let mut body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    body["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let mut request = Client::new()
        .post(format!("{}/mcp", server.base))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = body["params"]["name"].as_str() {
        request = request.header("mcp-name", name.to_string());
    }
    let text = request
        .json(&body)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .next_back()
        .unwrap_or(&text)
        .trim()
        .to_string();
    serde_json::from_str(&json).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[tokio::test]
async fn templates_over_rest_and_as_mcp_prompts() {
    let server = server().await;
    let http = Client::new();
    let operator = key(&server, "acme", Role::Operator).await;
    let viewer = key(&server, "acme", Role::Viewer).await;
    let other = key(&server, "globex", Role::Admin).await;
    let url = |path: &str| format!("{}/api/v1/prompts{path}", server.base);

    let template = json!({
        "name": "apology", "title": "Apologise", "description": "Says sorry.",
        "category": "support", "tags": ["tone"],
        "arguments": [{"name": "customer", "required": true},
                      {"name": "reason", "allowed_values": ["delay", "outage"], "default": "delay"}],
        "body": "Dear {{ customer }}, we are sorry for the {{ reason }}."
    });
    let refused = http
        .post(url(""))
        .bearer_auth(&viewer)
        .json(&template)
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let created = http
        .post(url(""))
        .bearer_auth(&operator)
        .json(&template)
        .send()
        .await
        .expect("send");
    let status = created.status();
    let headers = created.headers().clone();
    let body = created.text().await.expect("body");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["location"], "/api/v1/prompts/apology");
    assert_eq!(headers["etag"], "\"1\"");
    let bad = http
        .post(url(""))
        .bearer_auth(&operator)
        .json(&json!({"name": "x", "body": "{{ nope }}"}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.expect("problem");
    assert_eq!(problem["field"], "body", "{problem}");

    let changed = http
        .patch(url("/apology"))
        .bearer_auth(&operator)
        .header("if-match", "\"1\"")
        .json(&json!({"body": "Dear {{ customer }}, sorry about the {{ reason }}."}))
        .send()
        .await
        .expect("send");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.headers()["etag"], "\"2\"");
    let stale = http
        .patch(url("/apology"))
        .bearer_auth(&operator)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "Too late"}))
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), StatusCode::CONFLICT);

    let rendered: Value = http
        .get(url("/apology/render?customer=Ada&reason=outage"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(rendered["text"], "Dear Ada, sorry about the outage.");
    assert_eq!(rendered["version"], 2);
    let old: Value = http
        .post(url("/apology/render"))
        .bearer_auth(&viewer)
        .json(&json!({"arguments": {"customer": "Ada"}, "version": 1}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(old["text"], "Dear Ada, we are sorry for the delay.");
    let missing = http
        .get(url("/apology/render"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = missing.json().await.expect("problem");
    assert!(problem.to_string().contains("customer"), "{problem}");

    let versions: Value = http
        .get(url("/apology/versions"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(versions["versions"].as_array().expect("list").len(), 2);
    let restored: Value = http
        .post(url("/apology/versions/1/restore"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(restored["version"], 3);
    let categories: Value = http
        .get(url("/categories"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(
        categories["categories"]
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["category"] == "support" && c["templates"] == 3)
    );
    let stats: Value = http
        .get(url("/stats?name=apology&days=1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["total"], 2, "{stats}");

    // MCP: the same templates as prompts, with completion.
    let listed = mcp(&server, &viewer, "prompts/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"prompts_apology"), "{names:?}");
    let got = mcp(
        &server,
        &viewer,
        "prompts/get",
        json!({"name": "prompts_apology", "arguments": {"customer": "Grace"}}),
    )
    .await;
    assert_eq!(
        got["result"]["messages"][0]["content"]["text"], "Dear Grace, we are sorry for the delay.",
        "{got}"
    );
    let wrong = mcp(
        &server,
        &viewer,
        "prompts/get",
        json!({"name": "prompts_apology", "arguments": {"customer": "G", "reason": "boredom"}}),
    )
    .await;
    assert!(
        wrong["error"]["message"]
            .as_str()
            .expect("message")
            .contains("reason"),
        "{wrong}"
    );
    let completed = mcp(
        &server,
        &viewer,
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "prompts_apology"}, "argument": {"name": "reason", "value": "o"}}),
    )
    .await;
    assert_eq!(
        completed["result"]["completion"]["values"],
        json!(["outage"]),
        "{completed}"
    );

    // Another tenant sees nothing of it.
    let theirs = http
        .get(url("/apology"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("send");
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let listed = mcp(&server, &other, "prompts/list", json!({})).await;
    assert!(!listed.to_string().contains("prompts_apology"));

    let deleted = http
        .delete(url("/apology"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("send");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = http
        .delete(url("/apology"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_seeds_short_paths_are_the_same_routes() {
    let server = server().await;
    let http = Client::new();
    let operator = key(&server, "acme", Role::Operator).await;
    let get = |path: &str| {
        http.get(format!("{}{path}", server.base))
            .bearer_auth(&operator)
            .send()
    };
    let created = http
        .post(format!("{}/api/prompts", server.base))
        .bearer_auth(&operator)
        .json(
            &json!({"name": "hello", "category": "greetings", "body": "Hello {{ who }}!",
                      "arguments": [{"name": "who", "required": true}]}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), StatusCode::CREATED);
    let listed: Value = get("/api/prompts?category=greetings")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let long: Value = get("/api/v1/prompts?category=greetings")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, long);
    assert_eq!(listed["templates"][0]["name"], "hello", "{listed}");
    let rendered: Value = get("/api/prompts/hello/render?who=Ada")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(rendered["text"], "Hello Ada!");
    let categories: Value = get("/api/categories")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(categories.to_string().contains("greetings"), "{categories}");
    let stats = get("/api/stats?name=hello").await.expect("send");
    assert_eq!(stats.status(), StatusCode::OK);
    let stats: Value = stats.json().await.expect("json");
    assert!(stats.to_string().contains("hello"), "{stats}");
    // The aliases are guarded like every route.
    let anonymous = http
        .get(format!("{}/api/categories", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
