//! Writing a stream of record batches that may be far larger than memory: the stream
//! becomes the input of a DataFusion plan that Delta Lake's writer pulls from, so
//! batches are turned into Parquet files as they arrive and the table changes in one
//! commit at the end. If the stream fails or the write is dropped, nothing is
//! committed: readers never see part of a run (the files already written are
//! unreferenced until a vacuum removes them).
//!
//! The same streaming input feeds a merge on key columns (an upsert), which is how an
//! incremental sync stays idempotent: running it twice leaves the same rows.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use deltalake::{
    DeltaTable,
    arrow::{datatypes::SchemaRef, record_batch::RecordBatch},
    datafusion::{
        catalog::streaming::StreamingTable,
        datasource::provider_as_source,
        error::DataFusionError,
        execution::{TaskContext, context::SessionContext},
        logical_expr::LogicalPlanBuilder,
        physical_plan::{
            SendableRecordBatchStream, stream::RecordBatchStreamAdapter, streaming::PartitionStream,
        },
    },
    protocol::SaveMode,
};
use futures::{Stream, StreamExt};
use serde::Serialize;

use crate::{
    catalog::{Lake, TableRef, WriteMode, Written},
    error::LakeError,
};

/// Record batches on their way into a table, all of one schema.
pub struct BatchStream {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    /// The error that ended the stream, kept whole: the writer sees only its text.
    failure: Arc<Mutex<Option<LakeError>>>,
}

impl BatchStream {
    /// A stream of batches of `schema`. An `Err` item stops the write; nothing of it
    /// is committed.
    pub fn new(
        schema: SchemaRef,
        batches: impl Stream<Item = Result<RecordBatch, LakeError>> + Send + 'static,
    ) -> BatchStream {
        let failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let declared = schema.clone();
        let batches = batches.map(move |item| {
            // A batch must be what the stream says it is: the writer assumes it and
            // some of its paths panic otherwise.
            let item = item.and_then(|batch| {
                if batch.schema().fields() == declared.fields() {
                    Ok(batch)
                } else {
                    RecordBatch::try_new(declared.clone(), batch.columns().to_vec())
                        .map_err(|error| LakeError::invalid("rows", error.to_string()))
                }
            });
            item.map_err(|error| {
                if let Ok(mut slot) = slot.lock() {
                    slot.get_or_insert(error.clone());
                }
                DataFusionError::External(Box::new(error))
            })
        });
        BatchStream {
            inner: Box::pin(RecordBatchStreamAdapter::new(schema.clone(), batches)),
            schema,
            failure,
        }
    }

    /// Batches already in memory.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> BatchStream {
        BatchStream::new(schema, futures::stream::iter(batches.into_iter().map(Ok)))
    }

    pub(crate) fn from_datafusion(inner: SendableRecordBatchStream) -> BatchStream {
        BatchStream {
            schema: inner.schema(),
            inner,
            failure: Arc::new(Mutex::new(None)),
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches, for adapting the stream (counting, reporting progress).
    pub fn into_stream(
        self,
    ) -> impl Stream<Item = Result<RecordBatch, LakeError>> + Send + 'static {
        self.inner.map(|item| {
            item.map_err(|error| match error {
                // Ours, passed through: give it back as it was.
                DataFusionError::External(inner) => match inner.downcast::<LakeError>() {
                    Ok(ours) => *ours,
                    Err(other) => LakeError::Storage(other.to_string()),
                },
                other => LakeError::Storage(other.to_string()),
            })
        })
    }
}

/// A stream handed to the plan once. DataFusion asks each partition for its stream
/// exactly once per execution, and a plan here is executed once.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream")
            .field("schema", &self.schema)
            .finish()
    }
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut slot| slot.take());
        match taken {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(DataFusionError::Execution(
                        "the input stream was already read".into(),
                    ))
                }),
            )),
        }
    }
}

