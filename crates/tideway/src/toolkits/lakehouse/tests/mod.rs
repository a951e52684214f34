//! The lakehouse toolkit through the Hub and over REST: uploads into Bronze, listing,
//! describing, SQL, history, the tenant of the call, and bad files refused without a
//! table half-written.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, Config, Hub, HubError,
    context::Role,
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::LakehouseToolkit;
use crate::toolkits::{
    database::{DatabaseService, DatabaseToolkit},
    models::ModelsToolkit,
};

mod assist;
mod pipelines;

const ORDERS: &str = "Order ID,Customer,Amount\n1,ada,10.5\n2,grace,20\n3,ada,5.25\n";

/// A Hub with the lakehouse and database toolkits, the lake under `dir`, over a fresh
/// SQLite store (lineage) with tenants acme and globex.
async fn hub(dir: &std::path::Path, configure: impl FnOnce(&mut Config)) -> (Arc<Hub>, TestStore) {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    configure(&mut config);
    let store = test_stores().await.remove(0);
    crate::toolkits::testing::prepare_store(&store.store, &["acme", "globex"]).await;
    let key = Arc::new(MasterKey::generate().expect("key").0);
    let databases = Arc::new(DatabaseService::new(
        store.store.clone(),
        key.clone(),
        crate::toolkits::database::settings::from_config(&config).expect("databases"),
        "acme".into(),
        config.data_dir.clone(),
    ));
    let hub = Arc::new(Hub::new());
    hub.register(Arc::new(DatabaseToolkit::new(databases.clone())))
        .expect("register");
    hub.register(Arc::new(
        ModelsToolkit::new(store.store.clone(), key, &config, Arc::downgrade(&hub))
            .expect("models settings"),
    ))
    .expect("register");
    hub.register(Arc::new(
        LakehouseToolkit::new(
            &config,
            store.store.clone(),
            databases,
            Arc::downgrade(&hub),
        )
        .expect("lakehouse"),
    ))
    .expect("register");
    (hub, store)
}

use crate::toolkits::testing::ctx;

async fn call(
    hub: &Hub,
    ctx: &CallContext,
    tool: &str,
    arguments: Value,
) -> Result<Value, HubError> {
    let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
    let result = hub.call(ctx, "lakehouse", tool, Some(arguments)).await?;
    Ok(crate::toolkits::testing::structured(
        hub,
        "lakehouse",
        tool,
        result,
    ))
}

