//! The AI-assisted tools of seed 004: `analyze_schema`, `suggest_query` and
//! `explain_data`. Each does its deterministic part always (a profile of the tables,
//! the schema context, statistics of a result) and asks a language model for prose or
//! SQL only when one is available: the calling client's own model through MCP
//! sampling, or the tenant's configured provider, both through the models toolkit,
//! so budgets and the record of generations apply. SQL a model writes is planned by
//! DataFusion before it is returned; it is never run here.

use std::{collections::BTreeMap, sync::Arc};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tideway_core::{CallContext, HubError, mcp::JsonObject, typed::ToolText};
use tideway_lakehouse::{QueryLimits, TableDescription, TableRef};
use utoipa::ToSchema;

use super::{
    LakehouseState, hub_error,
    resources::{schema_text, table_list},
    tools::{own_tenant, tables_named},
};

/// Asks the tenant's model; `Ok(None)` with the reason when there is none to ask.
async fn generate(
    state: &LakehouseState,
    ctx: &CallContext,
    system: &str,
    prompt: String,
) -> Result<Result<String, String>, HubError> {
    let Some(hub) = state.hub.upgrade() else {
        return Ok(Err("the server is shutting down".into()));
    };
    let mut arguments = JsonObject::new();
    arguments.insert("system".into(), Value::String(system.into()));
    arguments.insert("prompt".into(), Value::String(prompt));
    arguments.insert("max_tokens".into(), json!(1500));
    arguments.insert("temperature".into(), json!(0.0));
    match hub.call(ctx, "models", "generate", Some(arguments)).await {
        Ok(result) if result.is_error != Some(true) => Ok(Ok(result
            .structured_content
            .as_ref()
            .and_then(|answer| answer["text"].as_str())
            .unwrap_or_default()
            .to_string())),
        Ok(result) => Ok(Err(result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.clone()))
            .collect::<Vec<_>>()
            .join(" "))),
        // The caller's own limits end the whole call.
        Err(error @ (HubError::Cancelled | HubError::DeadlineExceeded(_))) => Err(error),
        Err(error) => Ok(Err(error.to_string())),
    }
}

fn tables_argument(tables: &Option<TablesArg>) -> Vec<String> {
    match tables {
        None => Vec::new(),
        Some(TablesArg::One(text)) => table_list(Some(text)),
        Some(TablesArg::Many(names)) => names.clone(),
    }
}

