//! Stored AWS accounts against moto's server (S3, SSM and Lambda on one endpoint,
//! Lambda without Docker), which the test command starts: credentials sealed and never
//! shown, each object, Lambda and SSM tool, presigned URLs that work and expire,
//! restrictions, tenancy and the egress check on endpoints. Skipped when no emulator
//! was started, unless `TIDEWAY_REQUIRE_S3` says one must be.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use tideway_core::{HubError, Toolkit, context::Role, on_store};
use url::Url;
use zeroize::Zeroizing;

use super::{Fixture, ctx, emulator, loopback_config, setup_clients, unique, with};
use crate::{
    egress::SystemLookup,
    toolkits::cloud::{
        CloudToolkit,
        accounts::{AwsAccount, Credentials},
        aws::Call,
        settings::CloudConfig,
    },
};

pub(super) const KEY_ID: &str = "tideway";
pub(super) const SECRET: &str = "tideway-secret-9c1e";

pub(super) fn account(endpoint: &str) -> Value {
    json!({"endpoint": endpoint, "access_key_id": KEY_ID, "secret_access_key": SECRET})
}

/// What the test sets up in the emulator (buckets, a role, functions), signed as the
/// emulator's administrator would.
async fn setup(
    endpoint: &str,
    service: &'static str,
    method: Method,
    target: &str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Value {
    setup_in(
        "us-east-1",
        endpoint,
        service,
        method,
        target,
        headers,
        body,
    )
    .await
}

/// As [`setup`], in `region`.
pub(super) async fn setup_in(
    region: &str,
    endpoint: &str,
    service: &'static str,
    method: Method,
    target: &str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
) -> Value {
    let clients = setup_clients();
    let aws = AwsAccount {
        region: region.into(),
        endpoint: Some(Url::parse(endpoint).expect("url")),
        credentials: Credentials::Static {
            key_id: KEY_ID.into(),
            secret: Zeroizing::new(SECRET.into()),
        },
        guarded: false,
    };
    let reply = clients
        .send(
            &aws,
            Call {
                service,
                method,
                target: target.into(),
                headers: headers
                    .iter()
                    .map(|(name, value)| {
                        (
                            HeaderName::from_static(name),
                            HeaderValue::from_str(value).expect("value"),
                        )
                    })
                    .collect(),
                body: Bytes::from(body),
                max_body: 1024 * 1024,
            },
        )
        .await
        .unwrap_or_else(|failure| panic!("setting up {service} {target}: {failure:?}"));
    serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
}

/// The emulator set up for Lambda in `region`: functions run without Docker (the
/// emulator answers with the event, or a queued result), and a new role for them;
/// the endpoint and the role's ARN. `None` when no emulator was started.
pub(super) async fn lambda_emulator(region: &str) -> Option<(String, String)> {
    let endpoint = emulator("S3")?;
    reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/config"))
        .json(&json!({"lambda": {"use_docker": false}}))
        .send()
        .await
        .expect("configure the emulator");
    let role = unique("role");
    setup_in(
        region,
        &endpoint,
        "iam",
        Method::POST,
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
        )
        .into_bytes(),
    )
    .await;
    Some((endpoint, format!("arn:aws:iam::123456789012:role/{role}")))
}

async fn create_bucket(endpoint: &str, bucket: &str) {
    setup(
        endpoint,
        "s3",
        Method::PUT,
        &format!("/{bucket}"),
        &[],
        Vec::new(),
    )
    .await;
}

