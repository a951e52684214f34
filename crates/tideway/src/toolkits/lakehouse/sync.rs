//! Copying a table from a database source into Bronze. The source's catalog says each
//! column's type; that picks an Arrow type and, where the driver has no exact
//! decoding, a cast in the SELECT (numerics as text parsed into decimals, UUID and
//! JSON as text). Rows stream from one dedicated connection, inside a read-only
//! snapshot transaction, into Arrow batches that the Delta writer turns into Parquet
//! as they come: memory is bounded by a few batches whatever the table's size. The
//! table changes in one commit, so a failed or cancelled sync leaves nothing visible.
//!
//! Incremental syncs read only rows whose cursor column (`updated_at`, an increasing
//! key) is at or past the greatest value already in Bronze, and merge them on the key
//! columns: running one twice leaves the same rows. Without key columns, rows past
//! the cursor are appended. Rows deleted at the source are not seen by an incremental
//! sync; a full sync replaces the table.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Row, SqlSafeStr};
use tideway_core::CallContext;
use tideway_lakehouse::{
    BatchStream, CursorValue, LakeError,
    arrow::{
        array::{
            ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder,
            Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
            Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
        },
        datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit},
        record_batch::RecordBatch,
    },
};

use crate::toolkits::database::{
    model::{SourceKind, TableDescription},
    pools::Target,
    service::Source,
};

/// Rows per record batch: large enough for Parquet to compress well, small enough
/// that a few in flight stay in the tens of megabytes.
pub const BATCH_ROWS: usize = 16_384;

/// How a column is read and what it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    /// Read as text, parsed exactly.
    Decimal {
        precision: u8,
        scale: i8,
    },
    Text,
    Binary,
    Date,
    Timestamp,
    TimestampTz,
    ListI32,
    ListI64,
    ListF64,
    ListText,
    ListBool,
}

fn element(item: DataType) -> Arc<Field> {
    Arc::new(Field::new("element", item, true))
}

impl Kind {
    fn data_type(self) -> DataType {
        let list = |item: DataType| DataType::List(element(item));
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::I16 => DataType::Int16,
            Kind::I32 => DataType::Int32,
            Kind::I64 => DataType::Int64,
            Kind::F32 => DataType::Float32,
            Kind::F64 => DataType::Float64,
            Kind::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            Kind::Text => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::ListI32 => list(DataType::Int32),
            Kind::ListI64 => list(DataType::Int64),
            Kind::ListF64 => list(DataType::Float64),
            Kind::ListText => list(DataType::Utf8),
            Kind::ListBool => list(DataType::Boolean),
        }
    }
}

/// One source column as the sync reads it.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    /// The column's name in the source.
    pub source: String,
    /// Its name in Bronze: a lower-case identifier.
    pub target: String,
    pub source_type: String,
    pub kind: Kind,
    /// What the SELECT lists for it.
    pub select: String,
}

