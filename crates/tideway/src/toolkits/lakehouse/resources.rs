//! What the lakehouse offers a model besides tools: `table://{catalog}/{layer}/{name}/schema`
//! and `/preview` resources for each of the caller's tables, and the prompts
//! `analyze_schema` and `generate_query`, which carry the real schema of the tables
//! they name. The schema text is built here once and shared with the tools that ask a
//! model about tables.

use serde_json::json;
use tideway_core::{
    CallContext, HubError,
    mcp::{
        ContentBlock, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Resource,
        ResourceContents, ResourceTemplate, Role as MessageRole,
    },
    toolkit::json_resource,
};
use tideway_lakehouse::{Lake, Layer, QueryLimits, TableRef};

use super::{LakehouseState, hub_error, tools::tables_named};

pub const PREFIX: &str = "table://";

pub async fn list(lake: &Lake, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
    let tables = lake
        .list(ctx.tenant.as_str(), None)
        .await
        .map_err(hub_error)?;
    let catalog = format!("tenant_{}", ctx.tenant);
    let mut resources = Vec::new();
    for table in tables {
        let base = format!("{PREFIX}{catalog}/{}/{}", table.layer, table.name);
        resources.push(
            Resource::new(
                format!("{base}/schema"),
                format!("{} schema", table.full_name),
            )
            .with_description(format!(
                "Columns, version, files and size of {}",
                table.full_name
            ))
            .with_mime_type("application/json"),
        );
        resources.push(
            Resource::new(
                format!("{base}/preview"),
                format!("{} preview", table.full_name),
            )
            .with_description(format!("The first 20 rows of {}", table.full_name))
            .with_mime_type("application/json"),
        );
    }
    Ok(resources)
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{PREFIX}{{catalog}}/{{schema}}/{{name}}/schema"), "lake_table_schema")
            .with_description("A lakehouse table's columns, version, files and size (catalog tenant_{id}, schema bronze, silver or gold)")
            .with_mime_type("application/json"),
        ResourceTemplate::new(format!("{PREFIX}{{catalog}}/{{schema}}/{{name}}/preview"), "lake_table_preview")
            .with_description("A lakehouse table's first 20 rows")
            .with_mime_type("application/json"),
    ]
}

pub async fn read(
    lake: &Lake,
    ctx: &CallContext,
    uri: &str,
) -> Result<Vec<ResourceContents>, HubError> {
    let not_found = || HubError::ResourceNotFound(uri.to_string());
    let rest = uri.strip_prefix(PREFIX).ok_or_else(not_found)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [catalog, layer, name, view] = parts.as_slice() else {
        return Err(not_found());
    };
    // Another tenant's catalog answers as a missing one does.
    if *catalog != format!("tenant_{}", ctx.tenant) {
        return Err(not_found());
    }
    let layer: Layer = layer.parse().map_err(|_| not_found())?;
    let table = TableRef::new(ctx.tenant.as_str(), layer, name).map_err(|_| not_found())?;
    let missing = |error| match error {
        tideway_lakehouse::LakeError::NotFound(_) => not_found(),
        other => hub_error(other),
    };
    match *view {
        "schema" => {
            let info = lake.info(&table).await.map_err(missing)?;
            json_resource(uri, &info)
        }
        "preview" => {
            lake.info(&table).await.map_err(missing)?;
            let rows = lake
                .query(
                    ctx.tenant.as_str(),
                    &format!("SELECT * FROM {}.\"{}\" LIMIT 20", table.layer, table.name),
                    &QueryLimits {
                        max_rows: 20,
                        ..QueryLimits::default()
                    },
                )
                .await
                .map_err(hub_error)?;
            json_resource(
                uri,
                &json!({"table": table.to_string(), "columns": rows.columns, "rows": rows.rows}),
            )
        }
        _ => Err(not_found()),
    }
}

