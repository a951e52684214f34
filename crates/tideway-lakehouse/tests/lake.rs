//! The lakehouse engine on a local folder: files into Bronze, tables listed and
//! described, SQL that only reads, row caps, time travel by version, history, and one
//! tenant never reaching another's tables.

use std::collections::HashMap;

use tideway_lakehouse::{
    FileFormat, Lake, LakeError, Layer, QueryLimits, TableRef, WriteMode, read_file,
};

const ORDERS: &[u8] = b"Order ID,Customer,Amount,Placed\n\
1,ada,10.5,2026-01-02\n2,grace,20.0,2026-01-03\n3,ada,5.25,2026-01-04\n";

async fn lake_with_orders() -> (tempfile::TempDir, Lake, TableRef) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let table = TableRef::new("acme", Layer::Bronze, "orders").expect("name");
    let (schema, batches) = read_file(ORDERS, FileFormat::Csv).expect("csv");
    let written = lake
        .write(&table, schema, batches, WriteMode::Overwrite)
        .await
        .expect("write");
    assert_eq!(written.rows, 3);
    assert_eq!(written.version, 0);
    (dir, lake, table)
}

fn limits() -> QueryLimits {
    QueryLimits::default()
}

#[tokio::test]
async fn a_file_becomes_a_bronze_table_that_sql_reads() {
    let (_dir, lake, _) = lake_with_orders().await;
    let tables = lake.list("acme", None).await.expect("list");
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].full_name, "tenant_acme.bronze.orders");
    assert!(tables[0].files >= 1 && tables[0].size_bytes > 0);
    let columns: Vec<&str> = tables[0].columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["order_id", "customer", "amount", "placed"]);

    for sql in [
        "SELECT customer, SUM(amount) AS total FROM bronze.orders GROUP BY customer ORDER BY customer",
        "SELECT customer, SUM(amount) AS total FROM orders GROUP BY customer ORDER BY customer",
        "SELECT customer, SUM(amount) AS total FROM tenant_acme.bronze.orders GROUP BY customer ORDER BY customer",
    ] {
        let result = lake.query("acme", sql, &limits()).await.expect(sql);
        assert_eq!(result.rows.len(), 2, "{sql}");
        assert_eq!(result.rows[0]["customer"], "ada");
        assert_eq!(result.rows[0]["total"], 15.75);
        assert_eq!(result.columns[1].name, "total");
        assert!(!result.truncated);
    }
    let capped = lake
        .query(
            "acme",
            "SELECT * FROM bronze.orders ORDER BY order_id",
            &QueryLimits {
                max_rows: 2,
                ..limits()
            },
        )
        .await
        .expect("capped");
    assert_eq!(capped.rows.len(), 2);
    assert!(capped.truncated);
    let exact = lake
        .query(
            "acme",
            "SELECT * FROM bronze.orders",
            &QueryLimits {
                max_rows: 3,
                ..limits()
            },
        )
        .await
        .expect("exact");
    assert!(!exact.truncated);
}

#[tokio::test]
async fn an_answer_stops_at_its_byte_cap_and_says_so() {
    let (_dir, lake, _) = lake_with_orders().await;
    let sql = "SELECT value, repeat('x', 1000) AS wide FROM range(100000)";
    let capped = lake
        .query(
            "acme",
            sql,
            &QueryLimits {
                max_rows: 100_000,
                max_result_bytes: 50_000,
                ..limits()
            },
        )
        .await
        .expect("capped");
    assert!(capped.truncated);
    assert!(
        (40..50).contains(&capped.rows.len()),
        "{} rows of about 1 KB under a 50 KB cap",
        capped.rows.len()
    );
    assert_eq!(capped.rows[0]["wide"].as_str().map(str::len), Some(1000));
    // A value past the lakehouse's value limit is refused, not answered.
    let error = lake
        .query("acme", "SELECT repeat('x', 1000000000) AS huge", &limits())
        .await
        .expect_err("a 1 GB value");
    assert!(error.to_string().contains("limit of"), "{error}");
}

