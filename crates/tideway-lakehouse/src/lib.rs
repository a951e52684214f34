//! Tideway's lakehouse engine: Delta Lake tables on an object store, one catalog per
//! tenant with three layers (bronze, silver, gold), written from Arrow record
//! batches and queried with DataFusion. It knows nothing of MCP or the Hub; the
//! `lakehouse` toolkit in the `tideway` crate puts it behind tools and routes. It is
//! its own crate because DataFusion and Delta Lake take long to build.
//!
//! Layout: `{root}/tenant_{id}/{layer}/{table}/` is one Delta table (`_delta_log/`
//! and Parquet files), readable by Spark, Databricks, DuckDB or the `deltalake`
//! Python package. In SQL the tenant's catalog is `tenant_{id}` and is the default,
//! so `bronze.orders` names a table; no other tenant's catalog is ever registered.

mod bounds;
mod catalog;
mod describe;
mod error;
mod excel;
mod ingest;
mod maintain;
mod query;
mod s3;
mod stream;
mod transform;

pub use bounds::SessionBounds;
pub use catalog::{
    ColumnInfo, Commit, Lake, Layer, TableInfo, TableRef, WriteMode, Written, valid_table_name,
};
pub use describe::{ColumnStats, TableDescription};
pub use error::LakeError;
pub use ingest::{FileFormat, column_identifier, read_file, read_sheet};
pub use maintain::Maintained;
pub use query::{CursorValue, QueryLimits, QueryResult, ResultColumn};
pub use stream::{BatchStream, Merged};
pub use transform::{Materialized, PlannedStep, Step, TransformPlan};

/// Arrow, as the engine uses it, for callers that build record batches.
pub use deltalake::arrow;
