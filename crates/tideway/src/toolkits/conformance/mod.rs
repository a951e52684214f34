//! The `conformance` toolkit: the fixture tools, resources and prompts that the
//! official MCP conformance suite calls, served through the same Hub path as every
//! other toolkit (schema validation, deadlines, metrics); `tasks.rs` and `input.rs`
//! hold the fixtures of the 2026-07-28 tasks and multi-round scenarios. Off by
//! default; enable it with `--toolkit conformance` on `/mcp/conformance` or alone on
//! `/mcp`.

mod input;
mod tasks;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    context::LogLevel,
    mcp::{
        ArgumentInfo, CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt,
        PromptArgument, PromptMessage, Reference, Resource, ResourceContents, ResourceTemplate,
        Role, Tool,
    },
    toolkit::Toolkit,
    typed::ToolSet,
};

/// The `conformance` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "conformance",
    summary: "the MCP conformance suite's fixtures (a test fixture)",
    on_by_default: false,
    feature: None,
    settings: None,
    migrations: &[],
    sealed: &[],
    build: Some(|_| Ok(Arc::new(ConformanceToolkit::new()))),
    rest: None,
    cli: None,
};

/// A 1x1 red PNG.
const IMAGE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file.
const AUDIO_WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

fn no_args() -> Arc<JsonObject> {
    Arc::new(object(json!({"type": "object", "properties": {}})))
}

fn tool(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, no_args())
}

fn tool_with(name: &'static str, description: &'static str, schema: Value) -> Tool {
    Tool::new(name, description, Arc::new(object(schema)))
}

fn text_of(value: &Value) -> String {
    value.as_str().map(str::to_string).unwrap_or_default()
}

pub struct ConformanceToolkit {
    tools: ToolSet<()>,
}

impl Default for ConformanceToolkit {
    fn default() -> Self {
        Self::new()
    }
}

async fn ask_client(ctx: &CallContext, method: &str, params: Value) -> Result<Value, HubError> {
    ctx.client.request(method, object(params)).await
}

