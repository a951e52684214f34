//! Signing in through an OpenID Connect provider. The provider is a remote service
//! (an Okta, Entra or Keycloak of the team's), so a small local one speaking the
//! protocol stands in: it keeps each code's PKCE challenge, redirect URI and client,
//! gives a code out once, and refuses a verifier that does not match the challenge,
//! as real providers do.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tideway_core::{
    Config,
    config::{AuthMode, OidcToken},
};

use super::{Page, Site};

const SECRET: &str = "a-shared-signing-secret-of-32-bytes-or-more";
const CLIENT: &str = "tideway-console";
const CLIENT_SECRET: &str = "client-secret:with&odd=chars";

/// What the stand-in provider answers with: who signs in, and how.
#[derive(Clone)]
struct Person {
    subject: String,
    roles: String,
    /// Refuse the sign-in at the provider (the person pressed "deny").
    deny: bool,
    /// Put another nonce in the ID token than the one asked for.
    wrong_nonce: bool,
    /// How long an access token lasts, in seconds.
    access_ttl: i64,
    /// Refuse refresh tokens (the person's session at the provider ended).
    refuse_refresh: bool,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    person: Arc<Mutex<Person>>,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
    /// Refresh tokens still good; each is good once (rotated on use).
    refresh_tokens: Arc<Mutex<Vec<String>>>,
    /// How many times a token was renewed with a refresh token.
    refreshed: Arc<Mutex<usize>>,
}

impl Provider {
    async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let provider = Provider {
            issuer: format!("http://{addr}/realms/team"),
            person: Arc::new(Mutex::new(Person {
                subject: "ada".into(),
                roles: "tideway:operator".into(),
                deny: false,
                wrong_nonce: false,
                access_ttl: 300,
                refuse_refresh: false,
            })),
            grants: Arc::default(),
            refresh_tokens: Arc::default(),
            refreshed: Arc::default(),
        };
        let router = Router::new()
            .route(
                "/realms/team/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/team/authorize", get(authorize))
            .route("/realms/team/token", post(token))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    fn set(&self, change: impl FnOnce(&mut Person)) {
        change(&mut self.person.lock().expect("person"));
    }

    fn configure(&self, config: &mut Config) {
        config.auth.modes = vec![AuthMode::ApiKey, AuthMode::Jwt];
        config.auth.jwt.hs256_secret = Some(SECRET.into());
        config.auth.jwt.issuer = Some(self.issuer.clone());
        config.auth.oidc.issuer = Some(self.issuer.clone());
        config.auth.oidc.client_id = CLIENT.into();
        config.auth.oidc.client_secret = Some(CLIENT_SECRET.into());
        config.auth.oidc.scopes = vec!["profile".into()];
        config.auth.oidc.name = "Team ID".into();
    }
}

async fn discovery(State(provider): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": provider.issuer,
        "authorization_endpoint": format!("{}/authorize", provider.issuer),
        "token_endpoint": format!("{}/token", provider.issuer),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn authorize(
    State(provider): State<Provider>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let redirect_uri = field("redirect_uri");
    if field("response_type") != "code"
        || field("code_challenge_method") != "S256"
        || !field("scope").split(' ').any(|scope| scope == "openid")
    {
        return (StatusCode::BAD_REQUEST, "not an authorization code request").into_response();
    }
    let state = url::form_urlencoded::byte_serialize(field("state").as_bytes()).collect::<String>();
    let iss = url::form_urlencoded::byte_serialize(provider.issuer.as_bytes()).collect::<String>();
    if provider.person.lock().expect("person").deny {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&state={state}&iss={iss}"
        ))
        .into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    provider.grants.lock().expect("grants").insert(
        code.clone(),
        Grant {
            client_id: field("client_id"),
            redirect_uri: redirect_uri.clone(),
            challenge: field("code_challenge"),
            nonce: field("nonce"),
        },
    );
    Redirect::to(&format!(
        "{redirect_uri}?code={code}&state={state}&iss={iss}"
    ))
    .into_response()
}

