//! PostgreSQL statements, read by PostgreSQL's own parser (libpg_query). The parse
//! tree is walked generically, node by node, so no part of it is skipped: every node
//! kind must be on the list for the mode, every function call must name an allowed
//! function (bare or in `pg_catalog`), and the few node kinds that need more than a
//! yes (attribute notation, EXPLAIN options, table samples, `SELECT … INTO`) are
//! looked at closely.

use pg_query::{ParserOptions, protobuf::ObjectType};
use serde_json::{Map, Value};

use crate::{Checked, Dialect, Mode, Policy, Refusal, excerpt, functions, refuse, single};

/// Node kinds a read may contain: one query with its expressions, `EXPLAIN` of one,
/// and `SHOW`.
const READ_NODES: &[&str] = &[
    "RawStmt",
    "SelectStmt",
    "ResTarget",
    "ColumnRef",
    "AStar",
    "AConst",
    "Integer",
    "Float",
    "Boolean",
    "String",
    "BitString",
    "List",
    "AExpr",
    "BoolExpr",
    "NullTest",
    "BooleanTest",
    "FuncCall",
    "TypeCast",
    "TypeName",
    "CollateClause",
    "SubLink",
    "CaseExpr",
    "CaseWhen",
    "CoalesceExpr",
    "MinMaxExpr",
    "SqlvalueFunction",
    "RowExpr",
    "AArrayExpr",
    "AIndices",
    "AIndirection",
    "ParamRef",
    "RangeVar",
    "RangeSubselect",
    "RangeFunction",
    "RangeTableSample",
    "JoinExpr",
    "Alias",
    "SortBy",
    "WindowDef",
    "WithClause",
    "CommonTableExpr",
    "CtesearchClause",
    "CtecycleClause",
    "GroupingSet",
    "GroupingFunc",
    "ColumnDef",
    "XmlExpr",
    "XmlSerialize",
    "JsonValueExpr",
    "JsonFormat",
    "JsonReturning",
    "JsonOutput",
    "JsonKeyValue",
    "JsonObjectConstructor",
    "JsonArrayConstructor",
    "JsonArrayQueryConstructor",
    "JsonAggConstructor",
    "JsonObjectAgg",
    "JsonArrayAgg",
    "JsonIsPredicate",
    "JsonParseExpr",
    "JsonScalarExpr",
    "JsonSerializeExpr",
    "JsonFuncExpr",
    "JsonBehavior",
    "JsonArgument",
    "JsonTable",
    "JsonTableColumn",
    "JsonTablePathSpec",
    "ExplainStmt",
    "DefElem",
    "VariableShowStmt",
];

/// Further node kinds a write may contain: changing rows, and creating, altering and
/// dropping tables, views, indexes and sequences. Functions, procedures, triggers,
/// rules, extensions, roles, COPY and DO stay out: each runs code the guard cannot
/// read.
const WRITE_NODES: &[&str] = &[
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "MergeWhenClause",
    "OnConflictClause",
    "InferClause",
    "IndexElem",
    "MultiAssignRef",
    "SetToDefault",
    "ReturningClause",
    "ReturningOption",
    "CreateStmt",
    "CreateTableAsStmt",
    "IntoClause",
    "Constraint",
    "TableLikeClause",
    "PartitionSpec",
    "PartitionElem",
    "PartitionBoundSpec",
    "PartitionRangeDatum",
    "PartitionCmd",
    "AlterTableStmt",
    "AlterTableCmd",
    "IndexStmt",
    "ViewStmt",
    "DropStmt",
    "TruncateStmt",
    "CommentStmt",
    "CreateSeqStmt",
    "AlterSeqStmt",
    "RenameStmt",
];

/// Statement kinds a read may be.
const READ_STATEMENTS: &[&str] = &["SelectStmt", "ExplainStmt", "VariableShowStmt"];

/// The EXPLAIN options that only shape the output.
const EXPLAIN_OPTIONS: &[&str] = &[
    "verbose",
    "costs",
    "settings",
    "generic_plan",
    "buffers",
    "serialize",
    "wal",
    "timing",
    "summary",
    "memory",
    "format",
];