/// The named tables (or all of the caller's, when none are named) as text a model
/// reads: each table's SQL name, columns with types, row count and two sample rows.
pub async fn schema_text(
    state: &LakehouseState,
    ctx: &CallContext,
    tables: &[String],
    field: &str,
) -> Result<String, HubError> {
    let refs = tables_named(state, ctx, tables, field).await?;
    let mut text = String::new();
    for table in refs.iter().take(30) {
        let described = state
            .lake
            .describe(table, 2)
            .await
            .map_err(|error| match error {
                tideway_lakehouse::LakeError::NotFound(what) => {
                    HubError::invalid_argument(field, format!("no table {what}"))
                }
                other => hub_error(other),
            })?;
        text.push_str(&format!(
            "Table {} ({} rows)\n",
            table.qualified(),
            described.rows
        ));
        for column in &described.column_stats {
            text.push_str(&format!(
                "  {} {}{}{}\n",
                column.name,
                column.data_type,
                if column.null_count > 0 {
                    format!(", {} nulls", column.null_count)
                } else {
                    String::new()
                },
                column
                    .distinct_estimate
                    .map(|d| format!(", ~{d} distinct"))
                    .unwrap_or_default()
            ));
        }
        for row in &described.sample {
            let row = serde_json::Value::Object(row.clone()).to_string();
            let row: String = row.chars().take(400).collect();
            text.push_str(&format!("  sample: {row}\n"));
        }
    }
    Ok(text)
}

pub fn prompts() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "analyze_schema",
            Some("Analyse lakehouse tables: keys, identifiers, PII, data quality, joins; carries the tables' real schema and statistics."),
            Some(vec![PromptArgument::new("tables")
                .with_description("Tables to analyse, comma-separated (bronze.orders, silver.customers); all when empty")
                .with_required(false)]),
        )
        .with_title("Analyse lakehouse tables"),
        Prompt::new(
            "generate_query",
            Some("Write a DataFusion SQL query over lakehouse tables for a question; carries the tables' real schema."),
            Some(vec![
                PromptArgument::new("question")
                    .with_description("What you want to know")
                    .with_required(true),
                PromptArgument::new("tables")
                    .with_description("Tables to use, comma-separated; all when empty")
                    .with_required(false),
            ]),
        )
        .with_title("Generate a lakehouse query"),
    ]
}

fn argument<'a>(arguments: &'a JsonObject, name: &str) -> Option<&'a str> {
    arguments
        .get(name)
        .and_then(|value| value.as_str())
        .filter(|text| !text.trim().is_empty())
}

pub fn table_list(text: Option<&str>) -> Vec<String> {
    text.map(|text| {
        text.split(',')
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

pub async fn get_prompt(
    state: &LakehouseState,
    ctx: &CallContext,
    name: &str,
    arguments: JsonObject,
) -> Result<GetPromptResult, HubError> {
    let tables = table_list(argument(&arguments, "tables"));
    let to_prompt_error = |error: HubError| match error {
        HubError::InvalidArguments { field, message } => {
            HubError::InvalidPromptArguments { field, message }
        }
        other => other,
    };
    let text = match name {
        "analyze_schema" => {
            let schema = schema_text(state, ctx, &tables, "tables")
                .await
                .map_err(to_prompt_error)?;
            format!(
                "Analyse these lakehouse tables. For each: its likely primary key, identifier columns, columns that look like personal data (names, e-mails, phone numbers, addresses), null-heavy or constant columns, and columns that join to other tables. Then suggest Silver clean-up steps (transform_to_silver) and useful Gold tables.\n\n<untrusted source=\"lakehouse\">\n{schema}</untrusted>"
            )
        }
        "generate_query" => {
            let question = argument(&arguments, "question").ok_or_else(|| {
                HubError::InvalidPromptArguments {
                    field: "question".into(),
                    message: "required".into(),
                }
            })?;
            let schema = schema_text(state, ctx, &tables, "tables")
                .await
                .map_err(to_prompt_error)?;
            format!(
                "Write one read-only SQL query (DataFusion dialect; name tables as layer.table, such as bronze.orders) that answers the question below, then run it with query_sql.\n\nQuestion:\n<untrusted source=\"user\">\n{question}\n</untrusted>\n\nTables:\n<untrusted source=\"lakehouse\">\n{schema}</untrusted>"
            )
        }
        other => return Err(HubError::UnknownPrompt(other.to_string())),
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new(
        MessageRole::User,
        ContentBlock::text(text),
    )]))
}
