//! The lakehouse toolkit's part of the configuration file, `[lakehouse]`: where the
//! tables live and how much a call may do.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The key it owns in the configuration file.
pub const KEY: &str = "lakehouse";

/// Its settings as the configuration gives them.
pub fn from_config(config: &Config) -> Result<LakehouseConfig, ConfigError> {
    config.section(KEY)
}

/// For the descriptor: reads the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

/// Where the lakehouse keeps its tables and how much a call may do.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakehouseConfig {
    /// A local folder or an object store URL (`s3://bucket/prefix`); unset, the
    /// folder `lake` in the data directory.
    pub root: Option<String>,
    /// Options for the object store (for S3: `aws_endpoint`, `aws_region`,
    /// `aws_allow_http`, ...). Credentials come from the usual `AWS_*` variables.
    pub storage_options: BTreeMap<String, String>,
    /// Folders `upload_file` may read a `path` from (none: only uploaded content).
    pub upload_dirs: Vec<PathBuf>,
    /// Rows a query returns unless it asks for fewer.
    pub max_rows: usize,
    /// The most rows a query may ask for.
    pub max_rows_limit: usize,
    pub query_timeout_secs: u64,
    /// Largest file `upload_file` takes, in bytes.
    pub max_upload_bytes: usize,
    /// Bytes a query's sorts, joins and aggregates may hold at once.
    pub query_memory_bytes: usize,
    /// The largest value (per column, per batch of rows) a function may build.
    pub max_value_bytes: usize,
    /// How long the files only older versions read are kept: `maintain_table`
    /// deletes them after this, and time travel reaches back this far.
    pub retention_hours: u64,
}

impl Default for LakehouseConfig {
    fn default() -> Self {
        LakehouseConfig {
            root: None,
            storage_options: BTreeMap::new(),
            upload_dirs: Vec::new(),
            max_rows: 1000,
            max_rows_limit: 10_000,
            query_timeout_secs: 30,
            max_upload_bytes: 64 * 1024 * 1024,
            query_memory_bytes: 128 * 1024 * 1024,
            max_value_bytes: 32 * 1024 * 1024,
            retention_hours: 7 * 24,
        }
    }
}
