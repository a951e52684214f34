//! The SQL guard for database sources: the source's kind picks the grammar, the call
//! and the source's settings pick the policy, and `tideway-sqlguard` decides. The
//! rules themselves (allowlists of statement forms and functions, PostgreSQL read by
//! its own parser) live in that crate, beside their tests.

pub use tideway_sqlguard::{Checked, Mode, Policy, Refusal};

use super::model::SourceKind;

impl SourceKind {
    pub fn dialect(self) -> tideway_sqlguard::Dialect {
        match self {
            SourceKind::Postgres => tideway_sqlguard::Dialect::Postgres,
            SourceKind::Mysql => tideway_sqlguard::Dialect::Mysql,
            SourceKind::Sqlite => tideway_sqlguard::Dialect::Sqlite,
        }
    }
}

/// Checks `sql` for `mode` on a source of `kind`; `EXPLAIN ANALYZE` only where
/// `explain_analyze` says the source allows it.
pub fn check(
    kind: SourceKind,
    mode: Mode,
    explain_analyze: bool,
    sql: &str,
) -> Result<Checked, Refusal> {
    let policy = match mode {
        Mode::Read => Policy::read(),
        Mode::Write => Policy::write(),
    };
    tideway_sqlguard::check(
        kind.dialect(),
        policy.with_explain_analyze(explain_analyze),
        sql,
    )
}