fn quote(kind: SourceKind, name: &str) -> String {
    match kind {
        SourceKind::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// What a PostgreSQL `numeric` without precision and scale becomes.
pub const UNCONSTRAINED_NUMERIC: Kind = Kind::Decimal {
    precision: 38,
    scale: 9,
};

/// `numeric(12,2)` → (12, 2); precision over 38 does not fit a Delta decimal.
fn precision_scale(type_name: &str) -> Option<(u8, i8)> {
    let inner = type_name.split_once('(')?.1.split_once(')')?.0;
    let (precision, scale) = match inner.split_once(',') {
        Some((p, s)) => (p.trim().parse::<u8>().ok()?, s.trim().parse::<i8>().ok()?),
        None => (inner.trim().parse::<u8>().ok()?, 0),
    };
    ((1..=38).contains(&precision) && scale >= 0 && scale as u8 <= precision)
        .then_some((precision, scale))
}

/// PostgreSQL's `format_type` text to how it is read.
fn postgres_kind(type_name: &str) -> (Kind, bool) {
    // (kind, read as text via a cast)
    let t = type_name.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or(&t).trim().to_string();
    if let Some(element) = t.strip_suffix("[]") {
        let element = element.split('(').next().unwrap_or(element).trim();
        return match element {
            "integer" | "smallint" => (Kind::ListI32, false),
            "bigint" => (Kind::ListI64, false),
            "double precision" => (Kind::ListF64, false),
            "boolean" => (Kind::ListBool, false),
            "text" | "character varying" => (Kind::ListText, false),
            // Any other array keeps every value as JSON text.
            _ => (Kind::Text, true),
        };
    }
    match base.as_str() {
        "boolean" => (Kind::Bool, false),
        "smallint" => (Kind::I16, false),
        "integer" => (Kind::I32, false),
        "bigint" => (Kind::I64, false),
        "real" => (Kind::F32, false),
        "double precision" => (Kind::F64, false),
        // Unconstrained (`price numeric`, very common): the widest decimal Delta
        // holds, with room for 29 digits before the point and 9 after; a value with
        // more is refused by name rather than rounded. Wider than 38 digits: exact
        // as text.
        "numeric" | "decimal" if !t.contains('(') => (UNCONSTRAINED_NUMERIC, true),
        "numeric" | "decimal" => match precision_scale(&t) {
            Some((precision, scale)) => (Kind::Decimal { precision, scale }, true),
            None => (Kind::Text, true),
        },
        "text" | "character varying" | "character" | "varchar" | "char" | "name" => {
            (Kind::Text, false)
        }
        "bytea" => (Kind::Binary, false),
        "date" => (Kind::Date, false),
        _ if base.starts_with("timestamp") && t.contains("with time zone") => {
            (Kind::TimestampTz, false)
        }
        _ if base.starts_with("timestamp") => (Kind::Timestamp, false),
        // uuid, json, jsonb, time, interval, money, inet, enums, ...: their text form.
        _ => (Kind::Text, true),
    }
}

/// MySQL's `column_type` text to how it is read.
fn mysql_kind(type_name: &str) -> (Kind, &'static str) {
    // (kind, cast: "" none, "SIGNED", "CHAR")
    let t = type_name.to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or(&t).to_string();
    let unsigned = t.contains("unsigned");
    match base.as_str() {
        "tinyint" if t.starts_with("tinyint(1)") => (Kind::Bool, ""),
        "bigint" if unsigned => (
            Kind::Decimal {
                precision: 20,
                scale: 0,
            },
            "CHAR",
        ),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" | "bit" => {
            (Kind::I64, "SIGNED")
        }
        "float" => (Kind::F32, ""),
        "double" | "real" => (Kind::F64, ""),
        "decimal" | "numeric" => match precision_scale(&t) {
            Some((precision, scale)) => (Kind::Decimal { precision, scale }, "CHAR"),
            None => (Kind::Text, "CHAR"),
        },
        "date" => (Kind::Date, ""),
        "datetime" => (Kind::Timestamp, ""),
        "timestamp" => (Kind::TimestampTz, ""),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            (Kind::Binary, "")
        }
        _ => (Kind::Text, "CHAR"),
    }
}

/// SQLite's declared type to how it is read, by SQLite's own affinity rules.
fn sqlite_kind(type_name: &str) -> (Kind, &'static str) {
    let t = type_name.to_ascii_uppercase();
    if t.contains("INT") {
        (Kind::I64, "INTEGER")
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        (Kind::Text, "TEXT")
    } else if t.contains("BLOB") {
        (Kind::Binary, "BLOB")
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        (Kind::F64, "REAL")
    } else {
        // NUMERIC affinity, dates kept as text, or no declared type: the text form
        // loses nothing.
        (Kind::Text, "TEXT")
    }
}