#[tokio::test]
async fn a_stored_account_seals_its_secret_and_serves_each_object_tool() {
    let Some(endpoint) = emulator("S3") else {
        return;
    };
    let bucket = unique("tickets");
    create_bucket(&endpoint, &bucket).await;
    for fixture in Fixture::on_each_store(&loopback_config()).await {
        let admin = ctx("acme", Role::Admin);
        let stored = fixture
            .try_call(&admin, "set_account", with(account(&endpoint)))
            .await
            .expect("stored");
        assert_eq!(stored["name"], "main");
        assert_eq!(stored["function_tools"], json!([]));
        let secret: Option<String> = on_store!(&fixture.store, pool => {
            sqlx::query_scalar("SELECT secret FROM cloud_accounts WHERE tenant_id = 'acme' AND name = 'main'")
                .fetch_one(pool)
                .await
        })
        .expect("row");
        let secret = secret.expect("sealed");
        assert!(
            secret.starts_with("tw1:") && !secret.contains(SECRET),
            "{secret}"
        );
        let listed = fixture.call("list_accounts", json!({})).await;
        assert_eq!(listed["accounts"][0]["has_secret"], true);
        assert_eq!(listed["accounts"][0]["origin"], "stored");
        assert!(!listed.to_string().contains(SECRET));
        assert_eq!(fixture.call("test_account", json!({})).await["ok"], true);
        let buckets = fixture.call("s3_list_buckets", json!({})).await;
        assert!(
            buckets["buckets"]
                .as_array()
                .expect("buckets")
                .iter()
                .any(|entry| entry["name"] == bucket.as_str()),
            "{buckets}"
        );
        // A viewer may read but not store an account; another tenant sees nothing.
        let viewer = fixture
            .refused(
                &ctx("acme", Role::Viewer),
                "set_account",
                with(account(&endpoint)),
            )
            .await;
        assert!(matches!(viewer, HubError::Forbidden(_)), "{viewer}");
        let globex = ctx("globex", Role::Operator);
        let none = fixture
            .refused(&globex, "s3_list_objects", json!({"bucket": bucket}))
            .await;
        assert!(none.to_string().contains("no cloud account"), "{none}");
        let named = fixture
            .refused(
                &globex,
                "s3_list_objects",
                json!({"account": "main", "bucket": bucket}),
            )
            .await;
        assert!(matches!(named, HubError::NotFound(_)), "{named}");
    }

    let fixture = Fixture::new(loopback_config()).await;
    fixture
        .try_call(
            &ctx("acme", Role::Admin),
            "set_account",
            with(account(&endpoint)),
        )
        .await
        .expect("stored");
    let operator = ctx("acme", Role::Operator);
    let text = "Order 1043 arrived damaged; the customer asks for a refund.";
    let up = fixture
        .call(
            "s3_upload_file",
            json!({"bucket": bucket, "key": "2026/t-1043/note.txt", "content": text}),
        )
        .await;
    assert_eq!(up["size"], text.len());
    assert_eq!(up["multipart"], false);
    let down = fixture
        .call(
            "s3_download_file",
            json!({"bucket": bucket, "key": "2026/t-1043/note.txt"}),
        )
        .await;
    assert_eq!(down["content"], text);
    assert_eq!(down["encoding"], "text");
    assert_eq!(down["content_type"], "text/plain");

    // Binary content round-trips as base64.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    fixture
        .call(
            "s3_upload_file",
            json!({"bucket": bucket, "key": "2026/t-1043/photo.png", "content": png, "encoding": "base64"}),
        )
        .await;
    let image = fixture
        .call(
            "s3_download_file",
            json!({"bucket": bucket, "key": "2026/t-1043/photo.png"}),
        )
        .await;
    assert_eq!(image["encoding"], "base64");
    assert_eq!(image["content"], png);
    assert_eq!(image["content_type"], "image/png");

    // A body over two parts goes up in parts and comes back whole, or cut at the cap.
    let large: String = (0..17 * 1024 * 1024 / 16)
        .map(|i| format!("{i:015}\n"))
        .collect();
    let up = fixture
        .call(
            "s3_upload_file",
            json!({"bucket": bucket, "key": "exports/large.csv", "content": large}),
        )
        .await;
    assert_eq!(up["multipart"], true);
    assert_eq!(up["size"], large.len());
    let head = fixture
        .call(
            "s3_download_file",
            json!({"bucket": bucket, "key": "exports/large.csv", "max_bytes": 32}),
        )
        .await;
    assert_eq!(head["content"], &large[..32]);
    assert_eq!(head["truncated"], true);
    assert_eq!(head["size"], large.len());
    let info = fixture
        .call(
            "s3_get_object_info",
            json!({"bucket": bucket, "key": "exports/large.csv"}),
        )
        .await;
    assert_eq!(info["size"], large.len());
    assert_eq!(info["content_type"], "text/csv");

    // Listing: pages by cursor, and one level with folders.
    let first = fixture
        .call("s3_list_objects", json!({"bucket": bucket, "max_keys": 2}))
        .await;
    let keys: Vec<&str> = first["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|object| object["key"].as_str())
        .collect();
    assert_eq!(keys, vec!["2026/t-1043/note.txt", "2026/t-1043/photo.png"]);
    let rest = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": bucket, "cursor": first["next_cursor"]}),
        )
        .await;
    assert_eq!(rest["objects"][0]["key"], "exports/large.csv");
    assert!(rest["next_cursor"].is_null());
    let top = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": bucket, "delimiter": true}),
        )
        .await;
    assert_eq!(top["common_prefixes"], json!(["2026", "exports"]));

    // A presigned URL works without credentials, and stops working when it expires.
    let signed = fixture
        .call(
            "s3_presign_url",
            json!({"bucket": bucket, "key": "2026/t-1043/note.txt", "expires_secs": 60}),
        )
        .await;
    let url = signed["url"].as_str().expect("url");
    assert!(!url.contains(SECRET));
    let fetched = reqwest::get(url).await.expect("get");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.expect("body"), text);
    // The emulator does not enforce expiry, so the URL's own terms are checked: it is
    // signed now, for exactly the time asked, and says so in `expires_at`.
    let short = fixture
        .call(
            "s3_presign_url",
            json!({"bucket": bucket, "key": "2026/t-1043/note.txt", "expires_secs": 90}),
        )
        .await;
    let short_url = Url::parse(short["url"].as_str().expect("url")).expect("a URL");
    let query: std::collections::HashMap<String, String> =
        short_url.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Expires"], "90");
    let signed_at = chrono::NaiveDateTime::parse_from_str(&query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        .expect("X-Amz-Date")
        .and_utc();
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(short["expires_at"].clone()).expect("expires_at");
    assert!(
        (expires_at - signed_at - chrono::Duration::seconds(90))
            .num_seconds()
            .abs()
            <= 2
    );
    assert!((chrono::Utc::now() - signed_at).num_seconds().abs() <= 5);
    assert!(query.contains_key("X-Amz-Signature"));
    let put = fixture
        .call(
            "s3_presign_url",
            json!({"bucket": bucket, "key": "uploads/by-url.txt", "method": "put"}),
        )
        .await;
    let sent = reqwest::Client::new()
        .put(put["url"].as_str().expect("url"))
        .body("sent by URL")
        .send()
        .await
        .expect("put");
    assert!(sent.status().is_success(), "{}", sent.status());
    assert_eq!(
        fixture
            .call(
                "s3_download_file",
                json!({"bucket": bucket, "key": "uploads/by-url.txt"})
            )
            .await["content"],
        "sent by URL"
    );
    let too_long = fixture
        .refused(
            &operator,
            "s3_presign_url",
            json!({"bucket": bucket, "key": "a", "expires_secs": 8 * 24 * 3600}),
        )
        .await;
    assert!(
        matches!(&too_long, HubError::InvalidArguments { field, .. } if field == "expires_secs"),
        "{too_long}"
    );

    // Missing things are named as missing.
    let no_key = fixture
        .refused(
            &operator,
            "s3_download_file",
            json!({"bucket": bucket, "key": "nope.txt"}),
        )
        .await;
    assert!(
        matches!(&no_key, HubError::NotFound(message) if message.contains("nope.txt")),
        "{no_key}"
    );
    let no_bucket = fixture
        .refused(
            &operator,
            "s3_list_objects",
            json!({"bucket": unique("missing")}),
        )
        .await;
    assert!(matches!(no_bucket, HubError::NotFound(_)), "{no_bucket}");

    fixture
        .call(
            "s3_delete_object",
            json!({"bucket": bucket, "key": "exports/large.csv"}),
        )
        .await;
    let deleted = fixture
        .refused(
            &operator,
            "s3_get_object_info",
            json!({"bucket": bucket, "key": "exports/large.csv"}),
        )
        .await;
    assert!(matches!(deleted, HubError::NotFound(_)), "{deleted}");
}

