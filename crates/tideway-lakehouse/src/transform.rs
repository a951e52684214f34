//! Turning tables into other tables. A Silver transform is a list of declarative
//! steps (select, rename, cast, trim, parse dates, fill or drop nulls, deduplicate,
//! filter) compiled to one SQL query, one common table expression per step, so the
//! plan can be shown before it runs and read by a person. A Gold table is a SQL query
//! the caller writes. Either way the query runs in the tenant's session (it can only
//! read the tenant's tables), streams into the target in one commit, and reports which
//! tables it read, for lineage.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::datafusion::{
    common::tree_node::TreeNodeRecursion,
    execution::context::SQLOptions,
    logical_expr::LogicalPlan,
    sql::sqlparser::{dialect::GenericDialect, parser::Parser, tokenizer::Token},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    catalog::{Lake, Layer, TableRef, WriteMode, Written, valid_table_name},
    error::LakeError,
    query::{QueryLimits, ResultColumn},
    stream::BatchStream,
};

/// One step of a Silver transform.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Keep only these columns, in this order.
    Select { columns: Vec<String> },
    /// Rename columns: `{"old": "new"}`.
    Rename { columns: BTreeMap<String, String> },
    /// Change column types: `{"amount": "decimal(12,2)", "paid": "boolean"}`. Types:
    /// string, int, bigint, double, decimal(p,s), boolean, date, timestamp. With
    /// `safe`, a value that does not convert becomes null instead of failing the run.
    Cast {
        columns: BTreeMap<String, String>,
        #[serde(default)]
        safe: bool,
    },
    /// Strip leading and trailing white space.
    Trim { columns: Vec<String> },
    /// Lower-case text.
    Lowercase { columns: Vec<String> },
    /// Upper-case text.
    Uppercase { columns: Vec<String> },
    /// Trim, and turn every run of white space into one space.
    NormalizeWhitespace { columns: Vec<String> },
    /// Text to a date, with a chrono format such as `%d/%m/%Y` (ISO dates without one).
    ParseDate {
        column: String,
        #[serde(default)]
        format: Option<String>,
    },
    /// Text to a timestamp, with a chrono format (RFC 3339 without one).
    ParseTimestamp {
        column: String,
        #[serde(default)]
        format: Option<String>,
    },
    /// Drop rows where any of these columns is null (all columns when none are named).
    DropNulls {
        #[serde(default)]
        columns: Vec<String>,
    },
    /// Replace nulls: `{"country": "unknown", "discount": 0}`.
    FillNulls {
        values: BTreeMap<String, serde_json::Value>,
    },
    /// Keep one row per key: the first by `order_by` (descending unless `ascending`).
    Deduplicate {
        keys: Vec<String>,
        #[serde(default)]
        order_by: Option<String>,
        #[serde(default)]
        ascending: bool,
    },
    /// Keep rows matching a SQL condition, such as `amount > 0 AND status <> 'void'`.
    Filter { condition: String },
}

/// A step as the plan shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedStep {
    pub step: usize,
    pub description: String,
    /// The query this step adds.
    pub sql: String,
}

/// A transform's plan: its steps, the whole query and the columns it produces.
#[derive(Clone, Debug, Serialize)]
pub struct TransformPlan {
    pub source: String,
    pub target: String,
    pub steps: Vec<PlannedStep>,
    pub sql: String,
    pub columns: Vec<ResultColumn>,
}

/// What a materialised query did.
#[derive(Clone, Debug, Serialize)]
pub struct Materialized {
    #[serde(flatten)]
    pub written: Written,
    /// The tables the query read, as `layer.name`.
    pub sources: Vec<String>,
    pub columns: Vec<ResultColumn>,
}

pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn step_error(step: usize, message: impl Into<String>) -> LakeError {
    LakeError::invalid(format!("transformations[{step}]"), message)
}

