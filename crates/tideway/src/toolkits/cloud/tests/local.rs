//! Object tools on a local folder the operator grants: the same tools as on S3,
//! buckets as subfolders, keys that would leave the folder refused with nothing
//! written outside, restrictions and tenancy.

use std::collections::BTreeMap;

use serde_json::json;
use tideway_core::{HubError, context::Role};

use super::{Fixture, ctx, files_below};
use crate::toolkits::cloud::settings::{AccountKind, CloudConfig, DeclaredAccount};

fn local_config(root: &std::path::Path, buckets: Vec<String>) -> CloudConfig {
    let mut accounts = BTreeMap::new();
    accounts.insert(
        "archive".to_string(),
        DeclaredAccount {
            kind: AccountKind::Local,
            tenants: vec!["acme".into()],
            region: None,
            endpoint: None,
            access_key_id: None,
            secret_access_key_env: None,
            use_provider_chain: false,
            storage_account: None,
            account_key_env: None,
            path: Some(root.to_path_buf()),
            buckets,
            functions: Vec::new(),
            parameters: Vec::new(),
            function_tools: Vec::new(),
            function_tool_tag: None,
            description: Some("the archive disk".into()),
        },
    );
    CloudConfig {
        accounts,
        max_upload_bytes: 1024 * 1024,
        ..CloudConfig::default()
    }
}

#[tokio::test]
async fn the_object_tools_work_on_a_local_folder() {
    let outer = tempfile::tempdir().expect("tempdir");
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("tickets")).expect("bucket");
    std::fs::write(outer.path().join("secret.txt"), "outside").expect("secret");
    let fixture = Fixture::new(local_config(&root, Vec::new())).await;

    let accounts = fixture.call("list_accounts", json!({})).await;
    assert_eq!(accounts["accounts"][0]["name"], "archive");
    assert_eq!(accounts["accounts"][0]["origin"], "config");
    let buckets = fixture.call("s3_list_buckets", json!({})).await;
    assert_eq!(buckets["buckets"][0]["name"], "tickets");
    assert_eq!(fixture.call("test_account", json!({})).await["ok"], true);

    let stored = fixture
        .call(
            "s3_upload_file",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt", "content": "customer called twice"}),
        )
        .await;
    assert_eq!(stored["size"], 21);
    assert_eq!(stored["content_type"], "text/plain");
    fixture
        .call(
            "s3_upload_file",
            json!({"bucket": "tickets", "key": "2026/t-1/photo.png", "content": "iVBORw0KGgoAAAAN", "encoding": "base64"}),
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(root.join("tickets/2026/t-1/notes.txt")).expect("on disk"),
        "customer called twice"
    );

    let text = fixture
        .call(
            "s3_download_file",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt"}),
        )
        .await;
    assert_eq!(text["encoding"], "text");
    assert_eq!(text["content"], "customer called twice");
    assert_eq!(text["truncated"], false);
    let cut = fixture
        .call(
            "s3_download_file",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt", "max_bytes": 8}),
        )
        .await;
    assert_eq!(cut["content"], "customer");
    assert_eq!(cut["truncated"], true);
    assert_eq!(cut["size"], 21);
    let binary = fixture
        .call(
            "s3_download_file",
            json!({"bucket": "tickets", "key": "2026/t-1/photo.png"}),
        )
        .await;
    assert_eq!(binary["encoding"], "base64");
    assert_eq!(binary["content"], "iVBORw0KGgoAAAAN");

    let listed = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": "tickets", "prefix": "2026/", "max_keys": 1}),
        )
        .await;
    assert_eq!(listed["objects"][0]["key"], "2026/t-1/notes.txt");
    let cursor = listed["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let second = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": "tickets", "prefix": "2026/", "cursor": cursor}),
        )
        .await;
    assert_eq!(second["objects"][0]["key"], "2026/t-1/photo.png");
    assert!(second["next_cursor"].is_null());
    let folders = fixture
        .call(
            "s3_list_objects",
            json!({"bucket": "tickets", "prefix": "2026", "delimiter": true}),
        )
        .await;
    assert_eq!(folders["common_prefixes"], json!(["2026/t-1"]));

    let info = fixture
        .call(
            "s3_get_object_info",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt"}),
        )
        .await;
    assert_eq!(info["size"], 21);

    // A local folder has no web endpoint to presign for.
    let presign = fixture
        .refused(
            &ctx("acme", Role::Operator),
            "s3_presign_url",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt"}),
        )
        .await;
    assert!(matches!(presign, HubError::Unsupported(_)), "{presign}");
    // Lambda and SSM need an AWS account.
    let lambda = fixture
        .refused(
            &ctx("acme", Role::Operator),
            "lambda_invoke",
            json!({"function_name": "process-customer-feedback"}),
        )
        .await;
    assert!(lambda.to_string().contains("local folder"), "{lambda}");

    fixture
        .call(
            "s3_delete_object",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt"}),
        )
        .await;
    assert!(!root.join("tickets/2026/t-1/notes.txt").exists());
    let gone = fixture
        .refused(
            &ctx("acme", Role::Operator),
            "s3_delete_object",
            json!({"bucket": "tickets", "key": "2026/t-1/notes.txt"}),
        )
        .await;
    assert!(matches!(gone, HubError::NotFound(_)), "{gone}");
}

