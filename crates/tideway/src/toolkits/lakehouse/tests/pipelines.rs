//! Data moving through the layers: database tables synced into Bronze (SQLite always;
//! PostgreSQL and MariaDB when the test command started them), full and incremental,
//! idempotent, cancelled without a visible change; Silver transforms planned and run;
//! Gold tables; and the lineage every run leaves.

use std::{str::FromStr, sync::Arc, time::Duration};

use serde_json::{Value, json};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, SqliteConnection};
use tideway_core::{CallContext, Hub, context::Role, store::testing::fresh_postgres_database};
use tokio_util::sync::CancellationToken;

use super::{call, ctx, hub};
use crate::toolkits::testing::RecordedProgress;

async fn sql_count(hub: &Hub, ctx: &CallContext, sql: &str) -> Value {
    let answer = call(hub, ctx, "query_sql", json!({"sql": sql}))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    answer["rows"][0].clone()
}

fn column_type(outcome: &Value, name: &str) -> String {
    outcome["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {outcome}"))["data_type"]
        .as_str()
        .expect("type")
        .to_string()
}

#[tokio::test]
async fn a_sqlite_table_goes_to_bronze_silver_and_gold_with_lineage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source_dir = tempfile::tempdir().expect("source dir");
    let path = source_dir.path().join("shop.db");
    let mut db = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("sqlite");
    db.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email VARCHAR(100), \
         balance REAL, signed_up DATE, updated_at INTEGER NOT NULL);
         INSERT INTO customers VALUES
           (1, 'Ada', '  Ada@Example.COM ', 10.5, '2024-01-02', 100),
           (2, 'Grace', 'grace@example.com', 20.0, '2024-02-03', 100),
           (3, 'Ada again', 'ada@example.com', NULL, '2024-03-04', 150);",
    )
    .await
    .expect("schema");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let admin = ctx("acme", Role::Admin);
    let operator = ctx("acme", Role::Operator);
    hub.call(
        &admin,
        "database",
        "connect_source",
        serde_json::from_value(
            json!({"name": "shop", "kind": "sqlite", "path": path.display().to_string()}),
        )
        .ok(),
    )
    .await
    .expect("source");

    let full = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "shop", "table_name": "customers"}),
    )
    .await
    .expect("full sync");
    assert_eq!(full["table"], "tenant_acme.bronze.customers");
    assert_eq!(full["rows_read"], 3);
    assert_eq!(full["mode"], "full");
    assert_eq!(column_type(&full, "id"), "Int64");
    assert_eq!(column_type(&full, "balance"), "Float64");
    assert_eq!(column_type(&full, "email"), "Utf8");

    // Incremental: a changed row and a new one arrive; the rows at the mark are
    // re-read and merged on the primary key, so nothing is doubled.
    db.execute(
        "UPDATE customers SET balance = 99.0, updated_at = 200 WHERE id = 2;
         INSERT INTO customers VALUES (4, 'Linus', 'linus@example.com', 1.0, '2024-04-05', 200);",
    )
    .await
    .expect("changes");
    let incremental = call(&hub, &operator, "sync_table_to_bronze", json!({"connection_id": "shop", "table_name": "customers", "sync_mode": "incremental", "cursor_column": "updated_at"}))
        .await
        .expect("incremental");
    assert_eq!(incremental["mode"], "incremental");
    assert_eq!(incremental["cursor_from"], 150);
    assert_eq!(incremental["key_columns"], json!(["id"]));
    assert_eq!(incremental["inserted"], 1);
    assert_eq!(incremental["rows_read"], 3, "rows at or past the mark");
    let state = sql_count(&hub, &operator, "SELECT count(*) AS n, sum(balance) AS total, max(updated_at) AS mark FROM bronze.customers").await;
    assert_eq!(state, json!({"n": 4, "total": 110.5, "mark": 200}));
    // Again: the same rows.
    let again = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "shop", "table_name": "customers", "sync_mode": "incremental"}),
    )
    .await
    .expect("idempotent");
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["cursor_column"], "updated_at", "found by name");
    assert_eq!(
        sql_count(&hub, &operator, "SELECT count(*) AS n, sum(balance) AS total, max(updated_at) AS mark FROM bronze.customers").await,
        state
    );

    // A table an upload made is not this source table's: syncing into it is refused,
    // naming the caller's own argument and saying what to do instead.
    call(&hub, &operator, "upload_file", json!({"file_content": super::b64(b"sku,qty\nA,1\n"), "file_name": "stock.csv", "dataset_name": "stock"}))
        .await
        .expect("upload");
    let refused = call(&hub, &operator, "sync_table_to_bronze", json!({"connection_id": "shop", "table_name": "customers", "sync_mode": "incremental", "target_table": "stock"}))
        .await
        .expect_err("another table's shape");
    assert_eq!(refused.kind(), "invalid-arguments", "{refused}");
    let message = refused.to_string();
    assert!(
        message.starts_with("invalid argument 'target_table'")
            && message.contains("sync_mode full"),
        "{message}"
    );

    // Silver: planned first, nothing written by a dry run.
    let steps = json!([
        {"op": "normalize_whitespace", "columns": ["email"]},
        {"op": "lowercase", "columns": ["email"]},
        {"op": "parse_date", "column": "signed_up"},
        {"op": "fill_nulls", "values": {"balance": 0}},
        {"op": "deduplicate", "keys": ["email"], "order_by": "updated_at"},
        {"op": "rename", "columns": {"signed_up": "signed_up_on"}},
        {"op": "select", "columns": ["id", "email", "balance", "signed_up_on"]},
    ]);
    let planned = call(
        &hub,
        &operator,
        "transform_to_silver",
        json!({"bronze_table": "customers", "transformations": steps, "dry_run": true}),
    )
    .await
    .expect("plan");
    assert_eq!(planned["dry_run"], true);
    assert_eq!(planned["plan"]["steps"].as_array().expect("steps").len(), 7);
    assert_eq!(planned["plan"]["target"], "tenant_acme.silver.customers");
    let planned_columns: Vec<&str> = planned["plan"]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(planned_columns, ["id", "email", "balance", "signed_up_on"]);
    assert!(planned["version"].is_null());
    let silver_tables = call(&hub, &operator, "list_tables", json!({"layer": "silver"}))
        .await
        .expect("list");
    assert_eq!(
        silver_tables["tables"],
        json!([]),
        "a dry run writes nothing"
    );

    let ran = call(
        &hub,
        &operator,
        "transform_to_silver",
        json!({"bronze_table": "bronze.customers", "transformations": steps}),
    )
    .await
    .expect("transform");
    assert_eq!(ran["rows"], 3, "the two Ada rows became one");
    let ada = sql_count(&hub, &operator, "SELECT id, email, balance, CAST(signed_up_on AS VARCHAR) AS d FROM silver.customers WHERE email = 'ada@example.com'").await;
    assert_eq!(
        ada,
        json!({"id": 3, "email": "ada@example.com", "balance": 0.0, "d": "2024-03-04"}),
        "the latest by updated_at, the null filled"
    );

    // A step naming a missing column is refused with the step and the columns.
    let typo = call(&hub, &operator, "transform_to_silver", json!({"bronze_table": "customers", "transformations": [{"op": "trim", "columns": ["emial"]}]}))
        .await
        .expect_err("typo");
    assert_eq!(typo.kind(), "invalid-arguments");
    assert!(
        typo.to_string().contains("transformations[0]") && typo.to_string().contains("emial"),
        "{typo}"
    );
    // A cast that fails while running is recorded, and leaves Silver as it was.
    let failed = call(&hub, &operator, "transform_to_silver", json!({"bronze_table": "customers", "transformations": [{"op": "cast", "columns": {"name": "int"}}]}))
        .await
        .expect_err("bad cast");
    assert!(
        failed.to_string().to_lowercase().contains("cast"),
        "{failed}"
    );
    let silver = call(&hub, &operator, "list_tables", json!({"layer": "silver"}))
        .await
        .expect("list");
    assert_eq!(silver["tables"][0]["version"], 0);

    // Gold.
    let gold = call(&hub, &operator, "create_gold_table", json!({"table_name": "summary", "sql": "SELECT count(*) AS customers, sum(balance) AS balance FROM silver.customers"}))
        .await
        .expect("gold");
    assert_eq!(gold["rows"], 1);
    assert_eq!(gold["sources"], json!(["silver.customers"]));
    let unnamed = call(
        &hub,
        &operator,
        "create_gold_table",
        json!({"table_name": "bad", "sql": "SELECT count(*) FROM silver.customers"}),
    )
    .await
    .expect_err("unnamed column");
    assert!(unnamed.to_string().contains("AS name"), "{unnamed}");
    let write = call(
        &hub,
        &operator,
        "create_gold_table",
        json!({"table_name": "bad", "sql": "DROP TABLE silver.customers"}),
    )
    .await
    .expect_err("not a read");
    assert_eq!(write.kind(), "invalid-arguments");

    // Lineage, both ways.
    let bronze = call(
        &hub,
        &operator,
        "table_lineage",
        json!({"table_name": "customers"}),
    )
    .await
    .expect("lineage");
    assert_eq!(bronze["upstream"], json!(["datasource://shop/customers"]));
    assert_eq!(bronze["downstream"], json!(["silver.customers"]));
    assert_eq!(bronze["runs"].as_array().expect("runs").len(), 3);
    assert_eq!(bronze["runs"][2]["detail"]["sync_mode"], "full");
    assert_eq!(
        bronze["runs"][0]["rows"], 2,
        "the last run read the rows at its mark"
    );
    let silver = call(
        &hub,
        &operator,
        "table_lineage",
        json!({"table_name": "silver.customers"}),
    )
    .await
    .expect("lineage");
    assert_eq!(silver["upstream"], json!(["bronze.customers"]));
    assert_eq!(silver["downstream"], json!(["gold.summary"]));
    assert_eq!(silver["runs"][0]["outcome"], "failed");
    assert_eq!(silver["runs"][1]["outcome"], "ok");

    // Another tenant sees neither the source nor the lineage.
    let globex = ctx("globex", Role::Operator);
    let other = call(
        &hub,
        &globex,
        "sync_table_to_bronze",
        json!({"connection_id": "shop", "table_name": "customers"}),
    )
    .await
    .expect_err("not globex's source");
    assert_eq!(other.kind(), "not-found");
    let none = call(
        &hub,
        &globex,
        "table_lineage",
        json!({"table_name": "customers"}),
    )
    .await
    .expect("lineage");
    assert_eq!(none["runs"], json!([]));
    // A viewer may read but not sync.
    let viewer = ctx("acme", Role::Viewer);
    let refused = call(
        &hub,
        &viewer,
        "sync_table_to_bronze",
        json!({"connection_id": "shop", "table_name": "customers"}),
    )
    .await
    .expect_err("viewer");
    assert_eq!(refused.kind(), "forbidden");
    db.close().await.expect("close");
}

