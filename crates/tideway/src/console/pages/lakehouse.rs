//! The lakehouse: tables by layer (bronze, silver, gold), and a table's columns with
//! their statistics, a preview of its rows, its version history and its lineage
//! drawn as a graph (what it was made from on the left, what it feeds on the right).

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::{Value, json};

use super::{Session, refused};
use crate::console::{Shared, api::segment, charts};

const LAYERS: &[&str] = &["bronze", "silver", "gold"];

pub async fn list(State(console): State<Shared>, session: Session) -> Response {
    let tables = match console
        .api
        .get(
            &session.caller,
            &session.request_id,
            "/api/v1/lakehouse/tables",
        )
        .await
    {
        Ok(tables) => tables,
        Err(refusal) => return refused(&console, &session, "lakehouse", &refusal),
    };
    let mut by_layer: BTreeMap<&str, Vec<Value>> =
        LAYERS.iter().map(|l| (*l, Vec::new())).collect();
    for table in tables["tables"].as_array().into_iter().flatten() {
        let layer = table["layer"].as_str().unwrap_or_default();
        if let Some(list) = by_layer.get_mut(layer) {
            list.push(table.clone());
        }
    }
    let layers: Vec<Value> = LAYERS
        .iter()
        .map(|layer| json!({"name": layer, "tables": by_layer.remove(layer).unwrap_or_default()}))
        .collect();
    console.views.page(
        "lakehouse.html",
        &session,
        "lakehouse",
        json!({"title": "Lakehouse", "layers": layers}),
    )
}

pub async fn table(
    State(console): State<Shared>,
    session: Session,
    Path((layer, name)): Path<(String, String)>,
) -> Response {
    let (caller, id) = (&session.caller, &session.request_id);
    let base = format!(
        "/api/v1/lakehouse/tables/{}/{}",
        segment(&layer),
        segment(&name)
    );
    let lineage_path = format!("{base}/lineage");
    let (described, lineage, history) = tokio::join!(
        console.api.get(caller, id, &base),
        console.api.get(caller, id, &lineage_path),
        console.api.post(
            caller,
            id,
            "/api/v1/tools/lakehouse/table_history",
            json!({"table_name": name, "layer": layer, "limit": 20}),
        ),
    );
    let described = match described {
        Ok(described) => described,
        Err(refusal) => return refused(&console, &session, "lakehouse", &refusal),
    };
    let lineage = lineage.unwrap_or(Value::Null);
    let graph = charts::lineage(
        &format!("{layer}.{name}"),
        &strings(&lineage["upstream"]),
        &strings(&lineage["downstream"]),
    );
    let columns: Vec<String> = described["sample"][0]
        .as_object()
        .map(|row| row.keys().cloned().collect())
        .unwrap_or_default();
    console.views.page(
        "table.html",
        &session,
        "lakehouse",
        json!({
            "title": format!("{layer}.{name}"),
            "table": described,
            "preview_columns": columns,
            "lineage": lineage,
            "graph": graph,
            "history": history.map(|h| h["structuredContent"]["versions"].clone()).unwrap_or_else(|_| json!([])),
        }),
    )
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}
