//! What a lakehouse query may call and how much it may allocate. Every session is
//! built here: functions come from a reviewed allowlist (nothing that reads files,
//! builds huge arrays from a number, or recurses), every allowed scalar function is
//! wrapped so that functions with a size argument (`repeat`, `lpad`, `replace`, ...)
//! refuse before they allocate and any function's output is checked against the
//! value limit, `||` is planned through the same bounded `concat`, recursive CTEs
//! are off, and operators that buffer (sorts, joins, aggregates) draw from a memory
//! pool of fixed size. DataFusion's scalar functions allocate outside that pool, so
//! the pool alone would not bound `repeat('x', 2147483647)`.

use std::{collections::HashSet, sync::Arc};

use deltalake::arrow::datatypes::FieldRef;
use deltalake::{
    arrow::{
        array::{Array, ArrayRef, AsArray},
        compute::{cast, kernels::length::length},
        datatypes::{DataType, Int64Type},
    },
    datafusion::{
        common::{DFSchema, DataFusionError, ExprSchema, Result, ScalarValue},
        execution::{SessionStateBuilder, context::SessionConfig, runtime_env::RuntimeEnvBuilder},
        functions::string::concat,
        logical_expr::{
            ColumnarValue, Documentation, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs,
            ScalarUDF, ScalarUDFImpl, Signature,
            expr::ScalarFunction,
            planner::{ExprPlanner, PlannerResult, RawBinaryExpr},
            simplify::{ExprSimplifyResult, SimplifyContext},
            sort_properties::{ExprProperties, SortProperties},
        },
        prelude::SessionContext,
        sql::sqlparser::ast::BinaryOperator,
    },
};

/// Limits every lakehouse session runs under.
#[derive(Clone, Copy, Debug)]
pub struct SessionBounds {
    /// Bytes that sorts, joins and aggregates may hold at once (spilling is off).
    pub memory_bytes: usize,
    /// The largest array one function call may produce (all rows of one batch).
    pub max_value_bytes: usize,
}

