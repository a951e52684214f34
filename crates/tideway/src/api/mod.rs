//! The HTTP application: REST under `/api/v1`, MCP under `/mcp`, health, metrics and
//! docs, behind one stack of layers (request id, tracing, edge guard, body limit,
//! security headers, panic catcher). Routes are grouped by resource; each toolkit that
//! has REST routes adds them from its own folder.

pub mod admin;
pub mod docs;
pub mod guard;
pub mod health;
pub mod jobs;
pub mod problem;
pub mod tool_routes;
pub mod toolkits;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use utoipa::{OpenApi, openapi::tag::TagBuilder};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::App,
    auth::{self, edge::Edge},
    mcp::http::McpHttp,
};
use guard::EdgeGuard;
use problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tideway",
        description = "The integration hub for AI agents: every capability served over MCP is also served here as REST."
    ),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "toolkits", description = "The catalog of toolkits and the generic tool call"),
        (name = "admin", description = "API keys and the audit log (admin role)"),
        (name = "jobs", description = "Long-running work started by a call: its progress and result"),
    )
)]
struct ApiDoc;

/// The REST routes with their OpenAPI document: the application's own, then each
/// toolkit's under the tag its descriptor declares.
fn rest(app: Arc<App>) -> (Router, utoipa::openapi::OpenApi) {
    let mut doc = ApiDoc::openapi();
    let mut router = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(toolkits::list_toolkits))
        .routes(routes!(toolkits::get_toolkit))
        .routes(routes!(toolkits::call_tool))
        .routes(routes!(admin::list_keys, admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::audit))
        .merge(jobs::router());
    for builtin in crate::toolkits::ALL {
        if let Some(rest) = &builtin.rest {
            router = router.merge((rest.routes)());
            doc.tags.get_or_insert_with(Vec::new).push(
                TagBuilder::new()
                    .name(rest.tag)
                    .description(Some(rest.description))
                    .build(),
            );
        }
    }
    let (router, paths) = router.split_for_parts();
    doc.merge(paths);
    let router = router
        .layer(middleware::from_fn_with_state(
            app.clone(),
            audit_unrecorded_changes,
        ))
        .with_state(app);
    (router, doc)
}

/// Every REST request that may change something leaves an audit record. Tool calls
/// and management actions write their own; a request refused before it reached one
/// (a body that does not parse, an id that is not a number) gets one here, with the
/// caller, the method and path, and the status.
async fn audit_unrecorded_changes(
    State(app): State<Arc<App>>,
    request: Request,
    next: middleware::Next,
) -> Response {
    let changes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let caller = request.extensions().get::<auth::Caller>().cloned();
    let (Some(caller), true) = (caller, changes) else {
        return next.run(request).await;
    };
    let action = format!(
        "{} {}",
        request.method(),
        tideway_core::error::excerpt(request.uri().path())
    );
    let request_id = toolkits::request_id(request.headers());
    let started = std::time::Instant::now();
    let (response, audited) = tideway_core::audit::tracking(next.run(request)).await;
    if !audited {
        let ctx = tideway_core::CallContext::new(caller.tenant, caller.principal, request_id)
            .with_face(tideway_core::Face::Rest);
        app.hub
            .audit_request(&ctx, &action, response.status().as_u16(), started.elapsed());
    }
    response
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.hub.metrics().render(),
    )
        .into_response()
}

async fn fallback(request: Request) -> Problem {
    Problem::not_found_route(request.uri().path())
}

fn panic_to_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
    .into_response()
}

/// The CORS layer for the configured origins; none when the list is empty (CORS off).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("mcp-protocol-version"),
                HeaderName::from_static("mcp-method"),
                HeaderName::from_static("mcp-name"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The whole HTTP application.
pub fn router(app: Arc<App>, mcp: Arc<McpHttp>, guard: EdgeGuard, edge: Edge) -> Router {
    let (rest, doc) = rest(app.clone());
    let docs = docs::router(docs::document(&doc, &app.hub));
    let console = crate::console::router(app.clone(), rest.clone());
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::new()
        .merge(rest)
        .merge(docs)
        .merge(console)
        .route("/metrics", get(metrics).with_state(app.clone()))
        .merge(crate::mcp::http::router(mcp));
    if app.auth.uses_jwt() {
        router = router.merge(auth::oauth::router(
            auth::oauth::ResourceMetadata::from_config(&app.config),
        ));
    }
    let mut router = router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(app.config.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Arc::new(edge),
            auth::edge::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(guard),
            guard::guard,
        ));
    // CORS sits outside authentication: a browser's preflight carries no credential.
    if let Some(cors) = cors(&app.config.http.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Answers carry one tenant's data: no shared cache may keep them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let span = tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id);
                crate::trace_export::follow_caller(&span, request.headers());
                span
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