/// How each column of `table` is read and named.
pub fn plan_columns(kind: SourceKind, table: &TableDescription) -> Vec<ColumnPlan> {
    let mut seen = std::collections::HashSet::new();
    table
        .columns
        .iter()
        .map(|column| {
            let quoted = quote(kind, &column.name);
            let (kind, select) = match kind {
                SourceKind::Postgres => {
                    let (k, as_text) = postgres_kind(&column.type_name);
                    let select = if as_text && column.type_name.ends_with("[]") {
                        format!("array_to_json({quoted})::text")
                    } else if as_text {
                        format!("{quoted}::text")
                    } else if column.type_name == "smallint[]" {
                        // The driver reads integer arrays only as the type they are.
                        format!("{quoted}::integer[]")
                    } else {
                        quoted
                    };
                    (k, select)
                }
                SourceKind::Mysql => {
                    let (k, cast) = mysql_kind(&column.type_name);
                    let select = if cast.is_empty() {
                        quoted
                    } else {
                        format!("CAST({quoted} AS {cast})")
                    };
                    (k, select)
                }
                SourceKind::Sqlite => {
                    let (k, cast) = sqlite_kind(&column.type_name);
                    (k, format!("CAST({quoted} AS {cast})"))
                }
            };
            let base = tideway_lakehouse::column_identifier(&column.name);
            let mut target = base.clone();
            let mut n = 2;
            while !seen.insert(target.clone()) {
                target = format!("{base}_{n}");
                n += 1;
            }
            ColumnPlan {
                source: column.name.clone(),
                target,
                source_type: column.type_name.clone(),
                kind,
                select,
            }
        })
        .collect()
}

pub fn schema_of(columns: &[ColumnPlan]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.target, c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// The rows to read past a cursor.
#[derive(Clone, Debug)]
pub struct Since {
    pub column: usize,
    pub value: CursorValue,
    /// `>=` (a merge re-reads the rows at the mark harmlessly) or `>` (an append).
    pub inclusive: bool,
}

/// The statement that reads the table.
pub fn select_sql(
    kind: SourceKind,
    schema: Option<&str>,
    table: &str,
    columns: &[ColumnPlan],
    since: Option<&Since>,
) -> String {
    let list = columns
        .iter()
        .map(|c| c.select.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let from = match schema {
        Some(schema) => format!("{}.{}", quote(kind, schema), quote(kind, table)),
        None => quote(kind, table),
    };
    let mut sql = format!("SELECT {list} FROM {from}");
    if let Some(since) = since {
        let column = quote(kind, &columns[since.column].source);
        let op = if since.inclusive { ">=" } else { ">" };
        let placeholder = match kind {
            SourceKind::Postgres => "$1",
            _ => "?",
        };
        sql.push_str(&format!(
            " WHERE {column} {op} {placeholder} ORDER BY {column}"
        ));
    }
    sql
}

/// Builders for one batch.
enum Builder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    ListI32(ListBuilder<Int32Builder>),
    ListI64(ListBuilder<Int64Builder>),
    ListF64(ListBuilder<Float64Builder>),
    ListText(ListBuilder<StringBuilder>),
    ListBool(ListBuilder<BooleanBuilder>),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        let n = BATCH_ROWS;
        match kind {
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(n)),
            Kind::I16 => Builder::I16(Int16Builder::with_capacity(n)),
            Kind::I32 => Builder::I32(Int32Builder::with_capacity(n)),
            Kind::I64 => Builder::I64(Int64Builder::with_capacity(n)),
            Kind::F32 => Builder::F32(Float32Builder::with_capacity(n)),
            Kind::F64 => Builder::F64(Float64Builder::with_capacity(n)),
            Kind::Decimal { precision, scale } => {
                Builder::Decimal(Decimal128Builder::with_capacity(n), precision, scale)
            }
            Kind::Text => Builder::Text(StringBuilder::with_capacity(n, n * 16)),
            Kind::Binary => Builder::Binary(BinaryBuilder::with_capacity(n, n * 16)),
            Kind::Date => Builder::Date(Date32Builder::with_capacity(n)),
            Kind::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(n), false)
            }
            Kind::TimestampTz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(n), true)
            }
            // The item field as the schema names it (`element`, as Delta and Parquet do).
            Kind::ListI32 => Builder::ListI32(
                ListBuilder::new(Int32Builder::new()).with_field(element(DataType::Int32)),
            ),
            Kind::ListI64 => Builder::ListI64(
                ListBuilder::new(Int64Builder::new()).with_field(element(DataType::Int64)),
            ),
            Kind::ListF64 => Builder::ListF64(
                ListBuilder::new(Float64Builder::new()).with_field(element(DataType::Float64)),
            ),
            Kind::ListText => Builder::ListText(
                ListBuilder::new(StringBuilder::new()).with_field(element(DataType::Utf8)),
            ),
            Kind::ListBool => Builder::ListBool(
                ListBuilder::new(BooleanBuilder::new()).with_field(element(DataType::Boolean)),
            ),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        Ok(match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Decimal(b, precision, scale) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|error| error.to_string())?,
            ),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, utc) => {
                let array = b.finish();
                if *utc {
                    Arc::new(array.with_timezone("UTC"))
                } else {
                    Arc::new(array)
                }
            }
            Builder::ListI32(b) => Arc::new(b.finish()),
            Builder::ListI64(b) => Arc::new(b.finish()),
            Builder::ListF64(b) => Arc::new(b.finish()),
            Builder::ListText(b) => Arc::new(b.finish()),
            Builder::ListBool(b) => Arc::new(b.finish()),
        })
    }

    fn len(&self) -> usize {
        match self {
            Builder::Bool(b) => b.len(),
            Builder::I16(b) => b.len(),
            Builder::I32(b) => b.len(),
            Builder::I64(b) => b.len(),
            Builder::F32(b) => b.len(),
            Builder::F64(b) => b.len(),
            Builder::Decimal(b, ..) => b.len(),
            Builder::Text(b) => b.len(),
            Builder::Binary(b) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Timestamp(b, _) => b.len(),
            Builder::ListI32(b) => b.len(),
            Builder::ListI64(b) => b.len(),
            Builder::ListF64(b) => b.len(),
            Builder::ListText(b) => b.len(),
            Builder::ListBool(b) => b.len(),
        }
    }
}