impl Default for SessionBounds {
    fn default() -> Self {
        SessionBounds {
            memory_bytes: 128 * 1024 * 1024,
            max_value_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Scalar functions a query may call. Reviewed against DataFusion's defaults; the
/// test `every_default_function_is_reviewed` fails when an upgrade adds one, so a new
/// function is off until someone puts it here or in [`REFUSED`].
#[rustfmt::skip]
pub(crate) const SCALAR: &[&str] = &[
    // math
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "cos",
    "cosh", "cot", "degrees", "exp", "factorial", "floor", "gcd", "isnan", "iszero", "lcm",
    "ln", "log", "log10", "log2", "nanvl", "pi", "pow", "power", "radians", "random", "round",
    "signum", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
    // conditional
    "coalesce", "greatest", "least", "nullif", "nvl", "nvl2", "ifnull",
    // strings
    "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat",
    "concat_ws", "contains", "ends_with", "find_in_set", "initcap", "instr", "left", "length",
    "levenshtein", "lower", "lpad", "ltrim", "octet_length", "overlay", "position", "repeat",
    "replace", "reverse", "right", "rpad", "rtrim", "split_part", "starts_with", "strpos",
    "substr", "substr_index", "substring", "substring_index", "to_hex", "translate", "trim",
    "upper", "uuid", "md5", "sha224", "sha256", "sha384", "sha512", "digest", "encode",
    "decode",
    // regular expressions
    "regexp_count", "regexp_instr", "regexp_like", "regexp_match", "regexp_replace",
    // date and time
    "current_date", "current_time", "current_timestamp", "now", "today", "date_bin",
    "date_format", "date_part", "datepart", "date_trunc", "datetrunc", "extract",
    "from_unixtime", "make_date", "make_time", "to_char", "to_date", "to_local_time", "to_time",
    "to_timestamp", "to_timestamp_micros", "to_timestamp_millis", "to_timestamp_nanos",
    "to_timestamp_seconds", "to_unixtime",
    // structs, maps and types
    "arrow_cast", "arrow_try_cast", "arrow_typeof", "arrow_metadata", "arrow_field",
    "cast_to_type", "try_cast_to_type", "get_field", "named_struct", "struct", "row", "map",
    "map_extract", "map_keys", "map_values", "map_entries", "element_at", "overlay",
    // arrays (none that builds an array from a number)
    "array_any_value", "array_append", "array_cat", "array_concat", "array_contains",
    "array_distinct", "array_element", "array_except", "array_extract", "array_has",
    "array_has_all", "array_has_any", "array_indexof", "array_intersect", "array_join",
    "array_length", "array_max", "array_min", "array_ndims", "array_pop_back",
    "array_pop_front", "array_position", "array_positions", "array_prepend", "array_push_back",
    "array_push_front", "array_remove", "array_remove_all", "array_remove_n", "array_replace",
    "array_replace_all", "array_replace_n", "array_reverse", "array_slice", "array_sort",
    "array_to_string", "array_union", "arrays_overlap", "cardinality", "empty", "flatten",
    "list_any_value", "list_append", "list_cat", "list_concat", "list_contains",
    "list_distinct", "list_element", "list_except", "list_extract", "list_has", "list_has_all",
    "list_has_any", "list_indexof", "list_intersect", "list_join", "list_length", "list_max",
    "list_min", "list_ndims", "array_add", "array_avg", "array_compact", "array_distance",
    "array_normalize", "array_product", "array_scale", "array_subtract", "array_sum",
    "arrays_zip", "cosine_distance", "inner_product", "list_pop_back", "list_pop_front",
    "list_position", "list_positions", "list_prepend", "list_push_back", "list_push_front",
    "list_remove", "list_remove_all", "list_remove_n", "list_replace", "list_replace_all",
    "list_replace_n", "list_reverse", "list_slice", "list_sort", "list_to_string", "list_union",
    "make_array", "make_list", "string_to_array", "string_to_list", "array_dims", "list_dims",
    // JSON-ish and misc
    "union_extract", "union_tag", "version",
];

/// Default functions deliberately left off: each builds a value whose size comes
/// from a number (so one call can allocate without bound) or tells where the
/// tables' files live in storage.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const REFUSED: &[&str] = &[
    "input_file_name",
    "file_row_index",
    "with_metadata",
    "array_repeat",
    "list_repeat",
    "array_resize",
    "list_resize",
    "range",
    "generate_series",
    "gen_series",
];

/// Table functions a query may use: they stream rows in batches, so the row cap
/// and the deadline bound them.
pub(crate) const TABLE: &[&str] = &["range", "generate_series"];

/// Functions whose output size follows from one argument; checked before they run.
fn estimated_output(name: &str, args: &[ColumnarValue], rows: usize) -> Result<Option<u128>> {
    let estimate = match name {
        "repeat" => {
            let texts = byte_lengths(args, 0, rows)?;
            let counts = integers(args, 1, rows)?;
            sum_rows(rows, |row| texts(row) * counts(row).max(0) as u128)
        }
        "lpad" | "rpad" => {
            // Up to four bytes a character, whatever the fill.
            let counts = integers(args, 1, rows)?;
            sum_rows(rows, |row| counts(row).max(0) as u128 * 4)
        }
        "replace" => {
            let texts = byte_lengths(args, 0, rows)?;
            let from = byte_lengths(args, 1, rows)?;
            let to = byte_lengths(args, 2, rows)?;
            sum_rows(rows, |row| {
                let text = texts(row);
                let places = if from(row) == 0 {
                    text + 1
                } else {
                    text / from(row)
                };
                text + places * to(row)
            })
        }
        "regexp_replace" => {
            let texts = byte_lengths(args, 0, rows)?;
            let replacement = byte_lengths(args, 2, rows)?;
            // A replacement may repeat whole matches by reference (`\0`, `$1`), so
            // each of the text's places may get the text itself per reference.
            let references = references(args, 2)?;
            sum_rows(rows, |row| {
                let text = texts(row);
                text + (text + 1) * (replacement(row) + references * text)
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(estimate))
}

fn sum_rows(rows: usize, per_row: impl Fn(usize) -> u128) -> u128 {
    (0..rows.max(1))
        .map(per_row)
        .fold(0u128, u128::saturating_add)
}

/// Byte length of a text argument per row (0 for null or missing).
fn byte_lengths(
    args: &[ColumnarValue],
    index: usize,
    rows: usize,
) -> Result<Box<dyn Fn(usize) -> u128 + '_>> {
    let Some(arg) = args.get(index) else {
        return Ok(Box::new(|_| 0));
    };
    match arg {
        ColumnarValue::Scalar(value) => {
            let bytes = match value {
                ScalarValue::Utf8(Some(text))
                | ScalarValue::LargeUtf8(Some(text))
                | ScalarValue::Utf8View(Some(text)) => text.len(),
                ScalarValue::Binary(Some(bytes))
                | ScalarValue::LargeBinary(Some(bytes))
                | ScalarValue::BinaryView(Some(bytes)) => bytes.len(),
                _ => 0,
            } as u128;
            Ok(Box::new(move |_| bytes))
        }
        ColumnarValue::Array(array) => {
            let lengths = cast(&length(array)?, &DataType::Int64)?;
            let lengths: Vec<u128> = lengths
                .as_primitive::<Int64Type>()
                .iter()
                .map(|value| value.unwrap_or(0).max(0) as u128)
                .collect();
            let _ = rows;
            Ok(Box::new(move |row| lengths.get(row).copied().unwrap_or(0)))
        }
    }
}

/// An integer argument per row (0 for null or missing).
fn integers(
    args: &[ColumnarValue],
    index: usize,
    rows: usize,
) -> Result<Box<dyn Fn(usize) -> i64>> {
    let Some(arg) = args.get(index) else {
        return Ok(Box::new(|_| 0));
    };
    let array: ArrayRef = arg.to_array(rows.max(1))?;
    let values = cast(&array, &DataType::Int64)?;
    let values: Vec<i64> = values
        .as_primitive::<Int64Type>()
        .iter()
        .map(|value| value.unwrap_or(0))
        .collect();
    Ok(Box::new(move |row| values.get(row).copied().unwrap_or(0)))
}

/// The most back-references any row's replacement text holds.
fn references(args: &[ColumnarValue], index: usize) -> Result<u128> {
    let count = |text: &str| (text.matches('\\').count() + text.matches('$').count()) as u128;
    Ok(match args.get(index) {
        Some(ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
        )) => count(text),
        Some(ColumnarValue::Array(array)) => {
            let texts = cast(array, &DataType::Utf8)?;
            texts
                .as_string::<i32>()
                .iter()
                .map(|text| text.map(count).unwrap_or(0))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    })
}

fn too_large(name: &str, bytes: u128, limit: usize) -> DataFusionError {
    DataFusionError::ResourcesExhausted(format!(
        "{name}() would produce about {bytes} bytes, past the lakehouse's limit of {limit} \
         bytes for one value"
    ))
}

/// An allowed scalar function, checked before it runs (when its size follows from
/// an argument) and after (always).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    limit: usize,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[allow(deprecated)]
        self.inner.is_nullable(args, schema)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.inner.name();
        if let Some(estimate) = estimated_output(name, &args.args, args.number_rows)?
            && estimate > self.limit as u128
        {
            return Err(too_large(name, estimate, self.limit));
        }
        let output = self.inner.invoke_with_args(args)?;
        let bytes = match &output {
            ColumnarValue::Array(array) => array.get_array_memory_size(),
            ColumnarValue::Scalar(value) => value.size(),
        };
        if bytes > self.limit {
            return Err(too_large(name, bytes as u128, self.limit));
        }
        Ok(output)
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // A function that rewrites itself keeps its own (unwrapped) pieces; the ones
        // with a size argument do not rewrite themselves.
        self.inner.simplify(args, info)
    }
    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }
    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// Plans `a || b` on text as the bounded `concat`, keeping `||`'s null rule (null
/// when either side is null, where `concat` would skip it).
#[derive(Debug)]
struct BoundedConcatPlanner {
    concat: Arc<ScalarUDF>,
}

impl ExprPlanner for BoundedConcatPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if expr.op != BinaryOperator::StringConcat {
            return Ok(PlannerResult::Original(expr));
        }
        let is_text = |e: &Expr| {
            matches!(
                e.get_type(schema),
                Ok(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
            )
        };
        if !(is_text(&expr.left) && is_text(&expr.right)) {
            return Ok(PlannerResult::Original(expr));
        }
        let left = expr.left;
        let right = expr.right;
        let either_null = left.clone().is_null().or(right.clone().is_null());
        let joined = Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::clone(&self.concat),
            vec![left, right],
        ));
        let planned = deltalake::datafusion::logical_expr::when(
            either_null,
            Expr::Literal(ScalarValue::Utf8(None), None),
        )
        .otherwise(joined)?;
        Ok(PlannerResult::Planned(planned))
    }
}

