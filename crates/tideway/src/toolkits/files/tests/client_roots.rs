//! Roots an MCP client names (`roots/list`): used only when the operator lets clients
//! name roots, read-only or read-write as configured, named for paths, and held to
//! the same handle-based confinement as every other root.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    ClientChannel, HubError,
    context::{LogLevel, Role},
    mcp::JsonObject,
};

use super::{super::settings::ClientRoots, Fixture, SECRET, ctx};

/// A client that answers `roots/list` with the given roots and nothing else.
struct NamesRoots(Value);

#[async_trait]
impl ClientChannel for NamesRoots {
    async fn progress(&self, _: f64, _: Option<f64>, _: Option<String>) {}
    async fn log(&self, _: LogLevel, _: &str, _: Value) {}
    async fn request(&self, method: &str, _: JsonObject) -> Result<Value, HubError> {
        match method {
            "roots/list" => Ok(self.0.clone()),
            other => Err(HubError::Unsupported(other.to_string())),
        }
    }
    fn can_answer(&self, method: &str) -> bool {
        method == "roots/list"
    }
}

fn project(fixture: &Fixture) -> std::path::PathBuf {
    let project = fixture.dir.path().join("project");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(project.join("README.md"), "# Project\n").expect("readme");
    std::os::unix::fs::symlink(fixture.outside().join("secret.txt"), project.join("leak"))
        .expect("symlink");
    project
}

fn client_ctx(project: &std::path::Path) -> tideway_core::CallContext {
    let roots = json!({"roots": [
        {"uri": url::Url::from_directory_path(project).expect("uri").to_string(), "name": "My Project"},
        {"uri": "https://example.com/not-a-folder", "name": "web"},
        {"uri": url::Url::from_directory_path(project).expect("uri").to_string(), "name": "home"},
    ]});
    ctx("acme", Role::Operator).with_client(Arc::new(NamesRoots(roots)))
}