pub fn check(policy: Policy, sql: &str) -> Result<Checked, Refusal> {
    // Parsed with the server's defaults for strings (`standard_conforming_strings`
    // on), which the toolkit sets on every session it opens. A panic inside the
    // parser's Rust wrapper is a refusal, not a crash.
    let parsed = std::panic::catch_unwind(|| pg_query::parse(sql, ParserOptions::DEFAULT))
        .map_err(|_| Refusal("the query could not be parsed as PostgreSQL SQL".into()))?
        .map_err(|error| {
            Refusal(format!(
                "the query could not be parsed as PostgreSQL SQL, so it was not run: {}",
                excerpt(&error.to_string())
            ))
        })?;
    let tree = serde_json::to_value(&parsed.protobuf).map_err(|error| {
        Refusal(format!(
            "the query's parse tree could not be read: {}",
            excerpt(&error.to_string())
        ))
    })?;
    let statements = tree
        .get("stmts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let statement = single(statements)?;
    let (kind, body) = statement
        .get("stmt")
        .and_then(node)
        .ok_or_else(|| Refusal("the query is empty".into()))?;
    if policy.mode == Mode::Read && !READ_STATEMENTS.contains(&kind) {
        return refuse(format!(
            "this source is read-only and `{}` is not a query; only SELECT, VALUES, TABLE, WITH … SELECT, EXPLAIN and SHOW run here",
            statement_label(kind)
        ));
    }
    if policy.mode == Mode::Write {
        check_write_statement(kind, body)?;
    }
    let mut walker = Walker { policy };
    walker.statement(kind, body)?;
    Ok(Checked {
        returns_rows: READ_STATEMENTS.contains(&kind) || has_returning(body),
        is_plain_query: kind == "SelectStmt",
        statement: span(statement, sql.len()),
    })
}

/// The byte range of a raw statement: `stmt_len` 0 means "to the end of the text".
fn span(raw: &Value, text_len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(
        raw.get("stmt_location")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    )
    .ok()?;
    let len = usize::try_from(raw.get("stmt_len").and_then(Value::as_i64).unwrap_or(0)).ok()?;
    let end = if len == 0 {
        text_len
    } else {
        start.checked_add(len)?
    };
    (start <= end && end <= text_len).then_some(start..end)
}

/// A data-changing statement with `RETURNING` hands back rows.
fn has_returning(body: &Map<String, Value>) -> bool {
    body.get("returning_list")
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
        || body
            .get("returning_clause")
            .and_then(|clause| clause.get("exprs"))
            .and_then(Value::as_array)
            .is_some_and(|list| !list.is_empty())
}

/// The node a `Node` wrapper holds: `{"node": {"Kind": {...}}}`.
fn node(value: &Value) -> Option<(&str, &Map<String, Value>)> {
    let inner = value.as_object()?.get("node")?.as_object()?;
    let (kind, body) = inner.iter().next()?;
    Some((kind.as_str(), body.as_object()?))
}

/// Whether an object is a `Node` wrapper rather than a typed field.
fn is_node_wrapper(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && match map.get("node") {
            Some(Value::Null) => true,
            Some(Value::Object(inner)) => {
                inner.len() == 1
                    && inner
                        .keys()
                        .next()
                        .is_some_and(|kind| kind.starts_with(|c: char| c.is_ascii_uppercase()))
            }
            _ => false,
        }
}

/// The names of a list of `String` nodes (`["pg_catalog", "lower"]`).
fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let (kind, body) = node(item)?;
                    (kind == "String")
                        .then(|| body.get("sval").and_then(Value::as_str).map(str::to_string))
                        .flatten()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn statement_label(kind: &str) -> String {
    let label = kind.strip_suffix("Stmt").unwrap_or(kind);
    let mut words = String::new();
    for (index, c) in label.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_uppercase());
    }
    match kind {
        "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => words,
        "VariableSetStmt" => "SET".into(),
        "TransactionStmt" => "transaction control".into(),
        "CopyStmt" => "COPY".into(),
        "DoStmt" => "DO".into(),
        _ => words,
    }
}

