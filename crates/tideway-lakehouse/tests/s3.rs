//! The lakehouse on an S3-compatible server the test command starts (moto's server,
//! from PyPI): tables written, appended, merged, listed, described and queried under
//! `s3://bucket/prefix`, exactly as on a local folder. Skipped when no server was
//! started, unless `TIDEWAY_REQUIRE_S3` says one must be.

use std::collections::HashMap;

use tideway_lakehouse::{
    BatchStream, FileFormat, Lake, Layer, QueryLimits, TableRef, WriteMode, read_file,
};

fn s3_lake() -> Option<Lake> {
    let Ok(endpoint) = std::env::var("TIDEWAY_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("TIDEWAY_REQUIRE_S3").is_err(),
            "TIDEWAY_REQUIRE_S3 is set but TIDEWAY_TEST_S3_ENDPOINT is not"
        );
        return None;
    };
    let bucket = std::env::var("TIDEWAY_TEST_S3_BUCKET").unwrap_or_else(|_| "tideway-test".into());
    // A prefix of its own, so tests running side by side never meet.
    let prefix = format!("lake-{}", std::process::id())
        + &format!("-{:?}", std::thread::current().id()).replace(['(', ')', ' '], "");
    let root = url::Url::parse(&format!("s3://{bucket}/{prefix}/")).expect("url");
    let options = HashMap::from([
        ("aws_endpoint".to_string(), endpoint),
        ("aws_allow_http".to_string(), "true".to_string()),
        ("aws_region".to_string(), "us-east-1".to_string()),
        ("aws_access_key_id".to_string(), "tideway".to_string()),
        (
            "aws_secret_access_key".to_string(),
            "tideway-secret".to_string(),
        ),
    ]);
    Some(Lake::at(root, options).expect("s3 lake"))
}

#[tokio::test]
async fn tables_on_s3_behave_as_on_a_folder() {
    let Some(lake) = s3_lake() else { return };
    let table = TableRef::new("acme", Layer::Bronze, "orders").expect("name");
    let (schema, batches) = read_file(
        b"id,customer,amount\n1,ada,10.5\n2,grace,20\n3,ada,5.25\n",
        FileFormat::Csv,
    )
    .expect("csv");
    let written = lake
        .write(&table, schema.clone(), batches, WriteMode::Overwrite)
        .await
        .expect("write to s3");
    assert_eq!((written.rows, written.version), (3, 0));
    // Whole numbers are read as integers; the append converts them to the table's type.
    let (more_schema, more) =
        read_file(b"id,customer,amount\n4,linus,1\n", FileFormat::Csv).expect("csv");
    lake.write(&table, more_schema, more, WriteMode::Append)
        .await
        .expect("append");
    let (change_schema, change) =
        read_file(b"id,customer,amount\n1,ada,99\n5,ken,2\n", FileFormat::Csv).expect("csv");
    let merged = lake
        .merge_stream(
            &table,
            BatchStream::from_batches(change_schema, change),
            &["id".to_string()],
        )
        .await
        .expect("merge");
    assert_eq!((merged.inserted, merged.updated, merged.version), (1, 1, 2));

    let listed = lake.list("acme", None).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 2);
    assert!(listed[0].files >= 1);
    let rows = lake
        .query(
            "acme",
            "SELECT count(*) AS n, sum(amount) AS total FROM bronze.orders",
            &QueryLimits::default(),
        )
        .await
        .expect("query")
        .rows;
    assert_eq!(rows[0]["n"], 5);
    assert_eq!(rows[0]["total"], 127.25);
    let described = lake.describe(&table, 2).await.expect("describe");
    assert_eq!(described.rows, 5);
    let history = lake.history(&table, 10).await.expect("history");
    assert_eq!(history.len(), 3);
    // Another tenant under the same root sees nothing.
    assert!(lake.list("globex", None).await.expect("list").is_empty());
}