/// Tables named as a list or as one comma-separated string.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TablesArg {
    Many(Vec<String>),
    One(String),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeArgs {
    /// Tables to profile (`bronze.orders`, `silver.customers`); all of yours when left out.
    #[serde(default)]
    pub tables: Option<TablesArg>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ColumnProfile {
    pub name: String,
    pub data_type: String,
    pub null_fraction: f64,
    pub distinct_estimate: Option<i64>,
    /// Every value distinct and none null: a candidate key.
    pub likely_key: bool,
    /// Named like an identifier (`id`, `*_id`, `*_key`, `uuid`).
    pub identifier: bool,
    /// Named like, or with values like, personal data; the reason says which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<String>,
    pub null_heavy: bool,
    pub constant: bool,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct TableProfile {
    pub table: String,
    pub rows: i64,
    pub columns: Vec<ColumnProfile>,
}

#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct JoinCandidate {
    pub left: String,
    pub right: String,
    pub reason: String,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Analysis {
    pub tables: Vec<TableProfile>,
    pub join_candidates: Vec<JoinCandidate>,
    /// The model's reading of the profile, when a model was available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// Why there is no prose analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_unavailable: Option<String>,
}

impl ToolText for Analysis {
    fn text(&self) -> String {
        let mut lines = Vec::new();
        for table in &self.tables {
            lines.push(format!("{} ({} rows)", table.table, table.rows));
            for column in &table.columns {
                let mut flags = Vec::new();
                if column.likely_key {
                    flags.push("key".to_string());
                }
                if column.identifier {
                    flags.push("identifier".to_string());
                }
                if let Some(why) = &column.personal_data {
                    flags.push(format!("personal data ({why})"));
                }
                if column.null_heavy {
                    flags.push("mostly null".to_string());
                }
                if column.constant {
                    flags.push("constant".to_string());
                }
                if !flags.is_empty() {
                    lines.push(format!("  {}: {}", column.name, flags.join(", ")));
                }
            }
        }
        for join in &self.join_candidates {
            lines.push(format!(
                "join {} = {} ({})",
                join.left, join.right, join.reason
            ));
        }
        match (&self.analysis, &self.model_unavailable) {
            (Some(prose), _) => lines.push(prose.clone()),
            (None, Some(why)) => lines.push(format!("(No model analysis: {why})")),
            _ => {}
        }
        lines.join("\n")
    }
}

fn personal_by_name(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| name.contains(word));
    if has(&["email", "e_mail"]) {
        Some("an e-mail address by name")
    } else if has(&["phone", "mobile", "fax"]) {
        Some("a phone number by name")
    } else if has(&[
        "ssn",
        "social_security",
        "passport",
        "national_id",
        "tax_id",
        "iban",
    ]) {
        Some("a national or financial identifier by name")
    } else if has(&["birth", "dob"]) {
        Some("a date of birth by name")
    } else if has(&["address", "street", "postcode", "zip"]) {
        Some("a postal address by name")
    } else if name == "name" || has(&["first_name", "last_name", "full_name", "surname"]) {
        Some("a person's name by name")
    } else if has(&["ip_address", "ipaddr"]) {
        Some("an IP address by name")
    } else {
        None
    }
}

fn looks_like_email(value: &str) -> bool {
    let value = value.trim();
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !value.contains(' ')
        }
        None => false,
    }
}

fn profile(table: &TableRef, described: &TableDescription) -> TableProfile {
    let rows = described.rows;
    let columns = described
        .column_stats
        .iter()
        .map(|column| {
            let null_fraction = if rows > 0 {
                column.null_count as f64 / rows as f64
            } else {
                0.0
            };
            let lower = column.name.to_ascii_lowercase();
            let identifier = lower == "id"
                || lower == "uuid"
                || lower.ends_with("_id")
                || lower.ends_with("_key")
                || lower.ends_with("_uuid");
            let by_value = described
                .sample
                .iter()
                .filter_map(|row| row.get(&column.name).and_then(Value::as_str))
                .any(looks_like_email)
                .then_some("values look like e-mail addresses");
            // An estimate: equal to the row count within 2% counts as all distinct.
            let all_distinct = column
                .distinct_estimate
                .is_some_and(|d| rows > 0 && (d as f64) >= rows as f64 * 0.98);
            ColumnProfile {
                name: column.name.clone(),
                data_type: column.data_type.clone(),
                null_fraction,
                distinct_estimate: column.distinct_estimate,
                likely_key: rows > 0 && column.null_count == 0 && all_distinct,
                identifier,
                personal_data: personal_by_name(&column.name)
                    .or(by_value)
                    .map(str::to_string),
                null_heavy: rows > 0 && null_fraction > 0.5,
                constant: rows > 1 && column.distinct_estimate.is_some_and(|d| d <= 1),
            }
        })
        .collect();
    TableProfile {
        table: table.qualified(),
        rows,
        columns,
    }
}

