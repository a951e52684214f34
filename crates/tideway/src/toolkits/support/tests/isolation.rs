//! Tenant isolation end to end, with real credentials, on each store backend: one
//! tenant's customers, tickets, interactions and articles cannot be read, listed,
//! searched, updated or read as resources by another tenant, over REST or MCP, and
//! the answers for another tenant's row are the same as for a row that does not
//! exist, so not even existence leaks.

use std::net::SocketAddr;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tideway_core::{
    Config, Role, TenantId, ToolRules,
    config::AuthMode,
    store::{NewApiKey, testing::fresh_postgres_database},
};
use tokio_util::sync::CancellationToken;

use crate::{app::App, server::http_app};

struct Server {
    base: String,
    backend: &'static str,
    acme: String,
    globex: String,
    _dir: tempfile::TempDir,
}

async fn servers() -> Vec<Server> {
    let mut urls = vec![None];
    if let Ok(url) = std::env::var("TIDEWAY_TEST_POSTGRES_URL") {
        urls.push(Some(fresh_postgres_database(&url).await));
    }
    let mut servers = Vec::new();
    for url in urls {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: url,
            ..Config::default()
        };
        config.auth.modes = vec![AuthMode::ApiKey];
        config.limits.key_requests_per_second = 0.0;
        config.limits.tenant_requests_per_second = 0.0;
        let app = App::start(config, &["support".into()])
            .await
            .expect("app starts");
        let mut keys = Vec::new();
        for tenant in ["acme", "globex"] {
            let tenant = TenantId::new(tenant);
            app.store
                .ensure_tenant(&tenant, tenant.as_str())
                .await
                .expect("tenant");
            let (_, key) = app
                .store
                .create_api_key(NewApiKey {
                    tenant,
                    name: "agent".into(),
                    role: Role::Operator,
                    rules: ToolRules::default(),
                    inherited_rules: Vec::new(),
                    expires_at: None,
                    created_by: "test".into(),
                })
                .await
                .expect("key");
            keys.push(key);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let backend = app.store.backend();
        let router = http_app(app, addr, CancellationToken::new());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let globex = keys.pop().expect("globex key");
        let acme = keys.pop().expect("acme key");
        servers.push(Server {
            base: format!("http://{addr}"),
            backend,
            acme,
            globex,
            _dir: dir,
        });
    }
    servers
}

