//! Signing in to the console and proving it on every later request. Signing in takes
//! an API key or a bearer token (or, where the server runs without authentication,
//! the local user), checks it exactly as the edge checks a request's credential, and
//! keeps it in a cookie sealed with the master key: readable by this server only,
//! `HttpOnly`, `SameSite=Strict`, limited to `/console`. Every later request opens
//! the cookie and checks the credential again, so a revoked or expired key ends the
//! session at once. Each session carries a random token that every form posts back
//! (CSRF); an action without it is refused.

use std::{sync::Arc, time::Duration};

use axum::{
    Form,
    extract::{FromRequest, FromRequestParts, Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tideway_core::{Credential, secrets::MasterKey};

use super::Shared;
use crate::{app::App, auth::Caller};

pub(super) const COOKIE: &str = "tideway_console";
/// What the sealed cookie is bound to: a value sealed for another purpose does not open.
const SEAL_CONTEXT: &str = "console-session";
/// A session lasts a working day; the credential's own expiry still applies.
const LIFETIME: Duration = Duration::from_secs(8 * 3600);

pub struct Sessions {
    pub(super) key: Arc<MasterKey>,
    /// Cookies are marked `Secure` when the server is reached over https.
    pub(super) secure: bool,
}

/// What the cookie holds, sealed.
#[derive(Serialize, Deserialize)]
pub(super) struct Sealed {
    /// The API key or bearer token; none for the local user.
    pub(super) credential: Option<String>,
    /// The identity provider's refresh token, for a session made through it that
    /// renews its token when that expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) refresh: Option<String>,
    pub(super) csrf: String,
    pub(super) expires_at: i64,
}

/// A signed-in request: who, and the token its forms must carry.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    pub request_id: String,
}

impl Session {
    pub fn role(&self) -> tideway_core::Role {
        self.caller.principal.role
    }
}

impl Sessions {
    pub fn new(app: &App) -> Self {
        Sessions {
            key: app.master_key.clone(),
            secure: app.config.resource_url().starts_with("https://"),
        }
    }

    fn cookie(&self, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .ok()
    }

    /// The cookie that holds a new session for `credential` (already checked), with
    /// the provider's refresh token where there is one.
    pub(super) fn open_session(
        &self,
        credential: Option<String>,
        refresh: Option<String>,
    ) -> Option<HeaderValue> {
        let sealed = Sealed {
            credential,
            refresh,
            csrf: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: chrono::Utc::now().timestamp() + LIFETIME.as_secs() as i64,
        };
        self.cookie(&self.seal(&sealed)?, LIFETIME.as_secs())
    }

    /// `sealed` as a cookie's value.
    pub(super) fn seal(&self, sealed: &Sealed) -> Option<String> {
        let text = serde_json::to_string(sealed).ok()?;
        self.key.seal(&text, SEAL_CONTEXT).ok()
    }

    /// The cookie that holds `sealed` again (after its token was renewed), for what
    /// is left of the session.
    pub(super) fn reseal(&self, sealed: &Sealed) -> Option<(String, HeaderValue)> {
        let left = sealed.expires_at - chrono::Utc::now().timestamp();
        let value = self.seal(sealed)?;
        let cookie = self.cookie(&value, u64::try_from(left).ok()?)?;
        Some((value, cookie))
    }

    pub(super) fn open(&self, headers: &HeaderMap) -> Option<Sealed> {
        let sealed = cookie_value(headers, COOKIE)?;
        let opened = self.key.open(sealed, SEAL_CONTEXT).ok()?;
        let session: Sealed = serde_json::from_str(&opened).ok()?;
        (session.expires_at > chrono::Utc::now().timestamp()).then_some(session)
    }
}

/// The value of cookie `name` on a request.
pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The headers a credential would arrive in over the API.
pub(super) fn credential_headers(credential: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(credential) = credential
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {credential}"))
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// Where to send someone who must sign in first, so they come back here after.
fn to_sign_in(path: &str) -> Response {
    let next = super::api::segment(path);
    Redirect::to(&format!("/console/sign-in?next={next}")).into_response()
}

/// The session of a request, or the answer that sends its sender to sign in.
async fn signed_in(console: &Shared, headers: &HeaderMap, path: &str) -> Result<Session, Response> {
    let Some(sealed) = console.sessions.open(headers) else {
        return Err(to_sign_in(path));
    };
    let auth = &console.app.auth;
    let caller = match auth
        .authenticate(&credential_headers(sealed.credential.as_deref()))
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            tracing::info!(reason = error.reason(), "console session no longer valid");
            return Err(to_sign_in(path));
        }
    };
    if caller.principal.credential != Credential::Local
        && let Err(limited) = console
            .app
            .rate_limits
            .check(&caller.principal.id, caller.tenant.as_str())
    {
        let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0);
        return Err(console.views.message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &format!(
                "Too many requests for this {}; try again in {seconds} s.",
                limited.scope
            ),
        ));
    }
    Ok(Session {
        caller,
        csrf: sealed.csrf,
        request_id: crate::api::toolkits::request_id(headers),
    })
}

