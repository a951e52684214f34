//! Signing in to the console through an OpenID Connect provider: the authorization
//! code flow with PKCE (RFC 7636) and the resource indicator (RFC 8707). The browser
//! is sent to the provider with a fresh `state`, `nonce` and code challenge, kept
//! meanwhile in a short-lived cookie sealed with the master key; on its way back the
//! code is exchanged for tokens, and the token the configuration names is checked
//! exactly as a bearer token on the API is, then kept in the console's session as a
//! pasted key would be. Where the provider issues a refresh token, the session
//! renews its token shortly before it expires (see [`renew`]). The provider never
//! sees the session, and this server never sees the person's password.

use std::time::Duration;

use axum::{
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tideway_core::config::{OidcConfig, OidcToken};
use tokio::sync::OnceCell;

use super::{
    Shared,
    session::{credential_headers, safe_next, sign_in_form, unsealable},
};

/// The cookie that carries a sign-in in progress, from leaving for the provider to
/// coming back.
const FLOW_COOKIE: &str = "tideway_console_sso";
const FLOW_CONTEXT: &str = "console-sso";
/// Long enough to type a password and answer a second factor; short enough that a
/// forgotten tab's flow is useless.
const FLOW_LIFETIME: Duration = Duration::from_secs(600);
pub const CALLBACK_PATH: &str = "/console/sign-in/oidc/callback";
/// How long the provider may take to answer discovery or the code exchange.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a provider's error code shown on the sign-in page.
const ERROR_PREFIX: usize = 40;

/// The provider as configured, and its endpoints once discovered.
pub struct Provider {
    config: OidcConfig,
    issuer: String,
    client_secret: Option<String>,
    redirect_url: String,
    /// The resource this server's tokens are for (RFC 8707), the API's audience.
    resource: String,
    http: reqwest::Client,
    /// Read once from the provider, then kept; a failed read is tried again on the
    /// next sign-in rather than kept.
    endpoints: OnceCell<Endpoints>,
}

/// What the console needs from the provider's discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// What the provider's token endpoint gave: the token the session keeps, and a
/// refresh token when the provider issues one.
struct Tokens {
    token: String,
    refresh: Option<String>,
}

/// A sign-in in progress, sealed in its cookie.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    expires_at: i64,
}

/// Why a sign-in through the provider did not finish, as the sign-in page says it.
#[derive(Debug, thiserror::Error)]
enum SsoError {
    #[error("The identity provider could not be reached; try again, or sign in with a key.")]
    Unreachable,
    #[error(
        "This sign-in expired or was started in another browser; start it again from this page."
    )]
    NoFlow,
    #[error("The identity provider's answer carried no sign-in code; start again.")]
    NoCode,
    #[error("The identity provider refused the sign-in ({0}).")]
    Refused(String),
    #[error("The identity provider did not accept the sign-in code ({0}); start again.")]
    Exchange(String),
    #[error("The identity provider's token was not accepted by this server.")]
    Token,
}

impl SsoError {
    fn status(&self) -> StatusCode {
        match self {
            SsoError::Unreachable | SsoError::Exchange(_) => StatusCode::BAD_GATEWAY,
            SsoError::NoFlow | SsoError::NoCode => StatusCode::BAD_REQUEST,
            SsoError::Refused(_) | SsoError::Token => StatusCode::UNAUTHORIZED,
        }
    }
}

/// At most a short prefix of what the provider sent, for the page.
fn short(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        .take(ERROR_PREFIX)
        .collect()
}

