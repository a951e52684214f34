//! What a table holds, for a person or a model deciding how to use it: its columns
//! with each one's null count, an estimate of its distinct values, its least and
//! greatest value, the row count, and a few sample rows. One aggregate query computes
//! the statistics in a single scan.

use serde::Serialize;

use crate::{
    catalog::{Lake, TableInfo, TableRef},
    error::LakeError,
    query::QueryLimits,
};

#[derive(Clone, Debug, Serialize)]
pub struct ColumnStats {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub null_count: i64,
    /// An estimate (HyperLogLog).
    pub distinct_estimate: Option<i64>,
    pub min: Option<serde_json::Value>,
    pub max: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TableDescription {
    #[serde(flatten)]
    pub info: TableInfo,
    pub rows: i64,
    pub column_stats: Vec<ColumnStats>,
    pub sample: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Whether MIN, MAX and the distinct estimate make sense for an Arrow type.
fn orderable(data_type: &str) -> bool {
    !(data_type.starts_with("List")
        || data_type.starts_with("LargeList")
        || data_type.starts_with("Struct")
        || data_type.starts_with("Map")
        || data_type.starts_with("Binary")
        || data_type.starts_with("LargeBinary")
        || data_type.starts_with("FixedSizeBinary"))
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Lake {
    pub async fn describe(
        &self,
        table: &TableRef,
        sample_rows: usize,
    ) -> Result<TableDescription, LakeError> {
        let info = self.info(table).await?;
        let mut selects = vec!["COUNT(*) AS \"__rows\"".to_string()];
        for (index, column) in info.columns.iter().enumerate() {
            let name = quoted(&column.name);
            selects.push(format!("COUNT(*) - COUNT({name}) AS \"n{index}\""));
            if orderable(&column.data_type) {
                // approx_distinct takes few types; their text counts the same values.
                selects.push(format!(
                    "approx_distinct(CAST({name} AS VARCHAR)) AS \"d{index}\""
                ));
                selects.push(format!("MIN({name}) AS \"lo{index}\""));
                selects.push(format!("MAX({name}) AS \"hi{index}\""));
            }
        }
        let from = format!("{}.{}", quoted(table.layer.as_str()), quoted(&table.name));
        let sql = format!("SELECT {} FROM {from}", selects.join(", "));
        let limits = QueryLimits::default();
        let stats = self.query(&table.tenant, &sql, &limits).await?;
        let row = stats.rows.into_iter().next().unwrap_or_default();
        let int = |key: &str| row.get(key).and_then(serde_json::Value::as_i64);
        let column_stats = info
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| ColumnStats {
                name: column.name.clone(),
                data_type: column.data_type.clone(),
                nullable: column.nullable,
                null_count: int(&format!("n{index}")).unwrap_or(0),
                distinct_estimate: int(&format!("d{index}")),
                min: row
                    .get(&format!("lo{index}"))
                    .cloned()
                    .filter(|v| !v.is_null()),
                max: row
                    .get(&format!("hi{index}"))
                    .cloned()
                    .filter(|v| !v.is_null()),
            })
            .collect();
        let sample = self
            .query(
                &table.tenant,
                &format!("SELECT * FROM {from} LIMIT {sample_rows}"),
                &limits,
            )
            .await?;
        Ok(TableDescription {
            rows: int("__rows").unwrap_or(0),
            info,
            column_stats,
            sample: sample.rows,
        })
    }
}