async fn token(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let invalid =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response();
    let expected_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            url::form_urlencoded::byte_serialize(CLIENT.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        ))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected_basic) {
        return invalid("invalid_client");
    }
    if field("grant_type") == "refresh_token" {
        let presented = field("refresh_token");
        let mut good = provider.refresh_tokens.lock().expect("refresh tokens");
        let Some(at) = good.iter().position(|token| *token == presented) else {
            return invalid("invalid_grant");
        };
        good.remove(at);
        drop(good);
        if provider.person.lock().expect("person").refuse_refresh {
            return invalid("invalid_grant");
        }
        *provider.refreshed.lock().expect("count") += 1;
        return Json(issue(&provider, &field("resource"), None)).into_response();
    }
    // A code is good once.
    let Some(grant) = provider
        .grants
        .lock()
        .expect("grants")
        .remove(&field("code"))
    else {
        return invalid("invalid_grant");
    };
    let verified = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if field("grant_type") != "authorization_code"
        || grant.client_id != field("client_id")
        || grant.redirect_uri != field("redirect_uri")
        || grant.challenge != verified
    {
        return invalid("invalid_grant");
    }
    Json(issue(&provider, &field("resource"), Some(grant.nonce))).into_response()
}

/// A token answer: an access token for `resource`, an ID token (with the flow's
/// nonce, when there is a flow) and a new refresh token.
fn issue(provider: &Provider, resource: &str, nonce: Option<String>) -> Value {
    let person = provider.person.lock().expect("person").clone();
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign")
    };
    let nonce = if person.wrong_nonce {
        Some("another-flows-nonce".to_string())
    } else {
        nonce
    };
    let refresh = uuid::Uuid::new_v4().simple().to_string();
    provider
        .refresh_tokens
        .lock()
        .expect("refresh tokens")
        .push(refresh.clone());
    json!({
        "token_type": "Bearer",
        "expires_in": person.access_ttl,
        "access_token": sign(json!({
            "iss": provider.issuer, "sub": person.subject, "aud": resource,
            "tenant": "default", "roles": person.roles, "iat": now, "exp": now + person.access_ttl,
        })),
        "id_token": sign(json!({
            "iss": provider.issuer, "sub": person.subject, "aud": CLIENT, "nonce": nonce,
            "tenant": "default", "roles": person.roles, "iat": now, "exp": now + person.access_ttl,
        })),
        "refresh_token": refresh,
    })
}

/// The query parameters of a URL.
fn query(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).expect("a URL");
    parsed.query_pairs().into_owned().collect()
}

/// Leaves for the provider, signs in there and comes back: the flow's cookie, the
/// way back (code and state) and the callback's answer.
async fn round_trip(console: &Site, next: &str) -> (String, String, Page) {
    let start = console
        .get(&format!("/console/sign-in/oidc?next={next}"), None)
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.html);
    let flow = start.cookie("tideway_console_sso").expect("a flow cookie");
    let at_provider = console
        .get_url(start.location.as_deref().expect("to the provider"), None)
        .await;
    let back = at_provider.location.expect("back to the console");
    let path = back
        .strip_prefix(&console.base)
        .expect("back to this console")
        .to_string();
    let answer = console.get(&path, Some(&flow)).await;
    (flow, path, answer)
}

