//! Azure Blob Storage accounts against Azurite, the Azure Storage emulator (npm),
//! which the test command starts: every object tool on a container, presigned URLs
//! fetched by a plain HTTP client, a wrong key diagnosed, the key sealed, and the
//! fields that belong to AWS refused.

use bytes::Bytes;
use object_store::{
    azure::{AzureAccessKey, AzureAuthorizer, AzureCredential},
    client::{HttpRequest, HttpRequestBody},
};
use serde_json::{Value, json};
use tideway_core::{HubError, context::Role};

use super::{Fixture, ctx, emulator, loopback_config, setup_clients, unique};

const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's published development key.
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn account(endpoint: &str, key: &str) -> Value {
    json!({"kind": "azure", "endpoint": endpoint, "storage_account": ACCOUNT, "account_key": key})
}

/// Creates a container, signed as the account's owner would.
async fn create_container(endpoint: &str, container: &str) {
    let clients = setup_clients();
    let mut request: HttpRequest = http::Request::builder()
        .method(http::Method::PUT)
        .uri(format!("{endpoint}/{container}?restype=container"))
        .header(http::header::CONTENT_LENGTH, "0")
        .body(HttpRequestBody::from(Bytes::new()))
        .expect("request");
    let credential = AzureCredential::AccessKey(AzureAccessKey::try_new(KEY).expect("key"));
    AzureAuthorizer::new(&credential, ACCOUNT).authorize(&mut request);
    clients
        .send_signed(false, request, Bytes::new(), 1024 * 1024)
        .await
        .unwrap_or_else(|failure| panic!("creating container {container}: {failure:?}"));
}

fn named(name: &str, account: Value) -> Value {
    json!({"name": name, "account": account})
}

#[tokio::test]
async fn an_azure_account_serves_every_object_tool_on_a_container() {
    let Some(endpoint) = emulator("AZURE") else {
        return;
    };
    let container = unique("tickets");
    create_container(&endpoint, &container).await;
    let fixture = Fixture::new(loopback_config()).await;
    let admin = ctx("acme", Role::Admin);
    fixture
        .try_call(
            &admin,
            "set_account",
            named("blobs", account(&endpoint, KEY)),
        )
        .await
        .expect("stored");

    let tested = fixture.call("test_account", json!({})).await;
    assert_eq!(tested["ok"], true, "{tested}");
    let listed = fixture.call("list_accounts", json!({})).await;
    let view = &listed["accounts"][0];
    assert_eq!(view["kind"], "azure", "{listed}");
    assert_eq!(view["storage_account"], ACCOUNT);
    assert_eq!(view["has_secret"], true);
    assert!(!listed.to_string().contains(KEY), "the key is never shown");

    let buckets = fixture.call("s3_list_buckets", json!({})).await;
    assert!(
        buckets["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .any(|bucket| bucket["name"] == container.as_str()),
        "{buckets}"
    );

    let note = "Customer 1043 reports slow delivery. Ünïcode kept.";
    let uploaded = fixture
        .call(
            "s3_upload_file",
            json!({"bucket": container, "key": "tickets/1043/note.txt", "content": note}),
        )
        .await;
    assert_eq!(uploaded["size"], note.len());
    assert_eq!(uploaded["multipart"], false);
    let downloaded = fixture
        .call(
            "s3_download_file",
            json!({"bucket": container, "key": "tickets/1043/note.txt"}),
        )
        .await;
    assert_eq!(downloaded["content"], note, "{downloaded}");
    assert_eq!(downloaded["encoding"], "text");

    // Large enough to go up in blocks.
    let large: Vec<u8> = (0..20 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &large);
    let big = fixture
        .call(
            "s3_upload_file",
            json!({"bucket": container, "key": "tickets/1043/scan.bin", "content": encoded, "encoding": "base64"}),
        )
        .await;
    assert_eq!(big["multipart"], true, "{big}");
    assert_eq!(big["size"], large.len());
    let info = fixture
        .call(
            "s3_get_object_info",
            json!({"bucket": container, "key": "tickets/1043/note.txt"}),
        )
        .await;
    assert_eq!(info["size"], note.len());
    assert_eq!(info["content_type"], "text/plain", "{info}");
    let cut = fixture
        .call(
            "s3_download_file",
            json!({"bucket": container, "key": "tickets/1043/scan.bin"}),
        )
        .await;
    assert_eq!(cut["truncated"], true, "{cut}");

    let page = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": container, "prefix": "tickets/", "delimiter": true}),
        )
        .await;
    assert_eq!(page["common_prefixes"], json!(["tickets/1043"]), "{page}");
    let page = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": container, "prefix": "tickets/1043/", "max_keys": 1}),
        )
        .await;
    assert_eq!(page["objects"].as_array().expect("objects").len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": container, "prefix": "tickets/1043/", "max_keys": 1, "cursor": cursor}),
        )
        .await;
    assert_ne!(rest["objects"][0]["key"], page["objects"][0]["key"]);

    // Presigned URLs work for a client that holds no key.
    let get = fixture
        .call(
            "s3_presign_url",
            json!({"bucket": container, "key": "tickets/1043/note.txt", "expires_secs": 60}),
        )
        .await;
    let fetched = reqwest::get(get["url"].as_str().expect("url"))
        .await
        .expect("get");
    assert!(fetched.status().is_success(), "{}", fetched.status());
    assert_eq!(fetched.text().await.expect("body"), note);
    let put = fixture
        .call(
            "s3_presign_url",
            json!({"bucket": container, "key": "uploads/reply.txt", "method": "put"}),
        )
        .await;
    let stored = reqwest::Client::new()
        .put(put["url"].as_str().expect("url"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("a reply")
        .send()
        .await
        .expect("put");
    assert!(stored.status().is_success(), "{}", stored.status());
    let reply = fixture
        .call(
            "s3_download_file",
            json!({"bucket": container, "key": "uploads/reply.txt"}),
        )
        .await;
    assert_eq!(reply["content"], "a reply");

    fixture
        .call(
            "s3_delete_object",
            json!({"bucket": container, "key": "uploads/reply.txt"}),
        )
        .await;
    let operator = ctx("acme", Role::Operator);
    let gone = fixture
        .refused(
            &operator,
            "s3_get_object_info",
            json!({"bucket": container, "key": "uploads/reply.txt"}),
        )
        .await;
    assert!(matches!(gone, HubError::NotFound(_)), "{gone}");
    let missing = fixture
        .refused(
            &operator,
            "s3_download_file",
            json!({"bucket": unique("nowhere"), "key": "a.txt"}),
        )
        .await;
    assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
    // Lambda and SSM are AWS's: an Azure account says so.
    let lambda = fixture
        .refused(
            &operator,
            "lambda_invoke",
            json!({"function_name": "process-customer-feedback"}),
        )
        .await;
    assert!(
        matches!(&lambda, HubError::Unsupported(message) if message.contains("Azure")),
        "{lambda}"
    );
    // Another tenant sees none of it.
    let other = fixture
        .try_call(&ctx("globex", Role::Admin), "list_accounts", json!({}))
        .await
        .expect("listed");
    assert_eq!(other["accounts"], json!([]));
}

#[tokio::test]
async fn a_wrong_azure_key_is_diagnosed_and_the_key_stays_sealed() {
    let Some(endpoint) = emulator("AZURE") else {
        return;
    };
    let fixture = Fixture::new(loopback_config()).await;
    let admin = ctx("acme", Role::Admin);
    // A well-formed key that is not the account's.
    let wrong = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 64]);
    fixture
        .try_call(
            &admin,
            "set_account",
            named("wrong", account(&endpoint, &wrong)),
        )
        .await
        .expect("stored");
    let tested = fixture
        .call("test_account", json!({"account": "wrong"}))
        .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["failure"], "auth", "{tested}");

    let rows: Vec<(Option<String>,)> = tideway_core::on_store!(&fixture.store, pool => {
        sqlx::query_as("SELECT secret FROM cloud_accounts WHERE name = 'wrong'")
            .fetch_all(pool)
            .await
    })
    .expect("rows");
    let sealed = rows[0].0.clone().expect("sealed");
    assert!(!sealed.contains(&wrong), "the key is sealed at rest");
}

