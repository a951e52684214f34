//! The database toolkit's MCP tools, with the seed documents' names and arguments
//! (`connect_postgres`, `test_connection`, `list_source_tables`, `query_database` with
//! `query`, `params` and `connection_id`). Registering and removing sources is for
//! admins (see `DatabaseToolkit::required_role`); reading for viewers; writing
//! through `execute_statement` for operators, and only on `read_write` sources.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tideway_core::{
    CallContext, HubError,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use zeroize::Zeroizing;

use super::{
    catalog::TableQuery,
    model::{
        Connected, ConnectionTest, QueryPlan, QueryResult, Removed, SchemaOverview, SourceKind,
        SourceList, SourceSettings, SslMode, TableDescription, TablePage,
    },
    service::{DatabaseService, NewSource},
};

/// The tools' names, shared by their declarations and the REST routes that call
/// them, so a route cannot name a tool that does not exist.
pub mod names {
    pub const CONNECT_POSTGRES: &str = "connect_postgres";
    pub const CONNECT_SOURCE: &str = "connect_source";
    pub const DESCRIBE_TABLE: &str = "describe_table";
    pub const EXECUTE_STATEMENT: &str = "execute_statement";
    pub const EXPLAIN_QUERY: &str = "explain_query";
    pub const GET_SCHEMA_OVERVIEW: &str = "get_schema_overview";
    pub const LIST_SOURCE_TABLES: &str = "list_source_tables";
    pub const LIST_SOURCES: &str = "list_sources";
    pub const QUERY_DATABASE: &str = "query_database";
    pub const REMOVE_SOURCE: &str = "remove_source";
    pub const TEST_CONNECTION: &str = "test_connection";
}

/// The tools only admins may call.
pub const ADMIN_TOOLS: &[&str] = &["connect_postgres", "connect_source", "remove_source"];

