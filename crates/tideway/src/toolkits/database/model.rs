//! The database toolkit's data: source kinds and settings, what a connection test
//! reports, query results, and the catalog (tables, columns, keys, indexes). These
//! are the tools' structured results and the REST bodies alike.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[serde(alias = "postgresql")]
    Postgres,
    /// MySQL and MariaDB.
    #[serde(alias = "mariadb")]
    Mysql,
    Sqlite,
}

impl SourceKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(SourceKind::Postgres),
            "mysql" | "mariadb" => Some(SourceKind::Mysql),
            "sqlite" => Some(SourceKind::Sqlite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgres",
            SourceKind::Mysql => "mysql",
            SourceKind::Sqlite => "sqlite",
        }
    }

    pub fn default_port(self) -> Option<u16> {
        match self {
            SourceKind::Postgres => Some(5432),
            SourceKind::Mysql => Some(3306),
            SourceKind::Sqlite => None,
        }
    }
}

/// TLS to the database server, in PostgreSQL's terms (MySQL's modes map onto them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it.
    #[default]
    Prefer,
    /// TLS, without checking the certificate.
    Require,
    /// TLS with a certificate signed by a trusted authority.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host.
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::String(text.to_ascii_lowercase())).ok()
    }
}

/// The name as written in arguments and configuration (`verify-full`).
fn serde_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_name(self))
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_name(self))
    }
}

/// Connection settings as stored: everything but the password.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<SslMode>,
    /// The file of a SQLite source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `EXPLAIN ANALYZE` (which runs the statement) is allowed on this source.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub explain_analyze: bool,
    /// The operator accepted a role that is a superuser, can write (on a read-only
    /// source) or can reach server files and programs. Only the operator may set it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_privileged_role: bool,
}

/// Where a source was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// With `connect_postgres` / `connect_source` or `POST /api/v1/sources`.
    Registered,
    /// In the configuration file; read-only through the API.
    Config,
    /// Built into Tideway: `desk`, the tenant's own help desk data.
    Builtin,
}

/// A source as callers see it: never the password.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SourceView {
    /// The source's id: its name, unique within the tenant (`connection_id` in tools).
    pub id: String,
    pub kind: SourceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<SslMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether `execute_statement` may write through this source.
    pub read_write: bool,
    /// Whether `EXPLAIN ANALYZE` (which runs the statement) is allowed.
    pub explain_analyze: bool,
    /// Whether the operator accepted a privileged database role for this source.
    pub allow_privileged_role: bool,
    /// Whether a password is stored (sealed) for it.
    pub has_password: bool,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The kind of a connection failure, for programs and for `troubleshoot_connection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on the host and port.
    Refused,
    /// No answer in time (a firewall dropping packets, a wrong address).
    Timeout,
    /// TLS could not be agreed or the certificate was not trusted.
    Tls,
    /// The server refused the user name or password.
    Auth,
    /// The server has no database of that name.
    DatabaseMissing,
    /// The SQLite file does not exist or cannot be opened.
    FileMissing,
    /// Connected, but the user may not do what was asked.
    Permission,
    /// Connected, but the role can do more than this source needs (a superuser, a
    /// role that can write to a read-only source, or one that reaches server files
    /// and programs); only the operator may accept such a role.
    Privileged,
    /// The host is an address this tenant may not reach (loopback, private,
    /// link-local or shared address space).
    Blocked,
    Other,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ConnectFailure {
    pub kind: FailureKind,
    /// What the driver or server said, with any password removed.
    pub message: String,
    /// What to check next.
    pub hint: String,
}

/// What `test_connection` found.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ConnectionTest {
    pub source: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Time to connect (or fail) and run a trivial query, in milliseconds.
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ConnectFailure>,
}

/// What `connect_postgres` / `connect_source` did.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Connected {
    pub source: SourceView,
    /// Whether an existing source of the same name was replaced.
    pub replaced: bool,
    /// The connection test run at registration; the source is kept even when it
    /// fails, so it can be fixed and tested again.
    pub test: ConnectionTest,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SourceList {
    pub sources: Vec<SourceView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Removed {
    pub source: String,
    pub removed: bool,
}

/// A result column.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ResultColumn {
    pub name: String,
    /// The database's name for the column's type (`int4`, `NUMERIC`, `TEXT`, …).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// What a query returned.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct QueryResult {
    pub source: String,
    pub columns: Vec<ResultColumn>,
    /// Rows as arrays in column order. Numbers that do not fit a double (NUMERIC,
    /// DECIMAL, 64-bit unsigned) are strings with every digit; binary values are
    /// `\x`-prefixed hex; dates and times are ISO 8601; JSON is JSON.
    pub rows: Vec<Vec<Value>>,
    pub row_count: usize,
    /// Whether more rows (or bytes) existed than were returned.
    pub truncated: bool,
    /// Cells whose value was longer than the value cap: each holds the value's
    /// first part (as text) instead of the whole value.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cut: Vec<CutCell>,
    /// The row cap that applied.
    pub row_cap: usize,
    /// Rows changed, for a statement that writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
    pub elapsed_ms: f64,
}

/// A cell whose value was cut to the value cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CutCell {
    pub row: usize,
    pub column: usize,
}

/// A plan from `explain_query`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct QueryPlan {
    pub source: String,
    pub analyzed: bool,
    /// The database's plan: JSON where the database gives JSON (PostgreSQL, MySQL),
    /// else rows of text.
    pub plan: Value,
    pub elapsed_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TableInfo {
    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite).
    pub schema: String,
    pub name: String,
    /// `table`, `view`, `materialized-view`, `foreign-table` or `partitioned-table`.
    pub kind: String,
    /// The planner's estimate; absent where the database keeps none (SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TablePage {
    pub source: String,
    pub tables: Vec<TableInfo>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references_schema: String,
    pub references_table: String,
    pub references_columns: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TableDescription {
    pub source: String,
    pub schema: String,
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<i64>,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<IndexInfo>,
}

/// A compact map of a source for a model's context: each table on one line.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SchemaOverview {
    pub source: String,
    pub kind: SourceKind,
    pub table_count: usize,
    /// `schema.table (~rows): col type, col type, … -> references` per table, up to
    /// the size budget.
    pub tables: Vec<String>,
    /// Whether tables were left out to stay within the budget.
    pub truncated: bool,
}
