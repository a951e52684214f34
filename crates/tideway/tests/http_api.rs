//! The HTTP face in-process on a loopback port: REST, problem details, the edge guard,
//! metrics, OpenAPI, and MCP's answers to malformed or unroutable requests.

use std::{net::SocketAddr, sync::Arc};

use serde_json::{Value, json};
use tideway::{app::App, server::http_app};
use tideway_core::Config;
use tokio_util::sync::CancellationToken;

struct Running {
    base: String,
    _dir: tempfile::TempDir,
    _app: Arc<App>,
}

async fn start(max_body_bytes: usize) -> Running {
    start_with(max_body_bytes, &["system", "conformance"]).await
}

async fn start_with(max_body_bytes: usize, toolkits: &[&str]) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.limits.max_body_bytes = max_body_bytes;
    let toolkits: Vec<String> = toolkits.iter().map(|name| name.to_string()).collect();
    let app = App::start(config, &toolkits).await.expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Running {
        base: format!("http://{addr}"),
        _dir: dir,
        _app: app,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["type"],
        format!("urn:tideway:problem:{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status);
    body
}

#[tokio::test]
async fn health_ready_and_catalog() {
    let server = start(1 << 20).await;
    let health: Value = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let ready: Value = client()
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    let names: Vec<&str> = ready["components"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["store (sqlite)", "system", "conformance"]);

    let toolkits: Value = client()
        .get(format!("{}/api/v1/toolkits", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let system = &toolkits[0];
    assert_eq!(system["name"], "system");
    let echo = system["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo listed");
    assert_eq!(echo["qualified_name"], "system_echo");
    assert_eq!(echo["annotations"]["readOnlyHint"], true);
    assert_eq!(echo["input_schema"]["required"], json!(["message"]));

    // One toolkit alone is what the list holds for it; one not enabled is a 404
    // problem that quotes no more than a short prefix of the name.
    let one: Value = client()
        .get(format!("{}/api/v1/toolkits/system", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(one, toolkits[0]);
    let missing = client()
        .get(format!(
            "{}/api/v1/toolkits/{}",
            server.base,
            "n".repeat(300)
        ))
        .send()
        .await
        .expect("send");
    let body = problem(missing, 404, "unknown-toolkit").await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&"n".repeat(64)), "{detail}");
    assert!(!detail.contains(&"n".repeat(65)), "{detail}");
}

#[tokio::test]
async fn generic_tool_call_and_its_errors() {
    let server = start(1 << 20).await;
    let url = |path: &str| format!("{}/api/v1/tools/{path}", server.base);
    let ok: Value = client()
        .post(url("system/echo"))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ok["structuredContent"]["message"], "hi");

    let bad = problem(
        client()
            .post(url("system/echo"))
            .json(&json!({"message": 7}))
            .send()
            .await
            .expect("send"),
        422,
        "invalid-arguments",
    )
    .await;
    assert_eq!(bad["field"], "message");

    problem(
        client()
            .post(url("system/nope"))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
        404,
        "unknown-tool",
    )
    .await;
    problem(
        client()
            .post(url("nokit/echo"))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
        404,
        "unknown-toolkit",
    )
    .await;
    problem(
        client()
            .post(url("system/echo"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("send"),
        400,
        "malformed-json",
    )
    .await;
    problem(
        client()
            .post(url("system/echo"))
            .json(&json!([1, 2]))
            .send()
            .await
            .expect("send"),
        422,
        "invalid-arguments",
    )
    .await;
    problem(
        client()
            .post(url("conformance/test_error_handling"))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
        422,
        "tool-error",
    )
    .await;
    problem(
        client()
            .get(format!("{}/no/such/route", server.base))
            .send()
            .await
            .expect("send"),
        404,
        "no-such-route",
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = start(2048).await;
    let big = json!({"message": "x".repeat(4096)});
    problem(
        client()
            .post(format!("{}/api/v1/tools/system/echo", server.base))
            .json(&big)
            .send()
            .await
            .expect("send"),
        413,
        "body-too-large",
    )
    .await;
    let response = client()
        .post(format!("{}/mcp", server.base))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "system_echo", "arguments": big}}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn rebinding_hosts_and_foreign_origins_are_refused() {
    let server = start(1 << 20).await;
    let cases = [
        ("host", "evil.example.com", Some("host-not-allowed")),
        (
            "origin",
            "http://evil.example.com",
            Some("origin-not-allowed"),
        ),
        ("origin", "http://localhost:3000", None),
    ];
    for (header, value, refusal) in cases {
        let response = client()
            .get(format!("{}/health", server.base))
            .header(header, value)
            .send()
            .await
            .expect("send");
        match refusal {
            Some(kind) => {
                problem(response, 403, kind).await;
            }
            None => assert_eq!(response.status().as_u16(), 200, "{header}: {value}"),
        }
    }
}

#[tokio::test]
async fn metrics_count_calls_by_outcome() {
    let server = start(1 << 20).await;
    for message in ["a", "b"] {
        client()
            .post(format!("{}/api/v1/tools/system/echo", server.base))
            .json(&json!({"message": message}))
            .send()
            .await
            .expect("send");
    }
    client()
        .post(format!("{}/api/v1/tools/system/echo", server.base))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    let text = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"tideway_tool_calls_total{toolkit="system",tool="echo",outcome="ok"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"tideway_tool_calls_total{toolkit="system",tool="echo",outcome="invalid-arguments"} 1"#), "{text}");
    assert!(
        text.contains("tideway_tool_call_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("tideway_audit_records_dropped_total 0"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_and_docs_describe_the_routes() {
    // Every toolkit that serves REST routes, so each tool schema a route refers to is
    // filled in from a real tool.
    let mut with_routes = tideway::toolkits::with_rest_routes();
    with_routes.push("system".into());
    let with_routes: Vec<&str> = with_routes.iter().map(String::as_str).collect();
    let server = start_with(1 << 20, &with_routes).await;
    let doc: Value = client()
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in [
        "/health",
        "/ready",
        "/api/v1/toolkits",
        "/api/v1/tools/{toolkit}/{tool}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    // Every tag an operation uses is declared with a description, and every toolkit
    // that serves REST routes has its tag on them.
    let declared: std::collections::HashMap<&str, &str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| Some((tag["name"].as_str()?, tag["description"].as_str()?)))
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let tags = operation["tags"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!tags.is_empty(), "{method} {path} has no tag");
            for tag in tags {
                let tag = tag.as_str().expect("tag");
                assert!(
                    declared.get(tag).is_some_and(|text| !text.is_empty()),
                    "{method} {path}: tag '{tag}' is not declared with a description"
                );
                used.insert(tag.to_string());
            }
        }
    }
    assert!(used.contains("jobs"), "no operation carries the 'jobs' tag");
    // Every registered toolkit's routes are in the served document, each operation
    // under the tag its descriptor declares.
    for builtin in tideway::toolkits::ALL {
        let Some(rest) = &builtin.rest else { continue };
        assert!(
            declared.contains_key(rest.tag),
            "{}: tag '{}' is not declared",
            builtin.name,
            rest.tag
        );
        let (_, own) = (rest.routes)().split_for_parts();
        assert!(
            !own.paths.paths.is_empty(),
            "{} declares no routes",
            builtin.name
        );
        for (path, item) in &own.paths.paths {
            let served = &doc["paths"][path];
            assert!(
                served.is_object(),
                "{}: {path} is missing from the OpenAPI document",
                builtin.name
            );
            let methods = serde_json::to_value(item).expect("path item");
            for (method, _) in methods
                .as_object()
                .expect("operations")
                .iter()
                .filter(|(key, _)| {
                    matches!(key.as_str(), "get" | "put" | "post" | "delete" | "patch")
                })
            {
                let tags = &served[method]["tags"];
                assert!(
                    tags.as_array()
                        .is_some_and(|tags| tags.iter().any(|tag| tag == rest.tag)),
                    "{}: {method} {path} does not carry the '{}' tag",
                    builtin.name,
                    rest.tag
                );
            }
        }
    }
    describes_every_operation_and_types_every_body(&doc);

    // The interactive reference loads only from this server: its page, its scripts
    // and its settings, which point at this document.
    let page = client()
        .get(format!("{}/docs/", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("text");
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "the page loads something remote"
    );
    let initializer = client()
        .get(format!("{}/docs/swagger-initializer.js", server.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    let bundle = client()
        .get(format!("{}/docs/swagger-ui-bundle.js", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .contains("javascript")
    );
    assert!(bundle.bytes().await.expect("bytes").len() > 100_000);
}

/// What a reader of the reference needs: each operation says what it does, each
/// body has a schema with its fields (the generic tool call's alone is any object),
/// each reference resolves, each tool schema is the tool's own, and no text points
/// at documents outside the project.
fn describes_every_operation_and_types_every_body(doc: &Value) {
    let mut problems = Vec::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let said = operation["description"]
                .as_str()
                .or(operation["summary"].as_str())
                .unwrap_or_default();
            if said.trim().is_empty() {
                problems.push(format!("{method} {path}: no description"));
            }
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            for (media, body) in content {
                let schema = &body["schema"];
                let typed = ["$ref", "properties", "anyOf", "oneOf"]
                    .iter()
                    .any(|key| schema.get(key).is_some())
                    || schema["type"] != "object";
                if !typed && path != "/api/v1/tools/{toolkit}/{tool}" {
                    problems.push(format!("{method} {path}: {media} body is a bare object"));
                }
            }
        }
    }
    let mut references = Vec::new();
    collect_refs(doc, &mut references);
    assert!(references.len() > 50, "{references:?}");
    for reference in references {
        let pointer = reference.trim_start_matches('#');
        if doc.pointer(pointer).is_none() {
            problems.push(format!("{reference} does not resolve"));
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let from_tools = schemas
        .keys()
        .filter(|name| name.starts_with("tool."))
        .count();
    assert!(from_tools >= 15, "{from_tools} tool schemas");
    for (name, schema) in schemas {
        let text = schema["description"].as_str().unwrap_or_default();
        if name.starts_with("tool.") && text.contains("not enabled") {
            problems.push(format!("{name} is not a real tool's schema"));
        }
    }
    let text = doc.to_string().to_lowercase();
    for outside in ["the seed", "seed's", "seed 00"] {
        if text.contains(outside) {
            problems.push(format!("the document mentions '{outside}'"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn collect_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                found.push(reference.clone());
            }
            object.values().for_each(|child| collect_refs(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, found)),
        _ => {}
    }
}

async fn rpc(base: &str, body: &str, version: Option<&str>) -> (u16, String) {
    let mut request = client()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(version) = version {
        request = request.header("mcp-protocol-version", version);
        // 2026-07-28 clients name the method (and the tool) in headers too (SEP-2243).
        if let Ok(message) = serde_json::from_str::<Value>(body) {
            if let Some(method) = message["method"].as_str() {
                request = request.header("mcp-method", method);
            }
            if let Some(name) = message["params"]["name"].as_str() {
                request = request.header("mcp-name", name);
            }
        }
    }
    let response = request.send().await.expect("send");
    (
        response.status().as_u16(),
        response.text().await.expect("text"),
    )
}

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;

#[tokio::test]
async fn mcp_answers_bad_requests_with_json_rpc_errors() {
    let server = start(1 << 20).await;
    let (status, body) = rpc(&server.base, "{this is not json", None).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        body.to_lowercase().contains("pars") || body.contains("-32700"),
        "{body}"
    );

    let unknown_method =
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"no/such","params":{{{META}}}}}"#);
    let (_, body) = rpc(&server.base, &unknown_method, Some("2026-07-28")).await;
    assert!(body.contains("-32601"), "{body}");

    let unknown_tool = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"system_nope","arguments":{{}},{META}}}}}"#
    );
    let (_, body) = rpc(&server.base, &unknown_tool, Some("2026-07-28")).await;
    assert!(
        body.contains("-32602") && body.contains("system_nope"),
        "{body}"
    );

    let bad_args = format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"system_echo","arguments":{{"message":1}},{META}}}}}"#
    );
    let (_, body) = rpc(&server.base, &bad_args, Some("2026-07-28")).await;
    assert!(
        body.contains(r#""isError":true"#) && body.contains("message"),
        "{body}"
    );

    let (status, body) = rpc(
        &server.base,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{}}"#,
        Some("1999-01-01"),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let missing =
        format!(r#"{{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{{{META}}}}}"#);
    let response = client()
        .post(format!("{}/mcp/nokit", server.base))
        .header("accept", "application/json, text/event-stream")
        .body(missing)
        .send()
        .await
        .expect("send");
    problem(response, 404, "unknown-toolkit").await;
}

#[tokio::test]
async fn an_argument_mirrored_in_a_header_must_match_it() {
    let server = start(1 << 20).await;
    let call = |region: &str, header: Option<&str>| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"conformance_test_header_param","arguments":{{"region":"{region}"}},{META}}}}}"#
        );
        let mut request = client()
            .post(format!("{}/mcp", server.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "conformance_test_header_param")
            .body(body);
        if let Some(header) = header {
            request = request.header("mcp-param-region", header);
        }
        request.send()
    };
    let text = async |response: reqwest::Response| {
        (
            response.status().as_u16(),
            response.text().await.expect("text"),
        )
    };
    // The value as it is, and Base64 in its =?base64?…?= wrapper, both match.
    for header in ["eu-west", "=?base64?ZXUtd2VzdA==?="] {
        let (status, body) = text(call("eu-west", Some(header)).await.expect("send")).await;
        assert_eq!(status, 200, "{header}: {body}");
        assert!(body.contains("region: eu-west"), "{body}");
    }
    // A header that differs from the body, is missing, or is broken Base64 is refused
    // before the tool runs, with HTTP 400 and the header-mismatch error.
    for header in [Some("us-east"), None, Some("=?base64?ZXUtd2VzdA?=")] {
        let (status, body) = text(call("eu-west", header).await.expect("send")).await;
        assert_eq!(status, 400, "{header:?}: {body}");
        assert!(body.contains("-32020"), "{header:?}: {body}");
    }
}

#[tokio::test]
async fn a_path_id_of_the_wrong_type_is_a_problem_naming_the_parameter() {
    let running = start_with(1024 * 1024, &["support", "models"]).await;
    for path in [
        "/api/v1/tickets/abc",
        "/api/v1/customers/1.5",
        "/api/v1/knowledge/articles/x",
        "/api/v1/models/generations/many",
    ] {
        let response = client()
            .get(format!("{}{path}", running.base))
            .send()
            .await
            .expect("answer");
        let body = problem(response, 400, "invalid-path").await;
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("'id' must be an integer"),
            "{path}: {detail}"
        );
    }
}