const PG_ORDERS: &str = "
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(12,2),
    qty integer,
    ratio double precision,
    paid boolean,
    ordered_on date,
    updated_at timestamptz NOT NULL,
    created_local timestamp,
    ref uuid,
    meta jsonb,
    tags text[],
    scores integer[],
    note varchar(40),
    total numeric
);
INSERT INTO orders
SELECT g, 'c' || (g % 100), (g % 1000) / 4.0, g % 7, g / 3.0, g % 2 = 0,
       DATE '2024-01-01' + (g % 365),
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second',
       TIMESTAMP '2024-06-01 12:30:00.123456',
       md5(g::text)::uuid, jsonb_build_object('g', g), ARRAY['a', 'b' || g], ARRAY[g::int, g::int + 1],
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'n' || g END, g * 1.5
FROM generate_series(1, 40000) g;
";

/// What PostgreSQL itself says the table holds, as text for exact comparison.
async fn pg_state(db: &mut PgConnection) -> (i64, String, i64) {
    sqlx::query_as("SELECT count(*), sum(amount)::text, count(note) FROM orders")
        .fetch_one(db)
        .await
        .expect("state")
}

async fn bronze_state(hub: &Hub, ctx: &CallContext, table: &str) -> (i64, String, i64) {
    let row = sql_count(
        hub,
        ctx,
        &format!("SELECT count(*) AS n, CAST(sum(amount) AS VARCHAR) AS amount, count(note) AS notes FROM bronze.{table}"),
    )
    .await;
    (
        row["n"].as_i64().expect("n"),
        row["amount"].as_str().unwrap_or_default().to_string(),
        row["notes"].as_i64().expect("notes"),
    )
}

