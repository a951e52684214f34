//! The authentication and rate-limit layer in front of every route but the public
//! ones (health, docs, OAuth metadata). It verifies the credential, places the
//! [`Caller`](super::Caller) in the request's extensions, and applies the rate
//! limits. A refusal is a problem document with the challenge MCP clients follow:
//! `WWW-Authenticate: Bearer resource_metadata="…"`.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tideway_core::Credential;

use super::{AuthError, Authenticator, oauth, rate::RateLimits};
use crate::api::problem::Problem;

pub struct Edge {
    pub auth: Arc<Authenticator>,
    pub limits: Arc<RateLimits>,
    /// The challenge sent with a 401.
    challenge: String,
}

impl Edge {
    pub fn new(auth: Arc<Authenticator>, limits: Arc<RateLimits>, resource_url: &str) -> Self {
        let challenge = if auth.uses_jwt() {
            format!(
                "Bearer realm=\"tideway\", resource_metadata=\"{}\"",
                oauth::metadata_url(resource_url)
            )
        } else {
            "Bearer realm=\"tideway\"".to_string()
        };
        Edge {
            auth,
            limits,
            challenge,
        }
    }
}

/// Paths anyone may reach: probes, the API description, OAuth discovery, inbound
/// webhooks (a delivery proves itself by its signature, not a credential), and the
/// console, which signs its users in itself and checks their credential from its
/// session cookie on every request, as this layer would.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/ready" | "/docs" | "/openapi.json" | "/console"
    ) || path.starts_with("/console/")
        || path.starts_with("/docs/")
        || path.starts_with("/hooks/")
        || path.starts_with("/.well-known/")
}

pub async fn authenticate(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    match edge.auth.authenticate(request.headers()).await {
        Ok(caller) => {
            if caller.principal.credential != Credential::Local
                && let Err(limited) = edge
                    .limits
                    .check(&caller.principal.id, caller.tenant.as_str())
            {
                let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
                tracing::info!(principal = %caller.principal.id, tenant = %caller.tenant, scope = limited.scope, "rate limited");
                let mut problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    format!(
                        "too many requests for this {}; retry in {seconds} s",
                        if limited.scope == "key" {
                            "credential"
                        } else {
                            "tenant"
                        }
                    ),
                );
                problem.retry_after = Some(seconds);
                return problem.into_response();
            }
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            // The reason is logged; the credential never is.
            tracing::info!(reason = error.reason(), path = %request.uri().path(), "authentication failed");
            refusal(&edge.challenge, &error)
        }
    }
}

fn refusal(challenge: &str, error: &AuthError) -> Response {
    let (status, kind, challenge) = match error {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            challenge.to_string(),
        ),
        AuthError::Invalid(_) => (
            StatusCode::UNAUTHORIZED,
            "invalid-credential",
            format!("{challenge}, error=\"invalid_token\""),
        ),
        AuthError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "auth-unavailable",
            String::new(),
        ),
    };
    let mut response = Problem::new(status, kind, error.to_string()).into_response();
    if !challenge.is_empty()
        && let Ok(value) = HeaderValue::from_str(&challenge)
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