/// A page request's session; without one, the answer leads to the sign-in form and
/// back to this page.
impl FromRequestParts<Shared> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Shared) -> Result<Self, Response> {
        // After signing in, a form's target (a POST) is no page to come back to.
        let back = if parts.method == Method::GET {
            parts.uri.path_and_query().map(|p| p.as_str())
        } else {
            None
        };
        signed_in(console, &parts.headers, back.unwrap_or("/console/overview")).await
    }
}

/// A form that acts: the session, and the form, which carried the session's CSRF
/// token (checked before the handler runs).
pub struct Action {
    pub session: Session,
    pub form: Vec<(String, String)>,
}

impl FromRequest<Shared> for Action {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Shared) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, console).await?;
        let Form(form) =
            Form::<Vec<(String, String)>>::from_request(Request::from_parts(parts, body), console)
                .await
                .map_err(IntoResponse::into_response)?;
        if !carries_token(&session, &form) {
            return Err(token_refused(console));
        }
        Ok(Action { session, form })
    }
}

/// Whether a form carries this session's CSRF token.
pub fn carries_token(session: &Session, form: &[(String, String)]) -> bool {
    let sent = form
        .iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.as_bytes())
        .unwrap_or_default();
    let expected = session.csrf.as_bytes();
    // Compared in constant time: how long a refusal takes says nothing of the token.
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The answer to a form without this session's CSRF token.
pub fn token_refused(console: &Shared) -> Response {
    console.views.message(
        StatusCode::FORBIDDEN,
        "Refused",
        "This form's security token is missing or out of date. Reload the page and try again.",
    )
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a console page may be where sign-in leads: never another site.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/console/")
                && !path.starts_with("/console/sign-")
                && !path.contains("//")
                && !path.contains('\\') =>
        {
            path.to_string()
        }
        _ => "/console/overview".to_string(),
    }
}

pub async fn sign_in_page(State(console): State<Shared>, Query(next): Query<Next>) -> Response {
    sign_in_form(&console, StatusCode::OK, next.next.as_deref(), None)
}

pub(super) fn sign_in_form(
    console: &Shared,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
) -> Response {
    let anonymous = console.app.auth.allows_anonymous();
    let mut response = console.views.bare(
        "sign_in.html",
        json!({
            "title": "Sign in",
            "next": safe_next(next),
            "anonymous": anonymous,
            "provider": console.provider.as_ref().map(|provider| provider.name()),
            "error": error,
        }),
    );
    *response.status_mut() = status;
    response
}

pub async fn sign_in(
    State(console): State<Shared>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    let next = field("next");
    let credential = field("credential");
    if credential.is_none() && !console.app.auth.allows_anonymous() {
        return sign_in_form(
            &console,
            StatusCode::UNAUTHORIZED,
            next.as_deref(),
            Some("Enter an API key or a bearer token."),
        );
    }
    let caller = match console
        .app
        .auth
        .authenticate(&credential_headers(credential.as_deref()))
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            // The reason is logged; the credential never is.
            tracing::info!(reason = error.reason(), "console sign-in refused");
            return sign_in_form(
                &console,
                StatusCode::UNAUTHORIZED,
                next.as_deref(),
                Some("That key or token was not accepted."),
            );
        }
    };
    let Some(cookie) = console.sessions.open_session(credential, None) else {
        return unsealable(&console);
    };
    tracing::info!(principal = %caller.principal.id, tenant = %caller.tenant, "console sign-in");
    let mut response = Redirect::to(&safe_next(next.as_deref())).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// The answer when a new session cannot be sealed (the master key failed).
pub(super) fn unsealable(console: &Shared) -> Response {
    console.views.message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sign-in failed",
        "The session could not be sealed; the server log has the details.",
    )
}

pub async fn sign_out(State(console): State<Shared>, _: Action) -> Response {
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Some(cookie) = console.sessions.cookie("", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_leads_only_to_console_pages() {
        assert_eq!(safe_next(Some("/console/tools?q=x")), "/console/tools?q=x");
        for outside in [
            "https://evil.test/",
            "//evil.test/console/",
            "/console/..//evil",
            "/api/v1/keys",
            "/console/sign-out",
            "/console\\evil",
        ] {
            assert_eq!(safe_next(Some(outside)), "/console/overview", "{outside}");
        }
        assert_eq!(safe_next(None), "/console/overview");
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; tideway_console=tw1:ab:cd+/=; x=2"),
        );
        assert_eq!(cookie_value(&headers, COOKIE), Some("tw1:ab:cd+/="));
        assert_eq!(cookie_value(&HeaderMap::new(), COOKIE), None);
    }
}