#[tokio::test]
async fn only_one_read_only_statement_is_accepted() {
    let (_dir, lake, _) = lake_with_orders().await;
    for sql in [
        "INSERT INTO bronze.orders VALUES (4, 'x', 1.0, '2026-01-01')",
        "CREATE TABLE bronze.copy AS SELECT * FROM bronze.orders",
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'",
        "DROP TABLE bronze.orders",
        "SET datafusion.execution.batch_size = 1",
        "COPY (SELECT 1) TO '/tmp/tideway-lake-escape.csv'",
        "SELECT 1; SELECT 2",
        "DELETE FROM bronze.orders",
    ] {
        let refused = lake.query("acme", sql, &limits()).await;
        assert!(
            matches!(refused, Err(LakeError::Sql(_))),
            "{sql} was not refused: {refused:?}"
        );
    }
    assert!(!std::path::Path::new("/tmp/tideway-lake-escape.csv").exists());
    let still = lake
        .query("acme", "SELECT COUNT(*) AS n FROM bronze.orders", &limits())
        .await
        .expect("count");
    assert_eq!(still.rows[0]["n"], 3);
}

#[tokio::test]
async fn another_tenants_tables_cannot_be_named() {
    let (_dir, lake, _) = lake_with_orders().await;
    for sql in [
        "SELECT * FROM bronze.orders",
        "SELECT * FROM tenant_acme.bronze.orders",
        "SELECT * FROM orders",
    ] {
        let refused = lake.query("globex", sql, &limits()).await;
        assert!(
            matches!(refused, Err(LakeError::Sql(_))),
            "{sql}: {refused:?}"
        );
    }
    assert!(lake.list("globex", None).await.expect("list").is_empty());
    assert!(
        lake.list("../acme", None).await.is_err(),
        "tenant ids are checked"
    );
}

#[tokio::test]
async fn every_write_is_a_version_that_can_be_read_back() {
    let (_dir, lake, table) = lake_with_orders().await;
    let (schema, batches) = read_file(
        b"Order ID,Customer,Amount,Placed\n9,alan,99.0,2026-02-01\n",
        FileFormat::Csv,
    )
    .expect("csv");
    let appended = lake
        .write(&table, schema.clone(), batches.clone(), WriteMode::Append)
        .await
        .expect("append");
    assert_eq!(appended.version, 1);
    let replaced = lake
        .write(&table, schema, batches, WriteMode::Overwrite)
        .await
        .expect("overwrite");
    assert_eq!(replaced.version, 2);

    let count = |version: Option<u64>| {
        let lake = lake.clone();
        async move {
            let mut versions = HashMap::new();
            if let Some(version) = version {
                versions.insert("bronze.orders".to_string(), version);
            }
            let result = lake
                .query(
                    "acme",
                    "SELECT COUNT(*) AS n FROM bronze.orders",
                    &QueryLimits {
                        versions,
                        ..limits()
                    },
                )
                .await
                .expect("count");
            result.rows[0]["n"].as_i64().expect("number")
        }
    };
    assert_eq!(count(None).await, 1);
    assert_eq!(count(Some(0)).await, 3);
    assert_eq!(count(Some(1)).await, 4);
    let history = lake.history(&table, 10).await.expect("history");
    let versions: Vec<Option<u64>> = history.iter().map(|c| c.version).collect();
    assert_eq!(versions, [Some(2), Some(1), Some(0)]);
    assert!(
        history[0]
            .operation
            .as_deref()
            .is_some_and(|op| op.contains("WRITE")),
        "{history:?}"
    );

    let missing = lake
        .query(
            "acme",
            "SELECT 1",
            &QueryLimits {
                versions: HashMap::from([("bronze.orders".into(), 7)]),
                ..limits()
            },
        )
        .await;
    assert!(
        matches!(missing, Err(LakeError::Invalid { .. })),
        "{missing:?}"
    );
    let unknown = lake
        .query(
            "acme",
            "SELECT 1",
            &QueryLimits {
                versions: HashMap::from([("silver.nothing".into(), 0)]),
                ..limits()
            },
        )
        .await;
    assert!(
        matches!(unknown, Err(LakeError::Invalid { .. })),
        "{unknown:?}"
    );
    // An append that does not fit the table's columns is refused and changes nothing.
    let (other, batches) = read_file(b"x\n1\n", FileFormat::Csv).expect("csv");
    assert!(
        lake.write(&table, other, batches, WriteMode::Append)
            .await
            .is_err()
    );
    assert_eq!(count(None).await, 1);
}