/// A workbook from the engine's test fixtures.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tideway-lakehouse/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn b64(text: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_file_uploaded_to_bronze_is_listed_described_queried_and_versioned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let acme = ctx("acme", Role::Operator);
    let uploaded = call(&hub, &acme, "upload_file", json!({"file_content": b64(ORDERS.as_bytes()), "file_name": "orders.csv", "dataset_name": "orders"}))
        .await
        .expect("upload");
    assert_eq!(uploaded["table"], "tenant_acme.bronze.orders");
    assert_eq!(uploaded["rows"], 3);
    assert_eq!(uploaded["version"], 0);
    assert_eq!(uploaded["columns"][0]["name"], "order_id");
    assert_eq!(uploaded["preview"].as_array().expect("preview").len(), 3);

    let listed = call(&hub, &acme, "list_tables", json!({"layer": "bronze"}))
        .await
        .expect("list");
    assert_eq!(
        listed["tables"][0]["full_name"],
        "tenant_acme.bronze.orders"
    );
    let described = call(
        &hub,
        &acme,
        "describe_table",
        json!({"table_name": "bronze.orders", "sample_rows": 1}),
    )
    .await
    .expect("describe");
    assert_eq!(described["rows"], 3);
    assert_eq!(described["sample"].as_array().expect("sample").len(), 1);
    let answer = call(&hub, &acme, "query_sql", json!({"sql": "SELECT customer, SUM(amount) AS total FROM bronze.orders GROUP BY customer ORDER BY total DESC", "max_rows": 1}))
        .await
        .expect("query");
    assert_eq!(
        answer["rows"],
        json!([{"customer": "grace", "total": 20.0}])
    );
    assert_eq!(answer["truncated"], true);

    // Appending makes version 1; version 0 stays readable.
    call(&hub, &acme, "upload_file", json!({"file_content": b64(b"Order ID,Customer,Amount\n4,alan,1\n"), "file_name": "more.csv", "dataset_name": "orders", "mode": "append"}))
        .await
        .expect("append");
    let now = call(
        &hub,
        &acme,
        "query_sql",
        json!({"sql": "SELECT COUNT(*) AS n FROM bronze.orders"}),
    )
    .await
    .expect("count");
    assert_eq!(now["rows"][0]["n"], 4);
    let before = call(
        &hub,
        &acme,
        "query_sql",
        json!({"sql": "SELECT COUNT(*) AS n FROM bronze.orders", "versions": {"bronze.orders": 0}}),
    )
    .await
    .expect("time travel");
    assert_eq!(before["rows"][0]["n"], 3);
    let history = call(
        &hub,
        &acme,
        "table_history",
        json!({"table_name": "orders"}),
    )
    .await
    .expect("history");
    assert_eq!(history["versions"].as_array().expect("versions").len(), 2);
    // The Delta log is where users' Spark and DuckDB will look for it.
    assert!(
        dir.path()
            .join("lake/tenant_acme/bronze/orders/_delta_log")
            .is_dir()
    );
}

#[tokio::test]
async fn the_tenant_is_the_callers_and_no_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let acme = ctx("acme", Role::Operator);
    call(&hub, &acme, "upload_file", json!({"file_content": b64(ORDERS.as_bytes()), "file_name": "orders.csv", "dataset_name": "orders", "tenant_id": "acme"}))
        .await
        .expect("own tenant named");
    let globex = ctx("globex", Role::Admin);
    let other = call(&hub, &acme, "list_tables", json!({"tenant_id": "globex"}))
        .await
        .expect_err("other tenant");
    assert_eq!(other.kind(), "forbidden");
    for sql in [
        "SELECT * FROM bronze.orders",
        "SELECT * FROM tenant_acme.bronze.orders",
    ] {
        let refused = call(&hub, &globex, "query_sql", json!({"sql": sql}))
            .await
            .expect_err(sql);
        assert_eq!(refused.kind(), "invalid-arguments", "{sql}");
    }
    let described = call(
        &hub,
        &globex,
        "describe_table",
        json!({"table_name": "tenant_acme.bronze.orders"}),
    )
    .await
    .expect_err("not theirs");
    assert_eq!(described.kind(), "not-found");
    let listed = call(&hub, &globex, "list_tables", json!({}))
        .await
        .expect("list");
    assert_eq!(listed["tables"], json!([]));
    // Viewers read; they do not write.
    let viewer = ctx("acme", Role::Viewer);
    call(
        &hub,
        &viewer,
        "query_sql",
        json!({"sql": "SELECT 1 AS one"}),
    )
    .await
    .expect("viewers query");
    let refused = call(
        &hub,
        &viewer,
        "upload_file",
        json!({"file_content": b64(b"a\n1\n"), "file_name": "a.csv", "dataset_name": "a"}),
    )
    .await
    .expect_err("viewers do not upload");
    assert_eq!(refused.kind(), "forbidden");
}