#[derive(Deserialize, JsonSchema)]
pub struct ConnectPostgresArgs {
    /// The source's id within the tenant: lower-case letters, digits, `_`, `-`.
    pub name: String,
    pub host: String,
    /// Default 5432.
    pub port: Option<u16>,
    pub database: String,
    pub user: String,
    /// Stored sealed (AES-256-GCM); never shown again.
    #[schemars(extend("writeOnly" = true))]
    pub password: Option<String>,
    /// `disable`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
    pub ssl_mode: Option<SslMode>,
    /// Allow `execute_statement` to write through this source. Default false.
    #[serde(default)]
    pub read_write: bool,
    /// Allow `EXPLAIN ANALYZE`, which runs the statement. Default false.
    #[serde(default)]
    pub explain_analyze: bool,
    /// Accept a superuser or otherwise privileged role (the operator only). Default
    /// false: such a role is refused.
    #[serde(default)]
    pub allow_privileged_role: bool,
    /// Replace an existing source of the same name. Default false.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct ConnectSourceArgs {
    pub name: String,
    /// `postgres`, `mysql` (also MariaDB) or `sqlite`.
    pub kind: SourceKind,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    #[schemars(extend("writeOnly" = true))]
    pub password: Option<String>,
    pub ssl_mode: Option<SslMode>,
    /// The database file, for `sqlite` (an absolute path).
    pub path: Option<String>,
    #[serde(default)]
    pub read_write: bool,
    /// Allow `EXPLAIN ANALYZE`, which runs the statement. Default false.
    #[serde(default)]
    pub explain_analyze: bool,
    /// Accept a superuser or otherwise privileged role (the operator only).
    #[serde(default)]
    pub allow_privileged_role: bool,
    #[serde(default)]
    pub replace: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
pub struct SourceArgs {
    /// The source's id; omitted: the tenant's only source, or `desk` when it has none.
    pub connection_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct RemoveArgs {
    pub connection_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ListTablesArgs {
    pub connection_id: Option<String>,
    /// Only this schema (PostgreSQL) or database (MySQL).
    pub schema: Option<String>,
    /// Only tables whose name contains this text (case-insensitive on PostgreSQL).
    pub filter: Option<String>,
    /// Tables per page, 1-500; default 100.
    pub limit: Option<usize>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct DescribeArgs {
    pub connection_id: Option<String>,
    /// `table` or `schema.table` (`table` is accepted as this argument's name too).
    pub table_name: String,
    pub schema: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct OverviewArgs {
    pub connection_id: Option<String>,
    /// Size budget in characters; default 8000.
    pub max_chars: Option<usize>,
}

/// Bind values: an array for `$1, $2, …` (PostgreSQL, SQLite) or `?` (MySQL). An
/// empty object is accepted as "none", as some clients send `{}`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Params {
    Positional(Vec<Value>),
    Named(serde_json::Map<String, Value>),
}

impl Params {
    fn positional(self) -> Result<Vec<Value>, HubError> {
        match self {
            Params::Positional(values) => Ok(values),
            Params::Named(map) if map.is_empty() => Ok(Vec::new()),
            Params::Named(_) => Err(HubError::invalid_argument(
                "params",
                "pass bind values as an array, in placeholder order ($1, $2, … or ?)",
            )),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// One SQL statement. On a read-only source only reads run.
    pub query: String,
    pub params: Option<Params>,
    /// The source's id; omitted: the tenant's only source, or `desk` when it has none.
    pub connection_id: Option<String>,
    /// Row cap for this call (default and maximum are configured: 1000 and 10000).
    pub max_rows: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ExplainArgs {
    pub query: String,
    pub params: Option<Params>,
    pub connection_id: Option<String>,
    /// Run the query to report real timings (still read-only, under the timeout).
    #[serde(default)]
    pub analyze: bool,
}

impl ToolText for Connected {
    fn text(&self) -> String {
        format!(
            "Source '{}' ({}) {}. {}",
            self.source.id,
            self.source.kind.as_str(),
            if self.replaced {
                "replaced"
            } else {
                "registered"
            },
            self.test.text()
        )
    }
}

impl ToolText for ConnectionTest {
    fn text(&self) -> String {
        match (&self.failure, &self.server_version) {
            (None, version) => format!(
                "Connection OK: {} in {:.0} ms.",
                version.as_deref().unwrap_or("server"),
                self.latency_ms
            ),
            (Some(failure), _) => format!(
                "Connection FAILED ({}): {}\nHint: {}",
                failure.kind, failure.message, failure.hint
            ),
        }
    }
}

impl ToolText for SourceList {}
impl ToolText for Removed {}
impl ToolText for TablePage {}
impl ToolText for TableDescription {}
impl ToolText for QueryPlan {}

impl ToolText for SchemaOverview {
    fn text(&self) -> String {
        let mut text = format!(
            "{} ({}), {} tables:\n{}",
            self.source,
            self.kind.as_str(),
            self.table_count,
            self.tables.join("\n")
        );
        if self.truncated {
            text.push_str("\n… more tables left out; use list_source_tables to page through them.");
        }
        text
    }
}

impl ToolText for QueryResult {
    fn text(&self) -> String {
        let header: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut lines = vec![header.join(" | ")];
        for row in self.rows.iter().take(50) {
            lines.push(
                row.iter()
                    .map(|value| match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
        }
        if self.rows.len() > 50 {
            lines.push(format!(
                "… {} more rows in structuredContent",
                self.rows.len() - 50
            ));
        }
        let mut summary = format!("{} rows in {:.1} ms", self.row_count, self.elapsed_ms);
        if self.truncated {
            summary.push_str(&format!(" (TRUNCATED at the cap of {} rows)", self.row_cap));
        }
        if let Some(affected) = self.rows_affected {
            summary.push_str(&format!("; {affected} rows affected"));
        }
        lines.push(summary);
        lines.join("\n")
    }
}

impl ConnectSourceArgs {
    fn settings(&self) -> SourceSettings {
        SourceSettings {
            host: self.host.clone(),
            port: self.port,
            database: self.database.clone(),
            user: self.user.clone(),
            ssl_mode: self.ssl_mode,
            path: self.path.clone(),
            explain_analyze: self.explain_analyze,
            allow_privileged_role: self.allow_privileged_role,
        }
    }
}

impl From<ConnectPostgresArgs> for ConnectSourceArgs {
    fn from(args: ConnectPostgresArgs) -> Self {
        ConnectSourceArgs {
            name: args.name,
            kind: SourceKind::Postgres,
            host: Some(args.host),
            port: args.port,
            database: Some(args.database),
            user: Some(args.user),
            password: args.password,
            ssl_mode: args.ssl_mode,
            path: None,
            read_write: args.read_write,
            explain_analyze: args.explain_analyze,
            allow_privileged_role: args.allow_privileged_role,
            replace: args.replace,
        }
    }
}

impl From<ConnectSourceArgs> for NewSource {
    fn from(args: ConnectSourceArgs) -> Self {
        NewSource {
            settings: args.settings(),
            name: args.name,
            kind: args.kind,
            password: args.password.map(Zeroizing::new),
            read_write: args.read_write,
            replace: args.replace,
        }
    }
}

pub fn tool_set() -> ToolSet<DatabaseService> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::CONNECT_POSTGRES,
                title: "Register a PostgreSQL source",
                description: "Registers a PostgreSQL database as a named source for this tenant (admin). The password is stored encrypted and never shown again. Runs a connection test and reports it; the source is kept even if the test fails.",
                effect: Effect::Idempotent,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: ConnectPostgresArgs| async move {
                service.connect(&ctx, ConnectSourceArgs::from(args).into()).await
            },
        )
        .add(
            ToolSpec {
                name: names::CONNECT_SOURCE,
                title: "Register a database source",
                description: "Registers a PostgreSQL, MySQL/MariaDB or SQLite database as a named source for this tenant (admin). Passwords are stored encrypted. Runs a connection test and reports it.",
                effect: Effect::Idempotent,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: ConnectSourceArgs| async move {
                service.connect(&ctx, args.into()).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_SOURCES,
                title: "List database sources",
                description: "Lists this tenant's database sources (registered and configured), without passwords, and `desk`: the help desk's own customers, tickets, ticket_events, interactions and articles, read-only.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, _: NoArgs| async move {
                Ok(SourceList { sources: service.list(&ctx).await? })
            },
        )
        .add(
            ToolSpec {
                name: names::TEST_CONNECTION,
                title: "Test a source's connection",
                description: "Connects to a source and reports the server version and latency, or precisely why it failed (dns, refused, timeout, tls, auth, database-missing, file-missing) with a hint.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: SourceArgs| async move {
                service.test(&ctx, args.connection_id.as_deref()).await
            },
        )
        .add(
            ToolSpec {
                name: names::REMOVE_SOURCE,
                title: "Remove a database source",
                description: "Removes a registered source and its stored credentials, and closes its connections (admin).",
                effect: Effect::Destructive,
                open_world: false,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: RemoveArgs| async move {
                let removed = service.remove(&ctx, &args.connection_id).await?;
                Ok(Removed { source: args.connection_id, removed })
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_SOURCE_TABLES,
                title: "List a source's tables",
                description: "Lists tables and views with estimated row counts, a page at a time; filter by schema or by a name fragment.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: ListTablesArgs| async move {
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                let query = TableQuery {
                    schema: args.schema.as_deref(),
                    filter: args.filter.as_deref(),
                    limit: args.limit.unwrap_or(100).clamp(1, 500),
                    cursor: args.cursor.as_deref(),
                };
                service.list_tables(&ctx, &source, query).await
            },
        )
        .add(
            ToolSpec {
                name: names::DESCRIBE_TABLE,
                title: "Describe a table",
                description: "A table's or view's columns (types, nullability, defaults, comments), primary and foreign keys, and indexes.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: DescribeArgs| async move {
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                service.describe_table(&ctx, &source, &args.table_name, args.schema.as_deref()).await
            },
        )
        .add(
            ToolSpec {
                name: names::GET_SCHEMA_OVERVIEW,
                title: "Schema overview",
                description: "A compact map of a source: one line per table with its columns and estimated rows, cut to a size budget. Start here before writing SQL.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: OverviewArgs| async move {
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                service.overview(&ctx, &source, args.max_chars.unwrap_or(8000).clamp(500, 200_000)).await
            },
        )
        .add(
            ToolSpec {
                name: names::QUERY_DATABASE,
                title: "Query a database",
                description: "Runs one read-only SQL query (SELECT, VALUES, WITH … SELECT) with optional bind values ($1… or ?) and returns columns with types and rows as JSON. Writes, DDL, several statements and functions that touch files, the network or server state are refused with the reason. Rows are capped; `truncated` says when more existed.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: QueryArgs| async move {
                let params = args.params.map(Params::positional).transpose()?.unwrap_or_default();
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                service.query(&ctx, &source, &args.query, &params, args.max_rows, false).await
            },
        )
        .add(
            ToolSpec {
                name: names::EXECUTE_STATEMENT,
                title: "Write to a database",
                description: "Runs one statement that may write (INSERT, UPDATE, DELETE, DDL) on a source registered with read_write: true, in its own transaction, committed on success. Transaction control, COPY, session settings and file or network functions are refused.",
                effect: Effect::Destructive,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: QueryArgs| async move {
                let params = args.params.map(Params::positional).transpose()?.unwrap_or_default();
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                service.query(&ctx, &source, &args.query, &params, args.max_rows, true).await
            },
        )
        .add(
            ToolSpec {
                name: names::EXPLAIN_QUERY,
                title: "Explain a query",
                description: "The database's plan for a read-only query (JSON on PostgreSQL and MySQL). With analyze: true the query runs, read-only and under the timeout, and the plan has real timings.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            |service: Arc<DatabaseService>, ctx: CallContext, args: ExplainArgs| async move {
                let params = args.params.map(Params::positional).transpose()?.unwrap_or_default();
                let source = service.resolve(&ctx, args.connection_id.as_deref()).await?;
                service.explain(&ctx, &source, &args.query, &params, args.analyze).await
            },
        )
}