#[tokio::test]
async fn endpoints_are_held_to_the_egress_policy_and_failures_are_diagnosed() {
    let Some(endpoint) = emulator("S3") else {
        return;
    };
    let admin = ctx("acme", Role::Admin);
    // Without [cloud] allow, an internal endpoint cannot be stored.
    let closed = Fixture::new(CloudConfig::default()).await;
    let refused = closed
        .refused(&admin, "set_account", with(account(&endpoint)))
        .await;
    assert!(
        matches!(&refused, HubError::InvalidArguments { field, message } if field == "endpoint" && message.contains("[cloud] allow")),
        "{refused}"
    );
    // A name that resolves to loopback is refused when connecting, not only when stored.
    let port = Url::parse(&endpoint).expect("url").port().expect("port");
    let by_name = format!("http://localhost:{port}");
    closed
        .try_call(&admin, "set_account", with(account(&by_name)))
        .await
        .expect("a host name is checked when connecting");
    let test = closed.call("test_account", json!({})).await;
    assert_eq!(test["ok"], false);
    assert_eq!(test["failure"], "policy", "{test}");
    let listing = closed
        .refused(
            &ctx("acme", Role::Operator),
            "s3_list_objects",
            json!({"bucket": "tideway-test"}),
        )
        .await;
    assert!(listing.to_string().contains("[cloud] allow"), "{listing}");
    let fixture = Fixture::new(loopback_config()).await;

    // Nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let free = listener.local_addr().expect("addr").port();
    drop(listener);
    fixture
        .try_call(
            &admin,
            "set_account",
            with(account(&format!("http://127.0.0.1:{free}"))),
        )
        .await
        .expect("stored");
    let test = fixture.call("test_account", json!({})).await;
    assert_eq!(test["failure"], "refused", "{test}");
    assert!(test["hint"].as_str().expect("hint").contains("endpoint"));

    // Bad account input names its field and never quotes the secret.
    for (input, field) in [
        (
            json!({"endpoint": "ftp://x", "access_key_id": KEY_ID, "secret_access_key": SECRET}),
            "endpoint",
        ),
        (
            json!({"endpoint": format!("{endpoint}/path"), "access_key_id": KEY_ID, "secret_access_key": SECRET}),
            "endpoint",
        ),
        (json!({"access_key_id": KEY_ID}), "secret_access_key"),
        (json!({"secret_access_key": SECRET}), "access_key_id"),
        (
            json!({"region": "Mars 1", "access_key_id": KEY_ID, "secret_access_key": SECRET}),
            "region",
        ),
        (
            json!({"buckets": ["[unclosed"], "access_key_id": KEY_ID, "secret_access_key": SECRET}),
            "buckets",
        ),
    ] {
        let error = fixture
            .refused(&admin, "set_account", with(input.clone()))
            .await;
        match &error {
            HubError::InvalidArguments {
                field: named,
                message,
            } => {
                assert_eq!(named, field, "{input}: {message}");
                assert!(!message.contains(SECRET));
            }
            other => panic!("{input}: {other}"),
        }
    }
    let chain = fixture
        .refused(
            &admin,
            "set_account",
            with(json!({"use_provider_chain": true})),
        )
        .await;
    assert!(matches!(chain, HubError::Forbidden(_)), "{chain}");
}

