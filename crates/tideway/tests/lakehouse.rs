//! The lakehouse over real HTTP and from the command line: a sync started with
//! `Prefer: respond-async` answers 202 and runs as a job that can be polled to its
//! result; jobs belong to their tenant; `tideway sync` drives the same job from the
//! shell and prints the outcome; lineage, transforms and Gold tables over REST.

#![cfg(feature = "lakehouse")]

mod common;

use std::{collections::BTreeMap, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, SqliteConnection};
use tideway::toolkits::database::settings::{DatabasesConfig, DeclaredSource};

const BIN: &str = env!("CARGO_BIN_EXE_tideway");

async fn shop(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("shop.db");
    let mut db = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("sqlite");
    db.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, country TEXT, spent REAL);
         INSERT INTO customers VALUES (1, 'Ada', 'NL', 10.5), (2, 'Grace', 'US', 20.0), (3, 'Linus', 'FI', 1.25);",
    )
    .await
    .expect("schema");
    db.close().await.expect("close");
    path
}

/// The job at `url` once it is no longer running.
async fn finished(http: &reqwest::Client, url: &str) -> Value {
    let mut job = Value::Null;
    for _ in 0..200 {
        job = http
            .get(url)
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        if job["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    job
}

#[tokio::test]
async fn a_sync_runs_as_a_job_over_rest_and_from_the_command_line() {
    let source_dir = tempfile::tempdir().expect("tempdir");
    let path = shop(source_dir.path()).await;
    let running = common::start(|config| {
        config.toolkits = vec!["database".into(), "lakehouse".into()];
        config
            .update_section("databases", |databases: &mut DatabasesConfig| {
                databases.sources = BTreeMap::from([(
                    "shop".to_string(),
                    DeclaredSource {
                        kind: "sqlite".into(),
                        path: Some(path.clone()),
                        ..DeclaredSource::default()
                    },
                )])
            })
            .expect("databases");
    })
    .await;
    let base = &running.base;
    let http = reqwest::Client::new();

    // Deferred: 202 with where to poll.
    let started = http
        .post(format!("{base}/api/v1/lakehouse/sync"))
        .header("prefer", "respond-async")
        .json(&json!({"connection_id": "shop", "table_name": "customers"}))
        .send()
        .await
        .expect("sync");
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = started
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("location")
        .to_string();
    let job: Value = started.json().await.expect("json");
    assert_eq!(job["status"], "running");
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", job["id"].as_str().expect("id"))
    );
    let done = finished(&http, &format!("{base}{location}")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["rows_read"], 3);
    assert_eq!(done["result"]["table"], "tenant_default.bronze.customers");
    // Without the preference, the same route answers when done.
    let direct = http
        .post(format!("{base}/api/v1/lakehouse/sync"))
        .json(&json!({"connection_id": "shop", "table_name": "customers", "target_table": "customers_copy"}))
        .send()
        .await
        .expect("sync");
    assert_eq!(direct.status(), StatusCode::OK);
    // An unknown job is a problem, not a crash; a bad request is refused before any job.
    let missing = http
        .get(format!("{base}/api/v1/jobs/not-a-job"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let failed = http
        .post(format!("{base}/api/v1/lakehouse/sync"))
        .header("prefer", "respond-async")
        .json(&json!({"connection_id": "shop", "table_name": "nope"}))
        .send()
        .await
        .expect("sync");
    let failed_job: Value = failed.json().await.expect("json");
    let failed_url = format!(
        "{base}/api/v1/jobs/{}",
        failed_job["id"].as_str().expect("id")
    );
    let failed_done = finished(&http, &failed_url).await;
    assert_eq!(failed_done["status"], "failed");
    assert_eq!(failed_done["error"]["status"], 404, "{failed_done}");

    // Lineage, a dry-run transform and a Gold table over REST.
    let lineage: Value = http
        .get(format!(
            "{base}/api/v1/lakehouse/tables/bronze/customers/lineage"
        ))
        .send()
        .await
        .expect("lineage")
        .json()
        .await
        .expect("json");
    assert_eq!(lineage["upstream"], json!(["datasource://shop/customers"]));
    let plan = http
        .post(format!("{base}/api/v1/lakehouse/transform"))
        .json(&json!({"bronze_table": "customers", "dry_run": true, "transformations": [{"op": "uppercase", "columns": ["country"]}]}))
        .send()
        .await
        .expect("transform");
    assert_eq!(plan.status(), StatusCode::OK);
    let gold = http
        .post(format!("{base}/api/v1/lakehouse/gold"))
        .json(&json!({"table_name": "spend", "sql": "SELECT sum(spent) AS total FROM bronze.customers"}))
        .send()
        .await
        .expect("gold");
    assert_eq!(gold.status(), StatusCode::OK);
    let bad = http
        .post(format!("{base}/api/v1/lakehouse/gold"))
        .json(&json!({"table_name": "spend", "sql": "DELETE FROM bronze.customers"}))
        .send()
        .await
        .expect("gold");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The command line: the same job, a progress bar on stderr, the outcome on stdout.
    let base_url = base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args([
                "sync",
                "shop",
                "customers",
                "--mode",
                "incremental",
                "--url",
                &base_url,
            ])
            .env_remove("TIDEWAY_TOKEN")
            .output()
    })
    .await
    .expect("join")
    .expect("tideway sync runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        // The cursor is the integer key: only the row at the mark is read again.
        stdout.contains("Synced 1 row into tenant_default.bronze.customers (incremental sync"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("rows"));
    let base_url = base.clone();
    let refused = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(["sync", "nope", "customers", "--url", &base_url])
            .env_remove("TIDEWAY_TOKEN")
            .output()
    })
    .await
    .expect("join")
    .expect("tideway sync runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the sync failed") && stderr.contains("nope"),
        "{stderr}"
    );
}