async fn rest(
    http: &Client,
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;

/// A stateless 2026-07-28 request to `/mcp/support`; returns the whole JSON-RPC answer.
async fn mcp(http: &Client, server: &Server, key: &str, method: &str, mut params: Value) -> Value {
    params["_meta"] = serde_json::from_str(META).expect("meta");
    let mut request = http
        .post(format!("{}/mcp/support", server.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str().or(params["uri"].as_str()) {
        request = request.header("mcp-name", name.to_string());
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = request
        .body(body.to_string())
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:").map(str::trim))
        .unwrap_or(text.trim());
    serde_json::from_str(json).unwrap_or(Value::Null)
}

/// Replaces every number in `text` so answers about different ids can be compared.
fn without_ids(value: &Value) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in value.to_string().chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out.replace('"', "")
}

#[tokio::test]
async fn one_tenant_cannot_read_list_search_update_or_detect_another_tenants_rows() {
    let http = Client::new();
    for server in servers().await {
        let b = server.backend;
        let (acme, globex) = (server.acme.as_str(), server.globex.as_str());
        // Acme's desk.
        let (status, customer) = rest(
            &http,
            &server,
            acme,
            "POST",
            "/api/v1/customers",
            Some(json!({"first_name": "Ada", "last_name": "Zephyrine", "email": "ada@acme.test"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{b}: {customer}");
        let customer_id = customer["id"].as_i64().expect("id");
        let (_, ticket) = rest(&http, &server, acme, "POST", "/api/v1/tickets",
            Some(json!({"customer_id": customer_id, "subject": "Quokka invoice", "description": "The quokka invoice is wrong"}))).await;
        let ticket_id = ticket["id"].as_i64().expect("ticket id");
        let (_, article) = rest(
            &http,
            &server,
            acme,
            "POST",
            "/api/v1/knowledge/articles",
            Some(json!({"title": "Quokka refunds", "body": "How quokka refunds work"})),
        )
        .await;
        let article_id = article["id"].as_i64().expect("article id");
        let (status, _) = rest(&http, &server, acme, "POST", "/api/v1/interactions",
            Some(json!({"customer_id": customer_id, "channel": "email", "direction": "inbound", "content": "About the quokka"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        let missing = 9_000_000_i64;

        // REST reads and updates: another tenant's row answers exactly like a missing one.
        for (method, path, body) in [
            ("GET", "/api/v1/customers/{}", None),
            ("GET", "/api/v1/customers/{}/context", None),
            (
                "PATCH",
                "/api/v1/customers/{}",
                Some(json!({"company": "Globex"})),
            ),
            ("GET", "/api/v1/tickets/{}", None),
            (
                "PATCH",
                "/api/v1/tickets/{}",
                Some(json!({"status": "closed"})),
            ),
            (
                "POST",
                "/api/v1/tickets/{}/comments",
                Some(json!({"body": "peek"})),
            ),
            ("GET", "/api/v1/knowledge/articles/{}", None),
            (
                "PATCH",
                "/api/v1/knowledge/articles/{}",
                Some(json!({"title": "Mine now"})),
            ),
            (
                "POST",
                "/api/v1/knowledge/articles/{}/feedback",
                Some(json!({"helpful": false})),
            ),
        ] {
            let id = if path.contains("tickets") {
                ticket_id
            } else if path.contains("articles") {
                article_id
            } else {
                customer_id
            };
            let (theirs, their_body) = rest(
                &http,
                &server,
                globex,
                method,
                &path.replace("{}", &id.to_string()),
                body.clone(),
            )
            .await;
            let (nothing, nothing_body) = rest(
                &http,
                &server,
                globex,
                method,
                &path.replace("{}", &missing.to_string()),
                body,
            )
            .await;
            assert_eq!(
                theirs,
                StatusCode::NOT_FOUND,
                "{b}: {method} {path}: {their_body}"
            );
            assert_eq!(theirs, nothing, "{b}: {method} {path}");
            let strip = |mut v: Value| {
                v["requestId"] = Value::Null;
                without_ids(&v)
            };
            assert_eq!(
                strip(their_body),
                strip(nothing_body),
                "{b}: {method} {path}: same answer as a missing row"
            );
        }
        // Writes that point at another tenant's rows are refused as if the row were missing.
        for (path, body) in [
            (
                "/api/v1/tickets",
                json!({"customer_id": "{}", "subject": "x", "description": "y"}),
            ),
            (
                "/api/v1/interactions",
                json!({"customer_id": "{}", "channel": "email", "direction": "inbound", "content": "x"}),
            ),
        ] {
            let with_id = |id: i64| {
                serde_json::from_str::<Value>(&body.to_string().replace("\"{}\"", &id.to_string()))
                    .expect("body")
            };
            let (theirs, their_body) = rest(
                &http,
                &server,
                globex,
                "POST",
                path,
                Some(with_id(customer_id)),
            )
            .await;
            let (nothing, nothing_body) =
                rest(&http, &server, globex, "POST", path, Some(with_id(missing))).await;
            assert!(theirs.is_client_error(), "{b}: {path}: {their_body}");
            assert_eq!(theirs, nothing, "{b}: {path}");
            let strip = |mut v: Value| {
                v["requestId"] = Value::Null;
                without_ids(&v)
            };
            assert_eq!(strip(their_body), strip(nothing_body), "{b}: {path}");
        }

        // Lists, search and analytics hold nothing of Acme's.
        for path in [
            "/api/v1/customers",
            "/api/v1/tickets",
            "/api/v1/knowledge/articles",
            &format!("/api/v1/interactions?customer_id={customer_id}"),
            "/api/v1/knowledge/search?q=quokka",
            "/api/v1/analytics",
        ] {
            let (status, body) = rest(&http, &server, globex, "GET", path, None).await;
            assert!(
                status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                "{b}: {path}: {status}"
            );
            let text = body.to_string().to_lowercase();
            for secret in [
                "zephyrine",
                "quokka refunds",
                "quokka invoice",
                "about the quokka",
            ] {
                assert!(!text.contains(secret), "{b}: {path} leaks {secret}: {text}");
            }
        }
        let (_, analytics) = rest(&http, &server, globex, "GET", "/api/v1/analytics", None).await;
        assert_eq!(analytics["tickets_created"], json!(0), "{b}: {analytics}");

        // MCP: the same rows through tools and resources.
        for (tool, arguments) in [
            ("get_ticket_details", json!({"ticket_id": ticket_id})),
            ("get_customer_context", json!({"customer_id": customer_id})),
            (
                "update_ticket",
                json!({"ticket_id": ticket_id, "status": "closed"}),
            ),
            ("get_article", json!({"article_id": article_id})),
        ] {
            let answer = mcp(
                &http,
                &server,
                globex,
                "tools/call",
                json!({"name": tool, "arguments": arguments}),
            )
            .await;
            assert_eq!(
                answer["result"]["isError"],
                json!(true),
                "{b}: {tool}: {answer}"
            );
            let text = answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            assert!(
                text.contains("not found") || text.contains("no "),
                "{b}: {tool}: {text}"
            );
        }
        let search = mcp(
            &http,
            &server,
            globex,
            "tools/call",
            json!({"name": "search_knowledge", "arguments": {"query": "quokka"}}),
        )
        .await;
        assert!(
            !search.to_string().to_lowercase().contains("quokka refunds"),
            "{b}: {search}"
        );
        for uri in [
            format!("db://tickets/{ticket_id}"),
            format!("db://customers/{customer_id}"),
            format!("db://knowledge_articles/{article_id}"),
        ] {
            let answer = mcp(
                &http,
                &server,
                globex,
                "resources/read",
                json!({"uri": uri}),
            )
            .await;
            assert!(answer["error"].is_object(), "{b}: {uri}: {answer}");
            let own = mcp(&http, &server, acme, "resources/read", json!({"uri": uri})).await;
            assert!(
                own["result"]["contents"].is_array(),
                "{b}: {uri}: the owner reads it: {own}"
            );
        }

        // And Acme's rows are untouched by all of the above.
        let (_, ticket) = rest(
            &http,
            &server,
            acme,
            "GET",
            &format!("/api/v1/tickets/{ticket_id}"),
            None,
        )
        .await;
        assert_eq!(ticket["ticket"]["status"], "open", "{b}: {ticket}");
        assert_eq!(ticket["comments"], json!([]), "{b}: no comment was added");
        let (_, article) = rest(
            &http,
            &server,
            acme,
            "GET",
            &format!("/api/v1/knowledge/articles/{article_id}"),
            None,
        )
        .await;
        assert_eq!(article["title"], "Quokka refunds", "{b}");
        assert_eq!(
            article["not_helpful_count"].as_i64().unwrap_or(0),
            0,
            "{b}: {article}"
        );
    }
}
