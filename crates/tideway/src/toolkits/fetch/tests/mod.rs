//! The fetch toolkit's tests, through the Hub as an MCP client reaches it, against a
//! local HTTP site served in the test (pages, redirects, huge and slow bodies, binary
//! content, robots.txt, an echo of what a request carried): what the tools do
//! (`behaviour.rs`), the tenant's connections (`connections.rs`), and a corpus of
//! requests aimed at internal addresses (`ssrf.rs`), watched by listeners that count
//! every connection made to them.

mod behaviour;
mod connections;
mod ssrf;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError, TenantId,
    context::Role,
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::{FetchToolkit, settings::FetchConfig};
use crate::egress::{Lookup, SystemLookup};

/// What the site's robots.txt answers.
#[derive(Clone, Copy)]
pub enum RobotsTxt {
    /// Disallows `/private` to every agent and everything to `Tideway-Test-Blocked`.
    Rules,
    Missing,
    Broken,
}

/// One request the site saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
}

#[derive(Clone)]
struct SiteState {
    robots: RobotsTxt,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A local site on 127.0.0.1.
pub struct Site {
    pub address: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Site {
    pub async fn start(robots: RobotsTxt) -> Site {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = SiteState {
            robots,
            seen: seen.clone(),
        };
        let app = Router::new()
            .route("/robots.txt", get(robots_txt))
            .route("/article", get(article))
            .route("/private/page", get(|| async { "private words" }))
            .route("/plain", get(|| async { "just some plain text" }))
            .route(
                "/latin1",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/plain; charset=ISO-8859-1")],
                        b"caf\xe9 cr\xe8me".to_vec(),
                    )
                }),
            )
            .route(
                "/data.json",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        r#"{"a":1,"list":[1,2]}"#,
                    )
                }),
            )
            .route(
                "/image.png",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "image/png")],
                        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
                    )
                }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route("/redirect/{n}", get(redirect_n))
            .route("/loop", get(|| async { redirect("/loop") }))
            .route("/to", any(redirect_to))
            .route("/see-other", any(|| async { see_other("/echo") }))
            .route("/huge", get(huge))
            .route("/slow", get(slow))
            .route("/echo", any(echo))
            .route(
                "/close",
                get(|| async { ([(header::CONNECTION, "close")], "closed after this") }),
            )
            .layer(axum::middleware::from_fn_with_state(state.clone(), record))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the site");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Site { address, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    pub fn paths_seen(&self) -> Vec<String> {
        self.seen().into_iter().map(|seen| seen.path).collect()
    }
}

async fn record(
    State(state): State<SiteState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|path| path.to_string())
        .unwrap_or_default();
    state.seen.lock().expect("seen").push(Seen {
        path,
        headers: request.headers().clone(),
    });
    next.run(request).await
}

