//! `find_tools`: the whole catalog searched by words, for clients that cannot hold
//! hundreds of tools. Each tool the caller may call is a small document (its name,
//! title, description and toolkit) ranked with BM25; names weigh most, because that
//! is where a tool says what it does in the fewest words.
//!
//! People ask in their own words ("close a ticket", "make a folder"), so the query is
//! read generously: words that say nothing of a task are dropped, each word is matched
//! to the catalog's own form of it (`opened` to `open`, `closing` to `close`), and the
//! common verbs and nouns bring the words tools use for the same thing (`close` and
//! `change` find `update`, `folder` finds `directory`), at a lower weight than the
//! words asked.

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

/// Words that say nothing of what a tool does.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "all",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "by",
    "can",
    "could",
    "did",
    "do",
    "doe",
    "does",
    "everything",
    "for",
    "from",
    "ha",
    "has",
    "have",
    "how",
    "i",
    "in",
    "into",
    "is",
    "it",
    "its",
    "me",
    "my",
    "of",
    "on",
    "or",
    "our",
    "please",
    "s",
    "should",
    "some",
    "that",
    "the",
    "there",
    "these",
    "this",
    "those",
    "to",
    "u",
    "us",
    "wa",
    "was",
    "we",
    "were",
    "what",
    "which",
    "who",
    "with",
    "would",
    "you",
    "your",
];

/// Everyday words and the words tools use for the same thing.
const RELATED: &[(&str, &[&str])] = &[
    ("change", &["update", "edit"]),
    ("modify", &["update", "edit"]),
    ("edit", &["update"]),
    ("close", &["update", "status"]),
    ("resolve", &["update", "status"]),
    ("reopen", &["update", "status"]),
    ("assign", &["update"]),
    ("set", &["update"]),
    ("configure", &["set", "update"]),
    ("know", &["context", "get"]),
    ("rename", &["move"]),
    ("remove", &["delete"]),
    ("erase", &["delete"]),
    ("drop", &["delete"]),
    ("new", &["create"]),
    ("make", &["create"]),
    ("add", &["create"]),
    ("register", &["create"]),
    ("write", &["create"]),
    ("save", &["write", "create"]),
    ("show", &["get", "list"]),
    ("view", &["get"]),
    ("look", &["get", "search"]),
    ("find", &["search", "get"]),
    ("many", &["count", "analytic"]),
    ("count", &["analytic", "stat"]),
    ("number", &["count", "analytic"]),
    ("week", &["day", "analytic"]),
    ("month", &["day", "analytic"]),
    ("trend", &["analytic", "stat"]),
    ("stop", &["cancel"]),
    ("abort", &["cancel"]),
    ("run", &["start", "execute"]),
    ("launch", &["start"]),
    ("kick", &["start"]),
    ("folder", &["directory"]),
    ("download", &["fetch"]),
    ("web", &["fetch", "url"]),
    ("page", &["url", "fetch"]),
    ("website", &["url", "fetch"]),
    ("api", &["http", "request"]),
    ("endpoint", &["http", "request"]),
    ("llm", &["model", "generate"]),
    ("ai", &["model", "generate"]),
    ("ask", &["generate"]),
    ("summary", &["generate"]),
    ("summarize", &["generate"]),
    ("healthy", &["health"]),
    ("fill", &["render"]),
    ("roll", &["restore"]),
    ("undo", &["restore"]),
    ("earlier", &["history", "version"]),
    ("previous", &["history", "version"]),
    ("origin", &["lineage"]),
    ("copy", &["sync"]),
    ("import", &["sync", "upload"]),
    ("clean", &["transform"]),
    ("insert", &["execute", "statement"]),
    ("log", &["save", "interaction"]),
    ("inside", &["grep", "content"]),
    ("contain", &["grep", "content"]),
    ("plan", &["explain"]),
    ("column", &["describe"]),
    ("enabled", &["toolkit"]),
];

/// How much a related word counts beside a word asked for.
const RELATED_WEIGHT: f64 = 0.5;

/// The query's terms with their weights: its own words (as the catalog spells them)
/// and their related words.
fn query_terms(query: &str, vocabulary: &dyn Fn(&str) -> bool) -> Vec<(String, f64)> {
    let mut terms: Vec<(String, f64)> = Vec::new();
    let mut add = |term: String, weight: f64| match terms.iter_mut().find(|(t, _)| *t == term) {
        Some((_, existing)) => *existing = existing.max(weight),
        None => terms.push((term, weight)),
    };
    for word in words(query) {
        if STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        let word = catalog_form(&word, vocabulary);
        if let Some((_, related)) = RELATED.iter().find(|(asked, _)| *asked == word) {
            for other in *related {
                add((*other).to_string(), RELATED_WEIGHT);
            }
        }
        add(word, 1.0);
    }
    terms
}

