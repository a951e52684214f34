//! `find_tools`: the whole catalog searched by words, for clients that cannot hold
//! hundreds of tools. Each tool the caller may call is a small document (its name,
//! title, description and toolkit) ranked with BM25; names weigh most, because that
//! is where a tool says what it does in the fewest words.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{CallContext, Hub, mcp::JsonObject, typed::ToolText};

#[derive(Deserialize, JsonSchema)]
pub struct FindToolsArgs {
    /// What the tool should do, in a few words ("search knowledge base articles").
    #[schemars(length(min = 1, max = 500))]
    pub query: String,
    /// How many tools to return (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
    /// Only tools of this toolkit.
    pub toolkit: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct FoundTool {
    /// The tool's name on `/mcp`; pass it to `call_tool`, or call it there.
    pub name: String,
    pub toolkit: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub read_only: bool,
    pub score: f64,
    /// The arguments the tool takes, as JSON Schema.
    pub input_schema: JsonObject,
}

#[derive(Serialize, JsonSchema)]
pub struct FoundTools {
    pub tools: Vec<FoundTool>,
    /// How many tools the caller may call, all of which were searched.
    pub searched: usize,
}

impl ToolText for FoundTools {
    fn text(&self) -> String {
        if self.tools.is_empty() {
            return format!("No tool matches (searched {}).", self.searched);
        }
        self.tools
            .iter()
            .map(|tool| {
                format!(
                    "{}: {}",
                    tool.name,
                    tool.description.as_deref().unwrap_or("(no description)")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Words of a text, lower-cased and lightly stemmed: `getTickets`, `get_tickets` and
/// "get tickets" all give `get`, `ticket`.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && previous_lower);
        if boundary && !current.is_empty() {
            words.push(stem(&current));
            current.clear();
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !current.is_empty() {
        words.push(stem(&current));
    }
    words
}

fn stem(word: &str) -> String {
    for suffix in ["ies", "es", "s"] {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.len() >= 3
        {
            return match suffix {
                "ies" => format!("{stem}y"),
                "es" if !stem.ends_with(['s', 'x', 'z', 'h']) => format!("{stem}e"),
                _ => stem.to_string(),
            };
        }
    }
    word.to_string()
}

/// One searchable tool: its term frequencies (weighted by field) and length.
struct Document {
    name: String,
    toolkit: String,
    terms: HashMap<String, f64>,
    length: f64,
    tool: tideway_core::mcp::Tool,
}

const NAME_WEIGHT: f64 = 3.0;
const TITLE_WEIGHT: f64 = 2.0;
const TEXT_WEIGHT: f64 = 1.0;
const K1: f64 = 1.2;
const B: f64 = 0.75;

fn document(name: String, toolkit: &str, tool: &tideway_core::mcp::Tool) -> Document {
    let mut terms: HashMap<String, f64> = HashMap::new();
    let mut length = 0.0;
    let fields = [
        (tool.name.as_ref(), NAME_WEIGHT),
        (tool.title.as_deref().unwrap_or_default(), TITLE_WEIGHT),
        (tool.description.as_deref().unwrap_or_default(), TEXT_WEIGHT),
        (toolkit, TEXT_WEIGHT),
    ];
    for (text, weight) in fields {
        for word in words(text) {
            *terms.entry(word).or_default() += weight;
            length += weight;
        }
    }
    Document {
        name,
        toolkit: toolkit.to_string(),
        terms,
        length,
        tool: tool.clone(),
    }
}

/// The tools `ctx` may call that best match `args.query`, best first.
pub fn find_tools(hub: &Hub, ctx: &CallContext, args: FindToolsArgs) -> FoundTools {
    let principal = &ctx.principal;
    let documents: Vec<Document> = hub
        .entries()
        .iter()
        .filter(|entry| {
            args.toolkit
                .as_deref()
                .is_none_or(|kit| kit == entry.name())
        })
        .flat_map(|entry| {
            entry.callable_tools(principal).filter_map(|tool| {
                let name = entry.mcp_tool_name(&tool.name)?.to_string();
                Some(document(name, entry.name(), tool))
            })
        })
        .collect();
    let searched = documents.len();
    let query = words(&args.query);
    if documents.is_empty() || query.is_empty() {
        return FoundTools {
            tools: Vec::new(),
            searched,
        };
    }
    let count = documents.len() as f64;
    let average = documents.iter().map(|d| d.length).sum::<f64>() / count;
    let mut scored: Vec<(f64, &Document)> = documents
        .iter()
        .map(|document| {
            let score = query
                .iter()
                .map(|term| {
                    let frequency = document.terms.get(term).copied().unwrap_or(0.0);
                    if frequency == 0.0 {
                        return 0.0;
                    }
                    let holders = documents
                        .iter()
                        .filter(|d| d.terms.contains_key(term))
                        .count() as f64;
                    let idf = ((count - holders + 0.5) / (holders + 0.5) + 1.0).ln();
                    idf * frequency * (K1 + 1.0)
                        / (frequency + K1 * (1.0 - B + B * document.length / average))
                })
                .sum::<f64>();
            (score, document)
        })
        .filter(|(score, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let limit = args.limit.unwrap_or(10).clamp(1, 50) as usize;
    FoundTools {
        tools: scored
            .into_iter()
            .take(limit)
            .map(|(score, document)| FoundTool {
                name: document.name.clone(),
                toolkit: document.toolkit.clone(),
                title: document.tool.title.clone().or_else(|| {
                    document
                        .tool
                        .annotations
                        .as_ref()
                        .and_then(|a| a.title.clone())
                }),
                description: document.tool.description.as_deref().map(str::to_string),
                read_only: document
                    .tool
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    == Some(true),
                score: (score * 1000.0).round() / 1000.0,
                input_schema: document.tool.input_schema.as_ref().clone(),
            })
            .collect(),
        searched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_names_and_stem_plurals() {
        assert_eq!(words("get_tickets"), ["get", "ticket"]);
        assert_eq!(
            words("searchKnowledgeBase"),
            ["search", "knowledge", "base"]
        );
        assert_eq!(
            words("list-directories, boxes!"),
            ["list", "directory", "box"]
        );
        assert_eq!(words("S3 uploads"), ["s3", "upload"]);
        assert!(words("  --  ").is_empty());
    }
}
