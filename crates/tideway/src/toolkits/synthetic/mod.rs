//! The `synthetic` toolkit: a catalog of 200 generated tools for measuring how fast a
//! large catalog is listed (`mcp-bench`'s `tools/list` scenario), defined exactly like
//! the peer servers' catalogs in `bench/peers/`. Off by default; enable it with
//! `--toolkit synthetic` and list it on `/mcp/synthetic`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    mcp::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
    toolkit::Toolkit,
};

/// The `synthetic` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "synthetic",
    summary: "200 generated tools for measuring large catalogs (a test fixture)",
    on_by_default: false,
    feature: None,
    settings: None,
    migrations: &[],
    sealed: &[],
    build: Some(|_| Ok(Arc::new(SyntheticToolkit::new()))),
    rest: None,
    cli: None,
};

/// How many tools the catalog holds; the peers in `bench/peers/` use the same number.
pub const CATALOG_SIZE: usize = 200;

pub struct SyntheticToolkit {
    tools: Vec<Tool>,
}

impl Default for SyntheticToolkit {
    fn default() -> Self {
        Self::new()
    }
}

impl SyntheticToolkit {
    pub fn new() -> Self {
        let schema = match json!({
            "type": "object",
            "properties": {
                "record_id": {"type": "string"},
                "limit": {"type": "integer", "default": 10},
                "verbose": {"type": "boolean", "default": false},
            },
            "required": ["record_id"],
        }) {
            Value::Object(object) => Arc::new(object),
            _ => Arc::new(JsonObject::new()),
        };
        let tools = (0..CATALOG_SIZE)
            .map(|number| {
                Tool::new(
                    format!("catalog_{number:03}"),
                    format!(
                        "Generated tool {number} of {CATALOG_SIZE} for catalog listing \
                         benchmarks: looks up a record by its id and returns a short summary."
                    ),
                    schema.clone(),
                )
                .with_annotations(ToolAnnotations::from_raw(
                    None,
                    Some(true),
                    Some(false),
                    Some(true),
                    Some(false),
                ))
            })
            .collect();
        SyntheticToolkit { tools }
    }
}

#[async_trait]
impl Toolkit for SyntheticToolkit {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn description(&self) -> &str {
        "200 generated tools for catalog benchmarks."
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        if !self.tools.iter().any(|tool| tool.name == name) {
            return Err(HubError::UnknownTool {
                toolkit: "synthetic".into(),
                tool: name.to_string(),
            });
        }
        let record = arguments
            .get("record_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "record {record}"
        ))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tideway_core::naming::is_valid_name;

    #[test]
    fn the_catalog_has_the_peers_size_with_distinct_valid_names() {
        let toolkit = SyntheticToolkit::new();
        let names: std::collections::BTreeSet<_> = toolkit
            .tools()
            .iter()
            .map(|tool| tool.name.to_string())
            .collect();
        assert_eq!(names.len(), CATALOG_SIZE);
        assert!(names.iter().all(|name| is_valid_name(name)));
        assert!(names.contains("catalog_000") && names.contains("catalog_199"));
    }
}
