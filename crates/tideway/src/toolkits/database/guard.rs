//! The SQL guard: every statement is parsed with sqlparser in the source's dialect
//! before it reaches a database, and refused with a reason unless it is one statement
//! of an allowed kind. For `query_database` that is a read: one query (SELECT,
//! VALUES, TABLE, WITH … SELECT) that does not write through a CTE, take row locks,
//! create a table with `SELECT INTO`, or call a function that reaches files, the
//! network, other sessions or server state. The guard is defence in depth: the query
//! still runs in a READ ONLY transaction with a statement timeout, so the database
//! enforces what the parser might miss. Text the parser cannot read is refused rather
//! than guessed at.

use std::ops::ControlFlow;

use sqlparser::{
    ast::{Expr, ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor},
    dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect},
    parser::Parser,
};

use super::model::SourceKind;

/// What a statement may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads only (`query_database`, `explain_query`).
    Read,
    /// Anything one statement may do on a `read_write` source, except leaving the
    /// call's transaction, changing the session, or reaching files and the network.
    Write,
}

/// Why a statement was refused: shown to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

fn dialect(kind: SourceKind) -> Box<dyn Dialect> {
    match kind {
        SourceKind::Postgres => Box::new(PostgreSqlDialect {}),
        SourceKind::Mysql => Box::new(MySqlDialect {}),
        SourceKind::Sqlite => Box::new(SQLiteDialect {}),
    }
}

/// What the guard learned about an accepted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Whether the statement is a query (returns rows) rather than a command.
    pub is_query: bool,
}

/// Checks `sql` for `mode` on a source of `kind`.
pub fn check(kind: SourceKind, mode: Mode, sql: &str) -> Result<Checked, Refusal> {
    if sql.trim().is_empty() {
        return refuse("the query is empty");
    }
    let dialect = dialect(kind);
    let statements = Parser::parse_sql(dialect.as_ref(), sql).map_err(|error| {
        Refusal(format!(
            "the query could not be parsed as {} SQL, so it was not run: {error}",
            kind.label()
        ))
    })?;
    let statement = match statements.as_slice() {
        [] => return refuse("the query is empty"),
        [one] => one,
        many => {
            return refuse(format!(
                "one statement per call: this text holds {} statements",
                many.len()
            ));
        }
    };
    let is_query = matches!(statement, Statement::Query(_));
    match mode {
        Mode::Read if !is_query => {
            return refuse(format!(
                "this source is read-only and `{}` is not a query; only SELECT, VALUES, TABLE and WITH … SELECT run here",
                statement_kind(statement)
            ));
        }
        Mode::Write => check_write_statement(statement)?,
        Mode::Read => {}
    }
    let mut inspector = Inspector { kind, mode };
    match statement.visit(&mut inspector) {
        ControlFlow::Break(refusal) => Err(refusal),
        ControlFlow::Continue(()) => Ok(Checked { is_query }),
    }
}

/// The leading keywords of a statement, for messages.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "START" | "SET" | "SHOW" | "LOCK"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => "statement".into(),
    }
}

fn check_write_statement(statement: &Statement) -> Result<(), Refusal> {
    let reason = match statement {
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => {
            "transaction control is not allowed: each call runs in its own transaction"
        }
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => {
            "COPY is not allowed: it reads and writes server files and programs"
        }
        Statement::Set(_) => "changing session settings is not allowed",
        Statement::AttachDatabase { .. }
        | Statement::AttachDuckDBDatabase { .. }
        | Statement::DetachDuckDBDatabase { .. } => "attaching databases is not allowed",
        Statement::Pragma { .. } => "PRAGMA is not allowed",
        Statement::Load { .. } | Statement::Install { .. } | Statement::LoadData { .. } => {
            "loading extensions or files is not allowed"
        }
        Statement::Grant { .. }
        | Statement::Revoke { .. }
        | Statement::CreateRole { .. }
        | Statement::AlterRole { .. }
        | Statement::CreateUser { .. } => "changing roles and privileges is not allowed",
        Statement::Kill { .. } => "KILL is not allowed",
        Statement::Lock(_) | Statement::LockTables { .. } | Statement::UnlockTables => {
            "explicit table locks are not allowed: they outlive the statement"
        }
        _ => return Ok(()),
    };
    refuse(reason)
}