/// Columns that probably join: the same identifier name in two tables, or
/// `customer_id` in one and `id` in a table called `customers`.
fn joins(profiles: &[TableProfile]) -> Vec<JoinCandidate> {
    let mut found = Vec::new();
    for (i, left) in profiles.iter().enumerate() {
        for right in profiles.iter().skip(i + 1) {
            for lc in left.columns.iter().filter(|c| c.identifier) {
                for rc in right.columns.iter().filter(|c| c.identifier) {
                    let stem = |table: &str| {
                        let name = table.rsplit('.').next().unwrap_or(table);
                        name.strip_suffix('s').unwrap_or(name).to_string()
                    };
                    let reason = if lc.name == rc.name && lc.name != "id" {
                        Some("the same column name".to_string())
                    } else if rc.name == "id" && lc.name == format!("{}_id", stem(&right.table)) {
                        Some(format!("{} names a row of {}", lc.name, right.table))
                    } else if lc.name == "id" && rc.name == format!("{}_id", stem(&left.table)) {
                        Some(format!("{} names a row of {}", rc.name, left.table))
                    } else {
                        None
                    };
                    if let Some(reason) = reason {
                        found.push(JoinCandidate {
                            left: format!("{}.{}", left.table, lc.name),
                            right: format!("{}.{}", right.table, rc.name),
                            reason,
                        });
                    }
                }
            }
        }
    }
    found
}

pub async fn analyze_schema(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: AnalyzeArgs,
) -> Result<Analysis, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let names = tables_argument(&args.tables);
    let refs = tables_named(&state, &ctx, &names, "tables").await?;
    let mut profiles = Vec::new();
    for table in refs.iter().take(30) {
        let described = state.lake.describe(table, 5).await.map_err(hub_error)?;
        profiles.push(profile(table, &described));
    }
    let join_candidates = joins(&profiles);
    let facts = serde_json::to_string_pretty(
        &json!({"tables": profiles, "join_candidates": join_candidates}),
    )
    .map_err(HubError::internal)?;
    let prompt = format!(
        "Here is a profile of lakehouse tables, computed from the data:\n<untrusted source=\"lakehouse\">\n{facts}\n</untrusted>\nIn a few short paragraphs: what each table seems to hold, its keys, data-quality problems worth fixing in Silver, personal data to protect, and the joins and Gold tables that would be useful."
    );
    let (analysis, model_unavailable) = match generate(
        &state,
        &ctx,
        "You are a careful data engineer. Base every statement on the profile given; say when something is a guess.",
        prompt,
    )
    .await?
    {
        Ok(text) => (Some(text), None),
        Err(reason) => (None, Some(reason)),
    };
    Ok(Analysis {
        tables: profiles,
        join_candidates,
        analysis,
        model_unavailable,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestArgs {
    /// What you want to know, in plain words.
    #[schemars(length(min = 1, max = 4000))]
    pub question: String,
    /// Tables to use; all of yours when left out.
    #[serde(default)]
    pub tables: Option<TablesArg>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Suggestion {
    pub question: String,
    /// The query, planned by DataFusion over your tables (not run).
    pub sql: String,
    /// The columns it returns.
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<Value>,
    /// How many answers the model needed before one planned.
    pub attempts: u32,
}

impl ToolText for Suggestion {
    fn text(&self) -> String {
        format!("{}\n\nRun it with query_sql.", self.sql)
    }
}

/// The SQL in a model's answer: the first fenced block, or the whole answer.
fn extract_sql(answer: &str) -> String {
    if let Some(start) = answer.find("```") {
        let after = &answer[start + 3..];
        let after = after
            .strip_prefix("sql")
            .or_else(|| after.strip_prefix("SQL"))
            .unwrap_or(after);
        if let Some(end) = after.find("```") {
            return after[..end].trim().trim_end_matches(';').trim().to_string();
        }
    }
    answer.trim().trim_end_matches(';').trim().to_string()
}

pub async fn suggest_query(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: SuggestArgs,
) -> Result<Suggestion, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let tables = tables_argument(&args.tables);
    let schema = schema_text(&state, &ctx, &tables, "tables").await?;
    let system = "You translate questions into one read-only SQL query in the DataFusion dialect (PostgreSQL-like). Name tables as layer.table (bronze.orders). Answer with the query alone in a ```sql block.";
    let mut prompt = format!(
        "Tables:\n<untrusted source=\"lakehouse\">\n{schema}</untrusted>\n\nQuestion:\n<untrusted source=\"user\">\n{}\n</untrusted>",
        args.question
    );
    let mut last_error = String::new();
    for attempt in 1..=2u32 {
        let answer = match generate(&state, &ctx, system, prompt.clone()).await? {
            Ok(answer) => answer,
            Err(reason) => {
                return Err(HubError::Unavailable {
                    component: "language model".into(),
                    reason: format!(
                        "{reason}. Without a model, write the query from this schema and run it with query_sql:\n{schema}"
                    ),
                });
            }
        };
        let sql = extract_sql(&answer);
        match state.lake.plan_sql(ctx.tenant.as_str(), &sql).await {
            Ok(columns) => {
                return Ok(Suggestion {
                    question: args.question,
                    sql,
                    columns: columns
                        .iter()
                        .map(|c| json!({"name": c.name, "data_type": c.data_type}))
                        .collect(),
                    attempts: attempt,
                });
            }
            Err(error) => {
                last_error = error.to_string();
                prompt.push_str(&format!(
                    "\n\nYour query was:\n```sql\n{sql}\n```\nIt does not plan: {last_error}\nCorrect it."
                ));
            }
        }
    }
    Err(HubError::invalid_argument(
        "question",
        format!("the model's query did not plan twice; the last error: {last_error}"),
    ))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainArgs {
    /// One read-only query whose result to explain.
    #[schemars(length(min = 1, max = 100000))]
    pub sql: String,
    /// What you want to learn from it (helps the summary).
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_rows: Option<usize>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema, ToSchema)]
pub struct ColumnSummary {
    pub non_null: usize,
    pub nulls: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Text columns: distinct values among the rows returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<usize>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Explanation {
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, Value>>,
    pub row_count: usize,
    pub truncated: bool,
    /// Per column, over the rows returned.
    pub statistics: BTreeMap<String, ColumnSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_unavailable: Option<String>,
}

impl ToolText for Explanation {
    fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} rows{}",
            self.row_count,
            if self.truncated { " (truncated)" } else { "" }
        )];
        for (name, stats) in &self.statistics {
            match (stats.min, stats.max, stats.mean) {
                (Some(min), Some(max), Some(mean)) => lines.push(format!(
                    "  {name}: min {min}, max {max}, mean {mean:.4}, {} nulls",
                    stats.nulls
                )),
                _ => lines.push(format!(
                    "  {name}: {} values, {} nulls{}",
                    stats.non_null,
                    stats.nulls,
                    stats
                        .distinct
                        .map(|d| format!(", {d} distinct"))
                        .unwrap_or_default()
                )),
            }
        }
        if let Some(summary) = &self.summary {
            lines.push(summary.clone());
        }
        lines.join("\n")
    }
}

