//! SQL over one tenant's tables with DataFusion. Each query gets a session whose only
//! catalog is the tenant's (`tenant_{id}`, the default, with `bronze`, `silver` and
//! `gold` schemas; unqualified names are bronze), so another tenant's tables cannot be
//! named at all. Only one read-only statement is accepted (no DDL, no DML, no `SET`),
//! rows stop at a cap with `truncated`, and the whole query runs under a deadline.
//! A table can be read at an earlier version (Delta time travel).

use std::{collections::HashMap, sync::Arc, time::Duration};

use deltalake::{
    arrow::{json::WriterBuilder, json::writer::JsonArray, record_batch::RecordBatch},
    datafusion::{
        catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider},
        execution::context::{SQLOptions, SessionConfig, SessionContext},
    },
};
use futures::StreamExt;
use serde::Serialize;

use crate::{
    catalog::{Lake, Layer, TableRef},
    error::LakeError,
};

/// Bounds on one query.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_rows: usize,
    /// The most bytes of JSON rows one answer holds; rows past it are cut like rows
    /// past `max_rows`.
    pub max_result_bytes: usize,
    pub timeout: Duration,
    /// Tables read at an earlier version: `layer.table` → version.
    pub versions: HashMap<String, u64>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_rows: 1000,
            max_result_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            versions: HashMap::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResultColumn {
    pub name: String,
    pub data_type: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// More rows than `max_rows` (or `max_result_bytes` of them) matched; the rest
    /// were not read.
    pub truncated: bool,
}

fn sql_error(error: impl std::fmt::Display) -> LakeError {
    LakeError::Sql(error.to_string())
}

/// Rows gathered while a query streams, stopping at the row cap or the byte cap
/// so a wide result is never held whole.
struct CappedRows {
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    bytes: usize,
    max_rows: usize,
    max_bytes: usize,
    truncated: bool,
}

impl CappedRows {
    fn new(limits: &QueryLimits) -> Self {
        CappedRows {
            rows: Vec::new(),
            bytes: 0,
            max_rows: limits.max_rows,
            max_bytes: limits.max_result_bytes,
            truncated: false,
        }
    }

    /// Adds `batch`'s rows; true once the answer is full.
    fn take(&mut self, batch: &RecordBatch) -> Result<bool, LakeError> {
        // Rows are converted a few at a time, so one batch of huge rows is never
        // turned into JSON all at once.
        const STEP: usize = 64;
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.rows.len() == self.max_rows {
                self.truncated = true;
                return Ok(true);
            }
            let step = STEP
                .min(batch.num_rows() - offset)
                .min(self.max_rows - self.rows.len());
            let slice = batch.slice(offset, step);
            if self.bytes + slice.get_array_memory_size() > self.max_bytes && step > 1 {
                // Near the cap: one row at a time to cut at the exact row.
                for row in 0..step {
                    if self.push(&slice.slice(row, 1))? {
                        return Ok(true);
                    }
                }
            } else if self.push(&slice)? {
                return Ok(true);
            }
            offset += step;
        }
        Ok(self.rows.len() == self.max_rows)
    }

    /// Adds the rows of a small batch unless they would pass the byte cap; true when
    /// they did.
    fn push(&mut self, rows: &RecordBatch) -> Result<bool, LakeError> {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        writer.write(rows).map_err(sql_error)?;
        writer.finish().map_err(sql_error)?;
        let json = writer.into_inner();
        if self.bytes + json.len() > self.max_bytes {
            self.truncated = true;
            return Ok(true);
        }
        self.bytes += json.len();
        let parsed: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&json).map_err(sql_error)?;
        self.rows.extend(parsed);
        Ok(false)
    }
}

