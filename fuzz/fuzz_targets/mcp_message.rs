//! Fuzzes the path every MCP message over HTTP takes: the body check, rmcp's JSON-RPC
//! parsing, dispatch in the handler, and the Hub's argument validation, in both
//! protocol eras. Whatever the bytes, the server must answer with a client error or
//! a JSON-RPC answer; a 5xx (which is what a caught panic becomes) is a finding.

#![no_main]

use std::sync::LazyLock;

use axum::{Router, body::Body, http::Request};
use libfuzzer_sys::fuzz_target;
use tideway_core::Config;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _data: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let data = tempfile::tempdir().expect("a temporary data directory");
    let mut config = Config::default();
    config.data_dir = data.path().to_path_buf();
    let router = runtime.block_on(async {
        let app = tideway::app::App::start(
            config,
            &["system".into(), "support".into(), "conformance".into()],
        )
        .await
        .expect("tideway starts");
        let bind = "127.0.0.1:8080".parse().expect("an address");
        tideway::server::http_app(app, bind, CancellationToken::new())
    });
    Harness {
        runtime,
        router,
        _data: data,
    }
});

/// The JSON-RPC method the body names, if any: 2026-07-28 requests must repeat it in
/// the Mcp-Method header, so using it lets the fuzzer reach dispatch.
fn method_of(data: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(data).ok()?;
    let method = value.get("method")?.as_str()?;
    method
        .bytes()
        .all(|b| b.is_ascii_graphic())
        .then(|| method.to_string())
}

fn request(path: &str, data: &[u8], modern: bool) -> Request<Body> {
    let mut builder = Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if modern {
        builder = builder.header("mcp-protocol-version", "2026-07-28");
        if let Some(method) = method_of(data) {
            builder = builder.header("mcp-method", method);
        }
    }
    builder.body(Body::from(data.to_vec())).expect("a request")
}

fuzz_target!(|data: &[u8]| {
    let harness = &*HARNESS;
    harness.runtime.block_on(async {
        for (path, modern) in [
            ("/mcp", false),
            ("/mcp", true),
            ("/mcp/conformance", true),
            ("/mcp/support", true),
        ] {
            let response = harness
                .router
                .clone()
                .oneshot(request(path, data, modern))
                .await
                .expect("the router is infallible");
            let status = response.status();
            assert!(
                !status.is_server_error(),
                "{path} ({}) answered {status} to {:?}",
                if modern { "2026-07-28" } else { "2025-11-25" },
                String::from_utf8_lossy(data)
            );
        }
    });
});