/// A SQL literal for a JSON value.
fn literal(step: usize, value: &serde_json::Value) -> Result<String, LakeError> {
    match value {
        serde_json::Value::String(text) => Ok(format!("'{}'", text.replace('\'', "''"))),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        serde_json::Value::Bool(flag) => Ok(flag.to_string().to_uppercase()),
        _ => Err(step_error(
            step,
            "a fill value must be a string, a number or a boolean",
        )),
    }
}

/// The SQL type for a cast's type name.
fn sql_type(step: usize, name: &str) -> Result<String, LakeError> {
    let lower = name.trim().to_ascii_lowercase();
    let plain = match lower.as_str() {
        "string" | "text" | "varchar" => Some("VARCHAR"),
        "int" | "integer" => Some("INT"),
        "bigint" | "long" => Some("BIGINT"),
        "double" | "float" => Some("DOUBLE"),
        "boolean" | "bool" => Some("BOOLEAN"),
        "date" => Some("DATE"),
        "timestamp" => Some("TIMESTAMP"),
        _ => None,
    };
    if let Some(plain) = plain {
        return Ok(plain.to_string());
    }
    if let Some(inner) = lower
        .strip_prefix("decimal(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        if let [precision, scale] = parts.as_slice()
            && let (Ok(precision), Ok(scale)) = (precision.parse::<u8>(), scale.parse::<i8>())
            && (1..=38).contains(&precision)
            && scale >= 0
            && scale as u8 <= precision
        {
            return Ok(format!("DECIMAL({precision},{scale})"));
        }
    }
    Err(step_error(
        step,
        format!(
            "'{name}' is not a type here: use string, int, bigint, double, decimal(p,s), boolean, date or timestamp"
        ),
    ))
}

/// A filter condition, checked to be one SQL expression and printed back from its
/// parse tree, so nothing but that expression reaches the query.
fn condition(step: usize, text: &str) -> Result<String, LakeError> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|error| step_error(step, format!("the condition does not parse: {error}")))?;
    let expression = parser
        .parse_expr()
        .map_err(|error| step_error(step, format!("the condition does not parse: {error}")))?;
    if parser.peek_token().token != Token::EOF {
        return Err(step_error(
            step,
            "the condition must be one SQL expression, with nothing after it",
        ));
    }
    Ok(expression.to_string())
}