/// Writes: only the statement kinds on the list, and of DROP only tables, views,
/// indexes and sequences.
fn check_write_statement(kind: &str, body: &Map<String, Value>) -> Result<(), Refusal> {
    let reason = match kind {
        "TransactionStmt" => {
            "transaction control is not allowed: each call runs in its own transaction"
        }
        "CopyStmt" => "COPY is not allowed: it reads and writes server files and programs",
        "VariableSetStmt" | "AlterSystemStmt" | "AlterRoleSetStmt" | "AlterDatabaseSetStmt" => {
            "changing settings is not allowed"
        }
        "GrantStmt" | "GrantRoleStmt" | "CreateRoleStmt" | "AlterRoleStmt" | "DropRoleStmt" => {
            "changing roles and privileges is not allowed"
        }
        "LockStmt" => "explicit table locks are not allowed: they outlive the statement",
        "CreateFunctionStmt"
        | "DoStmt"
        | "CallStmt"
        | "CreateTrigStmt"
        | "RuleStmt"
        | "CreateExtensionStmt"
        | "LoadStmt"
        | "CreateEventTrigStmt" => {
            "statements that define or run code are not allowed: the guard cannot read the code"
        }
        _ if WRITE_NODES.contains(&kind) || READ_STATEMENTS.contains(&kind) => {
            if kind == "DropStmt" {
                let object = body.get("remove_type").and_then(Value::as_i64);
                let droppable = [
                    ObjectType::ObjectTable,
                    ObjectType::ObjectView,
                    ObjectType::ObjectIndex,
                    ObjectType::ObjectSequence,
                    ObjectType::ObjectMatview,
                ]
                .map(|kind| kind as i64);
                if !object.is_some_and(|object| droppable.contains(&object)) {
                    return refuse("DROP is allowed for tables, views, indexes and sequences only");
                }
            }
            return Ok(());
        }
        _ => {
            return refuse(format!(
                "`{}` is not one of the statements a read_write source runs (queries, INSERT, UPDATE, DELETE, MERGE, and CREATE/ALTER/DROP of tables, views, indexes and sequences)",
                statement_label(kind)
            ));
        }
    };
    refuse(reason)
}

struct Walker {
    policy: Policy,
}

impl Walker {
    fn allowed_node(&self, kind: &str) -> bool {
        READ_NODES.contains(&kind)
            || (self.policy.mode == Mode::Write && WRITE_NODES.contains(&kind))
    }