fn statistics(
    columns: &[String],
    rows: &[serde_json::Map<String, Value>],
) -> BTreeMap<String, ColumnSummary> {
    let mut out = BTreeMap::new();
    for name in columns {
        let mut summary = ColumnSummary::default();
        let mut numbers = Vec::new();
        let mut texts = std::collections::BTreeSet::new();
        for row in rows {
            match row.get(name) {
                None | Some(Value::Null) => summary.nulls += 1,
                Some(Value::Number(n)) => {
                    summary.non_null += 1;
                    if let Some(f) = n.as_f64() {
                        numbers.push(f);
                    }
                }
                Some(Value::String(text)) => {
                    summary.non_null += 1;
                    // Decimals come as text: count them as numbers when they parse.
                    match text.parse::<f64>() {
                        Ok(f)
                            if text
                                .chars()
                                .all(|c| c.is_ascii_digit() || ".-+eE".contains(c)) =>
                        {
                            numbers.push(f)
                        }
                        _ => {
                            texts.insert(text.clone());
                        }
                    }
                }
                Some(other) => {
                    summary.non_null += 1;
                    texts.insert(other.to_string());
                }
            }
        }
        if !numbers.is_empty() && texts.is_empty() {
            let sum: f64 = numbers.iter().sum();
            summary.min = numbers.iter().copied().reduce(f64::min);
            summary.max = numbers.iter().copied().reduce(f64::max);
            summary.sum = Some(sum);
            summary.mean = Some(sum / numbers.len() as f64);
        } else if !texts.is_empty() {
            summary.distinct = Some(texts.len());
        }
        out.insert(name.clone(), summary);
    }
    out
}