#[tokio::test]
async fn azure_input_is_checked_field_by_field() {
    let fixture = Fixture::new(loopback_config()).await;
    let admin = ctx("acme", Role::Admin);
    let endpoint = "http://127.0.0.1:1/devstoreaccount1";
    let cases = [
        (
            json!({"kind": "azure", "storage_account": ACCOUNT}),
            "account_key",
        ),
        (
            json!({"kind": "azure", "storage_account": "Not_An_Account", "account_key": KEY}),
            "storage_account",
        ),
        (
            json!({"kind": "azure", "storage_account": ACCOUNT, "account_key": "not base64!"}),
            "account_key",
        ),
        (
            json!({"kind": "azure", "storage_account": ACCOUNT, "account_key": KEY, "access_key_id": "AKIA"}),
            "access_key_id",
        ),
        (
            json!({"kind": "azure", "storage_account": ACCOUNT, "account_key": KEY, "function_tools": ["x-*"]}),
            "function_tools",
        ),
        (
            json!({"kind": "azure", "storage_account": ACCOUNT, "account_key": KEY, "endpoint": "http://127.0.0.1:1/a/b"}),
            "endpoint",
        ),
        (json!({"kind": "local", "storage_account": ACCOUNT}), "kind"),
        (
            json!({"storage_account": ACCOUNT, "account_key": KEY, "endpoint": endpoint}),
            "storage_account",
        ),
    ];
    for (input, field) in cases {
        let error = fixture
            .refused(&admin, "set_account", named("bad", input.clone()))
            .await;
        assert!(
            matches!(&error, HubError::InvalidArguments { field: named, .. } if named == field),
            "{input}: {error}"
        );
        assert!(!error.to_string().contains(KEY), "the key is never quoted");
    }
    // The audit record's digest of the arguments leaves the key out.
    let tool = fixture
        .hub
        .list_tools(
            &tideway_core::Scope::Toolkit("cloud".into()),
            &admin.principal,
        )
        .into_iter()
        .find(|tool| tool.name == "set_account")
        .expect("set_account");
    let arguments = serde_json::from_value(named("files", account(endpoint, KEY))).expect("object");
    let (digest, _) = tideway_core::audit::argument_digest(&arguments, Some(&tool.input_schema));
    assert!(!digest.contains(KEY), "{digest}");
    assert!(digest.contains(ACCOUNT), "{digest}");
}