#[tokio::test]
async fn a_postgres_table_syncs_with_its_types_incrementally_and_cancels_cleanly() {
    let Ok(admin_url) = std::env::var("TIDEWAY_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("TIDEWAY_REQUIRE_POSTGRES").is_err(),
            "TIDEWAY_REQUIRE_POSTGRES is set but TIDEWAY_TEST_POSTGRES_URL is not"
        );
        return;
    };
    let url = fresh_postgres_database(&admin_url).await;
    let mut db = PgConnection::connect(&url).await.expect("postgres");
    db.execute(PG_ORDERS).await.expect("schema");
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).expect("url");
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let admin = ctx("acme", Role::Admin);
    let operator = ctx("acme", Role::Operator);
    hub.call(
        &admin,
        "database",
        "connect_source",
        serde_json::from_value(json!({"name": "pg", "kind": "postgres",
            "host": options.get_host(), "port": options.get_port(),
            "database": options.get_database(), "user": options.get_username(),
            "ssl_mode": "disable", "allow_privileged_role": true}))
        .ok(),
    )
    .await
    .expect("source");

    let full = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "pg", "table_name": "public.orders"}),
    )
    .await
    .expect("full sync");
    assert_eq!(full["rows_read"], 40000);
    for (column, expected) in [
        ("amount", "Decimal128(12, 2)"),
        ("qty", "Int32"),
        ("ratio", "Float64"),
        ("paid", "Boolean"),
        ("ordered_on", "Date32"),
        ("updated_at", "Timestamp(µs, \"UTC\")"),
        ("created_local", "Timestamp(µs)"),
        ("ref", "Utf8"),
        ("meta", "Utf8"),
        ("tags", "List(Utf8)"),
        ("scores", "List(Int32)"),
        ("total", "Decimal128(38, 9)"),
    ] {
        let found = column_type(&full, column);
        // Arrow's spelling of types moved between versions; compare without it.
        let plain = |t: &str| {
            t.replace("Microsecond", "µs")
                .replace(", None", "")
                .replace("Some(", "")
                .replace(')', "")
                .replace("Field { name: \"element\", data_type: ", "")
                .replace(['(', ' '], "")
                .replace(",field:'element'", "")
        };
        assert_eq!(plain(&found), plain(expected), "{column}: {found}");
    }
    assert_eq!(
        bronze_state(&hub, &operator, "orders").await,
        pg_state(&mut db).await
    );
    let (reference,): (String,) = sqlx::query_as("SELECT ref::text FROM orders WHERE id = 7")
        .fetch_one(&mut db)
        .await
        .expect("ref");
    // An aggregate over every numeric type the sync maps, the unconstrained
    // numeric included, matches PostgreSQL's own.
    let sums = sql_count(
        &hub,
        &operator,
        "SELECT CAST(sum(amount) AS VARCHAR) AS amount, sum(qty) AS qty, sum(ratio) AS ratio, \
         CAST(sum(total) AS VARCHAR) AS total FROM bronze.orders",
    )
    .await;
    let (amount, qty, total): (String, i64, String) = sqlx::query_as(
        "SELECT sum(amount)::text, sum(qty)::bigint, sum(total)::numeric(38,9)::text FROM orders",
    )
    .fetch_one(&mut db)
    .await
    .expect("sums");
    assert_eq!(sums["amount"], amount);
    assert_eq!(sums["qty"], qty);
    assert_eq!(sums["total"], total);
    assert!(
        sums["ratio"].as_f64().is_some_and(|ratio| ratio > 0.0),
        "{sums}"
    );
    let seven = sql_count(&hub, &operator, "SELECT ref, meta, tags, scores, CAST(amount AS VARCHAR) AS amount, CAST(updated_at AS VARCHAR) AS at, CAST(total AS VARCHAR) AS total FROM bronze.orders WHERE id = 7").await;
    assert_eq!(seven["ref"], reference);
    assert_eq!(seven["meta"], "{\"g\": 7}");
    assert_eq!(seven["tags"], json!(["a", "b7"]));
    assert_eq!(seven["scores"], json!([7, 8]));
    assert_eq!(seven["amount"], "1.75");
    assert_eq!(seven["total"], "10.500000000");
    assert!(
        seven["at"]
            .as_str()
            .expect("at")
            .starts_with("2024-01-01T00:00:07"),
        "{seven}"
    );

    // Changes and new rows, then an incremental sync by updated_at on the key.
    db.execute(
        "UPDATE orders SET amount = 1.00, updated_at = TIMESTAMPTZ '2025-01-01 00:00:00+00' WHERE id <= 10;
         INSERT INTO orders (id, customer, amount, updated_at) SELECT g, 'new', 2.50, TIMESTAMPTZ '2025-01-02 00:00:00+00' FROM generate_series(40001, 40005) g;",
    )
    .await
    .expect("changes");
    let incremental = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "pg", "table_name": "orders", "sync_mode": "incremental"}),
    )
    .await
    .expect("incremental");
    assert_eq!(incremental["inserted"], 5);
    assert_eq!(
        incremental["updated"], 11,
        "ten changed rows and the one at the old mark"
    );
    assert_eq!(
        bronze_state(&hub, &operator, "orders").await,
        pg_state(&mut db).await
    );
    let again = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "pg", "table_name": "orders", "sync_mode": "incremental"}),
    )
    .await
    .expect("again");
    assert_eq!(again["inserted"], 0);
    assert_eq!(
        bronze_state(&hub, &operator, "orders").await,
        pg_state(&mut db).await
    );
    let version_before = again["version"].as_u64().expect("version");

    // Progress: a source paced by a view that sleeps now and then (about two seconds
    // in all) reports rows so far, rising.
    db.execute(
        "CREATE VIEW paced_orders AS SELECT o.* FROM orders o \
         WHERE CASE WHEN o.id % 400 = 0 THEN pg_sleep(0.02)::text = '' ELSE true END",
    )
    .await
    .expect("view");
    let watcher = Arc::new(RecordedProgress::default());
    let watched = ctx("acme", Role::Operator).with_client(watcher.clone());
    let paced = call(
        &hub,
        &watched,
        "sync_table_to_bronze",
        json!({"connection_id": "pg", "table_name": "paced_orders", "target_table": "paced"}),
    )
    .await
    .expect("paced sync");
    assert_eq!(paced["rows_read"], 40005);
    let reports = watcher.reports();
    assert!(!reports.is_empty(), "progress was reported");
    assert!(
        reports.windows(2).all(|w| w[0].0 < w[1].0),
        "rising: {reports:?}"
    );
    assert!(
        reports
            .iter()
            .all(|(rows, _, message)| *rows <= 40005.0 && message.ends_with("rows read")),
        "{reports:?}"
    );

    // Cancelled while the source query runs (a view that sleeps a little per row): the
    // call ends, the server's query ends, and the table is as it was.
    db.execute(
        "CREATE VIEW slow_orders AS SELECT o.* FROM orders o WHERE pg_sleep(0.005)::text = ''",
    )
    .await
    .expect("view");
    let cancel = CancellationToken::new();
    let cancelled_ctx = ctx("acme", Role::Operator).with_cancellation(cancel.clone());
    let sync = {
        let hub = hub.clone();
        tokio::spawn(async move {
            call(&hub, &cancelled_ctx, "sync_table_to_bronze", json!({"connection_id": "pg", "table_name": "slow_orders", "target_table": "orders"})).await
        })
    };
    let running = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tideway' AND wait_event = 'PgSleep'";
    let mut seen_running = false;
    for _ in 0..100 {
        let (n,): (i64,) = sqlx::query_as(running)
            .fetch_one(&mut db)
            .await
            .expect("activity");
        if n > 0 {
            seen_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !seen_running {
        let finished = tokio::time::timeout(Duration::from_secs(1), sync).await;
        panic!("the sync's query never ran: {finished:?}");
    }
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(10), sync)
        .await
        .expect("the call ends")
        .expect("join");
    assert_eq!(outcome.expect_err("cancelled").kind(), "cancelled");
    let mut ended = false;
    for _ in 0..100 {
        let (n,): (i64,) = sqlx::query_as(running)
            .fetch_one(&mut db)
            .await
            .expect("activity");
        if n == 0 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ended, "the server's query ended with the call");
    let tables = call(&hub, &operator, "list_tables", json!({"layer": "bronze"}))
        .await
        .expect("list");
    assert_eq!(
        tables["tables"][0]["version"], version_before,
        "no new version"
    );
    assert_eq!(
        bronze_state(&hub, &operator, "orders").await,
        pg_state(&mut db).await
    );
    // The cancelled run is recorded too (by the dropped call, in the background).
    let mut lineage = Value::Null;
    for _ in 0..50 {
        lineage = call(
            &hub,
            &operator,
            "table_lineage",
            json!({"table_name": "orders"}),
        )
        .await
        .expect("lineage");
        if lineage["runs"]
            .as_array()
            .is_some_and(|runs| runs.len() == 4)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        lineage["runs"].as_array().expect("runs").len(),
        4,
        "{lineage}"
    );
    assert_eq!(lineage["runs"][0]["outcome"], "failed");
    assert!(
        lineage["runs"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing was committed"))
    );
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_mariadb_table_syncs_with_its_types() {
    let Ok(admin_url) = std::env::var("TIDEWAY_TEST_MYSQL_URL") else {
        assert!(
            std::env::var("TIDEWAY_REQUIRE_MYSQL").is_err(),
            "TIDEWAY_REQUIRE_MYSQL is set but TIDEWAY_TEST_MYSQL_URL is not"
        );
        return;
    };
    let mut admin = MySqlConnection::connect(&admin_url).await.expect("mysql");
    let name = format!("tideway_l_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    let url = format!("{base}/{name}");
    let mut db = MySqlConnection::connect(&url).await.expect("mysql");
    db.execute(
        "CREATE TABLE items (id BIGINT UNSIGNED PRIMARY KEY, flag TINYINT(1), price DECIMAL(10,2), \
         weight FLOAT, made DATETIME(6), seen TIMESTAMP NULL, info JSON, label VARCHAR(20), qty INT);
         INSERT INTO items VALUES
           (18446744073709551615, 1, 12.34, 1.5, '2024-05-06 07:08:09.123456', '2024-05-06 07:08:09', '{\"k\": 1}', 'big', 3),
           (1, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await
    .expect("schema");
    let options = sqlx::mysql::MySqlConnectOptions::from_str(&url).expect("url");
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(credentials, _)| credentials.split_once(':'))
        .map(|(_, password)| password.to_string())
        .unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, _store) = hub(dir.path(), |_| {}).await;
    let admin_ctx = ctx("acme", Role::Admin);
    let operator = ctx("acme", Role::Operator);
    hub.call(
        &admin_ctx,
        "database",
        "connect_source",
        serde_json::from_value(json!({"name": "maria", "kind": "mysql",
            "host": options.get_host(), "port": options.get_port(),
            "database": options.get_database(), "user": options.get_username(),
            "password": password, "ssl_mode": "disable", "allow_privileged_role": true}))
        .ok(),
    )
    .await
    .expect("source");
    let synced = call(
        &hub,
        &operator,
        "sync_table_to_bronze",
        json!({"connection_id": "maria", "table_name": "items"}),
    )
    .await
    .expect("sync");
    assert_eq!(synced["rows_read"], 2);
    assert_eq!(column_type(&synced, "flag"), "Boolean");
    assert_eq!(column_type(&synced, "price"), "Decimal128(10, 2)");
    assert!(
        column_type(&synced, "id").starts_with("Decimal128(20"),
        "unsigned bigint kept exact"
    );
    let big = sql_count(&hub, &operator, "SELECT CAST(id AS VARCHAR) AS id, flag, CAST(price AS VARCHAR) AS price, weight, CAST(made AS VARCHAR) AS made, info, label, qty FROM bronze.items WHERE label = 'big'").await;
    assert_eq!(big["id"], "18446744073709551615");
    assert_eq!(big["flag"], true);
    assert_eq!(big["price"], "12.34");
    assert_eq!(big["weight"], 1.5);
    assert_eq!(big["made"], "2024-05-06T07:08:09.123456");
    assert_eq!(big["info"], "{\"k\": 1}");
    assert_eq!(big["qty"], 3);
    let empty = sql_count(&hub, &operator, "SELECT count(*) AS n FROM bronze.items WHERE price IS NULL AND made IS NULL AND info IS NULL").await;
    assert_eq!(empty["n"], 1, "nulls stay null");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("drop");
}