/// Functions no call may reach, by their unqualified lower-case name: file and
/// network access, other sessions, server state, sequences and locks that outlive the
/// transaction. Prefixes cover whole families (`lo_*`, `dblink*`, `pg_ls_*`).
const DENIED_FUNCTIONS: &[&str] = &[
    // PostgreSQL: files, programs, the server and other sessions
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_sync",
    "pg_logdir_ls",
    "set_config",
    "nextval",
    "setval",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_switch_xlog",
    "pg_create_restore_point",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_notify",
    "pg_import_system_collations",
    "pg_wal_replay_pause",
    "pg_wal_replay_resume",
    "pg_log_backend_memory_contexts",
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "txid_current",
    "pg_current_xact_id",
    // MySQL / MariaDB
    "load_file",
    "sys_exec",
    "sys_eval",
    "get_lock",
    "release_lock",
    "release_all_locks",
    "benchmark",
    "master_pos_wait",
    "source_pos_wait",
    // SQLite
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "fsdir",
    "zipfile",
];

const DENIED_PREFIXES: &[&str] = &[
    "lo_",
    "dblink",
    "pg_ls_",
    "pg_read_",
    "pg_advisory",
    "pg_try_advisory",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_stat_reset",
    "pg_copy_",
    "sqlar_",
];

/// Why calling the function named `name` is refused, if it is.
fn denied_function(name: &ObjectName) -> Option<String> {
    let last = name.0.last()?;
    let bare = match last.as_ident() {
        Some(ident) => ident.value.to_ascii_lowercase(),
        None => last.to_string().to_ascii_lowercase(),
    };
    let denied = DENIED_FUNCTIONS.contains(&bare.as_str())
        || DENIED_PREFIXES
            .iter()
            .any(|prefix| bare.starts_with(prefix));
    denied.then(|| {
        format!(
            "the function `{bare}` is not allowed: it reaches files, the network, other sessions or server state"
        )
    })
}

struct Inspector {
    kind: SourceKind,
    mode: Mode,
}

impl Visitor for Inspector {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        // Nested statements: a data-modifying CTE or subquery in a read.
        if self.mode == Mode::Read && !matches!(statement, Statement::Query(_)) {
            return ControlFlow::Break(Refusal(format!(
                "this source is read-only and the query contains a `{}`",
                statement_kind(statement)
            )));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if self.mode == Mode::Read {
            if !query.locks.is_empty() {
                return ControlFlow::Break(Refusal(
                    "row locks (FOR UPDATE / FOR SHARE) are not allowed in a read".into(),
                ));
            }
            if matches!(
                *query.body,
                SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
            ) {
                return ControlFlow::Break(Refusal(
                    "this source is read-only and the query writes (a data-modifying WITH or subquery)"
                        .into(),
                ));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &sqlparser::ast::Select) -> ControlFlow<Refusal> {
        if self.mode == Mode::Read && select.into.is_some() {
            return ControlFlow::Break(Refusal(
                "SELECT … INTO creates a table or writes a file; it is not allowed in a read"
                    .into(),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        let name = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => name,
            TableFactor::Table { name, .. }
                if self.kind == SourceKind::Sqlite
                    && name
                        .0
                        .last()
                        .is_some_and(|part| part.to_string().eq_ignore_ascii_case("fsdir")) =>
            {
                name
            }
            _ => return ControlFlow::Continue(()),
        };
        match denied_function(name) {
            Some(reason) => ControlFlow::Break(Refusal(reason)),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        if let Expr::Function(function) = expr
            && let Some(reason) = denied_function(&function.name)
        {
            return ControlFlow::Break(Refusal(reason));
        }
        ControlFlow::Continue(())
    }
}

impl SourceKind {
    fn label(self) -> &'static str {
        match self {
            SourceKind::Postgres => "PostgreSQL",
            SourceKind::Mysql => "MySQL",
            SourceKind::Sqlite => "SQLite",
        }
    }
}
