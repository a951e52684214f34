//! Fuzzes the credential path: the Authorization and X-API-Key headers, API key
//! parsing and lookup, and JWT header, claims and signature checks (HS256 and a JWKS
//! of ES256 keys). Whatever the bytes, the answer must be a refusal (401) or, for a
//! present but unusable header, a client error: never a success, never a 5xx.

#![no_main]

use std::sync::LazyLock;

use axum::{Router, body::Body, http::Request};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tideway_core::{Config, config::AuthMode};
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
    let jwks = data.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"EC","crv":"P-256","x":"gZbyKfeWo2dghbAdIU3RDxE-oZlEYZMLKaBvtDA2ImA","y":"XEAA4Itu9NfJq75rGKAfaPfoNVmu9qSqNu_BU_qq_tc","kid":"k1","alg":"ES256"}]}"#,
    )
    .expect("jwks");
    let mut config = Config::default();
    config.data_dir = data.path().to_path_buf();
    config.auth.modes = vec![AuthMode::ApiKey, AuthMode::Jwt];
    config.auth.jwt.hs256_secret = Some("fuzzing-secret-fuzzing-secret-fuzzing".into());
    config.auth.jwt.jwks_file = Some(jwks);
    config.limits.key_requests_per_second = 0.0;
    config.limits.tenant_requests_per_second = 0.0;
    let router = runtime.block_on(async {
        let app = tideway::app::App::start(config, &["system".into()])
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

/// Three ways to present the bytes: as the raw Authorization value, as a bearer
/// token shaped like a JWT (three base64url parts, so the JSON parsers are reached),
/// and as an API key.
fn requests(data: &[u8]) -> Vec<Request<Body>> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (header, claims, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let jwt = format!("Bearer {}.{}.{}", b64(header), b64(claims), b64(signature));
    let raw = String::from_utf8_lossy(data).to_string();
    let mut out = Vec::new();
    for (name, value) in [
        ("authorization", raw.clone()),
        ("authorization", jwt),
        ("x-api-key", format!("tw_{raw}")),
    ] {
        if let Ok(request) = Request::get("/api/v1/toolkits")
            .header("host", "127.0.0.1:8080")
            .header(name, value)
            .body(Body::empty())
        {
            out.push(request);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let harness = &*HARNESS;
    for request in requests(data) {
        let status = harness.runtime.block_on(async {
            harness
                .router
                .clone()
                .oneshot(request)
                .await
                .map(|response| response.status())
        });
        let Ok(status) = status;
        assert!(
            status.is_client_error() && status.as_u16() != 404,
            "a made-up credential got {status}"
        );
    }
});