async fn robots_txt(State(state): State<SiteState>) -> Response {
    match state.robots {
        RobotsTxt::Rules => {
            "User-agent: *\nDisallow: /private\n\nUser-agent: Tideway-Test-Blocked\nDisallow: /\n"
                .into_response()
        }
        RobotsTxt::Missing => StatusCode::NOT_FOUND.into_response(),
        RobotsTxt::Broken => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

pub const ARTICLE_SENTENCE: &str =
    "Tideway connects a team's data and systems to agents through one guarded call path. ";

async fn article() -> Response {
    let html = format!(
        "<!doctype html><html><head><title>Field notes</title><script>window.SCRIPTED = true;</script>\
         <style>.x{{color:red}}</style></head><body><nav><a href='/'>NAVIGATION-LINK</a></nav>\
         <main><article><h1>Field notes</h1><p>{}</p><h2>Findings</h2>\
         <ul><li>the <em>first</em> finding</li><li>the second finding</li></ul>\
         <p>Read <a href='/docs/more'>more notes</a>.</p></article></main>\
         <footer>FOOTER-BOILERPLATE</footer></body></html>",
        ARTICLE_SENTENCE.repeat(12)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `n + 1` redirects, the last to `/plain`.
async fn redirect_n(axum::extract::Path(n): axum::extract::Path<u32>) -> Response {
    if n == 0 {
        redirect("/plain")
    } else {
        redirect(&format!("/redirect/{}", n - 1))
    }
}

async fn redirect_to(Query(query): Query<HashMap<String, String>>) -> Response {
    let location = query.get("location").cloned().unwrap_or_default();
    match query.get("status").map(String::as_str) {
        Some("307") => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        _ => redirect(&location),
    }
}

/// 20 MB of text, streamed.
async fn huge() -> Response {
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let stream =
        futures::stream::iter((0..320).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A byte every 200 ms for a minute.
async fn slow() -> Response {
    let stream = futures::stream::unfold(0u32, |n| async move {
        if n >= 300 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"z")),
            n + 1,
        ))
    });
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn echo(method: Method, headers: HeaderMap, body: String) -> Response {
    let seen: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                Value::String(value.to_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    let status = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            (header::SET_COOKIE, "session=site-secret; HttpOnly"),
            (header::HeaderName::from_static("x-echo"), "yes"),
        ],
        Json(json!({"method": method.as_str(), "headers": seen, "body": body})),
    )
        .into_response()
}

/// A listener nothing may reach: it counts every connection accepted.
pub struct Forbidden {
    pub accepted: Arc<AtomicUsize>,
}

impl Forbidden {
    /// Listens on `address` if it can be bound (IPv6 may be missing).
    pub async fn listen(address: SocketAddr) -> Option<Forbidden> {
        let listener = tokio::net::TcpListener::bind(address).await.ok()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Some(Forbidden { accepted })
    }

    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A resolver that answers as a hostile DNS server would: each scripted name gets its
/// answers in turn (the last one repeated); other names go to the system resolver.
#[derive(Default)]
pub struct Scripted {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    pub asked: AtomicUsize,
}

impl Scripted {
    pub fn answer(&self, name: &str, answers: &[&[&str]]) {
        let parsed = answers
            .iter()
            .map(|answer| {
                answer
                    .iter()
                    .map(|address| address.parse().expect("address"))
                    .collect()
            })
            .collect();
        self.answers
            .lock()
            .expect("answers")
            .insert(name.to_string(), parsed);
    }
}

impl Lookup for Scripted {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let scripted = {
            let mut answers = self.answers.lock().expect("answers");
            answers.get_mut(host).map(|queue| {
                if queue.len() > 1 {
                    queue.remove(0)
                } else {
                    queue.first().cloned().unwrap_or_default()
                }
            })
        };
        match scripted {
            Some(addresses) => Box::pin(async move { Ok(addresses) }),
            None => SystemLookup.lookup(host),
        }
    }
}

pub struct Fixture {
    pub hub: Arc<Hub>,
    pub lookup: Arc<Scripted>,
    pub store: tideway_core::Store,
    _kept: (Option<TestStore>, Option<tempfile::TempDir>),
}

/// Loopback 127.0.0.1 is opened (the site lives there); robots.txt is obeyed.
pub fn test_config() -> FetchConfig {
    FetchConfig {
        allow: vec!["127.0.0.1/32".into()],
        ..FetchConfig::default()
    }
}

impl Fixture {
    /// On a SQLite store.
    pub async fn new(configure: impl Fn(&mut FetchConfig)) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = tideway_core::Store::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("fetch.db").display()
        ))
        .await
        .expect("store");
        Self::over(store, (None, Some(dir)), &configure).await
    }

    /// One per store backend, for what the store keeps.
    pub async fn on_each_store(configure: impl Fn(&mut FetchConfig)) -> Vec<Fixture> {
        let mut fixtures = Vec::new();
        for test in test_stores().await {
            let store = test.store.clone();
            fixtures.push(Self::over(store, (Some(test), None), &configure).await);
        }
        fixtures
    }

    async fn over(
        store: tideway_core::Store,
        kept: (Option<TestStore>, Option<tempfile::TempDir>),
        configure: &impl Fn(&mut FetchConfig),
    ) -> Fixture {
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
        let mut config = test_config();
        configure(&mut config);
        let (key, _) = MasterKey::generate().expect("key");
        let lookup = Arc::new(Scripted::default());
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(
            FetchToolkit::new(config, store.clone(), Arc::new(key), lookup.clone())
                .expect("toolkit"),
        ))
        .expect("register");
        Fixture {
            hub,
            lookup,
            store,
            _kept: kept,
        }
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, HubError> {
        self.call_as(&ctx("acme", Role::Operator), tool, arguments)
            .await
    }

    pub async fn call_as(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self.hub.call(ctx, "fetch", tool, Some(arguments)).await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        let text = result
            .content
            .first()
            .and_then(|block| block.as_text())
            .map(|text| text.text.clone());
        Ok(json!({
            "structured": crate::toolkits::testing::structured(&self.hub, "fetch", tool, result),
            "text": text,
        }))
    }
}

pub use crate::toolkits::testing::ctx;