#[tokio::test]
async fn bad_files_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uploads = dir.path().join("uploads");
    std::fs::create_dir_all(&uploads).expect("dir");
    std::fs::write(uploads.join("ok.tsv"), "a\tb\n1\tx\n").expect("file");
    let (hub, _store) = hub(dir.path(), |config| {
        config
            .update_section(
                "lakehouse",
                |lakehouse: &mut crate::toolkits::lakehouse::settings::LakehouseConfig| {
                    lakehouse.upload_dirs = vec![uploads.clone()]
                },
            )
            .expect("lakehouse")
    })
    .await;
    let acme = ctx("acme", Role::Operator);
    for (file, name, why) in [
        (b"a,b\n1,2\n3,4,5\n".to_vec(), "ragged.csv", "ragged"),
        (b"name\nJos\xe9\n".to_vec(), "latin1.csv", "not UTF-8"),
        (
            b"PAR1 garbage".to_vec(),
            "broken.parquet",
            "corrupt Parquet",
        ),
        (
            b"{\"a\": 1}\nnot json\n".to_vec(),
            "bad.jsonl",
            "broken JSON lines",
        ),
        (b"a,b\n1,2\n".to_vec(), "sheet.docx", "unknown format"),
        (fixture("merged.xlsx"), "report.xlsx", "merged cells"),
        (b"PK\x03\x04 no".to_vec(), "broken.xlsx", "not a workbook"),
    ] {
        let refused = call(
            &hub,
            &acme,
            "upload_file",
            json!({"file_content": b64(&file), "file_name": name, "dataset_name": "bad"}),
        )
        .await
        .expect_err(why);
        assert_eq!(refused.kind(), "invalid-arguments", "{why}: {refused}");
    }
    let listed = call(&hub, &acme, "list_tables", json!({}))
        .await
        .expect("list");
    assert_eq!(listed["tables"], json!([]), "nothing half-written");
    assert!(
        !dir.path()
            .join("lake/tenant_acme/bronze/bad/_delta_log")
            .exists()
    );

    // A path outside upload_dirs gets one answer whether or not a file is there, so
    // a caller learns nothing about the host's files.
    let outside = dir.path().join("secret.csv");
    std::fs::write(&outside, "a\n1\n").expect("file");
    let mut answers = Vec::new();
    for path in [
        outside.clone(),
        dir.path().join("missing.csv"),
        uploads.join("../secret.csv"),
        uploads.join("../missing.csv"),
    ] {
        let refused = call(
            &hub,
            &acme,
            "upload_file",
            json!({"path": path.to_string_lossy(), "file_name": "a.csv", "dataset_name": "leak"}),
        )
        .await
        .expect_err("outside");
        answers.push((refused.kind(), refused.to_string()));
    }
    assert!(
        answers.iter().all(|answer| answer == &answers[0]),
        "{answers:?}"
    );
    assert_eq!(answers[0].0, "forbidden");
    // Inside an allowed folder, a missing file is said to be missing.
    let missing = call(&hub, &acme, "upload_file", json!({"path": uploads.join("nope.csv").to_string_lossy(), "file_name": "a.csv", "dataset_name": "x"}))
        .await
        .expect_err("missing");
    assert_eq!(missing.kind(), "invalid-arguments", "{missing}");

    // A workbook's named sheet loads; a sheet name is refused for a CSV.
    let sheet = call(&hub, &acme, "upload_file", json!({"file_content": b64(&fixture("orders.xlsx")), "file_name": "book.xlsx", "sheet": "Regions", "dataset_name": "regions"}))
        .await
        .expect("a sheet");
    assert_eq!(sheet["rows"], 1);
    assert_eq!(sheet["preview"][0]["manager"], "Ada");
    let not_a_book = call(&hub, &acme, "upload_file", json!({"file_content": b64(b"a\n1\n"), "file_name": "a.csv", "sheet": "x", "dataset_name": "x"}))
        .await
        .expect_err("csv has no sheets");
    assert!(not_a_book.to_string().contains("sheet"), "{not_a_book}");

    // Paths: under an allowed folder only.
    let read = call(
        &hub,
        &acme,
        "upload_file",
        json!({"path": uploads.join("ok.tsv"), "file_name": "ok.tsv", "dataset_name": "ok"}),
    )
    .await
    .expect("allowed path");
    assert_eq!(read["rows"], 1);
    let outside = call(
        &hub,
        &acme,
        "upload_file",
        json!({"path": "/etc/hostname", "file_name": "hostname.csv", "dataset_name": "leak"}),
    )
    .await
    .expect_err("outside");
    assert_eq!(outside.kind(), "forbidden");
    let both = call(
        &hub,
        &acme,
        "upload_file",
        json!({"file_name": "x.csv", "dataset_name": "x"}),
    )
    .await
    .expect_err("neither");
    assert_eq!(both.kind(), "invalid-arguments");
    let bad_name = call(&hub, &acme, "upload_file", json!({"file_content": b64(b"a\n1\n"), "file_name": "a.csv", "dataset_name": "Robert'); DROP"}))
        .await
        .expect_err("bad name");
    assert!(bad_name.to_string().contains("dataset_name"), "{bad_name}");
}