/// The stream as a table provider, counting the rows that pass.
fn counted(input: BatchStream) -> Result<Counted, LakeError> {
    let rows = Arc::new(AtomicU64::new(0));
    let failure = input.failure.clone();
    let counter = rows.clone();
    let schema = input.schema.clone();
    let inner = input.inner.inspect(move |batch| {
        if let Ok(batch) = batch {
            counter.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        }
    });
    let stream: SendableRecordBatchStream =
        Box::pin(RecordBatchStreamAdapter::new(schema.clone(), inner));
    let partition = OneShot {
        schema: schema.clone(),
        stream: Mutex::new(Some(stream)),
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(partition)])
        .map_err(|error| LakeError::Storage(error.to_string()))?;
    Ok(Counted {
        table: Arc::new(table),
        rows,
        failure,
    })
}

/// A stream as a table, with the rows that passed and the error that stopped it.
struct Counted {
    table: Arc<StreamingTable>,
    rows: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<LakeError>>>,
}

impl Counted {
    /// The input's own error if it failed, else the writer's.
    fn error(&self, error: deltalake::DeltaTableError) -> LakeError {
        match self.failure.lock().ok().and_then(|mut slot| slot.take()) {
            Some(ours) => ours,
            None => write_error(error),
        }
    }
}

/// Errors from inside a write: ours come back as they were raised.
fn write_error(error: deltalake::DeltaTableError) -> LakeError {
    let text = error.to_string();
    match error {
        deltalake::DeltaTableError::Arrow { .. } | deltalake::DeltaTableError::Generic(_) => {
            LakeError::invalid("rows", text)
        }
        other => other.into(),
    }
}

