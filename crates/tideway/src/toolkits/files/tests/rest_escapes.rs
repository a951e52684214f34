//! The escape corpus of `escapes.rs` over HTTP, through the whole application (edge
//! guard, API-key authentication, routing, percent-decoding of the path): every case
//! as the operation route `POST /api/v1/integration/mcp/filesystem/{operation}`, and
//! each case that reads, writes or deletes one path again as the resource routes
//! `GET`/`PUT`/`DELETE /api/v1/files/{path}`. None may reveal the secret or the
//! server's folders, change anything outside the roots, or succeed where the corpus
//! says it must be refused.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tideway_core::{Config, Role, TenantId, ToolRules, config::AuthMode, store::NewApiKey};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{
    Fixture, SECRET,
    escapes::{Expect, cases, plant},
};
use crate::{app::App, server::http_app};

/// What a path keeps unencoded in a URL: letters, digits, `-._~` and the slashes, so
/// `..` segments reach the server as written (an HTTP client would have removed
/// them) and everything else arrives percent-encoded for the router to decode.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Tideway's HTTP application over the fixture's roots, and an operator key of acme.
pub(super) struct Served {
    pub(super) app: Arc<App>,
    pub(super) router: axum::Router,
    pub(super) key: String,
}

impl Served {
    pub(super) async fn start(fixture: &Fixture) -> Served {
        let mut config = Config {
            data_dir: fixture.data_dir(),
            ..Config::default()
        };
        config.toolkits = vec!["files".into()];
        config.auth.modes = vec![AuthMode::ApiKey];
        config
            .set_section(crate::toolkits::files::settings::KEY, &fixture.config)
            .expect("files settings");
        let app = App::start(config, &[]).await.expect("app starts");
        let tenant = TenantId::new("acme");
        app.store
            .ensure_tenant(&tenant, "acme")
            .await
            .expect("tenant");
        let (_, key) = app
            .store
            .create_api_key(NewApiKey {
                tenant,
                name: "operator".into(),
                role: Role::Operator,
                rules: ToolRules::default(),
                inherited_rules: Vec::new(),
                expires_at: None,
                created_by: "test".into(),
            })
            .await
            .expect("key");
        let router = http_app(
            app.clone(),
            "127.0.0.1:8080".parse().expect("address"),
            CancellationToken::new(),
        );
        Served { app, router, key }
    }

    /// The status and the body as text.
    async fn send(&self, method: &str, uri: &str, body: Body) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:8080")
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/json")
            .body(body)
            .expect("request");
        let response = self.router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A case as one request of the resource routes, where it is one: the method, the
/// URL and the body.
fn as_resource_request(tool: &str, arguments: &Value) -> Option<(&'static str, String, Body)> {
    let path = arguments["path"].as_str()?;
    let url = |query: &str| {
        format!(
            "/api/v1/files/{}{query}",
            utf8_percent_encode(path, PATH_SEGMENT)
        )
    };
    match tool {
        "read_text_file" | "read_media_file" => Some(("GET", url(""), Body::empty())),
        "write_file" => {
            let content = arguments["content"].as_str()?.to_string();
            Some(("PUT", url("?overwrite=true"), Body::from(content)))
        }
        "delete_file" => {
            let recursive = arguments["recursive"].as_bool().unwrap_or(false);
            Some((
                "DELETE",
                url(&format!("?recursive={recursive}")),
                Body::empty(),
            ))
        }
        _ => None,
    }
}

/// Runs one request on a freshly planted fixture and checks what it may not do.
async fn check(
    label: &str,
    expect: Expect,
    request: impl AsyncFnOnce(&Served) -> (StatusCode, String),
) {
    let fixture = Fixture::new();
    plant(&fixture);
    let before = fixture.outside_snapshot();
    let served = Served::start(&fixture).await;
    let (status, body) = request(&served).await;
    served.app.shutdown().await;
    assert!(
        !body.contains(SECRET),
        "{label} revealed the secret: {body}"
    );
    assert!(
        !body.contains(&fixture.dir.path().display().to_string()),
        "{label} revealed the server's path: {body}"
    );
    match expect {
        Expect::Refused => assert!(
            status.is_client_error(),
            "{label} should be refused with a 4xx, answered {status}: {body}"
        ),
        Expect::Inside => assert!(
            status.is_success(),
            "{label} stays inside and should work, answered {status}: {body}"
        ),
    }
    if status.is_client_error() {
        let problem: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{label}: the refusal is not JSON: {body}"));
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "{label}: the refusal does not say why: {body}"
        );
    }
    assert_eq!(
        fixture.outside_snapshot(),
        before,
        "{label} changed the outside"
    );
    assert!(
        !fixture.dir.path().join("data/files/planted.txt").exists()
            && !std::path::Path::new("/tmp/planted.txt").exists(),
        "{label} wrote beside the roots"
    );
}

#[tokio::test]
async fn no_operation_request_reaches_outside_a_root() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (tool, arguments, expect) in cases {
        let label = format!("POST {tool} {arguments}");
        let body = arguments.to_string();
        check(&label, expect, async move |served| {
            served
                .send(
                    "POST",
                    &format!("/api/v1/integration/mcp/filesystem/{tool}"),
                    Body::from(body),
                )
                .await
        })
        .await;
    }
}

#[tokio::test]
async fn no_resource_request_reaches_outside_a_root() {
    let mut checked = 0;
    for (tool, arguments, expect) in cases() {
        let Some((method, url, body)) = as_resource_request(tool, &arguments) else {
            continue;
        };
        // A folder inside the root is listed by GET, where the text read refuses it.
        let expect = match (method, arguments["path"].as_str()) {
            ("GET", Some("home" | "home/sub")) => Expect::Inside,
            _ => expect,
        };
        let label = format!("{method} {url}");
        check(&label, expect, async move |served| {
            served.send(method, &url, body).await
        })
        .await;
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} resource requests");
}
