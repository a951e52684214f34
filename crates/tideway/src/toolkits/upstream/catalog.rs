//! An upstream's catalog as the Hub sees it: its tools under names every client
//! accepts (mapped back to the upstream's own names on the way out), its prompts,
//! resources and resource templates, and the URI prefixes that route resource reads
//! to it. A catalog is kept in the store, so a lazily started upstream is listed
//! before its process runs.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tideway_core::{
    mcp::{Prompt, Resource, ResourceTemplate, Tool},
    naming::{fnv1a, sanitize, shorten},
    schema::ArgumentValidator,
};

/// What an upstream listed, as it listed it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub resource_templates: Vec<ResourceTemplate>,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub listing: Listing,
    /// The tools under their Tideway names.
    pub tools: Vec<Tool>,
    /// Tideway name → the upstream's name.
    pub upstream_names: HashMap<String, String>,
    pub uri_prefixes: Vec<String>,
    /// Tools left out, and why (a schema Tideway cannot check).
    pub problems: Vec<String>,
}

impl Catalog {
    pub fn new(listing: Listing) -> Catalog {
        let mut tools = Vec::new();
        let mut upstream_names = HashMap::new();
        let mut taken = HashSet::new();
        let mut problems = Vec::new();
        for tool in &listing.tools {
            let original = tool.name.to_string();
            let mut name = shorten(&sanitize(&original));
            if taken.contains(&name) {
                name = shorten(&format!(
                    "{}_{:08x}",
                    sanitize(&original),
                    fnv1a(original.as_bytes())
                ));
            }
            if let Err(error) = ArgumentValidator::compile(&name, &tool.input_schema) {
                problems.push(format!("tool '{original}' left out: {error}"));
                continue;
            }
            taken.insert(name.clone());
            let mut exposed = tool.clone();
            exposed.name = name.clone().into();
            tools.push(exposed);
            upstream_names.insert(name, original);
        }
        let mut uri_prefixes: Vec<String> = listing
            .resources
            .iter()
            .map(|resource| resource.uri.clone())
            .chain(listing.resource_templates.iter().map(|template| {
                let literal = template.uri_template.split('{').next().unwrap_or_default();
                literal.to_string()
            }))
            .filter(|prefix| !prefix.is_empty())
            .collect();
        uri_prefixes.sort();
        uri_prefixes.dedup();
        Catalog {
            listing,
            tools,
            upstream_names,
            uri_prefixes,
            problems,
        }
    }

    /// The upstream's name for a tool Tideway lists as `name`.
    pub fn upstream_name(&self, name: &str) -> Option<&str> {
        self.upstream_names.get(name).map(String::as_str)
    }

    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|tool| tool.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, schema: serde_json::Value) -> Tool {
        serde_json::from_value(json!({"name": name, "inputSchema": schema})).expect("tool")
    }

    #[test]
    fn names_clients_refuse_are_mapped_and_mapped_back() {
        let catalog = Catalog::new(Listing {
            tools: vec![
                tool("get.user", json!({"type": "object"})),
                tool("get_user", json!({"type": "object"})),
                tool(&"x".repeat(80), json!({"type": "object"})),
            ],
            ..Listing::default()
        });
        let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names[0], "get_user");
        assert!(
            names[1].starts_with("get_user_") && names[1].len() == 17,
            "{names:?}"
        );
        assert_eq!(names[2].len(), 64);
        assert_eq!(catalog.upstream_name("get_user"), Some("get.user"));
        assert_eq!(catalog.upstream_name(names[1]), Some("get_user"));
        assert_eq!(
            catalog.upstream_name(names[2]),
            Some("x".repeat(80).as_str())
        );
    }

    #[test]
    fn a_tool_with_a_broken_schema_is_left_out_and_reported() {
        let catalog = Catalog::new(Listing {
            tools: vec![
                tool("good", json!({"type": "object"})),
                tool(
                    "bad",
                    json!({"type": "object", "properties": {"a": {"type": 12}}}),
                ),
            ],
            ..Listing::default()
        });
        assert_eq!(catalog.tools.len(), 1);
        assert_eq!(catalog.problems.len(), 1);
        assert!(
            catalog.problems[0].contains("'bad'"),
            "{:?}",
            catalog.problems
        );
    }

    #[test]
    fn resources_and_templates_give_routing_prefixes() {
        let listing: Listing = serde_json::from_value(json!({
            "tools": [],
            "prompts": [],
            "resources": [{"uri": "test://static/resource/1", "name": "r1"}],
            "resource_templates": [{"uriTemplate": "test://static/resource/{id}", "name": "t"}]
        }))
        .expect("listing");
        let catalog = Catalog::new(listing);
        assert_eq!(
            catalog.uri_prefixes,
            vec!["test://static/resource/", "test://static/resource/1"]
        );
    }
}
