//! Authentication, authorization, limits and audit over real HTTP: the auth matrix
//! (each role and credential kind against read tools, write tools and admin
//! endpoints, over MCP and REST), refused tokens and keys, OAuth discovery, rate
//! limits, the audit log, CORS, and secrets kept out of the log.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tideway::{app::App, server::http_app};
use tideway_core::{
    Config, Role, TenantId, ToolRules,
    config::{AuthMode, TenantConfig},
    store::{AuditQuery, NewApiKey},
};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";
/// A P-256 key made for these tests only (PKCS#8 DER), and its public half as a JWK.
const EC_PRIVATE_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgM9offDt8V4fvRkyJX8QmU8Ef8ZD2hx9cR3wv4SuRXyehRANCAASBlvIp95ajZ2CFsB0hTdEPET6hmURhkwspoG+0MDYiYFxAAOCLbvTXyau+axigH2j36DVZrvakqjbvwVP6qv7X";
const EC_X: &str = "gZbyKfeWo2dghbAdIU3RDxE-oZlEYZMLKaBvtDA2ImA";
const EC_Y: &str = "XEAA4Itu9NfJq75rGKAfaPfoNVmu9qSqNu_BU_qq_tc";
/// A second test key, for rotation.
const EC2_PRIVATE_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsTSsiQz9tva5unN5TbnYT9UH2mj5A6cf6v9UEjfAVHqhRANCAAT9nUW1NRS4EuNExfYWXk45kbJoYedTGjH8Td/Zpo6p6ysDdQw6D9mM9MltCF8oj+zWTh6Z04Xv/nJutFioDekU";
const EC2_X: &str = "_Z1FtTUUuBLjRMX2Fl5OOZGyaGHnUxox_E3f2aaOqes";
const EC2_Y: &str = "KwN1DDoP2Yz0yW0IXyiP7NZOHpnThe_-cm60WKgN6RQ";
const ISSUER: &str = "https://issuer.test";

struct Server {
    base: String,
    app: Arc<App>,
    resource: String,
    _dir: tempfile::TempDir,
}

async fn start(customize: impl FnOnce(&mut Config)) -> Server {
    start_with(&["system", "support"], customize).await
}

async fn start_with(toolkits: &[&str], customize: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "test-es", "alg": "ES256", "use": "sig"}]})
            .to_string(),
    )
    .expect("jwks");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        bind: addr,
        ..Config::default()
    };
    config.auth.modes = vec![AuthMode::ApiKey, AuthMode::Jwt];
    config.auth.jwt.hs256_secret = Some(SECRET.into());
    config.auth.jwt.jwks_file = Some(jwks);
    config.auth.jwt.issuer = Some(ISSUER.into());
    config.auth.authorization_servers = vec![ISSUER.into()];
    config.limits.key_requests_per_second = 0.0;
    config.limits.tenant_requests_per_second = 0.0;
    customize(&mut config);
    let resource = config.resource_url();
    let toolkits: Vec<String> = toolkits.iter().map(|name| name.to_string()).collect();
    let app = App::start(config, &toolkits).await.expect("app starts");
    for tenant in ["acme", "globex"] {
        app.store
            .ensure_tenant(&TenantId::new(tenant), tenant)
            .await
            .expect("tenant");
    }
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        base: format!("http://{addr}"),
        app,
        resource,
        _dir: dir,
    }
}

async fn key(server: &Server, tenant: &str, role: Role, rules: ToolRules) -> String {
    server
        .app
        .store
        .create_api_key(NewApiKey {
            tenant: TenantId::new(tenant),
            name: format!("{role} key"),
            role,
            rules,
            inherited_rules: Vec::new(),
            expires_at: None,
            created_by: "test".into(),
        })
        .await
        .expect("key")
        .1
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(server: &Server, tenant: &str, roles: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": server.resource, "sub": format!("user-{roles}"),
        "tenant": tenant, "roles": roles, "iat": now(), "exp": now() + 300,
    })
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn es256(claims: &Value, kid: &str) -> String {
    es256_with(EC_PRIVATE_PKCS8, claims, kid)
}

fn es256_with(private_pkcs8: &str, claims: &Value, kid: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(private_pkcs8)
        .expect("der");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_ec_der(&der)).expect("sign")
}

fn bearer(request: RequestBuilder, credential: &str) -> RequestBuilder {
    request.header("authorization", format!("Bearer {credential}"))
}

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}"#;