#[tokio::test]
async fn ssm_parameters_round_trip_and_a_written_value_stays_out_of_the_audit() {
    let Some(endpoint) = emulator("S3") else {
        return;
    };
    let fixture = Fixture::new(loopback_config()).await;
    let mut restricted = account(&endpoint);
    restricted["parameters"] = json!(["/tideway/*"]);
    fixture
        .try_call(&ctx("acme", Role::Admin), "set_account", with(restricted))
        .await
        .expect("stored");
    let path = format!("/tideway/{}", unique("support"));
    let name = format!("{path}/api-token");
    let written = fixture
        .call(
            "put_parameter",
            json!({"name": name, "value": "s3cr3t-value", "type": "SecureString", "description": "the desk's token"}),
        )
        .await;
    assert_eq!(written["version"], 1);
    fixture
        .call(
            "put_parameter",
            json!({"name": format!("{path}/region"), "value": "eu-west-1"}),
        )
        .await;
    let read = fixture
        .call("get_parameter_store_value", json!({"name": name}))
        .await;
    assert_eq!(read["value"], "s3cr3t-value");
    assert_eq!(read["type"], "SecureString");
    let operator = ctx("acme", Role::Operator);
    let again = fixture
        .refused(
            &operator,
            "put_parameter",
            json!({"name": name, "value": "other"}),
        )
        .await;
    assert!(matches!(again, HubError::Conflict(_)), "{again}");
    let second = fixture
        .call(
            "put_parameter",
            json!({"name": name, "value": "rotated", "type": "SecureString", "overwrite": true}),
        )
        .await;
    assert_eq!(second["version"], 2);
    let page = fixture
        .call(
            "get_parameters_by_path",
            json!({"path": path, "max_results": 1}),
        )
        .await;
    assert_eq!(page["parameters"].as_array().expect("page").len(), 1);
    let token = page["next_token"].as_str().expect("a second page");
    let next = fixture
        .call(
            "get_parameters_by_path",
            json!({"path": path, "next_token": token}),
        )
        .await;
    assert_eq!(next["parameters"].as_array().expect("page").len(), 1);
    let missing = fixture
        .refused(
            &operator,
            "get_parameter_store_value",
            json!({"name": format!("{path}/none")}),
        )
        .await;
    assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
    // Outside the account's patterns: missing, even if it exists.
    let outside = fixture
        .refused(
            &operator,
            "put_parameter",
            json!({"name": "/other/x", "value": "v"}),
        )
        .await;
    assert!(matches!(outside, HubError::NotFound(_)), "{outside}");
    // The value never reaches the audit digest.
    let toolkit = CloudToolkit::new(
        loopback_config(),
        fixture.store.clone(),
        Arc::new(tideway_core::secrets::MasterKey::generate().expect("key").0),
        Arc::new(SystemLookup),
        std::sync::Weak::new(),
    )
    .expect("toolkit");
    let tool = toolkit
        .tools()
        .into_iter()
        .find(|tool| tool.name == "put_parameter")
        .expect("put_parameter");
    let arguments =
        serde_json::from_value(json!({"name": name, "value": "s3cr3t-value"})).expect("object");
    let (digest, _) = tideway_core::audit::argument_digest(&arguments, Some(&tool.input_schema));
    assert!(!digest.contains("s3cr3t-value"), "{digest}");
    assert!(digest.contains(&name), "{digest}");
}