/// Exact decimal text (`-12.30`) as an integer of `scale` decimal places.
fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = scale.max(0) as usize;
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > scale
        || whole.trim_start_matches('0').len() + scale > precision as usize
    {
        return Err(format!(
            "'{text}' is not a decimal({precision},{scale}) value"
        ));
    }
    let mut value: i128 = 0;
    for c in whole
        .chars()
        .chain(fraction.chars())
        .chain(std::iter::repeat_n('0', scale - fraction.len()))
    {
        value = value * 10 + i128::from(c as u8 - b'0');
    }
    Ok(if negative { -value } else { value })
}

fn days(date: NaiveDate) -> i32 {
    // Dates past i32 days from 1970 do not exist in any database.
    (date - NaiveDate::default()).num_days() as i32
}

/// Appends one row of any of the three drivers to the builders.
macro_rules! append_common {
    ($row:expr, $index:expr, $builder:expr, $other:expr) => {{
        let row = $row;
        let i = $index;
        let decode = |error: sqlx::Error| format!("column {i}: {error}");
        match $builder {
            Builder::Bool(b) => b.append_option(row.try_get::<Option<bool>, _>(i).map_err(decode)?),
            Builder::I16(b) => b.append_option(row.try_get::<Option<i16>, _>(i).map_err(decode)?),
            Builder::I32(b) => b.append_option(row.try_get::<Option<i32>, _>(i).map_err(decode)?),
            Builder::I64(b) => b.append_option(row.try_get::<Option<i64>, _>(i).map_err(decode)?),
            Builder::F32(b) => b.append_option(row.try_get::<Option<f32>, _>(i).map_err(decode)?),
            Builder::F64(b) => b.append_option(row.try_get::<Option<f64>, _>(i).map_err(decode)?),
            Builder::Decimal(b, precision, scale) => {
                match row.try_get::<Option<String>, _>(i).map_err(decode)? {
                    Some(text) => b.append_value(
                        parse_decimal(&text, *precision, *scale).map_err(|error| {
                            let name = row
                                .try_column(i)
                                .map(|column| column.name().to_string())
                                .unwrap_or_else(|_| i.to_string());
                            format!("column '{name}': {error}")
                        })?,
                    ),
                    None => b.append_null(),
                }
            }
            Builder::Text(b) => {
                b.append_option(row.try_get::<Option<String>, _>(i).map_err(decode)?)
            }
            Builder::Binary(b) => {
                b.append_option(row.try_get::<Option<Vec<u8>>, _>(i).map_err(decode)?)
            }
            Builder::Date(b) => b.append_option(
                row.try_get::<Option<NaiveDate>, _>(i)
                    .map_err(decode)?
                    .map(days),
            ),
            Builder::Timestamp(b, false) => b.append_option(
                row.try_get::<Option<NaiveDateTime>, _>(i)
                    .map_err(decode)?
                    .map(|t| t.and_utc().timestamp_micros()),
            ),
            Builder::Timestamp(b, true) => b.append_option(
                row.try_get::<Option<DateTime<Utc>>, _>(i)
                    .map_err(decode)?
                    .map(|t| t.timestamp_micros()),
            ),
            other => $other(other)?,
        }
    }};
}