/// A random value for `state`, `nonce` or the code verifier: 32 bytes from the
/// operating system, base64url (43 characters, as PKCE's verifier wants).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// PKCE's S256 challenge for `verifier`.
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Provider {
    /// The provider the configuration names, if any; `None` when provider sign-in
    /// is off. A client secret file that cannot be read stops the server at start.
    pub fn from_config(config: &tideway_core::Config) -> Result<Option<Provider>, String> {
        let oidc = &config.auth.oidc;
        let Some(issuer) = &oidc.issuer else {
            return Ok(None);
        };
        let client_secret = oidc.client_secret().map_err(|error| error.to_string())?;
        let resource = config.resource_url();
        let redirect_url = oidc
            .redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}{CALLBACK_PATH}", origin(&resource)));
        let http = crate::http_client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // The token endpoint answers where it is; a redirect would carry the code
            // and the client secret somewhere the configuration did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("auth.oidc: {error}"))?;
        Ok(Some(Provider {
            config: oidc.clone(),
            issuer: issuer.trim_end_matches('/').to_string(),
            client_secret,
            redirect_url,
            resource,
            http,
            endpoints: OnceCell::new(),
        }))
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    async fn endpoints(&self) -> Result<&Endpoints, SsoError> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let answer = self.http.get(&url).send().await.map_err(|error| {
                    tracing::warn!(%error, url, "identity provider discovery failed");
                    SsoError::Unreachable
                })?;
                if !answer.status().is_success() {
                    tracing::warn!(status = %answer.status(), url, "identity provider discovery failed");
                    return Err(SsoError::Unreachable);
                }
                let endpoints: Endpoints = answer.json().await.map_err(|error| {
                    tracing::warn!(%error, url, "identity provider discovery document unreadable");
                    SsoError::Unreachable
                })?;
                // OpenID Connect Discovery 1.0, section 4.3: a document naming another
                // issuer is someone else's and must not be used.
                if endpoints.issuer.trim_end_matches('/') != self.issuer {
                    tracing::warn!(
                        configured = self.issuer,
                        discovered = endpoints.issuer,
                        "identity provider discovery names another issuer"
                    );
                    return Err(SsoError::Unreachable);
                }
                Ok(endpoints)
            })
            .await
    }

    /// Where to send the browser to sign in, for a flow.
    fn authorization_url(&self, endpoints: &Endpoints, flow: &Flow) -> Option<String> {
        let mut url = url::Url::parse(&endpoints.authorization_endpoint).ok()?;
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .filter(|scope| scope.as_str() != "openid")
                .cloned(),
        );
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &flow.state)
            .append_pair("nonce", &flow.nonce)
            .append_pair("code_challenge", &challenge(&flow.verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &self.resource);
        Some(url.into())
    }

    /// The code exchanged for the token the configuration names.
    async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, SsoError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_url.as_str()),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// A fresh token for a session whose token is about to expire.
    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, SsoError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, grant: &[(&str, &str)]) -> Result<Tokens, SsoError> {
        let endpoints = self.endpoints().await?;
        let mut form = grant.to_vec();
        form.push(("client_id", self.config.client_id.as_str()));
        form.push(("resource", self.resource.as_str()));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let mut request = self
            .http
            .post(&endpoints.token_endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(secret) = &self.client_secret {
            // client_secret_basic, the method every provider must support.
            request = request.basic_auth(
                form_encode(&self.config.client_id),
                Some(form_encode(secret)),
            );
        }
        let answer = request.send().await.map_err(|error| {
            tracing::warn!(%error, "identity provider token endpoint unreachable");
            SsoError::Unreachable
        })?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body["error"].as_str().unwrap_or("no error code");
            tracing::info!(%status, error = code, "identity provider refused the grant");
            return Err(SsoError::Exchange(short(code)));
        }
        let field = match self.config.token {
            OidcToken::AccessToken => "access_token",
            OidcToken::IdToken => "id_token",
        };
        let token = body[field]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SsoError::Exchange(format!("no {field} in the answer")))?;
        Ok(Tokens {
            token,
            refresh: body["refresh_token"].as_str().map(str::to_string),
        })
    }
}

/// RFC 6749, section 2.3.1: the client id and secret are form-encoded before they
/// go into the Basic credentials.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

fn flow_cookie(console: &Shared, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if console.sessions.secure {
        "; Secure"
    } else {
        ""
    };
    // Lax, not Strict: the way back is a navigation from the provider's site, on
    // which a Strict cookie would not be sent.
    HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}={value}; Path=/console/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

fn refused(console: &Shared, next: Option<&str>, error: &SsoError) -> Response {
    sign_in_form(console, error.status(), next, Some(&error.to_string()))
}

/// A way back that signs no one in: the sign-in page saying why, and the flow ended.
fn failed(console: &Shared, next: Option<&str>, error: &SsoError) -> Response {
    without_flow(refused(console, next, error), console)
}

fn no_provider(console: &Shared) -> Response {
    console.views.message(
        StatusCode::NOT_FOUND,
        "Not found",
        "This server has no identity provider configured; sign in with a key.",
    )
}

#[derive(Deserialize)]
pub struct Start {
    next: Option<String>,
}