impl ConformanceToolkit {
    pub fn new() -> Self {
        let tools = ToolSet::new()
            .add_raw(tool("test_simple_text", "Tests simple text content response"), |_, _, _| async {
                Ok(CallToolResult::success(vec![ContentBlock::text(
                    "This is a simple text response for testing.",
                )]))
            })
            .add_raw(tool("test_image_content", "Tests image content response"), |_, _, _| async {
                Ok(CallToolResult::success(vec![ContentBlock::image(IMAGE_PNG, "image/png")]))
            })
            .add_raw(tool("test_audio_content", "Tests audio content response"), |_, _, _| async {
                Ok(CallToolResult::success(vec![ContentBlock::audio(AUDIO_WAV, "audio/wav")]))
            })
            .add_raw(
                tool("test_embedded_resource", "Tests embedded resource content response"),
                |_, _, _| async {
                    Ok(CallToolResult::success(vec![ContentBlock::resource(
                        ResourceContents::text("This is an embedded resource content.", "test://embedded-resource"),
                    )]))
                },
            )
            .add_raw(
                tool(
                    "test_multiple_content_types",
                    "Tests response with multiple content types (text, image, resource)",
                ),
                |_, _, _| async {
                    Ok(CallToolResult::success(vec![
                        ContentBlock::text("Multiple content types test:"),
                        ContentBlock::image(IMAGE_PNG, "image/png"),
                        ContentBlock::resource(
                            ResourceContents::text(
                                json!({"test": "data", "value": 123}).to_string(),
                                "test://mixed-content-resource",
                            )
                            .with_mime_type("application/json"),
                        ),
                    ]))
                },
            )
            .add_raw(
                tool("test_tool_with_logging", "Tests tool that emits log messages during execution"),
                |_, ctx, _| async move {
                    for (i, message) in ["Tool execution started", "Tool processing data", "Tool execution completed"]
                        .into_iter()
                        .enumerate()
                    {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        ctx.log(LogLevel::Info, "conformance", message).await;
                    }
                    Ok(CallToolResult::success(vec![ContentBlock::text(
                        "Tool with logging executed successfully",
                    )]))
                },
            )
            .add_raw(
                tool("test_logging_tool", "Logs one message at info level"),
                |_, ctx, _| async move {
                    ctx.log(LogLevel::Info, "conformance", "A message at info level").await;
                    Ok(CallToolResult::success(vec![ContentBlock::text("Logged one message")]))
                },
            )
            .add_raw(
                tool("test_tool_with_progress", "Tests tool that reports progress notifications"),
                |_, ctx, _| async move {
                    for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        ctx.progress(step, Some(100.0), format!("Completed step {step} of 100")).await;
                    }
                    Ok(CallToolResult::success(vec![ContentBlock::text("Progress reported in 3 steps")]))
                },
            )
            .add_raw(
                tool_with(
                    "test_header_param",
                    "Echoes a region that the client also sends as the Mcp-Param-Region header",
                    json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}, "required": ["region"]}),
                ),
                |_, _, args| async move {
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "region: {}",
                        text_of(&args["region"])
                    ))]))
                },
            )
            .add_raw(tool("test_error_handling", "Tests error response handling"), |_, _, _| async {
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    "This tool intentionally returns an error for testing",
                )]))
            })
            .add_raw(
                tool_with(
                    "test_sampling",
                    "Tests server-initiated sampling (LLM completion request)",
                    json!({"type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send to the LLM"}},"required":["prompt"]}),
                ),
                |_, ctx, args| async move {
                    let prompt = text_of(&args["prompt"]);
                    let params = json!({
                        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                        "maxTokens": 100
                    });
                    let text = match ask_client(&ctx, "sampling/createMessage", params).await {
                        Ok(result) => format!(
                            "LLM response: {}",
                            result["content"]["text"].as_str().unwrap_or("No response")
                        ),
                        Err(error) => format!("Sampling not supported or error: {error}"),
                    };
                    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
                },
            )
            .add_raw(
                tool_with(
                    "test_elicitation",
                    "Tests server-initiated elicitation (user input request)",
                    json!({"type":"object","properties":{"message":{"type":"string","description":"The message to show the user"}},"required":["message"]}),
                ),
                |_, ctx, args| async move {
                    let params = json!({
                        "message": text_of(&args["message"]),
                        "requestedSchema": {"type": "object", "properties": {"response": {"type": "string", "description": "User's response"}}, "required": ["response"]}
                    });
                    Ok(elicitation_result(&ctx, params, "User response").await)
                },
            )
            .add_raw(
                tool("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034"),
                |_, ctx, _| async move {
                    let params = json!({
                        "message": "Please review and update the form fields with defaults",
                        "requestedSchema": {"type": "object", "properties": {
                            "name": {"type": "string", "description": "User name", "default": "John Doe"},
                            "age": {"type": "integer", "description": "User age", "default": 30},
                            "score": {"type": "number", "description": "User score", "default": 95.5},
                            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                            "verified": {"type": "boolean", "description": "Verification status", "default": true}
                        }, "required": []}
                    });
                    Ok(elicitation_result(&ctx, params, "Elicitation completed").await)
                },
            )
            .add_raw(
                tool("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330"),
                |_, ctx, _| async move {
                    let params = json!({
                        "message": "Please select options from the enum fields",
                        "requestedSchema": {"type": "object", "properties": {
                            "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                            "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                                {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
                            "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                            "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                            "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                                {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}
                        }, "required": []}
                    });
                    Ok(elicitation_result(&ctx, params, "Elicitation completed").await)
                },
            )
            .add_raw(
                tool_with(
                    "json_schema_2020_12_tool",
                    "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
                    json!({
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
                        "properties": {
                            "name": {"type": "string"},
                            "address": {"$ref": "#/$defs/address"},
                            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                            "phone": {"type": "string"},
                            "email": {"type": "string"}
                        },
                        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                        "then": {"required": ["phone"]},
                        "else": {"required": ["email"]},
                        "additionalProperties": false
                    }),
                ),
                |_, _, args| async move {
                    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                        "JSON Schema 2020-12 tool called with: {}",
                        Value::Object(args)
                    ))]))
                },
            );
        ConformanceToolkit {
            tools: input::add_fixtures(tasks::add_fixtures(tools)),
        }
    }
}