fn list_only_on_postgres(_: &mut Builder) -> Result<(), String> {
    Err("array columns are read from PostgreSQL only".into())
}

fn append_postgres(row: &sqlx::postgres::PgRow, builders: &mut [Builder]) -> Result<(), String> {
    for (i, builder) in builders.iter_mut().enumerate() {
        let decode = |error: sqlx::Error| format!("column {i}: {error}");
        macro_rules! list {
            ($b:expr, $t:ty) => {{
                match row
                    .try_get::<Option<Vec<Option<$t>>>, _>(i)
                    .map_err(decode)?
                {
                    Some(items) => {
                        for item in items {
                            $b.values().append_option(item);
                        }
                        $b.append(true);
                    }
                    None => $b.append(false),
                }
            }};
        }
        match builder {
            Builder::ListI32(b) => list!(b, i32),
            Builder::ListI64(b) => list!(b, i64),
            Builder::ListF64(b) => list!(b, f64),
            Builder::ListBool(b) => list!(b, bool),
            Builder::ListText(b) => list!(b, String),
            other => append_common!(row, i, other, list_only_on_postgres),
        }
    }
    Ok(())
}

fn append_mysql(row: &sqlx::mysql::MySqlRow, builders: &mut [Builder]) -> Result<(), String> {
    for (i, builder) in builders.iter_mut().enumerate() {
        append_common!(row, i, builder, list_only_on_postgres);
    }
    Ok(())
}

fn append_sqlite(row: &sqlx::sqlite::SqliteRow, builders: &mut [Builder]) -> Result<(), String> {
    for (i, builder) in builders.iter_mut().enumerate() {
        append_common!(row, i, builder, list_only_on_postgres);
    }
    Ok(())
}

/// Rows into batches of `BATCH_ROWS`.
struct Batcher {
    schema: SchemaRef,
    kinds: Vec<Kind>,
    builders: Vec<Builder>,
}

impl Batcher {
    fn new(schema: SchemaRef, columns: &[ColumnPlan]) -> Batcher {
        let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        Batcher {
            builders: kinds.iter().map(|k| Builder::new(*k)).collect(),
            kinds,
            schema,
        }
    }

    fn rows(&self) -> usize {
        self.builders.first().map(Builder::len).unwrap_or(0)
    }

    fn flush(&mut self) -> Result<RecordBatch, String> {
        let arrays = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        self.builders = self.kinds.iter().map(|k| Builder::new(*k)).collect();
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|error| error.to_string())
    }
}

/// Why reading the source stopped.
fn source_error(error: impl std::fmt::Display) -> LakeError {
    LakeError::Source(error.to_string())
}