/// Sends the browser to the provider, with a new flow in its cookie.
pub async fn start(State(console): State<Shared>, Query(start): Query<Start>) -> Response {
    let Some(provider) = &console.provider else {
        return no_provider(&console);
    };
    let endpoints = match provider.endpoints().await {
        Ok(endpoints) => endpoints,
        Err(error) => return refused(&console, start.next.as_deref(), &error),
    };
    let flow = Flow {
        state: random_token(),
        nonce: random_token(),
        verifier: random_token(),
        next: safe_next(start.next.as_deref()),
        expires_at: chrono::Utc::now().timestamp() + FLOW_LIFETIME.as_secs() as i64,
    };
    let cookie = serde_json::to_string(&flow)
        .ok()
        .and_then(|text| console.sessions.key.seal(&text, FLOW_CONTEXT).ok())
        .and_then(|sealed| flow_cookie(&console, &sealed, FLOW_LIFETIME.as_secs()));
    let (Some(cookie), Some(url)) = (cookie, provider.authorization_url(endpoints, &flow)) else {
        tracing::warn!(
            endpoint = endpoints.authorization_endpoint,
            "identity provider sign-in could not be prepared"
        );
        return refused(&console, start.next.as_deref(), &SsoError::Unreachable);
    };
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207: the issuer that answers, where the provider says it.
    iss: Option<String>,
}

/// The provider's answer: the code exchanged, the token checked, the session begun.
pub async fn callback(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(provider) = &console.provider else {
        return no_provider(&console);
    };
    let flow = match open_flow(&console, &headers, answer.state.as_deref()) {
        Ok(flow) => flow,
        Err(error) => return failed(&console, None, &error),
    };
    let next = Some(flow.next.as_str());
    // An answer from another provider (a mix-up attack) is not this one's to trust.
    if let Some(iss) = &answer.iss
        && iss.trim_end_matches('/') != provider.issuer
    {
        let error = SsoError::Refused("another issuer answered".into());
        return failed(&console, next, &error);
    }
    if let Some(error) = &answer.error {
        let error = SsoError::Refused(short(error));
        return failed(&console, next, &error);
    }
    let Some(code) = answer.code.as_deref().filter(|code| !code.is_empty()) else {
        let error = SsoError::NoCode;
        return failed(&console, next, &error);
    };
    let Tokens { token, refresh } = match provider.exchange(code, &flow.verifier).await {
        Ok(tokens) => tokens,
        Err(error) => return failed(&console, next, &error),
    };
    let caller = match console
        .app
        .auth
        .authenticate(&credential_headers(Some(&token)))
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            tracing::info!(
                reason = error.reason(),
                "console sign-in through the identity provider refused"
            );
            return failed(&console, next, &SsoError::Token);
        }
    };
    // The ID token says which sign-in it answers; one from another flow (replayed
    // into this one) is refused. An access token carries no nonce: PKCE binds it.
    if provider.config.token == OidcToken::IdToken && nonce(&token) != Some(flow.nonce.clone()) {
        tracing::info!("console sign-in: the ID token's nonce does not match its flow");
        return failed(&console, next, &SsoError::Token);
    }
    let Some(session) = console.sessions.open_session(Some(token), refresh) else {
        return unsealable(&console);
    };
    tracing::info!(
        principal = %caller.principal.id,
        tenant = %caller.tenant,
        "console sign-in through the identity provider"
    );
    // A page that moves on by itself rather than a redirect: the browser arrived
    // here from the provider's site, and a redirect would still count as that
    // site's navigation, on which the Strict session cookie is not sent.
    let mut response = console.views.bare(
        "signed_in.html",
        json!({"title": "Signed in", "next": flow.next}),
    );
    response.headers_mut().insert(header::SET_COOKIE, session);
    without_flow(response, &console)
}

/// The flow this browser started, if its cookie opens, is current and names the
/// `state` the provider sent back.
fn open_flow(console: &Shared, headers: &HeaderMap, state: Option<&str>) -> Result<Flow, SsoError> {
    let sealed = super::session::cookie_value(headers, FLOW_COOKIE).ok_or(SsoError::NoFlow)?;
    let opened = console
        .sessions
        .key
        .open(sealed, FLOW_CONTEXT)
        .map_err(|_| SsoError::NoFlow)?;
    let flow: Flow = serde_json::from_str(&opened).map_err(|_| SsoError::NoFlow)?;
    if flow.expires_at <= chrono::Utc::now().timestamp() {
        return Err(SsoError::NoFlow);
    }
    // A state that is not this browser's flow is someone else's sign-in pushed into
    // this browser (login CSRF).
    match state {
        Some(state) if state == flow.state => Ok(flow),
        _ => Err(SsoError::NoFlow),
    }
}