#[tokio::test]
async fn a_description_has_statistics_and_a_sample() {
    let (_dir, lake, table) = lake_with_orders().await;
    let described = lake.describe(&table, 2).await.expect("describe");
    assert_eq!(described.rows, 3);
    assert_eq!(described.sample.len(), 2);
    let customer = described
        .column_stats
        .iter()
        .find(|c| c.name == "customer")
        .expect("customer");
    assert_eq!(customer.distinct_estimate, Some(2));
    assert_eq!(customer.min, Some(serde_json::json!("ada")));
    assert_eq!(customer.max, Some(serde_json::json!("grace")));
    assert_eq!(customer.null_count, 0);
    let missing = lake
        .describe(
            &TableRef::new("acme", Layer::Silver, "nothing").expect("name"),
            2,
        )
        .await;
    assert!(
        matches!(missing, Err(LakeError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_excel_sheet_becomes_a_table_and_merged_cells_are_refused() {
    let workbook = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/orders.xlsx"
    ))
    .expect("fixture");
    assert_eq!(
        FileFormat::from_name("Orders.XLSX"),
        Some(FileFormat::Excel)
    );
    let (schema, batches) = read_file(&workbook, FileFormat::Excel).expect("first sheet");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["order_id", "customer", "amount", "paid", "placed", "note"]
    );
    let type_of = |name: &str| {
        schema
            .field_with_name(name)
            .map(|f| f.data_type().to_string())
            .unwrap_or_default()
    };
    assert_eq!(type_of("order_id"), "Int64", "whole numbers");
    assert_eq!(type_of("amount"), "Float64", "whole and fractional numbers");
    assert_eq!(type_of("paid"), "Boolean");
    assert!(
        type_of("placed").starts_with("Timestamp"),
        "{}",
        type_of("placed")
    );
    assert_eq!(type_of("note"), "Utf8");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    let table = TableRef::new("acme", Layer::Bronze, "orders").expect("name");
    lake.write(&table, schema, batches, WriteMode::Overwrite)
        .await
        .expect("write");
    let rows = lake
        .query(
            "acme",
            "SELECT sum(amount) AS total, count(*) FILTER (WHERE paid) AS paid, CAST(max(placed) AS VARCHAR) AS last, max(note) AS note FROM bronze.orders",
            &limits(),
        )
        .await
        .expect("query")
        .rows;
    assert_eq!(rows[0]["total"], 35.75);
    assert_eq!(rows[0]["paid"], 2);
    assert_eq!(rows[0]["last"], "2026-01-04T00:00:00");
    assert_eq!(
        rows[0]["note"], "first",
        "a column of mixed text and numbers is text"
    );

    let (regions, _) =
        tideway_lakehouse::read_sheet(&workbook, Some("Regions")).expect("named sheet");
    assert_eq!(regions.field(0).name(), "region");
    let missing =
        tideway_lakehouse::read_sheet(&workbook, Some("Nope")).expect_err("no such sheet");
    assert!(missing.to_string().contains("Orders, Regions"), "{missing}");
    let merged = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/merged.xlsx"
    ))
    .expect("fixture");
    let refused = read_file(&merged, FileFormat::Excel).expect_err("merged cells");
    assert!(
        refused.to_string().contains("merged cells (A2:A3)"),
        "{refused}"
    );
    let broken = read_file(b"PK\x03\x04 not a workbook", FileFormat::Excel).expect_err("broken");
    assert!(broken.to_string().contains(".xlsx"), "{broken}");
}
