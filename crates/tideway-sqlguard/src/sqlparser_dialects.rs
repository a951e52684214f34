//! MySQL/MariaDB and SQLite statements, read by sqlparser in the source's dialect
//! (no embeddable server parser exists for either). Statements are allowed by kind,
//! functions by name (`functions.rs`), and text that these servers could read
//! differently from sqlparser is refused first.

use std::ops::ControlFlow;

use sqlparser::{
    ast::{
        AccessExpr, Expr, ObjectName, ObjectType, Query, Select, SetExpr, Statement, TableFactor,
        Visit, Visitor,
    },
    dialect::{MySqlDialect, SQLiteDialect},
    parser::Parser,
    tokenizer::{Token, Tokenizer, Whitespace},
};

use crate::{Checked, Dialect, Mode, Policy, Refusal, excerpt, functions, refuse, single};

/// sqlparser stops at this depth of nested expressions instead of overflowing the stack.
const RECURSION_LIMIT: usize = 64;

pub fn check(dialect: Dialect, policy: Policy, sql: &str) -> Result<Checked, Refusal> {
    let grammar: Box<dyn sqlparser::dialect::Dialect> = match dialect {
        Dialect::Mysql => Box::new(MySqlDialect {}),
        _ => Box::new(SQLiteDialect {}),
    };
    if dialect == Dialect::Mysql {
        refuse_server_specific_text(grammar.as_ref(), sql)?;
    }
    let statements = Parser::new(grammar.as_ref())
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|error| {
            Refusal(format!(
                "the query could not be parsed as {} SQL, so it was not run: {}",
                dialect.label(),
                excerpt(&error.to_string())
            ))
        })?;
    let statement = single(&statements)?;
    let reads = read_statement(statement, policy)?;
    if policy.mode == Mode::Read && !reads {
        return refuse(format!(
            "this source is read-only and `{}` is not a query; only SELECT, VALUES, WITH … SELECT, EXPLAIN and SHOW run here",
            statement_kind(statement)
        ));
    }
    if policy.mode == Mode::Write && !reads {
        check_write_statement(statement)?;
    }
    let mut inspector = Inspector {
        dialect,
        mode: policy.mode,
        depth: 0,
    };
    if let ControlFlow::Break(refusal) = statement.visit(&mut inspector) {
        return Err(refusal);
    }
    let returns_rows = reads
        || matches!(statement, Statement::Insert(insert) if insert.returning.is_some())
        || matches!(statement, Statement::Update(update) if update.returning.is_some())
        || matches!(statement, Statement::Delete(delete) if delete.returning.is_some());
    Ok(Checked {
        returns_rows,
        is_plain_query: matches!(statement, Statement::Query(_)),
        statement: None,
    })
}

/// MySQL runs the body of `/*! … */` and `/*M! … */` comments as SQL; sqlparser, like
/// any reader but the server, sees a comment. Such text is refused.
fn refuse_server_specific_text(
    grammar: &dyn sqlparser::dialect::Dialect,
    sql: &str,
) -> Result<(), Refusal> {
    let tokens = Tokenizer::new(grammar, sql).tokenize().map_err(|error| {
        Refusal(format!(
            "the query could not be read as MySQL SQL, so it was not run: {}",
            excerpt(&error.to_string())
        ))
    })?;
    for token in tokens {
        if let Token::Whitespace(Whitespace::MultiLineComment(body)) = token
            && (body.starts_with('!') || body.starts_with("M!"))
        {
            return refuse(
                "MySQL executable comments (/*! … */) are not allowed: the server runs what they hold",
            );
        }
    }
    debug_assert!(grammar.requires_single_line_comment_whitespace());
    Ok(())
}

/// Whether the statement only reads: a query, EXPLAIN of one, DESCRIBE, or SHOW.
fn read_statement(statement: &Statement, policy: Policy) -> Result<bool, Refusal> {
    Ok(match statement {
        Statement::Query(_) | Statement::ExplainTable { .. } => true,
        Statement::Explain {
            analyze, statement, ..
        } => {
            if !matches!(**statement, Statement::Query(_)) {
                return match policy.mode {
                    Mode::Read => refuse(format!(
                        "this source is read-only and EXPLAIN may only explain a query, not `{}`",
                        statement_kind(statement)
                    )),
                    Mode::Write => Ok(false),
                };
            }
            if *analyze && !policy.explain_analyze {
                return refuse(
                    "EXPLAIN ANALYZE runs the statement and this source does not allow it (an admin may set explain_analyze on the source)",
                );
            }
            true
        }
        Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowFunctions { .. } => true,
        _ => false,
    })
}