/// A stateless 2026-07-28 request to `/mcp` (with the `_meta` of `params`, or one
/// declaring no client capabilities); returns the HTTP status and the message.
async fn mcp(
    http: &Client,
    server: &Server,
    credential: &str,
    method: &str,
    params: Value,
) -> (StatusCode, Value) {
    let mut params = params;
    if params.get("_meta").is_none() {
        let meta: Value = serde_json::from_str(&format!("{{{META}}}")).expect("meta");
        params["_meta"] = meta["_meta"].clone();
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = http
        .post(format!("{}/mcp", server.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = body["params"]["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    let response = bearer(request, credential)
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = response.status();
    let text = response.text().await.expect("text");
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:").map(str::trim))
        .unwrap_or(text.trim());
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

async fn rest_call(
    http: &Client,
    server: &Server,
    credential: &str,
    tool: &str,
    arguments: Value,
) -> StatusCode {
    bearer(
        http.post(format!("{}/api/v1/tools/{tool}", server.base)),
        credential,
    )
    .json(&arguments)
    .send()
    .await
    .expect("send")
    .status()
}

async fn rest_get(
    http: &Client,
    server: &Server,
    credential: &str,
    path: &str,
) -> (StatusCode, Value) {
    let response = bearer(http.get(format!("{}{path}", server.base)), credential)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn customer(n: usize) -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "email": format!("ada{n}@example.com")})
}

#[tokio::test]
async fn every_role_and_credential_kind_gets_exactly_what_its_role_allows() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let mut credentials = Vec::new();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        credentials.push((
            role,
            "api key",
            key(&server, "acme", role, ToolRules::default()).await,
        ));
        credentials.push((
            role,
            "HS256 JWT",
            hs256(&claims(&server, "acme", role.as_str())),
        ));
        credentials.push((
            role,
            "ES256 JWT",
            es256(
                &claims(&server, "acme", &format!("openid tideway:{role}")),
                "test-es",
            ),
        ));
    }
    for (n, (role, kind, credential)) in credentials.iter().enumerate() {
        let who = format!("{role} with {kind}");
        let writes = *role >= Role::Operator;
        let admin = *role == Role::Admin;

        // REST: a read-only tool, a tool that writes, the admin endpoints.
        let status = rest_call(
            &http,
            &server,
            credential,
            "system/echo",
            json!({"message": "hi"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}: read tool over REST");
        let status = rest_call(
            &http,
            &server,
            credential,
            "support/create_customer",
            customer(n),
        )
        .await;
        let expected = if writes {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{who}: write tool over REST");
        for path in ["/api/v1/keys", "/api/v1/audit"] {
            let (status, _) = rest_get(&http, &server, credential, path).await;
            let expected = if admin {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{who}: {path}");
        }

        // MCP: the catalog shows only what the role may call, and calls agree.
        let (status, listed) = mcp(&http, &server, credential, "tools/list", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{who}: {listed}");
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"system_find_tools"), "{who}: {names:?}");
        assert_eq!(
            names.contains(&"support_create_ticket"),
            writes,
            "{who}: {names:?}"
        );
        assert!(names.contains(&"support_get_customers"), "{who}: {names:?}");

        let (_, echoed) = mcp(
            &http,
            &server,
            credential,
            "tools/call",
            json!({"name": "system_echo", "arguments": {"message": "hi"}}),
        )
        .await;
        assert_eq!(
            echoed["result"]["structuredContent"]["message"], "hi",
            "{who}: {echoed}"
        );
        let (_, created) = mcp(
            &http,
            &server,
            credential,
            "tools/call",
            json!({"name": "support_create_customer", "arguments": customer(100 + n)}),
        )
        .await;
        let refused = created["result"]["isError"] == json!(true);
        assert_eq!(refused, !writes, "{who}: {created}");
        if refused {
            let text = created["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            assert!(text.contains("needs the operator role"), "{who}: {text}");
        }
    }
}

#[tokio::test]
async fn allow_and_deny_lists_narrow_what_a_key_and_a_tenant_see() {
    let server = start(|config| {
        config.tenants.insert(
            "globex".into(),
            TenantConfig {
                name: None,
                allow: vec![],
                deny: vec!["support.create_*".into()],
                ..TenantConfig::default()
            },
        );
    })
    .await;
    let http = Client::new();
    let system_only = key(
        &server,
        "acme",
        Role::Admin,
        ToolRules {
            allow: vec!["system".into()],
            deny: vec!["system.get_health".into()],
        },
    )
    .await;
    let (_, listed) = mcp(&http, &server, &system_only, "tools/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        vec![
            "system_echo",
            "system_list_toolkits",
            "system_find_tools",
            "system_call_tool"
        ]
    );
    // The generic call cannot reach past the rules: the called tool is checked again.
    let (_, through) = mcp(
        &http,
        &server,
        &system_only,
        "tools/call",
        json!({"name": "system_call_tool", "arguments": {"name": "support_get_customers"}}),
    )
    .await;
    assert_eq!(through["result"]["isError"], json!(true), "{through}");
    assert!(
        through
            .to_string()
            .contains("not available to this credential"),
        "{through}"
    );
    let (_, found) = mcp(
        &http,
        &server,
        &system_only,
        "tools/call",
        json!({"name": "system_find_tools", "arguments": {"query": "customers tickets health"}}),
    )
    .await;
    let found: Vec<&str> = found["result"]["structuredContent"]["tools"]
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(found.is_empty(), "only callable tools are found: {found:?}");
    let (status, toolkits) = rest_get(&http, &server, &system_only, "/api/v1/toolkits").await;
    assert_eq!(status, StatusCode::OK);
    let kits: Vec<&str> = toolkits
        .as_array()
        .map(|kits| kits.iter().filter_map(|k| k["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kits, vec!["system"], "{toolkits}");
    let status = rest_call(
        &http,
        &server,
        &system_only,
        "support/get_customers",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, resources) = mcp(
        &http,
        &server,
        &system_only,
        "resources/templates/list",
        json!({}),
    )
    .await;
    assert_eq!(
        resources["result"]["resourceTemplates"],
        json!([]),
        "support's templates are hidden"
    );

    // The tenant's own rules apply to every credential of the tenant.
    let globex_admin = key(&server, "globex", Role::Admin, ToolRules::default()).await;
    let status = rest_call(
        &http,
        &server,
        &globex_admin,
        "support/create_customer",
        customer(1),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = rest_call(
        &http,
        &server,
        &globex_admin,
        "support/get_customers",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_are_refused_without_detail() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let good = claims(&server, "acme", "viewer");
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let valid = hs256(&good);
    let mut parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    parts[1] = b64(&with("tenant", json!("globex")).to_string());
    let tampered = parts.join(".");
    let wrong_secret = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"another-secret-that-is-also-long-enough!"),
    )
    .expect("sign");
    // HS256 signed with the published EC key's coordinates: the key-confusion attack.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(EC_X.as_bytes()),
    )
    .expect("sign");
    let alg_none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&good.to_string())
    );
    let mut no_tenant = good.clone();
    no_tenant.as_object_mut().expect("object").remove("tenant");
    let cases = [
        ("expired", hs256(&with("exp", json!(now() - 3600)))),
        ("not yet valid", hs256(&with("nbf", json!(now() + 3600)))),
        (
            "wrong audience",
            hs256(&with("aud", json!("https://elsewhere.test/mcp"))),
        ),
        (
            "wrong issuer",
            hs256(&with("iss", json!("https://evil.test"))),
        ),
        ("no expiry", {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove("exp");
            hs256(&claims)
        }),
        ("alg none", alg_none),
        ("re-signed with another secret", wrong_secret),
        ("tampered payload", tampered),
        ("HS256 with the public key as secret", confused),
        ("ES256 with an unknown key id", es256(&good, "not-a-key")),
        ("no tenant claim", hs256(&no_tenant)),
        (
            "tenant with a path in it",
            hs256(&with("tenant", json!("../acme"))),
        ),
        (
            "no recognised role",
            hs256(&with("roles", json!("superuser"))),
        ),
        ("not a JWT", "not-a-jwt".to_string()),
        ("three empty parts", "..".to_string()),
        ("garbage base64", "@@@.###.$$$".to_string()),
        ("malformed API key", "tw_short".to_string()),
        (
            "unknown API key",
            format!("tw_AAAAAAAAAAAA_{}", "B".repeat(43)),
        ),
    ];
    let challenge_base = format!(
        "resource_metadata=\"{}\"",
        tideway::auth::oauth::metadata_url(&server.resource)
    );
    for (case, token) in cases {
        for path in ["/mcp", "/api/v1/toolkits"] {
            let response = bearer(http.post(format!("{}{path}", server.base)), &token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("send");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{case} on {path}"
            );
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .to_string();
            assert!(challenge.contains(&challenge_base), "{case}: {challenge}");
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "{case}: {challenge}"
            );
            let body: Value = response.json().await.expect("problem");
            assert_eq!(
                body["detail"], "the credential is not valid",
                "{case}: no reason is given away"
            );
        }
    }
    // The positive controls: the same claims, properly signed, pass.
    let (status, _) = rest_get(&http, &server, &valid, "/api/v1/toolkits").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest_get(&http, &server, &es256(&good, "test-es"), "/api/v1/toolkits").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_missing_credential_is_challenged_towards_the_authorization_server() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let response = http
        .post(format!("{}/mcp", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    let metadata_url = tideway::auth::oauth::metadata_url(&server.resource);
    assert_eq!(
        challenge,
        format!("Bearer realm=\"tideway\", resource_metadata=\"{metadata_url}\"")
    );
    // The metadata names this resource and its authorization server, without a credential.
    let document: Value = http
        .get(&metadata_url)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(document["resource"], server.resource.as_str());
    assert_eq!(document["authorization_servers"], json!([ISSUER]));
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    // Probes and docs stay public; everything else is closed.
    for (path, expected) in [
        ("/health", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
        ("/metrics", StatusCode::UNAUTHORIZED),
        ("/api/v1/customers", StatusCode::UNAUTHORIZED),
        ("/mcp/support", StatusCode::UNAUTHORIZED),
    ] {
        let status = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status, expected, "{path}");
    }
}

#[tokio::test]
async fn keys_are_created_once_revoked_at_once_and_scoped_to_their_tenant() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let admin = key(&server, "acme", Role::Admin, ToolRules::default()).await;
    let response = bearer(http.post(format!("{}/api/v1/keys", server.base)), &admin)
        .json(&json!({"name": "robot", "role": "viewer"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("json");
    let robot = created["key"].as_str().expect("the key, once").to_string();
    let prefix = created["prefix"].as_str().expect("prefix").to_string();
    assert!(robot.starts_with(&format!("tw_{prefix}_")));

    // Usable at once, also through X-API-Key; listings never show the secret.
    let status = http
        .get(format!("{}/api/v1/toolkits", server.base))
        .header("x-api-key", &robot)
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = rest_get(&http, &server, &admin, "/api/v1/keys").await;
    let listed_text = listed.to_string();
    assert!(listed_text.contains(&prefix) && !listed_text.contains(&robot[4 + prefix.len()..]));

    // A tenant field in the body is refused: the tenant is the credential's.
    let response = bearer(http.post(format!("{}/api/v1/keys", server.base)), &admin)
        .json(&json!({"name": "sneaky", "role": "admin", "tenant": "globex"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant's admin cannot revoke it; its own admin can, effective at once.
    let globex_admin = key(&server, "globex", Role::Admin, ToolRules::default()).await;
    let status = bearer(
        http.delete(format!("{}/api/v1/keys/{prefix}", server.base)),
        &globex_admin,
    )
    .send()
    .await
    .expect("send")
    .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let status = bearer(
        http.delete(format!("{}/api/v1/keys/{prefix}", server.base)),
        &admin,
    )
    .send()
    .await
    .expect("send")
    .status();
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest_get(&http, &server, &robot, "/api/v1/toolkits").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoked keys stop working at once"
    );

    // An expired key and a right prefix with a wrong secret are refused.
    let (_, expired) = server
        .app
        .store
        .create_api_key(NewApiKey {
            tenant: TenantId::new("acme"),
            name: "old".into(),
            role: Role::Admin,
            rules: ToolRules::default(),
            inherited_rules: Vec::new(),
            expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
            created_by: "test".into(),
        })
        .await
        .expect("key");
    let (status, _) = rest_get(&http, &server, &expired, "/api/v1/toolkits").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong_secret = format!("{}{}", &admin[..admin.len() - 4], "AAAA");
    let (status, _) = rest_get(&http, &server, &wrong_secret, "/api/v1/toolkits").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_key_and_per_tenant() {
    let server = start(|config| {
        config.limits.key_requests_per_second = 0.5;
        config.limits.key_burst = 2;
        config.limits.tenant_requests_per_second = 0.5;
        config.limits.tenant_burst = 3;
    })
    .await;
    let http = Client::new();
    let first = key(&server, "acme", Role::Viewer, ToolRules::default()).await;
    let second = key(&server, "acme", Role::Viewer, ToolRules::default()).await;
    for _ in 0..2 {
        assert_eq!(
            rest_get(&http, &server, &first, "/api/v1/toolkits").await.0,
            StatusCode::OK
        );
    }
    let response = bearer(http.get(format!("{}/api/v1/toolkits", server.base)), &first)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = response.json().await.expect("problem");
    assert_eq!(body["type"], "urn:tideway:problem:rate-limited");
    // The second key has its own bucket, but the tenant's is nearly spent.
    assert_eq!(
        rest_get(&http, &server, &second, "/api/v1/toolkits")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        rest_get(&http, &server, &second, "/api/v1/toolkits")
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another tenant is untouched.
    let globex = key(&server, "globex", Role::Viewer, ToolRules::default()).await;
    assert_eq!(
        rest_get(&http, &server, &globex, "/api/v1/toolkits")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_log_records_calls_per_tenant_and_keeps_them_through_shutdown() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let admin = key(&server, "acme", Role::Admin, ToolRules::default()).await;
    let viewer = key(&server, "acme", Role::Viewer, ToolRules::default()).await;
    let globex_admin = key(&server, "globex", Role::Admin, ToolRules::default()).await;
    rest_call(
        &http,
        &server,
        &viewer,
        "system/echo",
        json!({"message": "one"}),
    )
    .await;
    rest_call(
        &http,
        &server,
        &viewer,
        "support/create_customer",
        customer(1),
    )
    .await;
    mcp(&http, &server, &admin, "tools/call", json!({"name": "support_create_customer", "arguments": {"first_name": "B", "last_name": "C", "email": "b@example.com", "metadata": {"api_key": "sk-live-123"}}})).await;
    let created = bearer(http.post(format!("{}/api/v1/keys", server.base)), &admin)
        .json(&json!({"name": "robot", "role": "viewer"}))
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), StatusCode::CREATED);

    let mut entries = Vec::new();
    for _ in 0..50 {
        let (status, page) = rest_get(&http, &server, &admin, "/api/v1/audit").await;
        assert_eq!(status, StatusCode::OK);
        entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let summary: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (
                s("face"),
                format!("{}.{}", s("toolkit"), s("tool")),
                s("outcome"),
                s("error_kind"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "rest".into(),
                "admin.keys.create".into(),
                "ok".into(),
                String::new()
            ),
            (
                "mcp".into(),
                "support.create_customer".into(),
                "ok".into(),
                String::new()
            ),
            (
                "rest".into(),
                "support.create_customer".into(),
                "error".into(),
                "forbidden".into()
            ),
            (
                "rest".into(),
                "system.echo".into(),
                "ok".into(),
                String::new()
            ),
        ]
    );
    let text = Value::Array(entries.clone()).to_string();
    assert!(
        !text.contains("sk-live-123"),
        "secrets are redacted in the audit log"
    );
    assert!(entries.iter().all(|e| e["tenant"] == "acme"));
    assert!(
        entries[3]["principal"]
            .as_str()
            .unwrap_or_default()
            .starts_with("key:")
    );

    let (_, filtered) = rest_get(&http, &server, &admin, "/api/v1/audit?tool=echo").await;
    assert_eq!(filtered["entries"].as_array().map(Vec::len), Some(1));
    let (status, _) = rest_get(&http, &server, &admin, "/api/v1/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, other) = rest_get(&http, &server, &globex_admin, "/api/v1/audit").await;
    assert!(
        other["entries"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["tenant"] == "globex")),
        "{other}"
    );

    // Calls acknowledged just before a clean shutdown are all in the store after it.
    for n in 0..25 {
        rest_call(
            &http,
            &server,
            &viewer,
            "system/echo",
            json!({"message": format!("burst {n}")}),
        )
        .await;
    }
    server.app.shutdown().await;
    let store = tideway_core::Store::open(&server.app.config.store_url())
        .await
        .expect("reopen");
    let all = store
        .query_audit(&AuditQuery {
            tenant: Some("acme".into()),
            tool: Some("echo".into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("query");
    assert_eq!(all.len(), 26, "1 + 25 echo calls");
}

#[tokio::test]
async fn anonymous_serving_is_refused_off_loopback() {
    for modes in [vec![AuthMode::None], vec![AuthMode::None, AuthMode::ApiKey]] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            bind: "0.0.0.0:0".parse().expect("addr"),
            ..Config::default()
        };
        config.auth.modes = modes.clone();
        let app = App::start(config, &["system".into()])
            .await
            .expect("starts");
        let error = tideway::server::serve(app).await.expect_err("refused");
        assert!(
            error.to_string().contains("auth mode 'none'"),
            "{modes:?}: {error}"
        );
    }
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_configured_origins() {
    let origin = "https://console.example.com";
    let preflight = |server: &Server| {
        Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/toolkits", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let off = start(|_| {}).await;
    let response = preflight(&off).await.expect("send");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let on = start(|config| {
        config.http.cors_origins = vec![origin.into()];
        config.http.allowed_origins = vec![origin.into()];
    })
    .await;
    let response = preflight(&on).await.expect("send");
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    // Security headers are on every answer, refusals included.
    let refused = Client::new()
        .get(format!("{}/api/v1/toolkits", on.base))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(refused.headers()[name], value, "{name}");
    }
}

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so every task the server spawns logs through this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn secrets_never_reach_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The server's own filter and writer, asked for everything.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tideway::telemetry::filter("trace"))
        .with_writer(move || tideway::telemetry::BoundedLine::new(writer.clone()))
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start_with(&["system", "support", "database"], |_| {}).await;
    let http = Client::new();
    let admin = key(&server, "acme", Role::Admin, ToolRules::default()).await;
    let token = hs256(&claims(&server, "acme", "admin"));
    let created: Value = bearer(http.post(format!("{}/api/v1/keys", server.base)), &admin)
        .json(&json!({"name": "robot", "role": "viewer"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let robot = created["key"].as_str().unwrap_or_default().to_string();
    rest_get(&http, &server, &robot, "/api/v1/toolkits").await;
    rest_get(&http, &server, &token, "/api/v1/toolkits").await;
    let forged = format!("{}x", &token[..token.len() - 1]);
    rest_get(&http, &server, &forged, "/api/v1/toolkits").await;
    let wrong_key = format!("{}{}", &admin[..admin.len() - 4], "AAAA");
    rest_get(&http, &server, &wrong_key, "/api/v1/toolkits").await;
    rest_call(&http, &server, &admin, "support/create_customer", json!({"first_name": "P", "last_name": "W", "email": "p@example.com", "metadata": {"password": "hunter2-secret"}})).await;
    // A secret tool argument, over MCP, where the protocol library sees it first.
    mcp(
        &http,
        &server,
        &admin,
        "tools/call",
        json!({"name": "database_connect_postgres", "arguments": {
            "name": "crm", "host": "db.invalid", "database": "crm", "user": "reader",
            "password": "pg-password-never-logged"}}),
    )
    .await;
    // A 900 KB bad value: the answer names the field and quotes a short prefix, on
    // REST and over MCP, and the log does not carry it either.
    let huge = "s".repeat(900 * 1024);
    let rest = bearer(
        http.post(format!(
            "{}/api/v1/tools/support/create_ticket",
            server.base
        )),
        &admin,
    )
    .json(&json!({"customer_id": 1, "subject": huge, "description": "d"}))
    .send()
    .await
    .expect("send");
    assert!(rest.status().is_client_error(), "{}", rest.status());
    let rest = rest.text().await.expect("text");
    assert!(rest.len() < 1024, "REST error of {} bytes", rest.len());
    assert!(rest.contains("subject"), "{rest}");
    let (_, answer) = mcp(
        &http,
        &server,
        &admin,
        "tools/call",
        json!({"name": "support_create_ticket", "arguments": {"customer_id": 1, "subject": huge, "description": "d"}}),
    )
    .await;
    let answer = answer.to_string();
    assert!(
        answer.len() < 1024,
        "MCP error of {} bytes: {}",
        answer.len(),
        &answer[..200]
    );
    assert!(answer.contains("subject"), "{answer}");
    server.app.shutdown().await;

    let log = String::from_utf8_lossy(&captured.0.lock().expect("lock")).to_string();
    assert!(
        log.contains("authentication failed"),
        "the capture works: {}",
        &log[..log.len().min(2000)]
    );
    assert!(log.contains("API key created"));
    // `tw_` + 12-character prefix + `_`, then the secret (which may itself hold `_`).
    let secret_of = |key: &str| key.get(16..).unwrap_or_default().to_string();
    for (what, secret) in [
        ("admin key secret", secret_of(&admin)),
        ("created key secret", secret_of(&robot)),
        (
            "JWT signature",
            token.rsplit('.').next().unwrap_or_default().to_string(),
        ),
        ("JWT", token.clone()),
        ("HS256 secret", SECRET.to_string()),
        ("password argument", "hunter2-secret".to_string()),
        ("database password", "pg-password-never-logged".to_string()),
        ("the 900 KB value", "s".repeat(4096)),
    ] {
        assert!(secret.len() > 8, "{what} is a real secret");
        assert!(!log.contains(&secret), "{what} leaked into the log");
    }
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2048, "a log line of {longest} bytes");
}

#[tokio::test]
async fn a_session_belongs_to_the_principal_that_opened_it() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let owner = key(&server, "acme", Role::Admin, ToolRules::default()).await;
    let other_tenant = key(&server, "globex", Role::Admin, ToolRules::default()).await;
    let same_tenant = key(&server, "acme", Role::Admin, ToolRules::default()).await;
    let post = |credential: &str, session: Option<&str>, body: Value| {
        let mut request = bearer(http.post(format!("{}/mcp", server.base)), credential)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let opened = post(
        &owner,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await
    .expect("send");
    assert_eq!(opened.status(), StatusCode::OK);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let _ = opened.text().await;
    let initialized = post(
        &owner,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .expect("send");
    assert!(initialized.status().is_success());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    // A session answers over SSE; its first event may be an empty priming event.
    let answer = |text: String| -> Value {
        let json = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:").map(str::trim))
            .find(|data| !data.is_empty())
            .unwrap_or(text.trim())
            .to_string();
        serde_json::from_str(&json).unwrap_or_else(|_| json!({ "unparsed": text }))
    };
    let mine = answer(
        post(&owner, Some(&session), list.clone())
            .await
            .expect("send")
            .text()
            .await
            .expect("text"),
    );
    assert!(mine["result"]["tools"].is_array(), "{mine}");
    // Another principal is answered exactly as for a session that does not exist.
    let missing = post(&owner, Some("no-such-session"), list.clone())
        .await
        .expect("send");
    let missing = (missing.status(), missing.text().await.expect("text"));
    assert_eq!(missing.0, StatusCode::NOT_FOUND, "{}", missing.1);
    for (who, credential) in [
        ("another tenant", &other_tenant),
        ("another key of the same tenant", &same_tenant),
    ] {
        let theirs = post(credential, Some(&session), list.clone())
            .await
            .expect("send");
        let theirs = (theirs.status(), theirs.text().await.expect("text"));
        assert_eq!(theirs, missing, "{who} used the session");
    }
    // GET (the stream) and DELETE answer another principal as if the session did not
    // exist, under either protocol version header, and the session lives on.
    for (who, credential) in [
        ("another tenant", &other_tenant),
        ("another key of the same tenant", &same_tenant),
    ] {
        for version in ["2025-11-25", "2026-07-28"] {
            let stream = bearer(http.get(format!("{}/mcp", server.base)), credential)
                .header("accept", "text/event-stream")
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", version)
                .send()
                .await
                .expect("send");
            assert_eq!(
                stream.status(),
                StatusCode::NOT_FOUND,
                "{who} GET ({version})"
            );
            let ended = bearer(http.delete(format!("{}/mcp", server.base)), credential)
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", version)
                .send()
                .await
                .expect("send");
            assert_eq!(
                ended.status(),
                StatusCode::NOT_FOUND,
                "{who} DELETE ({version})"
            );
        }
    }
    let still = answer(
        post(&owner, Some(&session), list.clone())
            .await
            .expect("send")
            .text()
            .await
            .expect("text"),
    );
    assert!(
        still["result"]["tools"].is_array(),
        "the owner's session ended: {still}"
    );
    // The owner may end it; afterwards it is gone for the owner too.
    let ended = bearer(http.delete(format!("{}/mcp", server.base)), &owner)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("send");
    assert!(ended.status().is_success(), "{}", ended.status());
    let gone = post(&owner, Some(&session), list.clone())
        .await
        .expect("send");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_key_makes_keys_no_wider_than_itself() {
    let server = start(|_| {}).await;
    let http = Client::new();
    let narrowed = key(
        &server,
        "acme",
        Role::Admin,
        ToolRules {
            allow: Vec::new(),
            deny: vec!["support.*".into()],
        },
    )
    .await;
    let (status, _) = rest_get(&http, &server, &narrowed, "/api/v1/customers").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the maker itself is denied");
    let mint = |maker: String, body: Value| {
        let http = http.clone();
        let url = format!("{}/api/v1/keys", server.base);
        async move {
            let response = bearer(http.post(url), &maker)
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // Rules are inherited, even by a key asking for none, and through a second hop.
    let (status, child) = mint(narrowed.clone(), json!({"name": "child", "role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    let child = child["key"].as_str().expect("key").to_string();
    let (status, grandchild) = mint(
        child.clone(),
        json!({"name": "grandchild", "role": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{grandchild}");
    let grandchild = grandchild["key"].as_str().expect("key").to_string();
    for (who, credential) in [("child", &child), ("grandchild", &grandchild)] {
        let (status, _) = rest_get(&http, &server, credential, "/api/v1/customers").await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{who} escaped its maker's deny rule"
        );
        let (status, _) = rest_get(&http, &server, credential, "/api/v1/toolkits").await;
        assert_eq!(status, StatusCode::OK, "{who} still works");
    }

    // Expiry: a key expiring in a day cannot make one that never expires, nor one
    // that outlives it; a key it makes without an expiry inherits its own.
    let maker_expiry = chrono::Utc::now() + chrono::Duration::days(1);
    let (status, short) = mint(
        key(&server, "acme", Role::Admin, ToolRules::default()).await,
        json!({"name": "short", "role": "admin", "expires_at": maker_expiry.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let short = short["key"].as_str().expect("key").to_string();
    let later = (maker_expiry + chrono::Duration::days(30)).to_rfc3339();
    let (status, refused) = mint(
        short.clone(),
        json!({"name": "longer", "role": "admin", "expires_at": later}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused.to_string().len() < 1024);
    let (status, inherited) =
        mint(short.clone(), json!({"name": "forever", "role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{inherited}");
    let expires = inherited["expires_at"]
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .expect("an expiry was inherited");
    assert!(
        expires <= maker_expiry + chrono::Duration::seconds(1),
        "{inherited}"
    );

    // The role is at most the maker's: an operator key cannot make an admin (it
    // cannot make keys at all; admin is the only role that manages keys).
    let operator = key(&server, "acme", Role::Operator, ToolRules::default()).await;
    let (status, _) = mint(operator, json!({"name": "up", "role": "admin"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rotated_signing_key_is_picked_up_from_the_jwks() {
    let server = start(|config| config.auth.jwt.jwks_min_refetch_secs = 1).await;
    let http = Client::new();
    let token = es256_with(
        EC2_PRIVATE_PKCS8,
        &claims(&server, "acme", "viewer"),
        "rotated",
    );
    let (status, _) = rest_get(&http, &server, &token, "/api/v1/toolkits").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the key is not published yet"
    );
    let jwks = server
        .app
        .config
        .auth
        .jwt
        .jwks_file
        .clone()
        .expect("jwks file");
    std::fs::write(
        &jwks,
        json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "test-es", "alg": "ES256"},
            {"kty": "EC", "crv": "P-256", "x": EC2_X, "y": EC2_Y, "kid": "rotated", "alg": "ES256"},
        ]})
        .to_string(),
    )
    .expect("rotate");
    // Unknown key ids refetch the JWKS, but no more often than the configured interval.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = rest_get(&http, &server, &token, "/api/v1/toolkits").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the rotated key is fetched on first sight"
    );
    let (status, _) = rest_get(
        &http,
        &server,
        &es256(&claims(&server, "acme", "viewer"), "test-es"),
        "/api/v1/toolkits",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the old key still works");
}

#[tokio::test]
async fn a_request_state_answers_only_the_principal_it_was_issued_to() {
    let server = start_with(&["system", "conformance"], |_| {}).await;
    let http = Client::new();
    let owner = key(&server, "acme", Role::Operator, ToolRules::default()).await;
    let same_tenant = key(&server, "acme", Role::Operator, ToolRules::default()).await;
    let other_tenant = key(&server, "globex", Role::Operator, ToolRules::default()).await;
    let call = |responses: Option<Value>, state: Option<&str>| {
        let mut params = json!({
            "name": "conformance_test_input_required_result_elicitation",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
            }
        });
        if let Some(responses) = responses {
            params["inputResponses"] = responses;
        }
        if let Some(state) = state {
            params["requestState"] = json!(state);
        }
        params
    };

    let (status, asked) = mcp(&http, &server, &owner, "tools/call", call(None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    assert_eq!(
        result["inputRequests"]["user_name"]["method"],
        "elicitation/create"
    );
    let state = result["requestState"].as_str().expect("a request state");
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "Ada"}}});

    // Another key of the same tenant, or another tenant, cannot use the state.
    for stranger in [&same_tenant, &other_tenant] {
        let (_, refused) = mcp(
            &http,
            &server,
            stranger,
            "tools/call",
            call(Some(answer.clone()), Some(state)),
        )
        .await;
        assert_eq!(refused["error"]["code"], -32602, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("requestState"), "{message}");
    }
    // Altered, it is refused for its owner too.
    let altered = format!("{state}x");
    let (_, refused) = mcp(
        &http,
        &server,
        &owner,
        "tools/call",
        call(Some(answer.clone()), Some(&altered)),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // The owner's answer completes the call.
    let (_, done) = mcp(
        &http,
        &server,
        &owner,
        "tools/call",
        call(Some(answer), Some(state)),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Ada!");

    // An answer that is not an object is refused, naming the field.
    let (_, refused) = mcp(
        &http,
        &server,
        &owner,
        "tools/call",
        call(Some(json!({"user_name": 12345})), None),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("inputResponses.user_name"), "{message}");

    // A client that did not declare elicitation is not asked: the call fails for
    // want of it, naming the capability.
    let (status, undeclared) = mcp(
        &http,
        &server,
        &owner,
        "tools/call",
        json!({"name": "conformance_test_input_required_result_elicitation", "arguments": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{undeclared}");
    assert_eq!(undeclared["error"]["code"], -32021, "{undeclared}");
    assert_eq!(
        undeclared["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );
}