#[tokio::test]
async fn maintenance_compacts_small_files_and_vacuums_only_past_the_retention() {
    for retention_hours in [168, 0] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (hub, _store) = hub(dir.path(), |config| {
            config
                .update_section(
                    "lakehouse",
                    |lakehouse: &mut crate::toolkits::lakehouse::settings::LakehouseConfig| {
                        lakehouse.retention_hours = retention_hours
                    },
                )
                .expect("lakehouse")
        })
        .await;
        let acme = ctx("acme", Role::Operator);
        call(&hub, &acme, "upload_file", json!({"file_content": b64(ORDERS.as_bytes()), "file_name": "orders.csv", "dataset_name": "orders"}))
            .await
            .expect("upload");
        for id in 4..7 {
            let row = format!("Order ID,Customer,Amount\n{id},alan,1\n");
            call(&hub, &acme, "upload_file", json!({"file_content": b64(row.as_bytes()), "file_name": "more.csv", "dataset_name": "orders", "mode": "append"}))
                .await
                .expect("append");
        }
        let viewer = ctx("acme", Role::Viewer);
        let refused = call(
            &hub,
            &viewer,
            "maintain_table",
            json!({"table_name": "orders"}),
        )
        .await
        .expect_err("a viewer may not delete old versions");
        assert_eq!(refused.kind(), "forbidden");

        let dry = call(
            &hub,
            &acme,
            "maintain_table",
            json!({"table_name": "orders", "dry_run": true}),
        )
        .await
        .expect("dry run");
        assert_eq!(dry["files_compacted"], 0, "{dry}");
        let done = call(
            &hub,
            &acme,
            "maintain_table",
            json!({"table_name": "orders"}),
        )
        .await
        .expect("maintain");
        assert_eq!(done["retention_hours"], retention_hours);
        assert_eq!(done["files_compacted"], 4, "four one-batch writes: {done}");
        assert_eq!(done["files_written"], 1, "{done}");
        // The compaction is a version of its own (4); the vacuum records its start and
        // end as versions too.
        assert!(
            done["version"].as_u64().is_some_and(|version| version >= 4),
            "{done}"
        );
        if retention_hours == 0 {
            // Every file no current version reads goes: the four small ones.
            assert_eq!(done["files_vacuumed"], 4, "{done}");
        } else {
            assert_eq!(dry["files_vacuumed"], 0, "{dry}");
            assert_eq!(done["files_vacuumed"], 0, "nothing is past a week: {done}");
        }
        let rows = call(
            &hub,
            &acme,
            "query_sql",
            json!({"sql": "SELECT count(*) AS n FROM bronze.orders"}),
        )
        .await
        .expect("query");
        assert_eq!(rows["rows"][0]["n"], 6, "{rows}");
        let parquet_files = std::fs::read_dir(dir.path().join("lake/tenant_acme/bronze/orders"))
            .expect("table folder")
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(".parquet"))
            })
            .count();
        assert_eq!(parquet_files, if retention_hours == 0 { 1 } else { 5 });
    }
}
