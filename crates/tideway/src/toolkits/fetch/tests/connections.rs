//! A tenant's HTTP connections: stored by admins with the credential sealed (on both
//! store backends), never listed or shown, sent only to the connection's origin and
//! below its base URL, and invisible to other tenants.

use serde_json::json;
use tideway_core::{HubError, context::Role, on_store};

use super::{Fixture, RobotsTxt, Site, ctx};

const TOKEN: &str = "crm-token-7f3a9c";

#[tokio::test]
async fn a_connection_sends_its_sealed_credential_below_its_base_url_only() {
    let site = Site::start(RobotsTxt::Missing).await;
    let other = Site::start(RobotsTxt::Missing).await;
    for fixture in Fixture::on_each_store(|_| {}).await {
        let admin = ctx("acme", Role::Admin);
        let stored = fixture
            .call_as(
                &admin,
                "set_http_connection",
                json!({"name": "crm", "connection": {
                    "base_url": site.url("/"),
                    "bearer_token": TOKEN,
                    "headers": {"Accept": "application/json"},
                    "description": "the CRM",
                }}),
            )
            .await
            .expect("stored");
        assert_eq!(stored["structured"]["done"], true);
        assert!(!stored.to_string().contains(TOKEN));

        // Sealed at rest: the row does not hold the token.
        let secret: Option<String> = on_store!(&fixture.store, pool => {
            sqlx::query_scalar("SELECT secret FROM http_connections WHERE tenant_id = 'acme' AND name = 'crm'")
                .fetch_one(pool)
                .await
        })
        .expect("row");
        let secret = secret.expect("a sealed secret");
        assert!(
            secret.starts_with("tw1:") && !secret.contains(TOKEN),
            "{secret}"
        );

        let listed = fixture
            .call("list_http_connections", json!({}))
            .await
            .expect("list");
        let connection = &listed["structured"]["connections"][0];
        assert_eq!(connection["name"], "crm");
        assert_eq!(connection["has_credential"], true);
        assert_eq!(connection["auth_header"], "authorization");
        assert_eq!(connection["headers"]["Accept"], "application/json");
        assert!(!listed.to_string().contains(TOKEN));

        let answer = fixture
            .call(
                "http_request",
                json!({"connection": "crm", "url": "echo?x=1", "method": "POST", "json": {"a": 1}}),
            )
            .await
            .expect("through the connection");
        let seen = &answer["structured"]["json"]["headers"];
        assert_eq!(seen["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(seen["accept"], "application/json");
        assert_eq!(answer["structured"]["url"], site.url("/echo?x=1"));
        // The answer echoes the header; what the tool returns to the model is the
        // site's answer, but nothing of Tideway's own shows the token.
        assert!(
            site.seen()
                .iter()
                .any(|seen| seen.headers["authorization"] == format!("Bearer {TOKEN}"))
        );

        // Leaving the connection by path or URL is refused; the caller cannot set
        // the credential's header itself.
        for target in [
            "//evil.example/x".to_string(),
            other.url("/echo"),
            "http://evil.example/echo".to_string(),
        ] {
            let error = fixture
                .call("http_request", json!({"connection": "crm", "url": target}))
                .await
                .expect_err("outside");
            assert!(
                matches!(&error, HubError::InvalidArguments { field, .. } if field == "url"),
                "{target}: {error}"
            );
        }
        let error = fixture
            .call(
                "http_request",
                json!({"connection": "crm", "url": "echo", "headers": {"Authorization": "x"}}),
            )
            .await
            .expect_err("own header");
        assert!(error.to_string().contains("set by connection"), "{error}");

        // A redirect to another origin does not carry the credential there.
        let away = format!(
            "to?location={}",
            percent_encoding::utf8_percent_encode(
                &other.url("/echo"),
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        let answer = fixture
            .call("http_request", json!({"connection": "crm", "url": away}))
            .await
            .expect("redirected");
        assert!(
            answer["structured"]["json"]["headers"]
                .get("authorization")
                .is_none(),
            "{answer}"
        );
        assert!(
            other
                .seen()
                .iter()
                .all(|seen| !seen.headers.contains_key("authorization"))
        );

        // Another tenant has no such connection.
        let globex = ctx("globex", Role::Operator);
        let error = fixture
            .call_as(
                &globex,
                "http_request",
                json!({"connection": "crm", "url": "echo"}),
            )
            .await
            .expect_err("other tenant");
        assert!(matches!(error, HubError::NotFound(_)), "{error}");

        // Only admins store or delete connections.
        let operator = ctx("acme", Role::Operator);
        for (tool, arguments) in [
            (
                "set_http_connection",
                json!({"name": "x", "connection": {"base_url": site.url("/")}}),
            ),
            ("delete_http_connection", json!({"name": "crm"})),
        ] {
            let error = fixture
                .call_as(&operator, tool, arguments)
                .await
                .expect_err("operator");
            assert!(matches!(error, HubError::Forbidden(_)), "{tool}: {error}");
        }
        fixture
            .call_as(&admin, "delete_http_connection", json!({"name": "crm"}))
            .await
            .expect("deleted");
        let error = fixture
            .call("http_request", json!({"connection": "crm", "url": "echo"}))
            .await
            .expect_err("gone");
        assert!(matches!(error, HubError::NotFound(_)), "{error}");
    }
}

#[tokio::test]
async fn bad_connections_are_refused_by_field_without_quoting_the_secret() {
    let fixture = Fixture::new(|_| {}).await;
    let admin = ctx("acme", Role::Admin);
    for (connection, field) in [
        (json!({"base_url": "ftp://files.example/"}), "base_url"),
        (json!({"base_url": "http://10.0.0.8/api/"}), "base_url"),
        (
            json!({"base_url": "http://user:pw@api.example/"}),
            "base_url",
        ),
        (
            json!({"base_url": "https://api.example/?token=x"}),
            "base_url",
        ),
        (json!({"base_url": "nonsense"}), "base_url"),
        (
            json!({"base_url": "https://api.example/", "bearer_token": "secret\nvalue-XYZ"}),
            "bearer_token",
        ),
        (
            json!({"base_url": "https://api.example/", "api_key": "k-XYZ"}),
            "api_key_header",
        ),
        (
            json!({"base_url": "https://api.example/", "bearer_token": "a", "api_key": "b", "api_key_header": "X-Key"}),
            "api_key",
        ),
        (
            json!({"base_url": "https://api.example/", "headers": {"Host": "x"}}),
            "headers",
        ),
    ] {
        let error = fixture
            .call_as(
                &admin,
                "set_http_connection",
                json!({"name": "api", "connection": connection}),
            )
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, HubError::InvalidArguments { field: named, .. } if named == field),
            "{connection}: {error}"
        );
        assert!(!error.to_string().contains("XYZ"), "{error}");
    }
    let error = fixture
        .call_as(
            &admin,
            "set_http_connection",
            json!({"name": "Bad Name", "connection": {"base_url": "https://api.example/"}}),
        )
        .await
        .expect_err("name");
    assert!(
        matches!(&error, HubError::InvalidArguments { field, .. } if field == "name"),
        "{error}"
    );
    // An API key goes in the header named for it.
    let site = Site::start(RobotsTxt::Missing).await;
    fixture
        .call_as(
            &admin,
            "set_http_connection",
            json!({"name": "keyed", "connection": {
                "base_url": site.url("/"), "api_key_header": "X-Api-Key", "api_key": "key-123"}}),
        )
        .await
        .expect("stored");
    let answer = fixture
        .call(
            "http_request",
            json!({"connection": "keyed", "url": "/echo"}),
        )
        .await
        .expect("keyed");
    assert_eq!(
        answer["structured"]["json"]["headers"]["x-api-key"],
        "key-123"
    );
}
