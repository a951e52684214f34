//! Typed tools: a toolkit declares each tool once, with Rust types for its arguments
//! and its result, and gets the input schema, output schema, argument decoding and a
//! structured result (plus a short text rendering) from them. The Hub has already
//! validated the arguments against the schema, so decoding failures here are rare and
//! reported with the field serde names.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    context::CallContext,
    error::HubError,
    mcp::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type Handler<S> = Arc<
    dyn Fn(Arc<S>, CallContext, JsonObject) -> BoxFuture<Result<CallToolResult, HubError>>
        + Send
        + Sync,
>;

/// What a tool does to the world, declared once and published as MCP annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    ReadOnly,
    /// Writes, but calling twice with the same arguments has the same effect as once.
    Idempotent,
    /// Writes additively (creates, appends).
    Additive,
    /// May delete or overwrite.
    Destructive,
}

/// The descriptive half of a tool definition.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub effect: Effect,
    /// Whether the tool reaches systems outside Tideway's own store (the network, a database).
    pub open_world: bool,
}

impl ToolSpec {
    pub fn annotations(&self) -> ToolAnnotations {
        let (read_only, destructive, idempotent) = match self.effect {
            Effect::ReadOnly => (true, false, true),
            Effect::Idempotent => (false, false, true),
            Effect::Additive => (false, false, false),
            Effect::Destructive => (false, true, false),
        };
        ToolAnnotations::from_raw(
            Some(self.title.to_string()),
            Some(read_only),
            Some(destructive),
            Some(idempotent),
            Some(self.open_world),
        )
    }
}

/// The JSON Schema of a type, as an MCP schema object. Schemas are inlined (no `$ref`
/// to `$defs`) because several MCP clients do not resolve references.
pub fn schema_for<T: JsonSchema>() -> JsonObject {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut object = match serde_json::to_value(schema) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    };
    object.remove("$schema");
    object.remove("title");
    if !object.contains_key("type") {
        object.insert("type".into(), Value::String("object".into()));
    }
    let mut schema = Value::Object(object);
    standardise(&mut schema);
    match schema {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

/// The `format`s JSON Schema 2020-12 defines. schemars also writes Rust's integer and
/// float widths (`int64`, `uint32`, `float`, ...), which strict clients reject; the
/// ranges they stand for are already in `minimum` and `maximum`.
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Keywords whose value is one schema, or a map or list of schemas.
const ONE_SCHEMA: &[&str] = &["items", "not", "if", "then", "else", "contains"];
const SCHEMA_MAPS: &[&str] = &["properties", "patternProperties", "$defs"];
const SCHEMA_LISTS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems"];

/// Makes a generated schema one that strict clients accept: formats outside the
/// standard vocabulary are dropped (an unsigned width keeps `minimum: 0`), and a bare
/// `true` where a schema object goes (an argument of any JSON type) becomes `{}`,
/// which means the same.
fn standardise(value: &mut Value) {
    let Value::Object(object) = value else {
        if let Value::Array(items) = value {
            items.iter_mut().for_each(standardise);
        }
        return;
    };
    if let Some(Value::String(format)) = object.get("format")
        && !STANDARD_FORMATS.contains(&format.as_str())
    {
        let unsigned = format.starts_with("uint");
        object.remove("format");
        if unsigned && !object.contains_key("minimum") {
            object.insert("minimum".into(), Value::from(0));
        }
    }
    let as_object = |schema: &mut Value| {
        if *schema == Value::Bool(true) {
            *schema = Value::Object(JsonObject::new());
        }
    };
    for (key, child) in object.iter_mut() {
        if ONE_SCHEMA.contains(&key.as_str()) {
            as_object(child);
        } else if SCHEMA_MAPS.contains(&key.as_str()) {
            if let Value::Object(schemas) = child {
                schemas.values_mut().for_each(as_object);
            }
        } else if SCHEMA_LISTS.contains(&key.as_str())
            && let Value::Array(schemas) = child
        {
            schemas.iter_mut().for_each(as_object);
        }
        standardise(child);
    }
}

/// The arguments of a tool that takes none; anything given is refused by name.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A result type that can say itself in a line or two of text for clients that do not
/// read `structuredContent`. The default renders the JSON.
pub trait ToolText: Serialize {
    fn text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The content blocks to send instead of the text, for a result that is itself
    /// an image or audio (a client shows those as such, not as base64 text).
    fn blocks(&self) -> Option<Vec<ContentBlock>> {
        None
    }
}

/// The tools of one toolkit, each bound to a handler over the toolkit's state `S`.
pub struct ToolSet<S> {
    tools: Vec<Tool>,
    handlers: HashMap<String, Handler<S>>,
}

impl<S: Send + Sync + 'static> Default for ToolSet<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Send + Sync + 'static> ToolSet<S> {
    pub fn new() -> Self {
        ToolSet {
            tools: Vec::new(),
            handlers: HashMap::new(),
        }
    }

    /// Adds a tool whose arguments are `A` and whose result is `O`.
    pub fn add<A, O, F, Fut>(mut self, spec: ToolSpec, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolText + JsonSchema + Send + 'static,
        F: Fn(Arc<S>, CallContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, HubError>> + Send + 'static,
    {
        let tool = Tool::new(spec.name, spec.description, Arc::new(schema_for::<A>()))
            .with_raw_output_schema(Arc::new(schema_for::<O>()))
            .with_annotations(spec.annotations())
            .with_title(spec.title);
        let handler = Arc::new(handler);
        let erased: Handler<S> = Arc::new(move |state, ctx, arguments| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: A = decode_arguments(arguments)?;
                let output = handler(state, ctx, args).await?;
                let content = output
                    .blocks()
                    .unwrap_or_else(|| vec![ContentBlock::text(output.text())]);
                let structured = serde_json::to_value(&output).map_err(HubError::internal)?;
                let mut result = CallToolResult::structured(structured);
                result.content = content;
                Ok(result)
            })
        });
        self.handlers.insert(spec.name.to_string(), erased);
        self.tools.push(tool);
        self
    }

    /// Adds a tool with a hand-written definition and a handler that builds the whole
    /// result (for tools whose output is content blocks rather than a typed value).
    pub fn add_raw<F, Fut>(mut self, tool: Tool, handler: F) -> Self
    where
        F: Fn(Arc<S>, CallContext, JsonObject) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, HubError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler<S> = Arc::new(move |state, ctx, arguments| {
            let handler = handler.clone();
            Box::pin(async move { handler(state, ctx, arguments).await })
        });
        self.handlers.insert(tool.name.to_string(), erased);
        self.tools.push(tool);
        self
    }

    pub fn tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    pub async fn call(
        &self,
        state: Arc<S>,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        let handler = self
            .handlers
            .get(name)
            .ok_or_else(|| HubError::UnknownTool {
                toolkit: String::new(),
                tool: name.to_string(),
            })?
            .clone();
        handler(state, ctx.clone(), arguments).await
    }
}