fn wrap(function: &Arc<ScalarUDF>, limit: usize) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Bounded {
        inner: Arc::clone(function),
        limit,
    }))
}

/// Whether any of `function`'s names is on `list`.
fn listed(name: &str, aliases: &[String], list: &[&str]) -> bool {
    let allowed: HashSet<&str> = list.iter().copied().collect();
    allowed.contains(name) || aliases.iter().any(|alias| allowed.contains(alias.as_str()))
}

/// A session with `config`, the allowlists and `bounds`.
pub(crate) fn bounded_session(
    mut config: SessionConfig,
    bounds: SessionBounds,
) -> Result<SessionContext> {
    config.options_mut().execution.enable_recursive_ctes = false;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(bounds.memory_bytes, 1.0)
        .build_arc()?;
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features();
    let limit = bounds.max_value_bytes;
    if let Some(functions) = builder.scalar_functions() {
        let allowed: Vec<Arc<ScalarUDF>> = functions
            .iter()
            .filter(|function| listed(function.name(), function.aliases(), SCALAR))
            .map(|function| wrap(function, limit))
            .collect();
        *functions = allowed;
    }
    if let Some(functions) = builder.table_functions() {
        functions.retain(|name, _| TABLE.contains(&name.as_str()));
    }
    let concat = wrap(&concat(), limit);
    if let Some(planners) = builder.expr_planners() {
        planners.insert(0, Arc::new(BoundedConcatPlanner { concat }));
    }
    Ok(SessionContext::new_with_state(builder.build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a DataFusion upgrade brings a function nobody has looked at: put it
    /// on [`SCALAR`] or [`REFUSED`] after reading what it does.
    #[test]
    fn every_default_function_is_reviewed() {
        let state = SessionStateBuilder::new().with_default_features().build();
        let reviewed: HashSet<&str> = SCALAR.iter().chain(REFUSED).copied().collect();
        let mut unreviewed: Vec<&str> = state
            .scalar_functions()
            .values()
            .filter(|function| {
                !reviewed.contains(function.name())
                    && !function
                        .aliases()
                        .iter()
                        .any(|alias| reviewed.contains(alias.as_str()))
            })
            .map(|function| function.name())
            .collect();
        unreviewed.sort_unstable();
        unreviewed.dedup();
        assert!(
            unreviewed.is_empty(),
            "DataFusion functions nobody reviewed: {unreviewed:?}"
        );
        let mut tables: Vec<&String> = state
            .table_functions()
            .keys()
            .filter(|name| !TABLE.contains(&name.as_str()) && !REFUSED.contains(&name.as_str()))
            .collect();
        tables.sort_unstable();
        assert!(
            tables.is_empty(),
            "table functions nobody reviewed: {tables:?}"
        );
    }

    async fn run(sql: &str) -> Result<Vec<deltalake::arrow::record_batch::RecordBatch>> {
        let bounds = SessionBounds {
            memory_bytes: 64 * 1024 * 1024,
            max_value_bytes: 1024 * 1024,
        };
        let ctx = bounded_session(SessionConfig::new(), bounds)?;
        ctx.sql(sql).await?.collect().await
    }

    fn refusal(result: Result<Vec<deltalake::arrow::record_batch::RecordBatch>>) -> String {
        match result {
            Ok(_) => panic!("the query ran"),
            Err(error) => error.to_string(),
        }
    }

    #[tokio::test]
    async fn functions_off_the_list_do_not_plan() {
        for sql in [
            "SELECT array_repeat(1, 100000000)",
            "SELECT array_resize(make_array(1), 100000000)",
            "SELECT range(100000000)",
            "SELECT generate_series(1, 100000000)",
        ] {
            let error = refusal(run(sql).await);
            assert!(error.contains("Invalid function"), "{sql}: {error}");
        }
        // Table functions stream, so they stay.
        let batches = run("SELECT count(*) FROM range(10)").await.expect("range");
        assert_eq!(batches[0].num_rows(), 1);
    }

    #[tokio::test]
    async fn size_arguments_are_refused_before_they_allocate() {
        for sql in [
            "SELECT repeat('x', 2147483647)",
            "SELECT lpad('x', 2147483647)",
            "SELECT rpad('x', 100000000, 'yz')",
            "SELECT replace(repeat('ab', 1000), '', repeat('c', 1000))",
            "SELECT regexp_replace(repeat('a', 2000), '', repeat('\\0', 400), 'g')",
        ] {
            let error = refusal(run(sql).await);
            assert!(error.contains("limit of 1048576 bytes"), "{sql}: {error}");
        }
        // Within the limit they work as before.
        let batches = run("SELECT repeat('ab', 3) AS r").await.expect("repeat");
        let value = batches[0]
            .column(0)
            .as_string_view_opt()
            .map(|a| a.value(0).to_string());
        let value = value.or_else(|| {
            batches[0]
                .column(0)
                .as_string_opt::<i32>()
                .map(|a| a.value(0).to_string())
        });
        assert_eq!(value.as_deref(), Some("ababab"));
    }

    #[tokio::test]
    async fn doubling_by_concat_stops_at_the_value_limit() {
        // Each step doubles the text; 24 steps would be 16 MiB.
        let mut sql = String::from("WITH t0 AS (SELECT 'x' AS s)");
        for step in 1..=24 {
            sql.push_str(&format!(
                ", t{step} AS (SELECT s || s AS s FROM t{})",
                step - 1
            ));
        }
        sql.push_str(" SELECT length(s) FROM t24");
        let error = refusal(run(&sql).await);
        assert!(error.contains("limit of 1048576 bytes"), "{error}");
        let concat = sql.replace("s || s", "concat(s, s)");
        let error = refusal(run(&concat).await);
        assert!(error.contains("limit of 1048576 bytes"), "{error}");
        // `||` keeps its null rule.
        let batches = run("SELECT ('a' || NULL) IS NULL AS n")
            .await
            .expect("null");
        assert!(batches[0].column(0).as_boolean().value(0));
    }

    #[tokio::test]
    async fn recursion_is_off() {
        let error = refusal(
            run("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r")
                .await,
        );
        assert!(error.to_lowercase().contains("recursive"), "{error}");
    }

    #[tokio::test]
    async fn buffering_operators_draw_from_the_pool() {
        let error =
            refusal(run("SELECT string_agg(repeat('x', 1000), ',') FROM range(1000000)").await);
        assert!(error.contains("Resources exhausted"), "{error}");
    }
}