/// The form of `word` the catalog uses, when it uses one: `opened` becomes `open`,
/// `closing` becomes `close`; otherwise the word as it is.
fn catalog_form(word: &str, vocabulary: &dyn Fn(&str) -> bool) -> String {
    if vocabulary(word) {
        return word.to_string();
    }
    let mut candidates = Vec::new();
    for suffix in ["ed", "d", "ing", "er", "ly"] {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.len() >= 3
        {
            candidates.push(stem.to_string());
            candidates.push(format!("{stem}e"));
        }
    }
    candidates
        .into_iter()
        .find(|candidate| {
            vocabulary(candidate) || RELATED.iter().any(|(asked, _)| asked == candidate)
        })
        .unwrap_or_else(|| word.to_string())
}

/// A text's weighted word frequencies and length, as BM25 reads them.
pub struct Terms {
    frequencies: HashMap<String, f64>,
    length: f64,
}

impl Terms {
    /// The words of each field, counted at the field's weight.
    pub fn of(fields: &[(&str, f64)]) -> Terms {
        let mut frequencies: HashMap<String, f64> = HashMap::new();
        let mut length = 0.0;
        for (text, weight) in fields {
            for word in words(text) {
                *frequencies.entry(word).or_default() += weight;
                length += weight;
            }
        }
        Terms {
            frequencies,
            length,
        }
    }
}

/// How well each of `documents` matches `query` (BM25, the query read as
/// `query_terms` reads it), in their order; 0 for no match.
pub fn bm25(documents: &[&Terms], query: &str) -> Vec<f64> {
    let query = query_terms(query, &|word| {
        documents
            .iter()
            .any(|document| document.frequencies.contains_key(word))
    });
    if documents.is_empty() || query.is_empty() {
        return vec![0.0; documents.len()];
    }
    let count = documents.len() as f64;
    let average = (documents.iter().map(|d| d.length).sum::<f64>() / count).max(f64::EPSILON);
    documents
        .iter()
        .map(|document| {
            query
                .iter()
                .map(|(term, weight)| {
                    let frequency = document.frequencies.get(term).copied().unwrap_or(0.0);
                    if frequency == 0.0 {
                        return 0.0;
                    }
                    let holders = documents
                        .iter()
                        .filter(|d| d.frequencies.contains_key(term))
                        .count() as f64;
                    let idf = ((count - holders + 0.5) / (holders + 0.5) + 1.0).ln();
                    weight * idf * frequency * (K1 + 1.0)
                        / (frequency + K1 * (1.0 - B + B * document.length / average))
                })
                .sum::<f64>()
        })
        .collect()
}

/// One searchable tool.
struct Document {
    name: String,
    toolkit: String,
    terms: Terms,
    tool: tideway_core::mcp::Tool,
}

const NAME_WEIGHT: f64 = 3.0;
const TITLE_WEIGHT: f64 = 2.0;
const TEXT_WEIGHT: f64 = 1.0;
const K1: f64 = 1.2;
const B: f64 = 0.75;

fn document(name: String, toolkit: &str, tool: &tideway_core::mcp::Tool) -> Document {
    Document {
        name,
        toolkit: toolkit.to_string(),
        terms: Terms::of(&[
            (tool.name.as_ref(), NAME_WEIGHT),
            (tool.title.as_deref().unwrap_or_default(), TITLE_WEIGHT),
            (tool.description.as_deref().unwrap_or_default(), TEXT_WEIGHT),
            (toolkit, TEXT_WEIGHT),
        ]),
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
    let terms: Vec<&Terms> = documents.iter().map(|document| &document.terms).collect();
    let mut scored: Vec<(f64, &Document)> = bm25(&terms, &args.query)
        .into_iter()
        .zip(&documents)
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

    #[test]
    fn a_query_drops_empty_words_and_brings_related_ones() {
        let catalog = ["update", "ticket", "open", "close", "directory", "create"];
        let known = |word: &str| catalog.contains(&word);
        let terms = query_terms("How do I close the tickets?", &known);
        assert_eq!(
            terms,
            [
                ("update".to_string(), RELATED_WEIGHT),
                ("status".to_string(), RELATED_WEIGHT),
                ("close".to_string(), 1.0),
                ("ticket".to_string(), 1.0),
            ]
        );
        let terms = query_terms("tickets opened", &known);
        assert_eq!(terms[1], ("open".to_string(), 1.0), "{terms:?}");
        let terms = query_terms("make a folder", &known);
        assert!(
            terms.contains(&("directory".to_string(), RELATED_WEIGHT)),
            "{terms:?}"
        );
        assert!(
            terms.contains(&("create".to_string(), RELATED_WEIGHT)),
            "{terms:?}"
        );
    }
}