/// A multipart form with a `file` part and text fields, as a browser or curl sends it.
fn form(file_name: &str, content: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "tideway-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\ncontent-type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn staged_files(data_dir: &std::path::Path) -> usize {
    walk(&data_dir.join("uploads"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    if entry.path().is_dir() {
                        walk(&entry.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_50_mb_csv_uploads_over_rest_and_a_larger_one_than_allowed_is_refused() {
    let running = common::start(|config| {
        config.toolkits = vec!["lakehouse".into()];
        config
            .update_section(
                "lakehouse",
                |lakehouse: &mut tideway::toolkits::lakehouse::settings::LakehouseConfig| {
                    lakehouse.max_upload_bytes = 60 * 1024 * 1024;
                },
            )
            .expect("lakehouse");
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/lakehouse/upload", running.base);
    // About 50 MB of CSV: 1,000,000 rows of ~50 bytes.
    let mut csv = String::from("id,customer,amount,note\n");
    let mut rows = 0u64;
    while csv.len() < 50 * 1024 * 1024 {
        rows += 1;
        csv.push_str(&format!(
            "{rows},customer-{},{}.{:02},a note about order {rows}\n",
            rows % 997,
            rows % 10_000,
            rows % 100
        ));
    }
    let (content_type, body) = form(
        "orders.csv",
        csv.as_bytes(),
        &[("dataset_name", "big_orders")],
    );
    let uploaded = http
        .post(&url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let uploaded: Value = uploaded.json().await.expect("json");
    assert_eq!(uploaded["rows"], json!(rows), "{}", uploaded["table"]);
    let counted: Value = http
        .post(format!("{}/api/v1/lakehouse/query", running.base))
        .json(&json!({"sql": "SELECT count(*) AS n, sum(id) AS total FROM bronze.big_orders"}))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(counted["rows"][0]["n"], json!(rows), "{counted}");
    assert_eq!(
        counted["rows"][0]["total"],
        json!(rows * (rows + 1) / 2),
        "{counted}"
    );
    assert_eq!(
        staged_files(&running.app.config.data_dir),
        0,
        "the staged file is gone once read"
    );

    // Past lakehouse.max_upload_bytes: refused while streaming, naming the part, and
    // nothing is kept.
    // Just past the limit, so the few bytes left unread when the server refuses fit
    // in the socket's buffers and the client reads the answer.
    let mut huge = csv.into_bytes();
    huge.resize(60 * 1024 * 1024 + 64 * 1024, b'9');
    let (content_type, body) = form("huge.csv", &huge, &[("dataset_name", "huge")]);
    let refused = http
        .post(&url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["field"], "file", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("lakehouse.max_upload_bytes")),
        "{problem}"
    );
    assert_eq!(staged_files(&running.app.config.data_dir), 0);
    let listed: Value = http
        .get(format!("{}/api/v1/lakehouse/tables", running.base))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|table| table["name"].as_str())
        .collect();
    assert_eq!(names, ["big_orders"], "{listed}");

    // A staged upload is read once and only by its own tenant.
    let again = running
        .app
        .hub
        .call(
            &common::local(),
            "lakehouse",
            "upload_file",
            common::args(json!({"staged_upload": uuid::Uuid::new_v4().to_string(), "file_name": "x.csv", "dataset_name": "x"})),
        )
        .await
        .expect_err("no such upload");
    assert!(again.to_string().contains("staged_upload"), "{again}");
}