    fn statement(&mut self, kind: &str, body: &Map<String, Value>) -> Result<(), Refusal> {
        // The parse tree can be deep (nested parentheses, subqueries); an explicit
        // stack keeps the walk off the call stack.
        let mut stack: Vec<(&str, &Value)> = Vec::new();
        self.node(kind, body, "")?;
        for value in body.values() {
            stack.push((kind, value));
        }
        while let Some((parent, value)) = stack.pop() {
            match value {
                Value::Object(map) if is_node_wrapper(map) => {
                    if let Some((kind, body)) = node(value) {
                        self.node(kind, body, parent)?;
                        for child in body.values() {
                            stack.push((kind, child));
                        }
                    }
                }
                Value::Object(map) => {
                    for child in map.values() {
                        stack.push((parent, child));
                    }
                }
                Value::Array(items) => {
                    for item in items {
                        stack.push((parent, item));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks one node; its children are checked by the walk.
    fn node(&mut self, kind: &str, body: &Map<String, Value>, parent: &str) -> Result<(), Refusal> {
        if !self.allowed_node(kind) {
            return Err(self.refuse_node(kind));
        }
        match kind {
            "FuncCall" => {
                let name = names(body.get("funcname"));
                self.function(&name)?;
            }
            "AExpr" => {
                let operator = names(body.get("name"));
                if operator.len() > 1 && operator[0] != "pg_catalog" {
                    return refuse(format!(
                        "the operator {} is not one of PostgreSQL's own (pg_catalog)",
                        excerpt(&operator.join("."))
                    ));
                }
            }
            "AIndirection" => {
                // `(value).name` calls the function `name` when the value has no field
                // of that name, so a selected field is checked as a call.
                for field in names(body.get("indirection")) {
                    if !functions::allowed(Dialect::Postgres, self.policy.mode, &field) {
                        return refuse(format!(
                            "`(…).{}` is not allowed: PostgreSQL reads a field selection as a call of the function of that name; select the column from its table instead",
                            excerpt(&field)
                        ));
                    }
                }
            }
            "SelectStmt"
                if self.policy.mode == Mode::Read
                    && body.get("into_clause").is_some_and(|into| !into.is_null()) =>
            {
                return refuse("SELECT … INTO creates a table; it is not allowed in a read");
            }
            "SelectStmt" => {
                let locks = body
                    .get("locking_clause")
                    .and_then(Value::as_array)
                    .is_some_and(|locks| !locks.is_empty());
                if locks && self.policy.mode == Mode::Read {
                    return refuse("row locks (FOR UPDATE / FOR SHARE) are not allowed in a read");
                }
            }
            "RangeTableSample" => {
                let method = names(body.get("method"));
                if !matches!(method.as_slice(), [m] if m == "bernoulli" || m == "system") {
                    return refuse("TABLESAMPLE takes BERNOULLI or SYSTEM only");
                }
            }
            "DefElem" => self.definition(body, parent)?,
            "ExplainStmt" => self.explain(body)?,
            _ => {}
        }
        Ok(())
    }

    fn refuse_node(&self, kind: &str) -> Refusal {
        let what = match kind {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                "the query writes (a data-modifying WITH or subquery)".to_string()
            }
            "LockingClause" => "row locks (FOR UPDATE / FOR SHARE) are not allowed".to_string(),
            "IntoClause" => "SELECT … INTO creates a table".to_string(),
            "RangeTableFunc" => "XMLTABLE is not allowed".to_string(),
            other => format!("it contains `{}`", statement_label(other)),
        };
        if self.policy.mode == Mode::Read {
            Refusal(format!("this source is read-only and {what}"))
        } else {
            Refusal(format!("this statement is not allowed: {what}"))
        }
    }

    fn function(&self, name: &[String]) -> Result<(), Refusal> {
        let bare = match name {
            [bare] => bare.as_str(),
            [schema, bare] if schema == "pg_catalog" => bare.as_str(),
            _ => {
                return refuse(format!(
                    "the function `{}` is not allowed: only PostgreSQL's built-in functions (unqualified or in pg_catalog) may be called",
                    excerpt(&name.join("."))
                ));
            }
        };
        if functions::allowed(Dialect::Postgres, self.policy.mode, bare) {
            Ok(())
        } else {
            refuse(format!(
                "the function `{}` is not allowed: only functions that compute from their arguments may be called (not files, the network, other sessions, locks, settings or SQL given as text)",
                excerpt(bare)
            ))
        }
    }

    /// `DefElem` appears as an EXPLAIN option in a read; in a write, as table and
    /// index options, which only shape storage.
    fn definition(&self, body: &Map<String, Value>, parent: &str) -> Result<(), Refusal> {
        match parent {
            "ExplainStmt" => {
                let name = body.get("defname").and_then(Value::as_str).unwrap_or("");
                if name == "analyze" {
                    if self.policy.explain_analyze {
                        return Ok(());
                    }
                    return refuse(
                        "EXPLAIN ANALYZE runs the statement and this source does not allow it (an admin may set explain_analyze on the source)",
                    );
                }
                if EXPLAIN_OPTIONS.contains(&name) {
                    Ok(())
                } else {
                    refuse(format!("EXPLAIN option `{}` is not allowed", excerpt(name)))
                }
            }
            _ if self.policy.mode == Mode::Write => Ok(()),
            _ => refuse("this source is read-only and the statement sets options"),
        }
    }

    /// EXPLAIN of a query (or, on a read_write source, of a write).
    fn explain(&self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let Some((kind, _)) = body.get("query").and_then(node) else {
            return refuse("EXPLAIN needs a statement to explain");
        };
        let explainable = kind == "SelectStmt"
            || self.policy.mode == Mode::Write
                && matches!(
                    kind,
                    "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
                );
        if explainable {
            Ok(())
        } else {
            Err(self.refuse_node(kind))
        }
    }
}