/// Compiles `steps` over `source` into one query; `columns` are the source's.
fn compile(
    source: &TableRef,
    mut columns: Vec<String>,
    steps: &[Step],
) -> Result<(Vec<PlannedStep>, String), LakeError> {
    let mut ctes = vec![format!(
        "s0 AS (SELECT * FROM {}.{})",
        source.layer,
        quoted(&source.name)
    )];
    let mut planned = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let known = |name: &str, columns: &[String]| -> Result<(), LakeError> {
            if columns.iter().any(|column| column == name) {
                Ok(())
            } else {
                Err(step_error(
                    index,
                    format!(
                        "no column '{name}' here; the columns are {}",
                        columns.join(", ")
                    ),
                ))
            }
        };
        let previous = format!("s{index}");
        // Each column's expression, by default itself.
        let mut expressions: Vec<(String, String)> =
            columns.iter().map(|c| (c.clone(), quoted(c))).collect();
        let mut filter: Option<String> = None;
        let map = |expressions: &mut Vec<(String, String)>,
                   names: &[String],
                   f: &dyn Fn(&str) -> String|
         -> Result<(), LakeError> {
            for name in names {
                known(name, &columns)?;
                for (column, expression) in expressions.iter_mut() {
                    if column == name {
                        *expression = f(&quoted(name));
                    }
                }
            }
            Ok(())
        };
        let description = match step {
            Step::Select { columns: picked } => {
                if picked.is_empty() {
                    return Err(step_error(index, "select needs at least one column"));
                }
                let mut seen = BTreeSet::new();
                for name in picked {
                    known(name, &columns)?;
                    if !seen.insert(name) {
                        return Err(step_error(index, format!("'{name}' is selected twice")));
                    }
                }
                expressions = picked.iter().map(|c| (c.clone(), quoted(c))).collect();
                format!("keep columns {}", picked.join(", "))
            }
            Step::Rename { columns: renames } => {
                for (old, new) in renames {
                    known(old, &columns)?;
                    if !valid_table_name(new) {
                        return Err(step_error(
                            index,
                            format!("'{new}' must be a lower-case identifier"),
                        ));
                    }
                }
                for (column, _) in expressions.iter_mut() {
                    if let Some(new) = renames.get(column.as_str()) {
                        *column = new.clone();
                    }
                }
                let mut seen = BTreeSet::new();
                for (column, _) in &expressions {
                    if !seen.insert(column.clone()) {
                        return Err(step_error(
                            index,
                            format!("the renames leave two columns named '{column}'"),
                        ));
                    }
                }
                renames
                    .iter()
                    .map(|(old, new)| format!("{old} → {new}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            Step::Cast {
                columns: casts,
                safe,
            } => {
                let function = if *safe { "TRY_CAST" } else { "CAST" };
                for (name, type_name) in casts {
                    let target = sql_type(index, type_name)?;
                    map(&mut expressions, std::slice::from_ref(name), &|c| {
                        format!("{function}({c} AS {target})")
                    })?;
                }
                format!(
                    "cast {}{}",
                    casts
                        .iter()
                        .map(|(name, type_name)| format!("{name} to {type_name}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if *safe {
                        " (unconvertible values become null)"
                    } else {
                        ""
                    }
                )
            }
            Step::Trim { columns: names } => {
                map(&mut expressions, names, &|c| format!("trim({c})"))?;
                format!("trim {}", names.join(", "))
            }
            Step::Lowercase { columns: names } => {
                map(&mut expressions, names, &|c| format!("lower({c})"))?;
                format!("lower-case {}", names.join(", "))
            }
            Step::Uppercase { columns: names } => {
                map(&mut expressions, names, &|c| format!("upper({c})"))?;
                format!("upper-case {}", names.join(", "))
            }
            Step::NormalizeWhitespace { columns: names } => {
                map(&mut expressions, names, &|c| {
                    format!("regexp_replace(trim({c}), '\\s+', ' ', 'g')")
                })?;
                format!("normalise white space in {}", names.join(", "))
            }
            Step::ParseDate { column, format } => {
                let call = match format {
                    Some(format) => format!(", '{}'", format.replace('\'', "''")),
                    None => String::new(),
                };
                map(&mut expressions, std::slice::from_ref(column), &|c| {
                    format!("to_date({c}{call})")
                })?;
                format!(
                    "parse {column} as a date{}",
                    format
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default()
                )
            }
            Step::ParseTimestamp { column, format } => {
                let call = match format {
                    Some(format) => format!(", '{}'", format.replace('\'', "''")),
                    None => String::new(),
                };
                map(&mut expressions, std::slice::from_ref(column), &|c| {
                    format!("to_timestamp_micros({c}{call})")
                })?;
                format!(
                    "parse {column} as a timestamp{}",
                    format
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default()
                )
            }
            Step::DropNulls { columns: names } => {
                let names = if names.is_empty() {
                    columns.clone()
                } else {
                    names.clone()
                };
                for name in &names {
                    known(name, &columns)?;
                }
                filter = Some(
                    names
                        .iter()
                        .map(|name| format!("{} IS NOT NULL", quoted(name)))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                );
                format!("drop rows with a null in {}", names.join(", "))
            }
            Step::FillNulls { values } => {
                for (name, value) in values {
                    let value = literal(index, value)?;
                    map(&mut expressions, std::slice::from_ref(name), &|c| {
                        format!("coalesce({c}, {value})")
                    })?;
                }
                format!(
                    "fill nulls in {}",
                    values.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
            Step::Deduplicate {
                keys,
                order_by,
                ascending,
            } => {
                if keys.is_empty() {
                    return Err(step_error(index, "deduplicate needs at least one key"));
                }
                for key in keys {
                    known(key, &columns)?;
                }
                if let Some(order) = order_by {
                    known(order, &columns)?;
                }
                let partition = keys
                    .iter()
                    .map(|k| quoted(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                let order = match order_by {
                    Some(order) => format!(
                        " ORDER BY {} {}",
                        quoted(order),
                        if *ascending {
                            "ASC NULLS LAST"
                        } else {
                            "DESC NULLS LAST"
                        }
                    ),
                    None => String::new(),
                };
                let list = columns
                    .iter()
                    .map(|c| quoted(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let ranked = format!(
                    "SELECT {list}, row_number() OVER (PARTITION BY {partition}{order}) AS \"__rank\" FROM {previous}"
                );
                let step_sql = format!("SELECT {list} FROM ({ranked}) WHERE \"__rank\" = 1");
                ctes.push(format!("s{} AS ({step_sql})", index + 1));
                planned.push(PlannedStep {
                    step: index,
                    description: format!(
                        "keep one row per {}{}",
                        keys.join(", "),
                        order_by
                            .as_deref()
                            .map(|o| format!(
                                ", the {} {o}",
                                if *ascending { "lowest" } else { "highest" }
                            ))
                            .unwrap_or_default()
                    ),
                    sql: step_sql,
                });
                continue;
            }
            Step::Filter { condition: text } => {
                filter = Some(condition(index, text)?);
                format!("keep rows where {text}")
            }
        };
        let list = expressions
            .iter()
            .map(|(name, expression)| {
                if *expression == quoted(name) {
                    expression.clone()
                } else {
                    format!("{expression} AS {}", quoted(name))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let step_sql = match &filter {
            Some(filter) => format!("SELECT {list} FROM {previous} WHERE {filter}"),
            None => format!("SELECT {list} FROM {previous}"),
        };
        ctes.push(format!("s{} AS ({step_sql})", index + 1));
        planned.push(PlannedStep {
            step: index,
            description,
            sql: step_sql,
        });
        columns = expressions.into_iter().map(|(name, _)| name).collect();
    }
    let sql = format!("WITH {} SELECT * FROM s{}", ctes.join(", "), steps.len());
    Ok((planned, sql))
}

/// The tables a plan reads, as `layer.name` (unqualified names are Bronze).
fn sources(plan: &LogicalPlan) -> Vec<String> {
    let mut found = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let layer = scan.table_name.schema().unwrap_or("bronze");
            found.insert(format!("{layer}.{}", scan.table_name.table()));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found.into_iter().collect()
}

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn sql_error(error: impl std::fmt::Display) -> LakeError {
    LakeError::Sql(error.to_string())
}

impl Lake {
    /// Plans `steps` over `source` into `target` without running them.
    pub async fn plan_transform(
        &self,
        source: &TableRef,
        target: &TableRef,
        steps: &[Step],
    ) -> Result<TransformPlan, LakeError> {
        if steps.is_empty() {
            return Err(LakeError::invalid(
                "transformations",
                "give at least one step",
            ));
        }
        let info = self.info(source).await?;
        let columns = info.columns.iter().map(|c| c.name.clone()).collect();
        let (planned, sql) = compile(source, columns, steps)?;
        let ctx = self.session(&source.tenant, &Default::default()).await?;
        let frame = ctx
            .sql_with_options(&sql, read_only())
            .await
            .map_err(sql_error)?;
        Ok(TransformPlan {
            source: source.to_string(),
            target: target.to_string(),
            steps: planned,
            sql,
            columns: result_columns(frame.schema().as_arrow()),
        })
    }

    /// Runs one read-only query over the tenant's tables and writes its result to
    /// `target` (replacing its rows) in one commit.
    pub async fn materialize(
        &self,
        sql: &str,
        target: &TableRef,
    ) -> Result<Materialized, LakeError> {
        let ctx = self.session(&target.tenant, &Default::default()).await?;
        let frame = ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(sql_error)?;
        let columns = result_columns(frame.schema().as_arrow());
        for column in &columns {
            if !valid_table_name(&column.name) {
                return Err(LakeError::Sql(format!(
                    "the result column '{}' needs a lower-case identifier as its name (add AS name)",
                    column.name
                )));
            }
        }
        let read = sources(frame.logical_plan());
        let stream = frame.execute_stream().await.map_err(sql_error)?;
        let written = self
            .write_stream(
                target,
                BatchStream::from_datafusion(stream),
                WriteMode::Overwrite,
            )
            .await?;
        Ok(Materialized {
            written,
            sources: read,
            columns,
        })
    }

    /// Runs a planned transform.
    pub async fn run_transform(
        &self,
        plan: &TransformPlan,
        target: &TableRef,
    ) -> Result<Materialized, LakeError> {
        if target.layer == Layer::Bronze {
            return Err(LakeError::invalid(
                "target",
                "a transform writes Silver or Gold, not Bronze",
            ));
        }
        self.materialize(&plan.sql, target).await
    }

    /// The first rows a query gives, for previews.
    pub async fn preview(
        &self,
        tenant: &str,
        sql: &str,
        rows: usize,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, LakeError> {
        let limits = QueryLimits {
            max_rows: rows.max(1),
            ..QueryLimits::default()
        };
        Ok(self.query(tenant, sql, &limits).await?.rows)
    }
}

fn result_columns(schema: &deltalake::arrow::datatypes::Schema) -> Vec<ResultColumn> {
    schema
        .fields()
        .iter()
        .map(|field| ResultColumn {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> TableRef {
        TableRef::new("acme", Layer::Bronze, "orders").expect("table")
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn steps_compile_to_one_query_and_unknown_columns_are_named() {
        let steps: Vec<Step> = serde_json::from_value(serde_json::json!([
            {"op": "trim", "columns": ["email"]},
            {"op": "cast", "columns": {"amount": "decimal(12,2)"}},
            {"op": "rename", "columns": {"email": "email_address"}},
            {"op": "filter", "condition": "amount > 0"},
        ]))
        .expect("steps");
        let (planned, sql) =
            compile(&orders(), cols(&["id", "email", "amount"]), &steps).expect("compiles");
        assert_eq!(planned.len(), 4);
        assert!(sql.contains("trim(\"email\") AS \"email\""), "{sql}");
        assert!(sql.contains("CAST(\"amount\" AS DECIMAL(12,2))"), "{sql}");
        assert!(sql.contains("\"email\" AS \"email_address\""), "{sql}");
        assert!(sql.ends_with("SELECT * FROM s4"), "{sql}");

        let typo: Vec<Step> =
            serde_json::from_value(serde_json::json!([{"op": "trim", "columns": ["emial"]}]))
                .expect("steps");
        let error = compile(&orders(), cols(&["id", "email"]), &typo).expect_err("unknown");
        assert!(error.to_string().contains("transformations[0]"), "{error}");
        assert!(error.to_string().contains("emial"), "{error}");
    }

    #[test]
    fn a_filter_is_one_expression_and_nothing_more() {
        assert_eq!(condition(0, "amount > 0").expect("ok"), "amount > 0");
        let smuggled = condition(0, "1 = 1; DROP TABLE x").expect_err("two statements");
        assert!(
            smuggled.to_string().contains("one SQL expression"),
            "{smuggled}"
        );
        let closed = condition(0, "1 = 1) UNION SELECT * FROM bronze.secrets --");
        assert!(closed.is_err());
        assert!(sql_type(0, "decimal(40,2)").is_err());
        assert!(sql_type(0, "decimal(12,2)").is_ok());
        assert!(sql_type(0, "varchar2").is_err());
    }
}