#[tokio::test]
async fn client_roots_are_ignored_unless_the_operator_allows_them() {
    let fixture = Fixture::new();
    let project = project(&fixture);
    let caller = client_ctx(&project);
    let listed = fixture
        .call_as(&caller, "list_allowed_directories", json!({}))
        .await
        .expect("list");
    let names: Vec<&str> = listed["structured"]["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .filter_map(|root| root["name"].as_str())
        .collect();
    assert!(!names.contains(&"my-project"), "{names:?}");
    let error = fixture
        .call_as(
            &caller,
            "read_text_file",
            json!({"path": "my-project/README.md"}),
        )
        .await
        .expect_err("off by default");
    assert!(matches!(error, HubError::NotFound(_)), "{error}");
}

#[tokio::test]
async fn read_only_client_roots_are_read_under_their_names_and_stay_confined() {
    let fixture = Fixture::with(|config| config.client_roots = ClientRoots::ReadOnly);
    let project = project(&fixture);
    let caller = client_ctx(&project);
    let listed = fixture
        .call_as(&caller, "list_allowed_directories", json!({}))
        .await
        .expect("list");
    let roots = listed["structured"]["roots"]
        .as_array()
        .expect("roots")
        .clone();
    let names: Vec<&str> = roots
        .iter()
        .filter_map(|root| root["name"].as_str())
        .collect();
    // The client's name, made a root name; a second root whose name is taken (home)
    // becomes client-N; a root that is not a local folder is left out.
    assert!(names.contains(&"my-project"), "{names:?}");
    assert!(names.contains(&"client-1"), "{names:?}");
    assert_eq!(names.iter().filter(|name| **name == "home").count(), 1);
    assert!(!names.contains(&"web"));
    let read = fixture
        .call_as(
            &caller,
            "read_text_file",
            json!({"path": "my-project/README.md"}),
        )
        .await
        .expect("read");
    assert_eq!(read["structured"]["text"], "# Project\n");
    let before = fixture.outside_snapshot();
    let escape = fixture
        .call_as(
            &caller,
            "read_text_file",
            json!({"path": "my-project/leak"}),
        )
        .await
        .expect_err("symlink out");
    assert!(!escape.to_string().contains(SECRET));
    let write = fixture
        .call_as(
            &caller,
            "write_file",
            json!({"path": "my-project/new.txt", "content": "x"}),
        )
        .await
        .expect_err("read-only");
    assert!(matches!(write, HubError::Forbidden(_)), "{write}");
    assert!(!project.join("new.txt").exists());
    assert_eq!(fixture.outside_snapshot(), before);
    // A caller whose client names no roots sees only the tenant's.
    let plain = fixture
        .call(
            "acme",
            "read_text_file",
            json!({"path": "my-project/README.md"}),
        )
        .await
        .expect_err("no client roots");
    assert!(matches!(plain, HubError::NotFound(_)), "{plain}");
}

#[tokio::test]
async fn read_write_client_roots_take_writes() {
    let fixture = Fixture::with(|config| config.client_roots = ClientRoots::ReadWrite);
    let project = project(&fixture);
    let caller = client_ctx(&project);
    fixture
        .call_as(
            &caller,
            "write_file",
            json!({"path": "my-project/notes.txt", "content": "written"}),
        )
        .await
        .expect("write");
    assert_eq!(
        std::fs::read_to_string(project.join("notes.txt")).expect("written"),
        "written"
    );
}

#[tokio::test]
async fn a_client_names_at_most_the_cap_of_roots() {
    let fixture = Fixture::with(|config| config.client_roots = ClientRoots::ReadOnly);
    let project = project(&fixture);
    let uri = url::Url::from_directory_path(&project)
        .expect("uri")
        .to_string();
    let many: Vec<Value> = (0..500)
        .map(|n| json!({"uri": uri, "name": format!("root {n}")}))
        .collect();
    let caller =
        ctx("acme", Role::Operator).with_client(Arc::new(NamesRoots(json!({"roots": many}))));
    let listed = fixture
        .call_as(&caller, "list_allowed_directories", json!({}))
        .await
        .expect("list");
    let client_roots = listed["structured"]["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .filter(|root| {
            root["name"]
                .as_str()
                .is_some_and(|name| name.starts_with("root-"))
        })
        .count();
    assert_eq!(client_roots, super::super::access::MAX_CLIENT_ROOTS);
}

/// A 2026-07-28 listing cannot ask its client anything (only `tools/call`,
/// `prompts/get` and `resources/read` carry input rounds), so a client that
/// declares roots gets the listing without them rather than a request it could
/// never answer. Both ways a request is served are tried: the direct path, and
/// rmcp's (a progress token sends the request there).
#[tokio::test]
async fn a_stateless_listing_does_not_ask_the_client_for_roots() {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    let fixture = Fixture::with(|config| config.client_roots = ClientRoots::ReadOnly);
    let served = super::rest_escapes::Served::start(&fixture).await;
    for extra in ["", r#""progressToken":"p1","#] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"resources/list","params":{{"_meta":{{{extra}"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{{"name":"t","version":"1"}},"io.modelcontextprotocol/clientCapabilities":{{"roots":{{}}}}}}}}}}"#
        );
        let request = Request::post("/mcp/files")
            .header("host", "127.0.0.1:8080")
            .header("authorization", format!("Bearer {}", served.key))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/list")
            .body(Body::from(body))
            .expect("request");
        // A request sent to a client that cannot answer would hold the answer back
        // until the call's timeout; the limit here only turns that into a failure.
        let answered = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let response = served
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("answer");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, String::from_utf8_lossy(&bytes).into_owned())
        })
        .await;
        let (status, text) = answered.expect("the listing answered without waiting on the client");
        assert_eq!(status, 200, "{extra}: {text}");
        assert!(text.contains(r#""resources""#), "{extra}: {text}");
        assert!(!text.contains("roots/list"), "{extra}: {text}");
    }
    served.app.shutdown().await;
}
