//! Every REST route that may change something leaves an audit record. The routes are
//! read from the served OpenAPI document, so a route added tomorrow is covered the
//! day it is added; each is called with a minimal body (most are refused, which
//! must be audited as much as a success) and the audit log must then hold a record
//! with that request's id, the caller and an outcome.

use std::{net::SocketAddr, time::Duration};

use serde_json::Value;
use tideway::{app::App, server::http_app};
use tideway_core::{
    Config,
    store::{AuditEntry, AuditQuery},
};
use tokio_util::sync::CancellationToken;

async fn audit_log(app: &App) -> Vec<AuditEntry> {
    app.store
        .query_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn every_route_that_changes_something_is_audited_with_caller_and_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    // Every toolkit that serves REST routes, whether on by default or not.
    let app = App::start(config, &tideway::toolkits::with_rest_routes())
        .await
        .expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");

    let mut called = Vec::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            let Some(operation) = operations.get(method) else {
                continue;
            };
            // A public route (an inbound webhook) has no caller to record: its
            // signature is the credential, and what a delivery starts is audited as
            // the endpoint's maker through the Hub.
            if operation["security"] == serde_json::json!([{}]) {
                continue;
            }
            // A number fits every path parameter's type (ids, names, versions).
            let mut url = String::new();
            for piece in path.split('/').filter(|piece| !piece.is_empty()) {
                url.push('/');
                url.push_str(if piece.starts_with('{') { "1" } else { piece });
            }
            let request_id = uuid::Uuid::new_v4().to_string();
            let request = http
                .request(
                    method.to_uppercase().parse().expect("method"),
                    format!("{base}{url}"),
                )
                .header("x-request-id", &request_id)
                .timeout(Duration::from_secs(30));
            let request = if method == "delete" {
                request
            } else {
                request.json(&serde_json::json!({}))
            };
            let status = request.send().await.expect("send").status().as_u16();
            called.push((
                format!("{} {path}", method.to_uppercase()),
                status,
                request_id,
            ));
        }
    }
    assert!(
        called.len() >= 30,
        "only {} changing routes were found",
        called.len()
    );

    // The writer batches: wait until every call has its record, or name those without.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let log = audit_log(&app).await;
        let missing: Vec<String> = called
            .iter()
            .filter(|(_, _, id)| {
                !log.iter().any(|entry| {
                    entry.record.request_id == *id
                        && entry.record.principal == "local"
                        && !entry.record.outcome.is_empty()
                })
            })
            .map(|(route, status, _)| format!("{route} ({status})"))
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(missing.is_empty(), "not audited: {missing:#?}");

    // A refusal is recorded as one, with its kind.
    let log = audit_log(&app).await;
    let (_, status, id) = called
        .iter()
        .find(|(route, _, _)| route == "POST /api/v1/keys")
        .expect("the key route");
    assert!(*status >= 400, "an empty key request is refused");
    let refused = log
        .iter()
        .find(|entry| entry.record.request_id == *id)
        .expect("recorded");
    // Its body did not parse, so no action ran: the REST face recorded it.
    assert_eq!(
        (
            refused.record.toolkit.as_str(),
            refused.record.tool.as_str(),
            refused.record.outcome.as_str(),
            refused.record.error_kind.as_deref()
        ),
        (
            "rest",
            "POST /api/v1/keys",
            "error",
            Some("invalid-arguments")
        )
    );
}