impl Lake {
    /// A DataFusion session that sees exactly `tenant`'s tables.
    pub(crate) async fn session(
        &self,
        tenant: &str,
        versions: &HashMap<String, u64>,
    ) -> Result<SessionContext, LakeError> {
        let catalog_name = format!("tenant_{tenant}");
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(&catalog_name, "bronze")
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false);
        let ctx = crate::bounds::bounded_session(config, self.bounds).map_err(sql_error)?;
        let catalog = Arc::new(MemoryCatalogProvider::new());
        for layer in Layer::ALL {
            let schema = Arc::new(MemorySchemaProvider::new());
            for name in self.table_names(tenant, layer).await? {
                let table = TableRef::new(tenant, layer, &name)?;
                let opened = match versions.get(&table.qualified()) {
                    Some(version) => self.open_version(&table, *version).await?,
                    None => self.open(&table).await?,
                };
                opened
                    .update_datafusion_session(&ctx.state())
                    .map_err(|error| LakeError::Storage(error.to_string()))?;
                let provider = opened
                    .table_provider()
                    .await
                    .map_err(|error| LakeError::Storage(error.to_string()))?;
                schema
                    .register_table(name, provider)
                    .map_err(|error| LakeError::Storage(error.to_string()))?;
            }
            catalog
                .register_schema(layer.as_str(), schema)
                .map_err(|error| LakeError::Storage(error.to_string()))?;
        }
        ctx.register_catalog(&catalog_name, catalog);
        for pinned in versions.keys() {
            let known = ctx
                .table_exist(pinned.as_str())
                .map_err(|error| LakeError::invalid("versions", error.to_string()))?;
            if !known {
                return Err(LakeError::invalid(
                    "versions",
                    format!("'{pinned}' is not one of this tenant's tables"),
                ));
            }
        }
        Ok(ctx)
    }

    /// Runs one read-only statement over `tenant`'s tables.
    pub async fn query(
        &self,
        tenant: &str,
        sql: &str,
        limits: &QueryLimits,
    ) -> Result<QueryResult, LakeError> {
        let run = async {
            let ctx = self.session(tenant, &limits.versions).await?;
            let options = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            let frame = ctx
                .sql_with_options(sql, options)
                .await
                .map_err(sql_error)?;
            let columns = frame
                .schema()
                .fields()
                .iter()
                .map(|field| ResultColumn {
                    name: field.name().clone(),
                    data_type: field.data_type().to_string(),
                })
                .collect();
            let mut stream = frame.execute_stream().await.map_err(sql_error)?;
            let mut answer = CappedRows::new(limits);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(sql_error)?;
                if answer.take(&batch)? {
                    // One more row would mean the result was cut.
                    answer.truncated |= answer.rows.len() == limits.max_rows
                        && matches!(stream.next().await, Some(Ok(more)) if more.num_rows() > 0);
                    break;
                }
            }
            // Dropping the stream stops the rest of the plan.
            drop(stream);
            Ok(QueryResult {
                columns,
                rows: answer.rows,
                truncated: answer.truncated,
            })
        };
        tokio::time::timeout(limits.timeout, run)
            .await
            .map_err(|_| LakeError::Timeout(limits.timeout))?
    }
}

/// A column's greatest value, as an incremental sync compares it with its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CursorValue {
    Int(i64),
    /// Microseconds since the epoch (a timestamp, with or without a time zone).
    Micros(i64),
    /// Days since the epoch.
    Date(i32),
    Text(String),
}

impl Lake {
    /// The greatest value of `column` in `table`, or `None` when the table has no
    /// non-null value there.
    pub async fn max_value(
        &self,
        table: &TableRef,
        column: &str,
    ) -> Result<Option<CursorValue>, LakeError> {
        use deltalake::arrow::{
            array::{Array, AsArray},
            compute::cast,
            datatypes::{DataType, Date32Type, Int64Type, TimeUnit, TimestampMicrosecondType},
        };
        let ctx = self.session(&table.tenant, &HashMap::new()).await?;
        let sql = format!(
            "SELECT max(\"{}\") FROM {}.\"{}\"",
            column.replace('"', "\"\""),
            table.layer,
            table.name
        );
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(sql_error)?
            .collect()
            .await
            .map_err(sql_error)?;
        let Some(array) = batches
            .iter()
            .find(|batch| batch.num_rows() > 0)
            .map(|batch| batch.column(0).clone())
        else {
            return Ok(None);
        };
        if array.is_null(0) {
            return Ok(None);
        }
        let value = match array.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => {
                let ints = cast(&array, &DataType::Int64).map_err(sql_error)?;
                CursorValue::Int(ints.as_primitive::<Int64Type>().value(0))
            }
            DataType::Timestamp(_, zone) => {
                let micros = cast(
                    &array,
                    &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
                )
                .map_err(sql_error)?;
                CursorValue::Micros(micros.as_primitive::<TimestampMicrosecondType>().value(0))
            }
            DataType::Date32 => CursorValue::Date(array.as_primitive::<Date32Type>().value(0)),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = cast(&array, &DataType::Utf8).map_err(sql_error)?;
                CursorValue::Text(text.as_string::<i32>().value(0).to_string())
            }
            other => {
                return Err(LakeError::invalid(
                    "cursor_column",
                    format!(
                        "'{column}' is {other}; a cursor must be an integer, a timestamp, a date or text"
                    ),
                ));
            }
        };
        Ok(Some(value))
    }
}

impl Lake {
    /// Plans one read-only statement over `tenant`'s tables without running it: the
    /// columns it would return, or why it is refused.
    pub async fn plan_sql(&self, tenant: &str, sql: &str) -> Result<Vec<ResultColumn>, LakeError> {
        let ctx = self.session(tenant, &HashMap::new()).await?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = ctx
            .sql_with_options(sql, options)
            .await
            .map_err(sql_error)?;
        Ok(frame
            .schema()
            .fields()
            .iter()
            .map(|field| ResultColumn {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
            })
            .collect())
    }
}