#[tokio::test]
async fn keys_and_buckets_that_would_leave_the_folder_are_refused_and_nothing_lands_outside() {
    let outer = tempfile::tempdir().expect("tempdir");
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("tickets")).expect("bucket");
    std::fs::write(outer.path().join("secret.txt"), "outside").expect("secret");
    let fixture = Fixture::new(local_config(&root, Vec::new())).await;
    let operator = ctx("acme", Role::Operator);
    for (bucket, key, field) in [
        ("tickets", "../secret.txt", "key"),
        ("tickets", "../../secret.txt", "key"),
        ("tickets", "a/../../secret.txt", "key"),
        ("tickets", "/etc/passwd", "key"),
        ("tickets", "a//b", "key"),
        ("tickets", "./a", "key"),
        ("tickets", "new\nline", "key"),
        ("..", "secret.txt", "bucket"),
        ("../root", "x", "bucket"),
        ("tickets/../..", "x", "bucket"),
        ("Tickets", "x", "bucket"),
    ] {
        for tool in ["s3_upload_file", "s3_download_file", "s3_delete_object"] {
            let mut arguments = json!({"bucket": bucket, "key": key});
            if tool == "s3_upload_file" {
                arguments["content"] = json!("overwritten");
            }
            let error = fixture.refused(&operator, tool, arguments).await;
            match &error {
                HubError::InvalidArguments {
                    field: named,
                    message,
                } => {
                    assert_eq!(named, field, "{tool} {bucket} {key}: {message}");
                    assert!(!message.contains(&*root.display().to_string()), "{message}");
                }
                other => panic!("{tool} {bucket} {key:?}: {other}"),
            }
        }
    }
    // Odd but valid characters are kept inside, as written.
    fixture
        .call(
            "s3_upload_file",
            json!({"bucket": "tickets", "key": "odd name (1) ü.txt", "content": "x"}),
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(outer.path().join("secret.txt")).expect("secret"),
        "outside"
    );
    let below: Vec<String> = files_below(outer.path());
    assert_eq!(below.len(), 2, "{below:?}");
    assert!(below.contains(&"secret.txt".to_string()));
    // A bucket that is not a folder is missing.
    let missing = fixture
        .refused(&operator, "s3_list_objects", json!({"bucket": "invoices"}))
        .await;
    assert!(matches!(missing, HubError::NotFound(_)), "{missing}");
    // Too large.
    let large = fixture
        .refused(
            &operator,
            "s3_upload_file",
            json!({"bucket": "tickets", "key": "big.txt", "content": "x".repeat(1024 * 1024 + 1)}),
        )
        .await;
    assert!(
        matches!(&large, HubError::InvalidArguments { field, message } if field == "content" && message.contains("max_upload_bytes")),
        "{large}"
    );
    assert!(!root.join("tickets/big.txt").exists());
}