#[tokio::test]
async fn lambda_functions_are_listed_and_invoked() {
    let Some((endpoint, role)) = lambda_emulator("us-east-1").await else {
        return;
    };
    let function = unique("process-customer-feedback");
    let created = setup(
        &endpoint,
        "lambda",
        Method::POST,
        "/2015-03-31/functions",
        &[("content-type", "application/json")],
        json!({
            "FunctionName": function,
            "Runtime": "python3.12",
            "Role": &role,
            "Handler": "feedback.handle",
            "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
            "Description": "Scores a customer's feedback",
        })
        .to_string()
        .into_bytes(),
    )
    .await;
    assert_eq!(created["FunctionName"], function.as_str(), "{created}");

    let fixture = Fixture::new(loopback_config()).await;
    let mut restricted = account(&endpoint);
    restricted["functions"] = json!(["process-*"]);
    fixture
        .try_call(&ctx("acme", Role::Admin), "set_account", with(restricted))
        .await
        .expect("stored");
    let mut listed = fixture.call("lambda_list_functions", json!({})).await;
    let mut found = Vec::new();
    loop {
        found.extend(listed["functions"].as_array().expect("functions").clone());
        let Some(marker) = listed["next_marker"].as_str().map(str::to_string) else {
            break;
        };
        listed = fixture
            .call("lambda_list_functions", json!({"marker": marker}))
            .await;
    }
    let entry = found
        .iter()
        .find(|entry| entry["name"] == function.as_str())
        .expect("listed");
    assert_eq!(entry["description"], "Scores a customer's feedback");
    assert!(found.iter().all(|entry| {
        entry["name"]
            .as_str()
            .is_some_and(|name| name.starts_with("process-"))
    }));

    let echoed = fixture
        .call(
            "lambda_invoke",
            json!({"function_name": function, "payload": {"ticket": 1043, "text": "slow delivery"}}),
        )
        .await;
    assert_eq!(echoed["status_code"], 200);
    assert_eq!(
        echoed["payload"],
        json!({"ticket": 1043, "text": "slow delivery"})
    );
    reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/static/lambda-simple/response"))
        .json(&json!({"results": ["{\"sentiment\": \"negative\", \"score\": 0.12}"], "region": "us-east-1"}))
        .send()
        .await
        .expect("queue a result");
    let scored = fixture
        .call(
            "lambda_invoke",
            json!({"function_name": function, "payload": {"ticket": 1043}}),
        )
        .await;
    assert_eq!(
        scored["payload"],
        json!({"sentiment": "negative", "score": 0.12})
    );
    let event = fixture
        .call(
            "lambda_invoke",
            json!({"function_name": function, "payload": {"ticket": 1}, "invocation_type": "event"}),
        )
        .await;
    assert_eq!(event["status_code"], 202);
    assert!(event["payload"].is_null());

    let operator = ctx("acme", Role::Operator);
    // (A function that does not exist cannot be shown here: the emulator's Lambda
    // without Docker answers every name.)
    let outside = fixture
        .refused(
            &operator,
            "lambda_invoke",
            json!({"function_name": "billing-run"}),
        )
        .await;
    assert!(matches!(outside, HubError::NotFound(_)), "{outside}");
    let arn = fixture
        .refused(
            &operator,
            "lambda_invoke",
            json!({"function_name": format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")}),
        )
        .await;
    assert!(
        matches!(&arn, HubError::InvalidArguments { field, .. } if field == "function_name"),
        "{arn}"
    );
}

#[tokio::test]
async fn a_wrong_secret_and_a_key_without_permission_are_told_apart() {
    let Ok(endpoint) = std::env::var("TIDEWAY_TEST_S3_AUTH_ENDPOINT") else {
        assert!(
            std::env::var("TIDEWAY_REQUIRE_S3").is_err(),
            "TIDEWAY_REQUIRE_S3 is set but TIDEWAY_TEST_S3_AUTH_ENDPOINT is not"
        );
        return;
    };
    let variable = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
    let key = variable("TIDEWAY_TEST_S3_AUTH_KEY");
    let secret = variable("TIDEWAY_TEST_S3_AUTH_SECRET");
    let fixture = Fixture::new(loopback_config()).await;
    let admin = ctx("acme", Role::Admin);
    for (name, key_id, secret, expected) in [
        ("good", key.clone(), secret.clone(), None),
        ("wrong", key.clone(), format!("{secret}x"), Some("auth")),
        (
            "powerless",
            variable("TIDEWAY_TEST_S3_POWERLESS_KEY"),
            variable("TIDEWAY_TEST_S3_POWERLESS_SECRET"),
            Some("permission"),
        ),
    ] {
        fixture
            .try_call(
                &admin,
                "set_account",
                json!({"name": name, "account": {"endpoint": endpoint, "access_key_id": key_id, "secret_access_key": secret}}),
            )
            .await
            .expect("stored");
        let test = fixture.call("test_account", json!({"account": name})).await;
        assert_eq!(test["ok"], expected.is_none(), "{name}: {test}");
        assert_eq!(test["failure"].as_str(), expected, "{name}: {test}");
        assert!(!test.to_string().contains(&secret), "{name}: {test}");
    }
    // The same failures reach every tool as errors that say what to fix.
    let operator = ctx("acme", Role::Operator);
    let wrong = fixture
        .refused(&operator, "s3_list_buckets", json!({"account": "wrong"}))
        .await;
    assert!(wrong.to_string().contains("secret access key"), "{wrong}");
    let powerless = fixture
        .refused(
            &operator,
            "s3_list_buckets",
            json!({"account": "powerless"}),
        )
        .await;
    assert!(matches!(powerless, HubError::Forbidden(_)), "{powerless}");
}