/// The leading keywords of a statement, for messages.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<String> = text
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.as_str(),
                "CREATE" | "DROP" | "ALTER" | "START" | "SET" | "SHOW" | "LOCK"
            ) =>
        {
            excerpt(&format!("{first} {second}"))
        }
        [first, ..] => excerpt(first),
        [] => "statement".into(),
    }
}

/// Writes: changing rows, and creating, altering and dropping tables, views and
/// indexes. Everything else (transactions, settings, roles, files, code) is refused.
fn check_write_statement(statement: &Statement) -> Result<(), Refusal> {
    let reason = match statement {
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::AlterTable(_)
        | Statement::Truncate(_)
        | Statement::Comment { .. } => return Ok(()),
        Statement::Drop { object_type, .. } => {
            return match object_type {
                ObjectType::Table
                | ObjectType::View
                | ObjectType::Index
                | ObjectType::MaterializedView
                | ObjectType::Sequence => Ok(()),
                _ => refuse("DROP is allowed for tables, views, indexes and sequences only"),
            };
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => {
            "transaction control is not allowed: each call runs in its own transaction"
        }
        Statement::Set(_) => "changing session settings is not allowed",
        Statement::AttachDatabase { .. } => "attaching databases is not allowed",
        Statement::Pragma { .. } => "PRAGMA is not allowed",
        Statement::LoadData { .. } => "loading files is not allowed",
        Statement::Grant { .. } | Statement::Revoke { .. } => {
            "changing roles and privileges is not allowed"
        }
        Statement::Lock(_) | Statement::LockTables { .. } | Statement::UnlockTables => {
            "explicit table locks are not allowed: they outlive the statement"
        }
        other => {
            return refuse(format!(
                "`{}` is not one of the statements a read_write source runs (queries, INSERT, UPDATE, DELETE, MERGE, and CREATE/ALTER/DROP of tables, views and indexes)",
                statement_kind(other)
            ));
        }
    };
    refuse(reason)
}

struct Inspector {
    dialect: Dialect,
    mode: Mode,
    depth: usize,
}

impl Inspector {
    /// Why calling `name` is refused, if it is. A schema-qualified name is a stored
    /// function of the database, never a built-in one, so it is refused.
    fn function(&self, name: &ObjectName) -> Option<Refusal> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|part| match part.as_ident() {
                Some(ident) => ident.value.clone(),
                None => part.to_string(),
            })
            .collect();
        let [bare] = parts.as_slice() else {
            return Some(Refusal(format!(
                "the function `{}` is not allowed: only the database's built-in functions may be called",
                excerpt(&parts.join("."))
            )));
        };
        (!functions::allowed(self.dialect, self.mode, bare)).then(|| {
            Refusal(format!(
                "the function `{}` is not allowed: only functions that compute from their arguments may be called (not files, the network, other sessions, locks or settings)",
                excerpt(&bare.to_ascii_lowercase())
            ))
        })
    }
}

impl Visitor for Inspector {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        self.depth += 1;
        // A statement inside the statement (a data-modifying CTE or subquery).
        if self.depth > 1 && self.mode == Mode::Read && !matches!(statement, Statement::Query(_)) {
            return ControlFlow::Break(Refusal(format!(
                "this source is read-only and the query contains a `{}`",
                statement_kind(statement)
            )));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<Refusal> {
        self.depth -= 1;
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

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return ControlFlow::Break(Refusal(
                "SELECT … INTO creates a table or writes a file; it is not allowed".into(),
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
            TableFactor::TableFunction { .. } => {
                return ControlFlow::Break(Refusal("table functions are not allowed here".into()));
            }
            _ => return ControlFlow::Continue(()),
        };
        match self.function(name) {
            Some(refusal) => ControlFlow::Break(refusal),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Function(function) => {
                if let Some(refusal) = self.function(&function.name) {
                    return ControlFlow::Break(refusal);
                }
            }
            // `(value).name`: neither server reads it as a field of a value; what
            // the reader cannot place is refused rather than passed on.
            Expr::CompoundFieldAccess { access_chain, .. }
                if access_chain
                    .iter()
                    .any(|access| matches!(access, AccessExpr::Dot(_))) =>
            {
                return ControlFlow::Break(Refusal(
                    "`(…).name` field selection is not allowed here; select the column from its table instead".into(),
                ));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
