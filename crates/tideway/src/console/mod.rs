//! The web console at `/console`: server-rendered pages for people who run the hub.
//! It holds no data and no rules of its own: every page reads and acts through the
//! REST API, in process and as the signed-in caller (see [`api`]), so it can show or
//! do only what that caller could over REST, and every action is audited the same way.
//! Pages are plain HTML that work without JavaScript; one small script refreshes the
//! live parts in place: a running workflow or agent run when the API's event stream
//! says it changed, the overview's charts every few seconds.

mod api;
mod assets;
mod charts;
mod pages;
mod render;
mod schema_form;
mod session;
mod sso;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::{
    Router,
    http::{HeaderValue, header},
    response::Redirect,
    routing::{get, post},
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::App;

/// What every console handler shares.
pub struct Console {
    app: Arc<App>,
    api: api::Api,
    views: render::Views,
    sessions: session::Sessions,
    /// The OpenID Connect provider people may sign in through, when configured.
    provider: Option<sso::Provider>,
}

type Shared = Arc<Console>;

/// Everything under `/console`. `rest` is the application's REST router, which the
/// console calls in process.
pub fn router(app: Arc<App>, rest: Router) -> Router {
    let provider = sso::Provider::from_config(&app.config).unwrap_or_else(|error| {
        // App::start has read the client secret already, so this is unexpected.
        tracing::error!(%error, "console sign-in through the identity provider is off");
        None
    });
    let console = Arc::new(Console {
        sessions: session::Sessions::new(&app),
        provider,
        api: api::Api::new(rest),
        views: render::Views::new(),
        app,
    });
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/overview") }),
        )
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/sign-in/oidc", get(sso::start))
        .route(sso::CALLBACK_PATH, get(sso::callback))
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/overview", get(pages::overview::page))
        .route("/console/overview/live", get(pages::overview::live))
        .route(
            "/console/alerts/{id}/{action}",
            post(pages::overview::alert_action),
        )
        .route("/console/tools", get(pages::tools::list))
        .route(
            "/console/tools/{toolkit}/{tool}",
            get(pages::tools::page).post(pages::tools::call),
        )
        .route(
            "/console/upstreams",
            get(pages::upstreams::list).post(pages::upstreams::add),
        )
        .route(
            "/console/upstreams/{name}/remove",
            post(pages::upstreams::remove),
        )
        .route("/console/workflows", get(pages::workflows::list))
        .route(
            "/console/workflows/templates/{id}",
            get(pages::workflows::template).post(pages::workflows::start),
        )
        .route(
            "/console/workflows/executions/{id}",
            get(pages::workflows::execution),
        )
        .route(
            "/console/workflows/executions/{id}/live",
            get(pages::workflows::execution_live),
        )
        .route(
            "/console/workflows/executions/{id}/events",
            get(pages::workflows::execution_events),
        )
        .route(
            "/console/workflows/executions/{id}/cancel",
            post(pages::workflows::cancel),
        )
        .route(
            "/console/workflows/executions/{id}/steps/{step}/approve",
            post(pages::workflows::approve),
        )
        .route("/console/connections", get(pages::collections::index))
        .route(
            "/console/connections/{slug}",
            get(pages::collections::list).post(pages::collections::add),
        )
        .route(
            "/console/connections/{slug}/check",
            post(pages::collections::check),
        )
        .route(
            "/console/connections/{slug}/{key}/{action}",
            post(pages::collections::act),
        )
        .route("/console/lakehouse", get(pages::lakehouse::list))
        .route(
            "/console/lakehouse/{layer}/{name}",
            get(pages::lakehouse::table),
        )
        .route("/console/agents", get(pages::agents::list))
        .route("/console/agents/delegate", post(pages::agents::delegate))
        .route("/console/agents/runs/{id}", get(pages::agents::run))
        .route(
            "/console/agents/runs/{id}/live",
            get(pages::agents::run_live),
        )
        .route(
            "/console/agents/runs/{id}/events",
            get(pages::agents::run_events),
        )
        .route(
            "/console/keys",
            get(pages::keys::list).post(pages::keys::create),
        )
        .route("/console/keys/{key}/revoke", post(pages::keys::revoke))
        .route("/console/audit", get(pages::audit::page))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            sso::renew,
        ))
        // Scripts and styles come from this server only; forms post back to it;
        // no other site may frame a page.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        // Browsers send `Origin: null` on a form post from a page served with
        // `no-referrer` (the API's policy), which the edge guard rightly refuses; a
        // console page names its origin to itself only.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(console)
}
