//! The SQL guard: before a statement reaches a database, it is parsed in that
//! database's grammar and refused with a reason unless everything in it is allowed.
//!
//! The rules are allowlists, never denylists: a read may contain only the statement
//! and expression forms listed here and call only the functions listed per dialect
//! (`functions.rs`). Any other spelling of a dangerous function (a quoted or
//! Unicode-escaped name, a schema-qualified one, attribute notation such as
//! `(x).pg_read_file`) names something that is not on the list, so it is refused
//! whatever it resolves to.
//!
//! PostgreSQL text is read by PostgreSQL's own parser (libpg_query), so identifiers
//! arrive normalised exactly as the server will see them (`U&"..."` decoded, quoting
//! and case folding applied) and no comment, string or dollar quote can be read
//! differently. MySQL and SQLite have no embeddable server parser; sqlparser reads
//! them, and text whose reading depends on server settings (MySQL's executable
//! comments, `--` without a following space) is refused rather than guessed at.
//!
//! The guard is one layer: the statement still runs in a READ ONLY transaction, under
//! a statement timeout, as a role the source's checks found unprivileged.

mod functions;
mod postgres;
mod sqlparser_dialects;

/// Which grammar a statement is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    pub fn label(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL",
            Dialect::Sqlite => "SQLite",
        }
    }
}

/// What a statement may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads only: one query, or `EXPLAIN` of one, or `SHOW` of a setting.
    Read,
    /// One statement that changes data or tables on a `read_write` source; still no
    /// transaction control, session changes, roles, programs, files or code.
    Write,
}

/// What the caller may run on this source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// `EXPLAIN ANALYZE` runs the statement; only where the source allows it.
    pub explain_analyze: bool,
}

impl Policy {
    pub fn read() -> Self {
        Policy {
            mode: Mode::Read,
            explain_analyze: false,
        }
    }

    pub fn write() -> Self {
        Policy {
            mode: Mode::Write,
            explain_analyze: false,
        }
    }

    pub fn with_explain_analyze(mut self, allowed: bool) -> Self {
        self.explain_analyze = allowed;
        self
    }
}

/// Why a statement was refused: shown to the caller as it is, so it never quotes more
/// than a short piece of the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

pub(crate) fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// The one statement of a call's text, or why there is not exactly one.
pub(crate) fn single<T>(statements: &[T]) -> Result<&T, Refusal> {
    match statements {
        [] => refuse("the query is empty"),
        [one] => Ok(one),
        many => refuse(format!(
            "one statement per call: this text holds {} statements",
            many.len()
        )),
    }
}

/// What the guard learned about an accepted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The statement returns rows (a query, EXPLAIN or SHOW) rather than a count.
    pub returns_rows: bool,
    /// The statement is a plain query (not EXPLAIN or SHOW), so it may be wrapped
    /// in an outer query, for example to cut long values on the server.
    pub is_plain_query: bool,
    /// Where the one statement lies in the text, without a trailing `;` or comment,
    /// when the parser reports it (PostgreSQL's does).
    pub statement: Option<std::ops::Range<usize>>,
}

/// Statements longer than this are refused before parsing: no legitimate analysis
/// query needs more, and parse trees grow with the text.
pub const MAX_STATEMENT_BYTES: usize = 256 * 1024;

/// Checks `sql` against `policy` in `dialect`.
pub fn check(dialect: Dialect, policy: Policy, sql: &str) -> Result<Checked, Refusal> {
    if sql.trim().is_empty() {
        return refuse("the query is empty");
    }
    if sql.len() > MAX_STATEMENT_BYTES {
        return refuse(format!(
            "the query is {} bytes long; at most {MAX_STATEMENT_BYTES} are accepted",
            sql.len()
        ));
    }
    match dialect {
        Dialect::Postgres => postgres::check(policy, sql),
        Dialect::Mysql | Dialect::Sqlite => sqlparser_dialects::check(dialect, policy, sql),
    }
}

/// Whether `name` (as the dialect normalises it) is a function a statement may call.
pub fn function_allowed(dialect: Dialect, mode: Mode, name: &str) -> bool {
    functions::allowed(dialect, mode, name)
}

/// A short, single-line excerpt of a name or statement for a message: at most 64
/// characters, then an ellipsis and the full length.
pub(crate) fn excerpt(text: &str) -> String {
    const SHOWN: usize = 64;
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let count = flat.chars().count();
    if count <= SHOWN {
        flat
    } else {
        let head: String = flat.chars().take(SHOWN).collect();
        format!("{head}… ({count} characters)")
    }
}