#[tokio::test]
async fn a_person_signs_in_through_the_provider_with_pkce_and_lands_where_they_were_going() {
    let provider = Provider::start().await;
    let console = Site::start_with(|config| provider.configure(config)).await;

    let form = console
        .get("/console/sign-in?next=/console/tools", None)
        .await;
    assert!(
        form.html
            .contains("href=\"/console/sign-in/oidc?next=%2Fconsole%2Ftools\""),
        "{}",
        form.html
    );
    assert!(form.html.contains("Sign in with Team ID"), "{}", form.html);

    let start = console
        .get("/console/sign-in/oidc?next=/console/tools", None)
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let to = start.location.clone().expect("location");
    assert!(
        to.starts_with(&format!("{}/authorize?", provider.issuer)),
        "{to}"
    );
    let asked = query(&to);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], CLIENT);
    assert_eq!(asked["scope"], "openid profile");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43);
    assert_eq!(
        asked["redirect_uri"],
        format!("{}/console/sign-in/oidc/callback", console.base)
    );
    assert_eq!(asked["resource"], console.app.config.resource_url());
    assert_ne!(asked["state"], asked["nonce"]);
    let flow_header = start
        .cookies
        .iter()
        .find(|cookie| cookie.starts_with("tideway_console_sso="))
        .expect("flow cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console/sign-in/oidc"] {
        assert!(flow_header.contains(attribute), "{flow_header}");
    }
    // The verifier stays in the sealed cookie: neither it nor the state is readable there.
    assert!(!flow_header.contains(&asked["state"]), "{flow_header}");

    let (flow, back, answer) = round_trip(&console, "/console/tools").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.html);
    assert!(
        answer
            .html
            .contains("http-equiv=\"refresh\" content=\"0;url=&#x2f;console&#x2f;tools\""),
        "{}",
        answer.html
    );
    let session = answer.cookie("tideway_console").expect("a session");
    assert!(
        answer
            .cookies
            .iter()
            .any(|cookie| cookie.starts_with("tideway_console_sso=;")
                && cookie.contains("Max-Age=0")),
        "the flow ends: {:?}",
        answer.cookies
    );
    let tools = console.get("/console/tools", Some(&session)).await;
    assert_eq!(tools.status, StatusCode::OK, "{}", tools.html);
    assert!(
        tools.html.contains("jwt:ada · operator · default"),
        "{}",
        tools.html
    );

    // The same way back again (a replayed cookie and a used code) signs no one in.
    let replayed = console.get(&back, Some(&flow)).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        replayed.html
    );
    assert!(
        replayed.html.contains("(invalid_grant)"),
        "{}",
        replayed.html
    );
    assert!(replayed.cookie("tideway_console").is_none());
}

#[tokio::test]
async fn a_sign_in_from_another_browser_a_refusal_or_an_unusable_token_signs_no_one_in() {
    let provider = Provider::start().await;
    let console = Site::start_with(|config| provider.configure(config)).await;

    // A code arriving without this browser's flow (login CSRF) or with another
    // flow's state is refused before the provider is asked.
    let start = console.get("/console/sign-in/oidc", None).await;
    let at_provider = console
        .get_url(start.location.as_deref().expect("location"), None)
        .await;
    let back = at_provider.location.expect("back");
    let path = back.strip_prefix(&console.base).expect("here").to_string();
    let without_flow = console.get(&path, None).await;
    assert_eq!(without_flow.status, StatusCode::BAD_REQUEST);
    assert!(
        without_flow.html.contains("start it again"),
        "{}",
        without_flow.html
    );
    let other = console.get("/console/sign-in/oidc", None).await;
    let other_flow = other.cookie("tideway_console_sso").expect("flow");
    let crossed = console.get(&path, Some(&other_flow)).await;
    assert_eq!(crossed.status, StatusCode::BAD_REQUEST);
    assert!(crossed.cookie("tideway_console").is_none());

    // The person refuses at the provider.
    provider.set(|person| person.deny = true);
    let (_, _, denied) = round_trip(&console, "/console/tools").await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert!(denied.html.contains("(access_denied)"), "{}", denied.html);
    assert!(denied.cookie("tideway_console").is_none());

    // A token the API would refuse (no role Tideway knows) opens no session either.
    provider.set(|person| {
        person.deny = false;
        person.roles = "payroll:clerk".into();
    });
    let (_, _, roleless) = round_trip(&console, "/console/tools").await;
    assert_eq!(roleless.status, StatusCode::UNAUTHORIZED);
    assert!(roleless.html.contains("not accepted"), "{}", roleless.html);
    assert!(roleless.cookie("tideway_console").is_none());

    // An answer naming another issuer (a mix-up) is refused.
    provider.set(|person| person.roles = "tideway:viewer".into());
    let start = console.get("/console/sign-in/oidc", None).await;
    let flow = start.cookie("tideway_console_sso").expect("flow");
    let state = query(start.location.as_deref().expect("location"))["state"].clone();
    let mixed = console
        .get(
            &format!("/console/sign-in/oidc/callback?code=x&state={state}&iss=https%3A%2F%2Fother.example"),
            Some(&flow),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::UNAUTHORIZED);
    assert!(mixed.html.contains("another issuer"), "{}", mixed.html);
}