/// What a merge did.
#[derive(Clone, Debug, Serialize)]
pub struct Merged {
    pub table: String,
    pub version: u64,
    /// Rows read from the input.
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The input with each column cast to the type the table has for it, so an append or
/// merge never hands the writer a type it does not expect (Delta Lake panics on some
/// mismatches rather than failing). With `extra`, columns the table lacks pass as they
/// are (a merge adds them); without it they are refused, as are missing columns.
fn conform(
    input: BatchStream,
    table: &deltalake::arrow::datatypes::Schema,
    extra: bool,
) -> Result<BatchStream, LakeError> {
    use deltalake::arrow::{
        compute::{CastOptions, cast_with_options},
        datatypes::{Field, Schema},
    };
    let mut fields = Vec::new();
    for field in input.schema.fields() {
        match table.field_with_name(field.name()) {
            Ok(existing) => fields.push(Field::new(
                field.name(),
                existing.data_type().clone(),
                field.is_nullable() || existing.is_nullable(),
            )),
            Err(_) if extra => fields.push(field.as_ref().clone()),
            Err(_) => {
                return Err(LakeError::invalid(
                    "rows",
                    format!(
                        "column '{}' is not in the table (its columns: {})",
                        field.name(),
                        table
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    if !extra {
        for existing in table.fields() {
            if input.schema.field_with_name(existing.name()).is_err() {
                return Err(LakeError::invalid(
                    "rows",
                    format!(
                        "the rows have no column '{}', which the table has",
                        existing.name()
                    ),
                ));
            }
        }
    }
    let target = Arc::new(Schema::new(fields));
    if target.fields() == input.schema.fields() {
        return Ok(input);
    }
    let to = target.clone();
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let batches = input.into_stream().map(move |batch| {
        let batch = batch?;
        let columns = batch
            .columns()
            .iter()
            .zip(to.fields())
            .map(|(column, field)| {
                cast_with_options(column, field.data_type(), &options).map_err(|error| {
                    LakeError::invalid(
                        "rows",
                        format!(
                            "column '{}' holds {} values that do not convert to the table's {}: {error}",
                            field.name(),
                            column.data_type(),
                            field.data_type()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(to.clone(), columns).map_err(|error| LakeError::invalid("rows", error.to_string()))
    });
    // Errors from the input come back whole through `into_stream`, so the new
    // stream's own slot keeps them as well as conversion errors.
    Ok(BatchStream::new(target, batches))
}

impl Lake {
    /// Writes a stream of batches to `table` in one commit, creating the table if
    /// needed. Memory stays bounded by the writer's buffers, whatever the row count.
    pub async fn write_stream(
        &self,
        table: &TableRef,
        input: BatchStream,
        mode: WriteMode,
    ) -> Result<Written, LakeError> {
        let url = self.table_url(table)?;
        // A local table's folder must exist before Delta Lake writes into it.
        if url.scheme() == "file"
            && let Ok(folder) = url.to_file_path()
        {
            tokio::fs::create_dir_all(&folder)
                .await
                .map_err(|error| LakeError::Storage(format!("{}: {error}", folder.display())))?;
        }
        // An append must fit the table as it is.
        let input = match mode {
            WriteMode::Append => match self.open(table).await {
                Ok(existing) => conform(
                    input,
                    &existing.snapshot()?.snapshot().arrow_schema(),
                    false,
                )?,
                Err(LakeError::NotFound(_)) => input,
                Err(error) => return Err(error),
            },
            WriteMode::Overwrite => input,
        };
        let input = counted(input)?;
        let plan = LogicalPlanBuilder::scan("input", provider_as_source(input.table.clone()), None)
            .and_then(LogicalPlanBuilder::build)
            .map_err(|error| LakeError::Storage(error.to_string()))?;
        let target =
            DeltaTable::try_from_url_with_storage_options(url, self.options.clone()).await?;
        let builder = target
            .write(Vec::<RecordBatch>::new())
            .with_input_plan(plan);
        // An overwrite may change the schema (a re-run transform with a new column);
        // an append must fit the table's.
        let written = match mode {
            WriteMode::Overwrite => {
                builder
                    .with_save_mode(SaveMode::Overwrite)
                    .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
                    .await
            }
            WriteMode::Append => builder.with_save_mode(SaveMode::Append).await,
        }
        .map_err(|error| input.error(error))?;
        Ok(Written {
            table: table.to_string(),
            version: written.version().unwrap_or(0),
            rows: input.rows.load(Ordering::Relaxed),
        })
    }

    /// Upserts a stream of batches into an existing `table` on `keys`: a row whose
    /// keys match is replaced, any other row is inserted, in one commit. Columns the
    /// input adds are added to the table.
    pub async fn merge_stream(
        &self,
        table: &TableRef,
        input: BatchStream,
        keys: &[String],
    ) -> Result<Merged, LakeError> {
        if keys.is_empty() {
            return Err(LakeError::invalid(
                "key_columns",
                "a merge needs key columns",
            ));
        }
        let columns: Vec<String> = input
            .schema
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
        for key in keys {
            if !columns.contains(key) {
                return Err(LakeError::invalid(
                    "key_columns",
                    format!("'{key}' is not a column of the input"),
                ));
            }
        }
        let opened = self.open(table).await?;
        let input = conform(input, &opened.snapshot()?.snapshot().arrow_schema(), true)?;
        let ctx = SessionContext::new();
        let input = counted(input)?;
        let source = ctx
            .read_table(input.table.clone())
            .map_err(|error| LakeError::Storage(error.to_string()))?;
        let predicate = keys
            .iter()
            .map(|key| format!("target.{0} = source.{0}", quoted(key)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let (merged, metrics) = opened
            .merge(source, predicate)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_merge_schema(true)
            .with_streaming(true)
            .when_matched_update(|update| {
                columns.iter().fold(update, |update, column| {
                    update.update(column.as_str(), format!("source.{}", quoted(column)))
                })
            })
            .and_then(|builder| {
                builder.when_not_matched_insert(|insert| {
                    columns.iter().fold(insert, |insert, column| {
                        insert.set(column.as_str(), format!("source.{}", quoted(column)))
                    })
                })
            })
            .map_err(write_error)?
            .await
            .map_err(|error| input.error(error))?;
        Ok(Merged {
            table: table.to_string(),
            version: merged.version().unwrap_or(0),
            rows: input.rows.load(Ordering::Relaxed),
            inserted: metrics.num_target_rows_inserted as u64,
            updated: metrics.num_target_rows_updated as u64,
        })
    }
}