/// Sends batches as rows arrive; stops when the receiver is gone.
async fn pump<R, S>(
    rows: S,
    mut batcher: Batcher,
    append: fn(&R, &mut [Builder]) -> Result<(), String>,
    sender: &tokio::sync::mpsc::Sender<Result<RecordBatch, LakeError>>,
) -> Result<(), LakeError>
where
    S: futures::Stream<Item = Result<R, sqlx::Error>>,
{
    futures::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        let row = row.map_err(source_error)?;
        append(&row, &mut batcher.builders).map_err(source_error)?;
        if batcher.rows() >= BATCH_ROWS {
            let batch = batcher.flush().map_err(source_error)?;
            if sender.send(Ok(batch)).await.is_err() {
                return Ok(());
            }
        }
    }
    if batcher.rows() > 0 {
        let batch = batcher.flush().map_err(source_error)?;
        let _ = sender.send(Ok(batch)).await;
    }
    Ok(())
}

macro_rules! bind_cursor {
    ($query:expr, $value:expr, $kind:expr) => {
        match ($value, $kind) {
            (CursorValue::Int(v), _) => $query.bind(*v),
            (CursorValue::Micros(v), Kind::TimestampTz) => {
                $query.bind(DateTime::<Utc>::from_timestamp_micros(*v).unwrap_or_default())
            }
            (CursorValue::Micros(v), _) => $query.bind(
                DateTime::<Utc>::from_timestamp_micros(*v)
                    .unwrap_or_default()
                    .naive_utc(),
            ),
            (CursorValue::Date(v), _) => $query.bind(
                NaiveDate::default()
                    .checked_add_signed(chrono::Duration::days(i64::from(*v)))
                    .unwrap_or_default(),
            ),
            (CursorValue::Text(v), _) => $query.bind(v.clone()),
        }
    };
}

/// What the reader needs, owned, so it can run as its own task.
pub struct ReadSpec {
    pub source: Source,
    pub sql: String,
    pub columns: Vec<ColumnPlan>,
    pub since: Option<Since>,
}

/// Reads the source in a task of its own; the returned stream yields its batches.
/// Dropping the stream stops the task, which drops its connection: the server ends
/// the query.
pub fn read(spec: ReadSpec) -> BatchStream {
    let schema = schema_of(&spec.columns);
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let batcher = Batcher::new(schema.clone(), &spec.columns);
    let task = tokio::spawn(async move {
        if let Err(error) = read_into(spec, batcher, &sender).await {
            let _ = sender.send(Err(error)).await;
        }
    });
    let guard = tokio_util::task::AbortOnDropHandle::new(task);
    let batches = futures::stream::unfold((receiver, guard), |(mut receiver, guard)| async move {
        receiver.recv().await.map(|item| (item, (receiver, guard)))
    });
    BatchStream::new(schema, batches)
}

async fn read_into(
    spec: ReadSpec,
    batcher: Batcher,
    sender: &tokio::sync::mpsc::Sender<Result<RecordBatch, LakeError>>,
) -> Result<(), LakeError> {
    let sql = AssertSqlSafe(spec.sql.clone()).into_sql_str();
    let cursor_kind = spec.since.as_ref().map(|s| spec.columns[s.column].kind);
    // The same steps on each driver: connect, open a read-only snapshot, stream.
    macro_rules! read_with {
        ($options:expr, $begin:expr, $append:expr) => {{
            let mut connection = $options.connect().await.map_err(source_error)?;
            sqlx::query($begin)
                .execute(&mut connection)
                .await
                .map_err(source_error)?;
            let mut query = sqlx::query(sql);
            if let (Some(since), Some(kind)) = (&spec.since, cursor_kind) {
                query = bind_cursor!(query, &since.value, kind);
            }
            pump(query.fetch(&mut connection), batcher, $append, sender).await
        }};
    }
    match Target::for_source(&spec.source) {
        Target::Postgres(options) => read_with!(
            options,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            append_postgres
        ),
        Target::Mysql(options) => read_with!(
            options,
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            append_mysql
        ),
        Target::Sqlite(options) => read_with!(options, "BEGIN", append_sqlite),
    }
}