#[tokio::test]
async fn an_id_token_session_checks_the_nonce_of_its_own_flow() {
    let provider = Provider::start().await;
    let console = Site::start_with(|config| {
        provider.configure(config);
        config.auth.oidc.token = OidcToken::IdToken;
        config.auth.jwt.audience = vec![CLIENT.into()];
    })
    .await;
    let (_, _, answer) = round_trip(&console, "/console/workflows").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.html);
    let session = answer.cookie("tideway_console").expect("session");
    let page = console.get("/console/workflows", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);

    provider.set(|person| person.wrong_nonce = true);
    let (_, _, replayed) = round_trip(&console, "/console/workflows").await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.html
    );
    assert!(replayed.cookie("tideway_console").is_none());
}

#[tokio::test]
async fn without_a_provider_there_is_no_provider_sign_in() {
    let console = Site::start().await;
    let form = console.get("/console/sign-in", None).await;
    assert!(
        !form.html.contains("/console/sign-in/oidc"),
        "{}",
        form.html
    );
    let start = console.get("/console/sign-in/oidc", None).await;
    assert_eq!(start.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unreachable_provider_is_said_plainly() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}/realms/gone", closed.local_addr().expect("addr"));
    drop(closed);
    let console = Site::start_with(|config| {
        config.auth.modes = vec![AuthMode::ApiKey, AuthMode::Jwt];
        config.auth.jwt.hs256_secret = Some(SECRET.into());
        config.auth.oidc.issuer = Some(issuer);
        config.auth.oidc.client_id = CLIENT.into();
    })
    .await;
    let start = console.get("/console/sign-in/oidc", None).await;
    assert_eq!(start.status, StatusCode::BAD_GATEWAY);
    assert!(
        start.html.contains("could not be reached"),
        "{}",
        start.html
    );
}

#[tokio::test]
async fn a_session_renews_its_token_before_it_expires_and_ends_when_the_provider_says_no() {
    let provider = Provider::start().await;
    let console = Site::start_with(|config| {
        provider.configure(config);
        config.auth.jwt.leeway_secs = 0;
    })
    .await;
    // Tokens that last less than the renewal margin: every request renews.
    provider.set(|person| person.access_ttl = 20);
    let (_, _, answer) = round_trip(&console, "/console/tools").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.html);
    let first = answer.cookie("tideway_console").expect("session");
    let page = console.get("/console/tools", Some(&first)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let renewed = page.cookie("tideway_console").expect("a renewed session");
    assert_ne!(renewed, first);
    assert_eq!(*provider.refreshed.lock().expect("count"), 1);
    // The renewed session goes on, with the rotated refresh token.
    let page = console.get("/console/workflows", Some(&renewed)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("jwt:ada · operator · default"),
        "{}",
        page.html
    );
    assert_eq!(*provider.refreshed.lock().expect("count"), 2);
    // The first cookie's refresh token was used up: replaying that cookie renews
    // nothing, and its own token is still good for now.
    let replayed = console.get("/console/tools", Some(&first)).await;
    assert!(replayed.cookie("tideway_console").is_none());
    assert_eq!(*provider.refreshed.lock().expect("count"), 2);

    // Once the provider refuses to renew, the session ends with its token.
    provider.set(|person| {
        person.access_ttl = 3;
        person.refuse_refresh = true;
    });
    let (_, _, answer) = round_trip(&console, "/console/tools").await;
    let short_lived = answer.cookie("tideway_console").expect("session");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let ended = console.get("/console/tools", Some(&short_lived)).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.html);
    assert!(
        ended
            .location
            .as_deref()
            .is_some_and(|to| to.starts_with("/console/sign-in")),
        "{:?}",
        ended.location
    );
}