pub async fn explain_data(
    state: Arc<LakehouseState>,
    ctx: CallContext,
    args: ExplainArgs,
) -> Result<Explanation, HubError> {
    own_tenant(&ctx, &args.tenant_id)?;
    let max_rows = args
        .max_rows
        .unwrap_or(200)
        .min(state.settings.max_rows_limit);
    let limits = QueryLimits {
        max_rows,
        timeout: std::time::Duration::from_secs(state.settings.query_timeout_secs)
            .min(ctx.remaining()),
        ..QueryLimits::default()
    };
    let result = state
        .lake
        .query(ctx.tenant.as_str(), &args.sql, &limits)
        .await
        .map_err(hub_error)?;
    let names: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let stats = statistics(&names, &result.rows);
    let sample: Vec<Value> = result
        .rows
        .iter()
        .take(50)
        .map(|row| Value::Object(row.clone()))
        .collect();
    let facts = serde_json::to_string(&json!({
        "sql": args.sql,
        "row_count": result.rows.len(),
        "truncated": result.truncated,
        "statistics": stats,
        "first_rows": sample,
    }))
    .map_err(HubError::internal)?;
    let question = args
        .question
        .as_deref()
        .map(|q| {
            format!("\nThe question behind it:\n<untrusted source=\"user\">\n{q}\n</untrusted>")
        })
        .unwrap_or_default();
    let (summary, model_unavailable) = match generate(
        &state,
        &ctx,
        "You explain query results to a business reader in a few sentences: the main figures, notable patterns and outliers, and what the data cannot tell. Use only the numbers given.",
        format!("<untrusted source=\"lakehouse\">\n{facts}\n</untrusted>{question}"),
    )
    .await?
    {
        Ok(text) => (Some(text), None),
        Err(reason) => (None, Some(reason)),
    };
    Ok(Explanation {
        columns: result
            .columns
            .iter()
            .map(|c| json!({"name": c.name, "data_type": c.data_type}))
            .collect(),
        row_count: result.rows.len(),
        rows: result.rows,
        truncated: result.truncated,
        statistics: stats,
        summary,
        model_unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_is_taken_from_a_fenced_answer() {
        assert_eq!(
            extract_sql("Here:\n```sql\nSELECT 1;\n```\nDone."),
            "SELECT 1"
        );
        assert_eq!(extract_sql("SELECT 2"), "SELECT 2");
    }

    #[test]
    fn personal_data_is_flagged_by_name_and_by_value() {
        assert!(personal_by_name("customer_email").is_some());
        assert!(personal_by_name("phone_number").is_some());
        assert!(personal_by_name("amount").is_none());
        assert!(looks_like_email("ada@example.com"));
        assert!(!looks_like_email("not an @ address"));
    }

    #[test]
    fn statistics_cover_numbers_decimals_and_text() {
        let rows: Vec<serde_json::Map<String, Value>> = vec![
            serde_json::from_value(json!({"n": 1, "d": "2.50", "t": "x"})).expect("row"),
            serde_json::from_value(json!({"n": 3, "d": "1.50", "t": null})).expect("row"),
        ];
        let stats = statistics(&["n".into(), "d".into(), "t".into()], &rows);
        assert_eq!(stats["n"].mean, Some(2.0));
        assert_eq!(stats["d"].sum, Some(4.0));
        assert_eq!(stats["t"].nulls, 1);
        assert_eq!(stats["t"].distinct, Some(1));
    }
}
