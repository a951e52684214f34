//! Streaming writes and merges in the engine: many batches in one commit, a stream
//! that fails half-way leaving the table as it was, an upsert on keys that is
//! idempotent, and the high-water mark an incremental sync reads from.

use std::sync::Arc;

use futures::StreamExt;
use tideway_lakehouse::{
    BatchStream, CursorValue, Lake, LakeError, Layer, QueryLimits, TableRef, WriteMode,
    arrow::{
        array::{Int64Array, StringArray},
        datatypes::{DataType, Field, Schema, SchemaRef},
        record_batch::RecordBatch,
    },
};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("version", DataType::Int64, false),
    ]))
}

fn batch(ids: std::ops::Range<i64>, label: &str, version: i64) -> RecordBatch {
    let n = (ids.end - ids.start) as usize;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(vec![Some(label); n])),
            Arc::new(Int64Array::from(vec![version; n])),
        ],
    )
    .expect("batch")
}

async fn one_row(lake: &Lake, sql: &str) -> serde_json::Map<String, serde_json::Value> {
    lake.query("acme", sql, &QueryLimits::default())
        .await
        .expect(sql)
        .rows
        .remove(0)
}

#[tokio::test]
async fn many_batches_land_in_one_commit_and_a_failed_stream_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    let table = TableRef::new("acme", Layer::Bronze, "events").expect("name");
    // 50 batches of 1,000 rows, produced lazily.
    let batches = futures::stream::iter(0..50).map(|i| Ok(batch(i * 1000..(i + 1) * 1000, "a", 1)));
    let written = lake
        .write_stream(
            &table,
            BatchStream::new(schema(), batches),
            WriteMode::Overwrite,
        )
        .await
        .expect("write");
    assert_eq!(written.rows, 50_000);
    assert_eq!(written.version, 0);
    let counted = one_row(
        &lake,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM bronze.events",
    )
    .await;
    assert_eq!(counted["n"], 50_000);
    assert_eq!(counted["ids"], 50_000);

    // A stream that fails after some batches: no new version, the rows as they were.
    let failing = futures::stream::iter(0..10).map(|i| {
        if i < 5 {
            Ok(batch(i * 10..(i + 1) * 10, "b", 2))
        } else {
            Err(LakeError::Storage("the source went away".into()))
        }
    });
    let error = lake
        .write_stream(
            &table,
            BatchStream::new(schema(), failing),
            WriteMode::Overwrite,
        )
        .await
        .expect_err("the stream failed");
    assert!(
        error.to_string().contains("the source went away"),
        "{error}"
    );
    let info = lake.info(&table).await.expect("info");
    assert_eq!(info.version, 0);
    assert_eq!(
        one_row(&lake, "SELECT count(*) AS n FROM bronze.events").await["n"],
        50_000
    );
}

#[tokio::test]
async fn a_merge_upserts_on_keys_and_running_it_again_changes_no_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    let table = TableRef::new("acme", Layer::Bronze, "items").expect("name");
    lake.write(
        &table,
        schema(),
        vec![batch(0..100, "old", 1)],
        WriteMode::Overwrite,
    )
    .await
    .expect("write");
    assert_eq!(
        lake.max_value(&table, "version").await.expect("mark"),
        Some(CursorValue::Int(1))
    );
    // Rows 90..110: 10 updates, 10 inserts.
    let changes = || BatchStream::from_batches(schema(), vec![batch(90..110, "new", 2)]);
    let merged = lake
        .merge_stream(&table, changes(), &["id".to_string()])
        .await
        .expect("merge");
    assert_eq!((merged.rows, merged.inserted, merged.updated), (20, 10, 10));
    let state = "SELECT count(*) AS n, sum(version) AS v, count(*) FILTER (WHERE label = 'new') AS fresh FROM bronze.items";
    let after = one_row(&lake, state).await;
    assert_eq!(after["n"], 110);
    assert_eq!(after["fresh"], 20);
    let again = lake
        .merge_stream(&table, changes(), &["id".to_string()])
        .await
        .expect("merge again");
    assert_eq!((again.inserted, again.updated), (0, 20));
    assert_eq!(one_row(&lake, state).await, after);
    assert_eq!(
        lake.max_value(&table, "version").await.expect("mark"),
        Some(CursorValue::Int(2))
    );
    assert_eq!(
        lake.max_value(&table, "label").await.expect("mark"),
        Some(CursorValue::Text("old".into()))
    );
    let no_key = lake
        .merge_stream(&table, changes(), &["nope".to_string()])
        .await
        .expect_err("unknown key");
    assert!(no_key.to_string().contains("nope"));
}

#[tokio::test]
async fn an_append_is_converted_to_the_tables_types_or_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    let table = TableRef::new("acme", Layer::Bronze, "prices").expect("name");
    let (schema, batches) =
        tideway_lakehouse::read_file(b"id,price\n1,1.5\n", tideway_lakehouse::FileFormat::Csv)
            .expect("csv");
    lake.write(&table, schema, batches, WriteMode::Overwrite)
        .await
        .expect("write");
    // Whole numbers inferred as integers go into the float column.
    let (schema, batches) =
        tideway_lakehouse::read_file(b"id,price\n2,3\n", tideway_lakehouse::FileFormat::Csv)
            .expect("csv");
    lake.write(&table, schema, batches, WriteMode::Append)
        .await
        .expect("converted");
    assert_eq!(
        one_row(&lake, "SELECT sum(price) AS total FROM bronze.prices").await["total"],
        4.5
    );
    // Text that is not a number, a missing column and an unknown one: refused, unchanged.
    for (csv, why) in [
        (&b"id,price\n3,cheap\n"[..], "do not convert"),
        (&b"id\n4\n"[..], "no column 'price'"),
        (
            &b"id,price,colour\n5,1,red\n"[..],
            "'colour' is not in the table",
        ),
    ] {
        let (schema, batches) =
            tideway_lakehouse::read_file(csv, tideway_lakehouse::FileFormat::Csv).expect("csv");
        let error = lake
            .write(&table, schema, batches, WriteMode::Append)
            .await
            .expect_err(why);
        assert!(error.to_string().contains(why), "{why}: {error}");
    }
    // Batches that are not what their stream declares: refused, not a crash.
    let (float_schema, _) =
        tideway_lakehouse::read_file(b"id,price\n1,1.5\n", tideway_lakehouse::FileFormat::Csv)
            .expect("csv");
    let (_, int_batches) =
        tideway_lakehouse::read_file(b"id,price\n9,9\n", tideway_lakehouse::FileFormat::Csv)
            .expect("csv");
    let mismatch = lake
        .write_stream(
            &table,
            BatchStream::from_batches(float_schema, int_batches),
            WriteMode::Append,
        )
        .await
        .expect_err("mismatched batches");
    assert!(matches!(mismatch, LakeError::Invalid { .. }), "{mismatch}");
    assert_eq!(lake.info(&table).await.expect("info").version, 1);
}