#[tokio::test]
async fn restrictions_and_tenancy_answer_as_missing() {
    let outer = tempfile::tempdir().expect("tempdir");
    let root = outer.path().to_path_buf();
    for bucket in ["tickets-2026", "payroll"] {
        std::fs::create_dir_all(root.join(bucket)).expect("bucket");
        std::fs::write(root.join(bucket).join("a.txt"), "x").expect("object");
    }
    let fixture = Fixture::new(local_config(&root, vec!["tickets-*".into()])).await;
    let buckets = fixture.call("s3_list_buckets", json!({})).await;
    assert_eq!(
        buckets["buckets"],
        json!([{"name": "tickets-2026", "created": buckets["buckets"][0]["created"]}])
    );
    let operator = ctx("acme", Role::Operator);
    let payroll = fixture
        .refused(
            &operator,
            "s3_download_file",
            json!({"bucket": "payroll", "key": "a.txt"}),
        )
        .await;
    let nowhere = fixture
        .refused(
            &operator,
            "s3_download_file",
            json!({"bucket": "nowhere", "key": "a.txt"}),
        )
        .await;
    // An existing bucket outside the patterns reads exactly like one that does not exist.
    assert_eq!(
        payroll.to_string().replace("payroll", "X"),
        nowhere.to_string().replace("nowhere", "X")
    );
    // Another tenant has no account at all, and naming acme's is refused as unknown.
    let globex = ctx("globex", Role::Admin);
    assert!(
        fixture
            .try_call(&globex, "list_accounts", json!({}))
            .await
            .expect("list")["accounts"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    let other = fixture
        .refused(
            &globex,
            "s3_list_objects",
            json!({"account": "archive", "bucket": "tickets-2026"}),
        )
        .await;
    assert!(matches!(other, HubError::NotFound(_)), "{other}");
    // A declared account cannot be deleted or shadowed by a tenant's admin.
    let admin = ctx("acme", Role::Admin);
    let shadow = fixture
        .refused(
            &admin,
            "set_account",
            json!({"name": "archive", "account": {"access_key_id": "AKIA1", "secret_access_key": "s"}}),
        )
        .await;
    assert!(matches!(shadow, HubError::Conflict(_)), "{shadow}");
    let delete = fixture
        .refused(&admin, "delete_account", json!({"name": "archive"}))
        .await;
    assert!(matches!(delete, HubError::Conflict(_)), "{delete}");
    // The name is acme's operator account only: globex may use it for its own.
    fixture
        .try_call(
            &globex,
            "set_account",
            json!({"name": "archive", "account": {"access_key_id": "AKIA1", "secret_access_key": "s"}}),
        )
        .await
        .expect("another tenant's own account of that name");
    let mine = fixture
        .try_call(&globex, "list_accounts", json!({}))
        .await
        .expect("list");
    assert_eq!(mine["accounts"][0]["origin"], "stored");
    assert_eq!(
        fixture.call("list_accounts", json!({})).await["accounts"][0]["origin"],
        "config"
    );
}

#[tokio::test]
async fn an_account_a_call_opened_is_a_part_down_once_its_folder_is_gone() {
    let outer = tempfile::tempdir().expect("tempdir");
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("tickets")).expect("bucket");
    let fixture = Fixture::new(local_config(&root, Vec::new())).await;
    let timeout = std::time::Duration::from_secs(2);
    assert!(
        fixture
            .hub
            .parts(timeout)
            .await
            .iter()
            .all(|(_, parts)| parts.is_empty()),
        "no call opened an account yet"
    );

    fixture.call("s3_list_buckets", json!({})).await;
    let cloud_parts = |parts: Vec<(String, Vec<tideway_core::PartHealth>)>| {
        parts
            .into_iter()
            .find(|(toolkit, _)| toolkit == "cloud")
            .map(|(_, parts)| parts)
            .unwrap_or_default()
    };
    let parts = cloud_parts(fixture.hub.parts(timeout).await);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        (
            parts[0].kind,
            parts[0].tenant.as_str(),
            parts[0].name.as_str()
        ),
        ("account", "acme", "archive")
    );
    assert_eq!(parts[0].health.status, tideway_core::HealthStatus::Healthy);

    std::fs::remove_dir_all(&root).expect("folder removed");
    let parts = cloud_parts(fixture.hub.parts(timeout).await);
    assert_eq!(parts[0].health.status, tideway_core::HealthStatus::Down);
    let detail = parts[0].health.detail.clone().unwrap_or_default();
    assert!(detail.starts_with("not_found"), "{detail}");
}