/// The column types of a sync, for the caller to see what became of each.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, utoipa::ToSchema)]
pub struct MappedColumn {
    pub source: String,
    pub source_type: String,
    pub name: String,
    pub data_type: String,
}

pub fn mapped(columns: &[ColumnPlan]) -> Vec<MappedColumn> {
    columns
        .iter()
        .map(|c| MappedColumn {
            source: c.source.clone(),
            source_type: c.source_type.clone(),
            name: c.target.clone(),
            data_type: c.kind.data_type().to_string(),
        })
        .collect()
}

/// A stream that reports progress to the caller every few batches.
pub fn with_progress(input: BatchStream, ctx: CallContext, total: Option<u64>) -> BatchStream {
    let schema = input.schema().clone();
    let mut rows = 0u64;
    let mut last = std::time::Instant::now();
    let stream = input.into_stream().then(move |batch| {
        let ctx = ctx.clone();
        if let Ok(batch) = &batch {
            rows += batch.num_rows() as u64;
        }
        let report = last.elapsed() >= Duration::from_millis(250);
        if report {
            last = std::time::Instant::now();
        }
        let done = rows;
        async move {
            if report {
                ctx.progress(
                    done as f64,
                    total.map(|t| t.max(done) as f64),
                    format!("{done} rows read"),
                )
                .await;
            }
            batch
        }
    });
    BatchStream::new(schema, stream)
}

/// A table reference for Bronze from a source table's name.
pub fn bronze_name(table: &str) -> String {
    let bare = table.rsplit('.').next().unwrap_or(table);
    let mut name = tideway_lakehouse::column_identifier(bare);
    name.truncate(63);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_and_refuse_what_does_not_fit() {
        assert_eq!(parse_decimal("12.30", 12, 2), Ok(1230));
        assert_eq!(parse_decimal("-0.5", 12, 2), Ok(-50));
        assert_eq!(parse_decimal("7", 5, 2), Ok(700));
        assert!(parse_decimal("1.234", 12, 2).is_err());
        assert!(parse_decimal("NaN", 12, 2).is_err());
        assert!(parse_decimal("12345", 5, 2).is_err());
    }

    #[test]
    fn source_types_map_to_arrow_types() {
        assert_eq!(
            postgres_kind("numeric(12,2)"),
            (
                Kind::Decimal {
                    precision: 12,
                    scale: 2
                },
                true
            )
        );
        assert_eq!(postgres_kind("numeric"), (UNCONSTRAINED_NUMERIC, true));
        assert_eq!(postgres_kind("numeric(50,2)"), (Kind::Text, true));
        assert_eq!(
            postgres_kind("timestamp(3) with time zone"),
            (Kind::TimestampTz, false)
        );
        assert_eq!(
            postgres_kind("timestamp without time zone"),
            (Kind::Timestamp, false)
        );
        assert_eq!(postgres_kind("uuid"), (Kind::Text, true));
        assert_eq!(postgres_kind("integer[]"), (Kind::ListI32, false));
        assert_eq!(postgres_kind("uuid[]"), (Kind::Text, true));
        assert_eq!(postgres_kind("character varying(40)"), (Kind::Text, false));
        assert_eq!(mysql_kind("tinyint(1)"), (Kind::Bool, ""));
        assert_eq!(mysql_kind("int(11) unsigned"), (Kind::I64, "SIGNED"));
        assert_eq!(
            mysql_kind("bigint(20) unsigned"),
            (
                Kind::Decimal {
                    precision: 20,
                    scale: 0
                },
                "CHAR"
            )
        );
        assert_eq!(mysql_kind("json"), (Kind::Text, "CHAR"));
        assert_eq!(sqlite_kind("VARCHAR(20)"), (Kind::Text, "TEXT"));
        assert_eq!(sqlite_kind("BIGINT"), (Kind::I64, "INTEGER"));
        assert_eq!(sqlite_kind("DOUBLE"), (Kind::F64, "REAL"));
    }
}