async fn elicitation_result(ctx: &CallContext, params: Value, label: &str) -> CallToolResult {
    let text = match ask_client(ctx, "elicitation/create", params).await {
        Ok(result) => format!(
            "{label}: action={}, content={}",
            result["action"].as_str().unwrap_or("unknown"),
            result.get("content").cloned().unwrap_or(json!({}))
        ),
        Err(error) => format!("Elicitation not supported or error: {error}"),
    };
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn user(content: ContentBlock) -> PromptMessage {
    PromptMessage::new(Role::User, content)
}

#[async_trait]
impl Toolkit for ConformanceToolkit {
    fn name(&self) -> &str {
        "conformance"
    }

    fn description(&self) -> &str {
        "Fixtures for the official MCP conformance suite."
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    fn task_support(&self, tool: &str) -> tideway_core::TaskSupport {
        tasks::task_support(tool)
    }

    async fn before_task(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<JsonObject, HubError> {
        tasks::before_task(ctx, tool, arguments).await
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools.call(Arc::new(()), ctx, name, arguments).await
    }

    fn uri_prefixes(&self) -> Vec<String> {
        vec!["test://".into()]
    }

    async fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        Ok(vec![
            Resource::new("test://static-text", "static-text")
                .with_title("Static Text Resource")
                .with_description("A static text resource for testing")
                .with_mime_type("text/plain"),
            Resource::new("test://static-binary", "static-binary")
                .with_title("Static Binary Resource")
                .with_description("A static binary resource (image) for testing")
                .with_mime_type("image/png"),
            Resource::new("test://watched-resource", "watched-resource")
                .with_title("Watched Resource")
                .with_description("A resource clients can subscribe to")
                .with_mime_type("text/plain"),
        ])
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new("test://template/{id}/data", "template")
                .with_title("Resource Template")
                .with_description("A resource template with parameter substitution")
                .with_mime_type("application/json"),
        ]
    }

    async fn read_resource(
        &self,
        _ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        let contents = match uri {
            "test://static-text" => {
                ResourceContents::text("This is the content of the static text resource.", uri)
            }
            "test://static-binary" => {
                ResourceContents::blob(IMAGE_PNG, uri).with_mime_type("image/png")
            }
            "test://watched-resource" => ResourceContents::text("Watched resource content", uri),
            _ => {
                let id = uri
                    .strip_prefix("test://template/")
                    .and_then(|rest| rest.strip_suffix("/data"))
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                    .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
                ResourceContents::text(
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string(),
                    uri,
                )
                .with_mime_type("application/json")
            }
        };
        Ok(vec![contents])
    }

    fn prompts(&self) -> Vec<Prompt> {
        let argument = |name: &str, description: &str| {
            PromptArgument::new(name)
                .with_description(description)
                .with_required(true)
        };
        vec![
            Prompt::new(
                "test_simple_prompt",
                Some("A simple prompt without arguments"),
                None,
            )
            .with_title("Simple Test Prompt"),
            Prompt::new(
                "test_prompt_with_arguments",
                Some("A prompt with required arguments"),
                Some(vec![
                    argument("arg1", "First test argument"),
                    argument("arg2", "Second test argument"),
                ]),
            )
            .with_title("Prompt With Arguments"),
            Prompt::new(
                "test_prompt_with_embedded_resource",
                Some("A prompt that includes an embedded resource"),
                Some(vec![argument(
                    "resourceUri",
                    "URI of the resource to embed",
                )]),
            )
            .with_title("Prompt With Embedded Resource"),
            Prompt::new(
                "test_prompt_with_image",
                Some("A prompt that includes image content"),
                None,
            )
            .with_title("Prompt With Image"),
            input::prompt(),
        ]
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        if name == input::PROMPT {
            return input::render_prompt(ctx).await;
        }
        let arg = |key: &str| arguments.get(key).map(text_of).unwrap_or_default();
        let messages = match name {
            "test_simple_prompt" => vec![user(ContentBlock::text(
                "This is a simple prompt for testing.",
            ))],
            "test_prompt_with_arguments" => vec![user(ContentBlock::text(format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                arg("arg1"),
                arg("arg2")
            )))],
            "test_prompt_with_embedded_resource" => vec![
                user(ContentBlock::resource(ResourceContents::text(
                    "Embedded resource content for testing.",
                    arg("resourceUri"),
                ))),
                user(ContentBlock::text(
                    "Please process the embedded resource above.",
                )),
            ],
            "test_prompt_with_image" => vec![
                user(ContentBlock::image(IMAGE_PNG, "image/png")),
                user(ContentBlock::text("Please analyze the image above.")),
            ],
            _ => return Err(HubError::UnknownPrompt(name.to_string())),
        };
        Ok(GetPromptResult::new(messages))
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        reference: &Reference,
        argument: &ArgumentInfo,
    ) -> Result<Vec<String>, HubError> {
        let values: &[&str] = match (reference.as_prompt_name(), argument.name.as_str()) {
            (Some("test_prompt_with_arguments"), "arg1" | "arg2") => &["alpha", "beta", "gamma"],
            (Some("test_prompt_with_embedded_resource"), "resourceUri") => &[
                "test://static-text",
                "test://static-binary",
                "test://watched-resource",
            ],
            _ => &[],
        };
        Ok(values.iter().map(|v| v.to_string()).collect())
    }
}
