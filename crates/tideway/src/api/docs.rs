//! The OpenAPI document at `/openapi.json` and the interactive reference at `/docs`
//! (Swagger UI, whose assets are built into the binary so it works offline).
//!
//! A route whose body is a tool's arguments, or whose answer is a tool's result,
//! points at `#/components/schemas/tool.<toolkit>.<tool>` (or `….result`) instead of
//! restating them; this file fills those schemas in from the tools' own JSON Schemas
//! when the server starts, so REST and MCP describe the same thing.

use std::collections::BTreeSet;

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};
use tideway_core::Hub;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where component schemas are referred to from.
const COMPONENTS: &str = "#/components/schemas/";
/// The prefix of the schemas taken from tools.
const TOOL_PREFIX: &str = "tool.";

/// `/openapi.json` and `/docs`, serving `doc`.
pub fn router(doc: Value) -> Router {
    let reference = SwaggerUi::new("/docs").config(
        Config::new(["/openapi.json"])
            .try_it_out_enabled(true)
            .persist_authorization(true),
    );
    // The document does not change while the server runs: written out once.
    let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .with_state(json)
        .merge(reference)
}

async fn openapi_json(State(json): State<Bytes>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// The served document: `doc` with every tool schema it refers to filled in from the
/// tools `hub` holds. A tool whose toolkit is not enabled here is described as such.
pub fn document(doc: &OpenApi, hub: &Hub) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    let mut wanted = BTreeSet::new();
    tool_refs(&value, &mut wanted);
    let mut schemas = Map::new();
    // A schema filled in may refer to others (`….any` lists a toolkit's tools).
    while let Some(name) = wanted.pop_first() {
        if schemas.contains_key(&name) {
            continue;
        }
        let schema = tool_schema(hub, &name).unwrap_or_else(|| {
            json!({
                "type": "object",
                "description": format!(
                    "The {} (its toolkit is not enabled on this server).",
                    describe(&name)
                ),
            })
        });
        tool_refs(&schema, &mut wanted);
        schemas.insert(name, schema);
    }
    if let Some(root) = value.as_object_mut() {
        let components = root
            .entry("components")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(components) = components {
            let target = components
                .entry("schemas")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(target) = target {
                target.extend(schemas);
            }
        }
    }
    value
}

/// The names of the tool schemas `value` refers to (`tool.<toolkit>.<tool>` and
/// `tool.<toolkit>.<tool>.result`), including references into one of them.
fn tool_refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref")
                && let Some(rest) = reference.strip_prefix(COMPONENTS)
                && rest.starts_with(TOOL_PREFIX)
            {
                let name = rest.split('/').next().unwrap_or(rest);
                found.insert(name.to_string());
            }
            object.values().for_each(|child| tool_refs(child, found));
        }
        Value::Array(items) => items.iter().for_each(|child| tool_refs(child, found)),
        _ => {}
    }
}

/// "arguments of lakehouse's upload_file" for `tool.lakehouse.upload_file`.
fn describe(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [_, toolkit, ANY, "result"] => format!("result of one of {toolkit}'s tools"),
        [_, toolkit, ANY] => format!("arguments of one of {toolkit}'s tools"),
        [_, toolkit, tool, "result"] => format!("result of {toolkit}'s {tool}"),
        [_, toolkit, tool] => format!("arguments of {toolkit}'s {tool}"),
        _ => format!("schema {name}"),
    }
}

/// `tool.<toolkit>.any`: any one of the toolkit's tools, for a route that takes the
/// tool's name in its path.
const ANY: &str = "any";

/// The input (or, for `….result`, output) schema of the tool `name` refers to.
fn tool_schema(hub: &Hub, name: &str) -> Option<Value> {
    let parts: Vec<&str> = name.split('.').collect();
    let (toolkit, tool, result) = match parts.as_slice() {
        ["tool", toolkit, tool] => (*toolkit, *tool, false),
        ["tool", toolkit, tool, "result"] => (*toolkit, *tool, true),
        _ => return None,
    };
    let entry = hub
        .entries()
        .into_iter()
        .find(|entry| entry.name() == toolkit)?;
    if tool == ANY {
        let suffix = if result { ".result" } else { "" };
        let each: Vec<Value> = entry
            .tools
            .iter()
            .map(
                |tool| json!({"$ref": format!("{COMPONENTS}tool.{toolkit}.{}{suffix}", tool.name)}),
            )
            .collect();
        return Some(json!({"anyOf": each, "description": format!("The {}.", describe(name))}));
    }
    let definition = entry
        .tools
        .iter()
        .find(|definition| definition.name == tool)?;
    let mut schema = if result {
        Value::Object(definition.output_schema.as_deref()?.clone())
    } else {
        Value::Object(definition.input_schema.as_ref().clone())
    };
    if let Some(object) = schema.as_object_mut() {
        object
            .entry("description")
            .or_insert_with(|| json!(format!("The {}.", describe(name))));
        // A schema with its own `$defs` refers to them from its root; in the document
        // that root is the component, so the references are rewritten to it.
        if object.contains_key("$defs") {
            rebase_refs(&mut schema, &format!("{COMPONENTS}{name}"));
        }
    }
    Some(schema)
}

fn rebase_refs(value: &mut Value, base: &str) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(pointer) = reference.strip_prefix('#')
                && !reference.starts_with(COMPONENTS)
            {
                *reference = format!("{base}{pointer}");
            }
            object
                .values_mut()
                .for_each(|child| rebase_refs(child, base));
        }
        Value::Array(items) => items.iter_mut().for_each(|child| rebase_refs(child, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_references_are_found_inside_any_schema_and_named_by_their_component() {
        let doc = json!({"paths": {"/a": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/tool.database.connect_source"}}}},
            "responses": {"200": {"content": {"application/json": {"schema":
                {"$ref": "#/components/schemas/tool.database.list_sources.result/properties/sources/items"}}}},
                "422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
        }}}});
        let mut found = BTreeSet::new();
        tool_refs(&doc, &mut found);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                "tool.database.connect_source",
                "tool.database.list_sources.result"
            ]
        );
        assert_eq!(
            describe("tool.database.list_sources.result"),
            "result of database's list_sources"
        );
    }

    #[test]
    fn a_schemas_own_definitions_are_referred_to_from_its_component() {
        let mut schema = json!({"$defs": {"step": {"type": "object"}},
            "properties": {"steps": {"items": {"$ref": "#/$defs/step"}},
                           "problem": {"$ref": "#/components/schemas/Problem"}}});
        rebase_refs(&mut schema, "#/components/schemas/tool.workflows.start");
        assert_eq!(
            schema["properties"]["steps"]["items"]["$ref"],
            "#/components/schemas/tool.workflows.start/$defs/step"
        );
        assert_eq!(
            schema["properties"]["problem"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
}