/// Ends the flow: its cookie is removed whatever the outcome, so a code is tried once.
fn without_flow(mut response: Response, console: &Shared) -> Response {
    if let Some(cookie) = flow_cookie(console, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// How long before its token expires a provider session renews it: early enough
/// that a page's requests never carry an expired token.
const RENEW_BEFORE_SECS: i64 = 30;

/// Keeps a session made through the provider signed in past its token's expiry:
/// shortly before the token expires, the refresh token gets a new one, the request
/// goes on with it, and the answer carries the renewed cookie. Sessions without a
/// refresh token (a pasted key, a provider that issues none) pass untouched and end
/// when their token does.
pub async fn renew(State(console): State<Shared>, mut request: Request, next: Next) -> Response {
    let renewed = match &console.provider {
        Some(provider) => renewed_session(&console, provider, request.headers()).await,
        None => None,
    };
    if let Some((value, _)) = &renewed {
        replace_session_cookie(request.headers_mut(), value);
    }
    let mut response = next.run(request).await;
    if let Some((_, cookie)) = renewed {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The session's renewed cookie (its value and its `Set-Cookie`), when its token is
/// about to expire and the provider gave a new one.
async fn renewed_session(
    console: &Shared,
    provider: &Provider,
    headers: &HeaderMap,
) -> Option<(String, HeaderValue)> {
    let mut sealed = console.sessions.open(headers)?;
    let refresh = sealed.refresh.clone()?;
    let expires_at = claim(sealed.credential.as_deref()?, "exp")?.as_i64()?;
    if expires_at - chrono::Utc::now().timestamp() > RENEW_BEFORE_SECS {
        return None;
    }
    match provider.refresh(&refresh).await {
        Ok(tokens) => {
            sealed.credential = Some(tokens.token);
            // A provider that rotates refresh tokens sends a new one; others keep theirs.
            sealed.refresh = tokens.refresh.or(Some(refresh));
            console.sessions.reseal(&sealed)
        }
        Err(error) => {
            tracing::info!(%error, "console session could not renew its token");
            None
        }
    }
}

/// Puts `value` in place of the session cookie a request carries.
fn replace_session_cookie(headers: &mut HeaderMap, value: &str) {
    let others: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|cookie| cookie.to_str().ok())
        .flat_map(|cookie| cookie.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.starts_with(&format!("{}=", super::session::COOKIE)))
        .map(str::to_string)
        .collect();
    let mut pairs = others;
    pairs.push(format!("{}={value}", super::session::COOKIE));
    if let Ok(joined) = HeaderValue::from_str(&pairs.join("; ")) {
        headers.remove(header::COOKIE);
        headers.insert(header::COOKIE, joined);
    }
}

/// The `nonce` claim of a token the verifier has already accepted.
fn nonce(token: &str) -> Option<String> {
    claim(token, "nonce")?.as_str().map(str::to_string)
}

/// A claim of a JWT this server has already checked (read again, not verified).
fn claim(token: &str, name: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get_mut(name).map(Value::take)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_unique_and_url_safe() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn the_redirect_origin_is_the_resource_urls() {
        assert_eq!(
            origin("https://hub.example.com/mcp"),
            "https://hub.example.com"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn the_renewed_session_cookie_replaces_the_old_one_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tideway_console=old; b=2"),
        );
        replace_session_cookie(&mut headers, "new");
        assert_eq!(
            headers.get(header::COOKIE).and_then(|v| v.to_str().ok()),
            Some("a=1; b=2; tideway_console=new")
        );
    }

    #[test]
    fn claims_are_read_from_a_tokens_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"exp": 1700000000, "nonce": "n-1"}"#);
        let token = format!("e30.{payload}.sig");
        assert_eq!(claim(&token, "exp"), Some(json!(1_700_000_000)));
        assert_eq!(nonce(&token), Some("n-1".into()));
        assert_eq!(claim("not-a-jwt", "exp"), None);
    }

    #[test]
    fn a_providers_error_is_shown_short_and_plain() {
        assert_eq!(short("access_denied"), "access_denied");
        let long = format!("<script>{}", "x".repeat(100));
        let shown = short(&long);
        assert!(!shown.contains('<'));
        assert_eq!(shown.chars().count(), ERROR_PREFIX);
    }
}