/// Decodes validated arguments into their Rust type, naming the field on failure.
pub fn decode_arguments<A: DeserializeOwned>(arguments: JsonObject) -> Result<A, HubError> {
    serde_json::from_value(Value::Object(arguments)).map_err(|error| {
        let message = error.to_string();
        let field = message
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "arguments".to_string());
        HubError::invalid_argument(field, message)
    })
}

/// Where a schema strays from what strict clients accept: a non-standard `format`,
/// or a bare boolean where a schema object goes. Empty when it does not.
#[cfg(any(test, feature = "testing"))]
pub fn schema_problems(schema: &Value) -> Vec<String> {
    fn walk(value: &Value, at: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(format)) = object.get("format")
                    && !STANDARD_FORMATS.contains(&format.as_str())
                {
                    problems.push(format!("{at}: format '{format}'"));
                }
                for (key, child) in object {
                    let here = format!("{at}/{key}");
                    let schemas: Vec<(String, &Value)> = if ONE_SCHEMA.contains(&key.as_str()) {
                        vec![(here.clone(), child)]
                    } else if SCHEMA_MAPS.contains(&key.as_str()) {
                        child
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(name, schema)| (format!("{here}/{name}"), schema))
                            .collect()
                    } else if SCHEMA_LISTS.contains(&key.as_str()) {
                        child
                            .as_array()
                            .into_iter()
                            .flatten()
                            .enumerate()
                            .map(|(index, schema)| (format!("{here}/{index}"), schema))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    for (place, schema) in schemas {
                        if schema.is_boolean() {
                            problems.push(format!("{place}: a bare boolean schema"));
                        }
                    }
                    walk(child, &here, problems);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{index}"), problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk(schema, "", &mut problems);
    problems
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(JsonSchema)]
    #[expect(dead_code, reason = "only its schema is used")]
    struct Widths {
        count: u32,
        offset: i64,
        limit: Option<u64>,
        ratio: f32,
        small: u8,
        any: Value,
        list: Vec<Value>,
        map: BTreeMap<String, Value>,
        nested: Option<Inner>,
    }

    #[derive(JsonSchema)]
    #[expect(dead_code, reason = "only its schema is used")]
    struct Inner {
        size: usize,
        data: Value,
    }

    #[test]
    fn generated_schemas_use_only_the_standard_vocabulary() {
        let schema = Value::Object(schema_for::<Widths>());
        assert_eq!(schema_problems(&schema), Vec::<String>::new(), "{schema:#}");
        let properties = &schema["properties"];
        assert_eq!(properties["count"]["type"], "integer");
        assert_eq!(properties["count"]["minimum"], 0);
        assert_eq!(properties["small"]["maximum"], 255);
        assert!(properties["any"].is_object());
        // What the check catches, on a schema as schemars writes it.
        let raw = serde_json::json!({"type": "object", "properties": {
            "n": {"type": "integer", "format": "int64"}, "v": true,
            "xs": {"type": "array", "items": true}}});
        assert_eq!(
            schema_problems(&raw).len(),
            3,
            "{:?}",
            schema_problems(&raw)
        );
    }
}
