//! The database toolkit over real HTTP with API keys: the `/api/v1/sources` routes and
//! the seed's query endpoint, role checks, and a credential that must never appear in
//! a response, the log, the audit log or the store file; then the `keys
//! rotate-master` command re-seals it. Needs a database with password
//! authentication: the test command's MariaDB (`TIDEWAY_TEST_MYSQL_URL`).

use std::{
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
};

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sqlx::mysql::MySqlConnectOptions;
use tideway::{app::App, server::http_app};
use tideway_core::{
    Config, Role, TenantId, ToolRules,
    config::AuthMode,
    store::{AuditQuery, NewApiKey},
};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bearer(request: RequestBuilder, key: &str) -> RequestBuilder {
    request.header("authorization", format!("Bearer {key}"))
}

async fn key(app: &App, role: Role) -> String {
    app.store
        .create_api_key(NewApiKey {
            tenant: TenantId::new("acme"),
            name: format!("{role} key"),
            role,
            rules: ToolRules::default(),
            inherited_rules: Vec::new(),
            expires_at: None,
            created_by: "test".into(),
        })
        .await
        .expect("key")
        .1
}

#[tokio::test]
async fn sources_over_rest_keep_their_password_secret_everywhere() {
    let Ok(mysql_url) = std::env::var("TIDEWAY_TEST_MYSQL_URL") else {
        assert!(
            std::env::var("TIDEWAY_REQUIRE_MYSQL").is_err(),
            "TIDEWAY_REQUIRE_MYSQL is set but TIDEWAY_TEST_MYSQL_URL is not"
        );
        return;
    };
    let options = MySqlConnectOptions::from_str(&mysql_url).expect("url");
    let password = mysql_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(credentials, _)| credentials.split_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("the URL carries a password");

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        bind: addr,
        ..Config::default()
    };
    config.auth.modes = vec![AuthMode::ApiKey];
    // acme's admin is the operator here: the test user holds every grant, which only
    // the operator may accept (the live suite covers tenant admins).
    config.default_tenant = "acme".into();
    config.limits.key_requests_per_second = 0.0;
    config.limits.tenant_requests_per_second = 0.0;
    let app = App::start(config, &["database".into()])
        .await
        .expect("app starts");
    app.store
        .ensure_tenant(&TenantId::new("acme"), "acme")
        .await
        .expect("tenant");
    let router = http_app(app.clone(), addr, CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let base = format!("http://{addr}");
    let http = Client::new();
    let admin = key(&app, Role::Admin).await;
    let viewer = key(&app, Role::Viewer).await;

    let body = json!({
        "name": "shop", "kind": "mysql", "host": options.get_host(), "port": options.get_port(),
        "database": options.get_database(), "user": options.get_username(),
        "password": password, "ssl_mode": "disable", "allow_privileged_role": true,
    });
    let refused = bearer(http.post(format!("{base}/api/v1/sources")), &viewer)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let created = bearer(http.post(format!("{base}/api/v1/sources")), &admin)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["location"], "/api/v1/sources/shop");
    let mut responses: Vec<String> = vec![created.text().await.expect("body")];
    assert!(responses[0].contains("\"ok\":true"), "{}", responses[0]);

    let get = |path: &str, key: &str| bearer(http.get(format!("{base}{path}")), key).send();
    let listed = get("/api/v1/sources", &viewer).await.expect("send");
    assert_eq!(listed.status(), StatusCode::OK);
    responses.push(listed.text().await.expect("body"));
    let one = get("/api/v1/sources/shop", &viewer).await.expect("send");
    assert_eq!(one.status(), StatusCode::OK);
    let one: Value = one.json().await.expect("json");
    assert_eq!(one["has_password"], json!(true));
    assert_eq!(one["kind"], json!("mysql"));
    responses.push(one.to_string());
    let missing = get("/api/v1/sources/nope", &viewer).await.expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let tested = bearer(
        http.post(format!("{base}/api/v1/sources/shop/test")),
        &viewer,
    )
    .send()
    .await
    .expect("send");
    assert_eq!(tested.status(), StatusCode::OK);
    responses.push(tested.text().await.expect("body"));

    // The seed's endpoint, with its `params: {}`.
    let queried = bearer(
        http.post(format!("{base}/api/v1/integration/mcp/database/query")),
        &viewer,
    )
    .json(&json!({"query": "SELECT 1 + 1 AS two", "params": {}}))
    .send()
    .await
    .expect("send");
    assert_eq!(queried.status(), StatusCode::OK);
    let queried: Value = queried.json().await.expect("json");
    assert_eq!(queried["rows"], json!([[2]]));
    let write = bearer(
        http.post(format!("{base}/api/v1/integration/mcp/database/query")),
        &viewer,
    )
    .json(&json!({"query": "DROP TABLE anything"}))
    .send()
    .await
    .expect("send");
    assert_eq!(write.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = write.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("read-only")),
        "{problem}"
    );

    let deleted = bearer(http.delete(format!("{base}/api/v1/sources/shop")), &viewer)
        .send()
        .await
        .expect("send");
    assert_eq!(deleted.status(), StatusCode::FORBIDDEN);

    // The source is still registered (the viewer could not delete it), so the store
    // holds its sealed password. Look for the clear one everywhere.
    let audit = app
        .store
        .query_audit(&AuditQuery {
            tenant: Some("acme".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await;
    app.shutdown().await;
    let audit = match audit {
        Ok(entries) => entries,
        Err(error) => panic!("audit: {error}"),
    };
    let log = String::from_utf8_lossy(&captured.0.lock().expect("lock")).to_string();
    assert!(
        log.contains("shop") || log.contains("database"),
        "the capture works"
    );
    for response in &responses {
        assert!(
            !response.contains(&password),
            "a response leaked it: {response}"
        );
    }
    assert!(!log.contains(&password), "the log leaked the password");
    let audit_text = format!("{audit:?}");
    assert!(!audit_text.contains(&password), "the audit log leaked it");
    let store_bytes = std::fs::read(dir.path().join("tideway.db")).expect("store file");
    let wal = std::fs::read(dir.path().join("tideway.db-wal")).unwrap_or_default();
    for bytes in [&store_bytes, &wal] {
        assert!(
            !bytes
                .windows(password.len())
                .any(|window| window == password.as_bytes()),
            "the store file holds the password in clear"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .expect("the master key file was generated")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Rotation with the CLI: a new key file, the old one kept, the source still opens.
    let before = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_tideway"))
        .args(["keys", "--data-dir"])
        .arg(dir.path())
        .arg("rotate-master")
        .env_remove("TIDEWAY_MASTER_KEY")
        .output()
        .expect("run");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("Re-sealed 1 secrets"));
    let after = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    assert_ne!(before, after);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("master.key.previous")).expect("previous"),
        before
    );
    let mut restarted = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    restarted.auth.modes = vec![AuthMode::None];
    restarted.default_tenant = "acme".into();
    let app = App::start(restarted, &["database".into()])
        .await
        .expect("restarts with the new key");
    let ctx = tideway_core::CallContext::new(
        TenantId::new("acme"),
        tideway_core::Principal::new("t", Role::Viewer, tideway_core::Credential::Local),
        "t",
    );
    let result = app
        .hub
        .call(
            &ctx,
            "database",
            "test_connection",
            Some(
                json!({"connection_id": "shop"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("test");
    assert_eq!(
        result.structured_content.expect("structured")["ok"],
        json!(true)
    );
    app.shutdown().await;
}
