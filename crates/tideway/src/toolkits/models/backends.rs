//! The three ways to reach a model, behind one `generate`: MCP sampling (the calling
//! client's own model, asked through `sampling/createMessage`), an OpenAI-compatible
//! chat-completions API, and Anthropic's Messages API. Each translates the common
//! request and answer (`model.rs`) to its wire format, whole or streamed as server-sent
//! events, and says what went wrong in terms an operator can act on. HTTP requests are
//! retried with exponential backoff after a 429 or 5xx, honouring `Retry-After`,
//! within the call's deadline.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use tideway_core::{CallContext, HubError};

use zeroize::Zeroizing;

use super::{
    model::{
        Message, ModelRequest, ModelResponse, Part, Speaker, StopReason, ToolDefinition, Usage,
    },
    settings::ProviderKind,
};

/// Tokens asked for when neither the call nor the provider says.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// An HTTP provider, resolved for one tenant.
#[derive(Clone)]
pub struct HttpProvider {
    /// The provider's name (for errors and the generation record).
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Zeroizing<String>>,
    pub max_tokens: u32,
    pub stream: bool,
    /// What its tokens cost, when declared; used when the answer reports no cost.
    pub prices: Option<Prices>,
}

/// A provider's prices in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

impl Prices {
    /// Both prices, or none: a half-declared price would understate every cost.
    pub fn from_parts(input: Option<f64>, output: Option<f64>) -> Option<Prices> {
        Some(Prices {
            input_usd_per_mtok: input?,
            output_usd_per_mtok: output?,
        })
    }

    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_usd_per_mtok
            + usage.output_tokens as f64 * self.output_usd_per_mtok)
            / 1e6
    }
}

impl std::fmt::Debug for HttpProvider {
    // The key is a secret: only whether there is one is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

/// The vendor's URL for a kind, used when a provider names none.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "https://api.openai.com/v1",
        ProviderKind::Anthropic => "https://api.anthropic.com/v1",
    }
}

/// Where a tenant's generations go.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The calling MCP client's model, through sampling.
    Sampling,
    Http(HttpProvider),
}

impl Backend {
    pub fn name(&self) -> &str {
        match self {
            Backend::Sampling => "sampling",
            Backend::Http(provider) => &provider.name,
        }
    }
}

/// Retry settings for HTTP providers.
#[derive(Clone, Copy, Debug)]
pub struct Retries {
    pub max_retries: u32,
    pub timeout: Duration,
}

pub async fn generate(
    backend: &Backend,
    http: &reqwest::Client,
    retries: Retries,
    ctx: &CallContext,
    request: &ModelRequest,
) -> Result<ModelResponse, HubError> {
    match backend {
        Backend::Sampling => sample(ctx, request).await,
        Backend::Http(provider) => {
            let response = send(provider, http, retries, ctx, request).await?;
            let streamed = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/event-stream"));
            match (provider.kind, streamed) {
                (ProviderKind::Openai, false) => {
                    openai::answer(provider, read_json(provider, response).await?)
                }
                (ProviderKind::Openai, true) => openai::streamed(provider, response).await,
                (ProviderKind::Anthropic, false) => {
                    anthropic::answer(provider, read_json(provider, response).await?)
                }
                (ProviderKind::Anthropic, true) => anthropic::streamed(provider, response).await,
            }
        }
    }
}

fn unavailable(provider: &str, reason: impl Into<String>) -> HubError {
    HubError::Unavailable {
        component: format!("model provider '{provider}'"),
        reason: reason.into(),
    }
}

/// The provider's own words about an error, from a JSON error body if it has one.
fn error_detail(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|value| {
        value["error"]["message"]
            .as_str()
            .or_else(|| value["message"].as_str())
            .map(str::to_string)
    });
    let mut detail = message.unwrap_or_else(|| body.chars().take(300).collect());
    if detail.trim().is_empty() {
        detail = "(no detail)".into();
    }
    detail
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(60.0)))
}

/// `builder` with the provider's key and API version, as its kind sends them.
fn authorized(
    mut builder: reqwest::RequestBuilder,
    provider: &HttpProvider,
) -> reqwest::RequestBuilder {
    builder = match (provider.kind, &provider.api_key) {
        (ProviderKind::Openai, Some(key)) => builder.bearer_auth(key.as_str()),
        (ProviderKind::Anthropic, Some(key)) => builder.header("x-api-key", key.as_str()),
        (_, None) => builder,
    };
    if provider.kind == ProviderKind::Anthropic {
        builder = builder.header("anthropic-version", "2023-06-01");
    }
    builder
}

/// Whether the provider answers, by asking for its model list with its key, which
/// spends no tokens. Any answer but a refused key or a server error counts: some
/// compatible servers have no model list, and answering at all is what is asked.
pub async fn probe(
    provider: &HttpProvider,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<(), String> {
    let url = format!("{}/models", provider.base_url.trim_end_matches('/'));
    match authorized(http.get(&url).timeout(timeout), provider)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status();
            match status.as_u16() {
                401 | 403 => Err(format!("it refused the API key ({status})")),
                _ if status.is_server_error() => Err(format!("it answered {status}")),
                _ => Ok(()),
            }
        }
        Err(error) if error.is_timeout() => {
            Err(format!("it did not answer within {} s", timeout.as_secs()))
        }
        Err(error) => Err(format!("it cannot be reached: {error}")),
    }
}

/// Sends the request, retrying 429 and 5xx answers and lost connections with
/// backoff while the call's deadline allows; any other failure is returned at once.
async fn send(
    provider: &HttpProvider,
    http: &reqwest::Client,
    retries: Retries,
    ctx: &CallContext,
    request: &ModelRequest,
) -> Result<reqwest::Response, HubError> {
    let (url, body) = match provider.kind {
        ProviderKind::Openai => (
            format!(
                "{}/chat/completions",
                provider.base_url.trim_end_matches('/')
            ),
            openai::body(provider, request),
        ),
        ProviderKind::Anthropic => (
            format!("{}/messages", provider.base_url.trim_end_matches('/')),
            anthropic::body(provider, request),
        ),
    };
    let mut attempt = 0u32;
    loop {
        let budget = ctx.remaining().min(retries.timeout);
        if budget.is_zero() {
            return Err(HubError::DeadlineExceeded(retries.timeout));
        }
        let outcome = authorized(http.post(&url).timeout(budget).json(&body), provider)
            .send()
            .await;
        let (retryable, wait, failure) = match outcome {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(&response);
                let detail = error_detail(&response.text().await.unwrap_or_default());
                let failure = match status.as_u16() {
                    401 | 403 => unavailable(
                        &provider.name,
                        format!("it refused the API key ({status}): {detail}"),
                    ),
                    429 => HubError::RateLimited {
                        message: format!(
                            "model provider '{}' is rate limiting ({status}): {detail}",
                            provider.name
                        ),
                        retry_after: wait.unwrap_or(Duration::from_secs(10)),
                    },
                    400 | 404 | 422 => unavailable(
                        &provider.name,
                        format!("it refused the request ({status}): {detail}"),
                    ),
                    _ => unavailable(&provider.name, format!("it answered {status}: {detail}")),
                };
                (
                    status.as_u16() == 429 || status.is_server_error(),
                    wait,
                    failure,
                )
            }
            Err(error) if error.is_timeout() => (false, None, HubError::DeadlineExceeded(budget)),
            Err(error) => (
                true,
                None,
                unavailable(&provider.name, format!("it cannot be reached: {error}")),
            ),
        };
        if !retryable || attempt >= retries.max_retries {
            return Err(failure);
        }
        attempt += 1;
        let backoff = wait.unwrap_or(Duration::from_millis(250 << attempt.min(5)));
        if backoff >= ctx.remaining() {
            return Err(failure);
        }
        tracing::info!(provider = %provider.name, attempt, ?backoff, error = %failure, "retrying a model request");
        tokio::time::sleep(backoff).await;
    }
}

async fn read_json(
    provider: &HttpProvider,
    response: reqwest::Response,
) -> Result<Value, HubError> {
    response
        .json()
        .await
        .map_err(|error| unavailable(&provider.name, format!("its answer is not JSON: {error}")))
}

/// The events of a streamed answer, as (event name, data) pairs.
async fn events(
    provider: &HttpProvider,
    response: reqwest::Response,
) -> Result<Vec<(Option<String>, String)>, HubError> {
    let mut stream = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|error| {
            unavailable(
                &provider.name,
                format!("its event stream broke off: {error}"),
            )
        })?;
        if let Some(data) = event.data {
            events.push((event.event, data));
        }
    }
    Ok(events)
}

fn malformed(provider: &HttpProvider, what: &str) -> HubError {
    unavailable(&provider.name, format!("its answer has no {what}"))
}

mod openai {
    use super::*;

    /// Our messages as chat-completion messages: a tool's result is a message of its
    /// own; an assistant's tool calls ride on its message.
    fn messages(request: &ModelRequest) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(system) = &request.system {
            out.push(json!({"role": "system", "content": system}));
        }
        for message in &request.messages {
            let text: String = message
                .content
                .iter()
                .filter_map(|part| match part {
                    Part::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("");
            match message.role {
                Speaker::User => {
                    for part in &message.content {
                        if let Part::ToolResult {
                            tool_use_id,
                            content,
                            ..
                        } = part
                        {
                            out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": content}));
                        }
                    }
                    if !text.is_empty() {
                        out.push(json!({"role": "user", "content": text}));
                    }
                }
                Speaker::Assistant => {
                    let calls: Vec<Value> = message
                        .content
                        .iter()
                        .filter_map(|part| match part {
                            Part::ToolUse { id, name, input } => Some(json!({
                                "id": id, "type": "function",
                                "function": {"name": name, "arguments": input.to_string()}
                            })),
                            _ => None,
                        })
                        .collect();
                    let mut assistant = json!({"role": "assistant", "content": text});
                    if !calls.is_empty() {
                        assistant["tool_calls"] = Value::Array(calls);
                    }
                    out.push(assistant);
                }
            }
        }
        out
    }

    fn tools(tools: &[ToolDefinition]) -> Vec<Value> {
        tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": tool.name, "description": tool.description, "parameters": tool.input_schema}})
            })
            .collect()
    }

    pub fn body(provider: &HttpProvider, request: &ModelRequest) -> Value {
        let mut body = json!({
            "model": provider.model,
            "messages": messages(request),
            "max_tokens": request.max_tokens.unwrap_or(provider.max_tokens),
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if !request.tools.is_empty() {
            body["tools"] = Value::Array(tools(&request.tools));
        }
        if provider.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn stop_reason(reason: Option<&str>) -> StopReason {
        match reason {
            Some("stop") => StopReason::EndTurn,
            Some("length") => StopReason::MaxTokens,
            Some("tool_calls" | "function_call") => StopReason::ToolUse,
            _ => StopReason::Other,
        }
    }

    fn usage(value: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: value.get("prompt_tokens")?.as_u64()?,
            output_tokens: value.get("completion_tokens")?.as_u64()?,
            // Routers and proxies in front of many vendors (OpenRouter, LiteLLM)
            // report what the call cost; the vendors' own APIs do not.
            cost_usd: value
                .get("cost")
                .and_then(Value::as_f64)
                .filter(|cost| cost.is_finite() && *cost >= 0.0),
        })
    }

    fn tool_input(provider: &HttpProvider, arguments: &str) -> Result<Value, HubError> {
        if arguments.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(arguments).map_err(|error| {
            unavailable(
                &provider.name,
                format!("it asked for a tool with arguments that are not JSON: {error}"),
            )
        })
    }

    pub fn answer(provider: &HttpProvider, body: Value) -> Result<ModelResponse, HubError> {
        let choice = body["choices"]
            .get(0)
            .ok_or_else(|| malformed(provider, "choices"))?;
        let message = &choice["message"];
        let mut content = Vec::new();
        if let Some(text) = message["content"].as_str()
            && !text.is_empty()
        {
            content.push(Part::text(text));
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            content.push(Part::ToolUse {
                id: call["id"].as_str().unwrap_or_default().to_string(),
                name: call["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                input: tool_input(
                    provider,
                    call["function"]["arguments"].as_str().unwrap_or("{}"),
                )?,
            });
        }
        Ok(ModelResponse {
            model: body["model"]
                .as_str()
                .unwrap_or(&provider.model)
                .to_string(),
            content,
            stop_reason: stop_reason(choice["finish_reason"].as_str()),
            usage: usage(&body["usage"]),
        })
    }

    /// Builds the answer from `chat.completion.chunk` events.
    pub async fn streamed(
        provider: &HttpProvider,
        response: reqwest::Response,
    ) -> Result<ModelResponse, HubError> {
        let mut text = String::new();
        // Tool calls by index: id, name, arguments so far.
        let mut calls: Vec<(String, String, String)> = Vec::new();
        let mut model = provider.model.clone();
        let mut finish = None;
        let mut used = None;
        for (_, data) in events(provider, response).await? {
            if data.trim() == "[DONE]" {
                break;
            }
            let chunk: Value = serde_json::from_str(&data).map_err(|error| {
                unavailable(
                    &provider.name,
                    format!("a streamed chunk is not JSON: {error}"),
                )
            })?;
            if let Some(name) = chunk["model"].as_str() {
                model = name.to_string();
            }
            if let Some(counted) = usage(&chunk["usage"]) {
                used = Some(counted);
            }
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = Some(reason.to_string());
            }
            let delta = &choice["delta"];
            if let Some(piece) = delta["content"].as_str() {
                text.push_str(piece);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(0) as usize;
                if index >= 64 {
                    continue;
                }
                while calls.len() <= index {
                    calls.push(Default::default());
                }
                let slot = &mut calls[index];
                if let Some(id) = call["id"].as_str() {
                    slot.0 = id.to_string();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    slot.1.push_str(name);
                }
                if let Some(arguments) = call["function"]["arguments"].as_str() {
                    slot.2.push_str(arguments);
                }
            }
        }
        let mut content = Vec::new();
        if !text.is_empty() {
            content.push(Part::text(text));
        }
        for (id, name, arguments) in calls {
            content.push(Part::ToolUse {
                id,
                name,
                input: tool_input(provider, &arguments)?,
            });
        }
        Ok(ModelResponse {
            model,
            content,
            stop_reason: stop_reason(finish.as_deref()),
            usage: used,
        })
    }
}

mod anthropic {
    use super::*;

    fn part(part: &Part) -> Value {
        match part {
            Part::Text { text } => json!({"type": "text", "text": text}),
            Part::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
            Part::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                json!({"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": is_error})
            }
        }
    }

    pub fn body(provider: &HttpProvider, request: &ModelRequest) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|message: &Message| {
                json!({
                    "role": match message.role { Speaker::User => "user", Speaker::Assistant => "assistant" },
                    "content": message.content.iter().map(part).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut body = json!({
            "model": provider.model,
            "max_tokens": request.max_tokens.unwrap_or(provider.max_tokens),
            "messages": messages,
        });
        if let Some(system) = &request.system {
            body["system"] = json!(system);
        }
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if !request.tools.is_empty() {
            body["tools"] = Value::Array(
                request
                    .tools
                    .iter()
                    .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}))
                    .collect(),
            );
        }
        if provider.stream {
            body["stream"] = json!(true);
        }
        body
    }

    fn stop_reason(reason: Option<&str>) -> StopReason {
        match reason {
            Some("end_turn") => StopReason::EndTurn,
            Some("max_tokens") => StopReason::MaxTokens,
            Some("tool_use") => StopReason::ToolUse,
            Some("stop_sequence") => StopReason::StopSequence,
            _ => StopReason::Other,
        }
    }

    fn parts(blocks: &[Value]) -> Vec<Part> {
        blocks
            .iter()
            .filter_map(|block| match block["type"].as_str() {
                Some("text") => Some(Part::text(block["text"].as_str().unwrap_or_default())),
                Some("tool_use") => Some(Part::ToolUse {
                    id: block["id"].as_str().unwrap_or_default().to_string(),
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    input: block["input"].clone(),
                }),
                _ => None,
            })
            .collect()
    }

    pub fn answer(provider: &HttpProvider, body: Value) -> Result<ModelResponse, HubError> {
        let blocks = body["content"]
            .as_array()
            .ok_or_else(|| malformed(provider, "content"))?;
        Ok(ModelResponse {
            model: body["model"]
                .as_str()
                .unwrap_or(&provider.model)
                .to_string(),
            content: parts(blocks),
            stop_reason: stop_reason(body["stop_reason"].as_str()),
            usage: Some(Usage {
                input_tokens: body["usage"]["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: body["usage"]["output_tokens"].as_u64().unwrap_or(0),
                cost_usd: None,
            }),
        })
    }

    /// Builds the answer from Messages-API stream events.
    pub async fn streamed(
        provider: &HttpProvider,
        response: reqwest::Response,
    ) -> Result<ModelResponse, HubError> {
        let mut blocks: Vec<Value> = Vec::new();
        // Partial JSON of tool inputs, by block index.
        let mut inputs: Vec<String> = Vec::new();
        let mut model = provider.model.clone();
        let mut usage = Usage::default();
        let mut stop = None;
        for (_, data) in events(provider, response).await? {
            let event: Value = serde_json::from_str(&data).map_err(|error| {
                unavailable(
                    &provider.name,
                    format!("a streamed event is not JSON: {error}"),
                )
            })?;
            let index = event["index"].as_u64().unwrap_or(0) as usize;
            match event["type"].as_str() {
                Some("message_start") => {
                    if let Some(name) = event["message"]["model"].as_str() {
                        model = name.to_string();
                    }
                    usage.input_tokens = event["message"]["usage"]["input_tokens"]
                        .as_u64()
                        .unwrap_or(0);
                }
                Some("content_block_start") if index < 64 => {
                    while blocks.len() <= index {
                        blocks.push(Value::Null);
                        inputs.push(String::new());
                    }
                    blocks[index] = event["content_block"].clone();
                }
                Some("content_block_delta") if index < blocks.len() => {
                    let delta = &event["delta"];
                    match delta["type"].as_str() {
                        Some("text_delta") => {
                            let so_far = blocks[index]["text"].as_str().unwrap_or_default();
                            let text =
                                format!("{so_far}{}", delta["text"].as_str().unwrap_or_default());
                            blocks[index]["text"] = Value::String(text);
                        }
                        Some("input_json_delta") => {
                            inputs[index]
                                .push_str(delta["partial_json"].as_str().unwrap_or_default());
                        }
                        _ => {}
                    }
                }
                Some("message_delta") => {
                    if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                        stop = Some(reason.to_string());
                    }
                    if let Some(out) = event["usage"]["output_tokens"].as_u64() {
                        usage.output_tokens = out;
                    }
                }
                Some("error") => {
                    return Err(unavailable(
                        &provider.name,
                        format!(
                            "it stopped with an error: {}",
                            event["error"]["message"].as_str().unwrap_or("(no detail)")
                        ),
                    ));
                }
                _ => {}
            }
        }
        for (block, input) in blocks.iter_mut().zip(&inputs) {
            if block["type"] == "tool_use" && !input.is_empty() {
                block["input"] = serde_json::from_str(input).map_err(|error| {
                    unavailable(
                        &provider.name,
                        format!("it asked for a tool with arguments that are not JSON: {error}"),
                    )
                })?;
            }
        }
        Ok(ModelResponse {
            model,
            content: parts(&blocks),
            stop_reason: stop_reason(stop.as_deref()),
            usage: Some(usage),
        })
    }
}

/// Asks the calling client's model (MCP `sampling/createMessage`). Clients that cannot
/// sample (REST, a workflow) get the channel's clear refusal.
async fn sample(ctx: &CallContext, request: &ModelRequest) -> Result<ModelResponse, HubError> {
    let block = |part: &Part| match part {
        Part::Text { text } => json!({"type": "text", "text": text}),
        Part::ToolUse { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => json!({"type": "tool_result", "toolUseId": tool_use_id,
            "content": [{"type": "text", "text": content}], "isError": is_error}),
    };
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| {
            let content: Vec<Value> = message.content.iter().map(block).collect();
            json!({
                "role": match message.role { Speaker::User => "user", Speaker::Assistant => "assistant" },
                // A single block is sent as an object, which every client reads.
                "content": if content.len() == 1 { content[0].clone() } else { Value::Array(content) },
            })
        })
        .collect();
    let mut params = Map::new();
    params.insert("messages".into(), Value::Array(messages));
    params.insert(
        "maxTokens".into(),
        json!(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(system) = &request.system {
        params.insert("systemPrompt".into(), json!(system));
    }
    if let Some(temperature) = request.temperature {
        params.insert("temperature".into(), json!(temperature));
    }
    if !request.tools.is_empty() {
        params.insert(
            "tools".into(),
            Value::Array(
                request
                    .tools
                    .iter()
                    .map(|tool| json!({"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}))
                    .collect(),
            ),
        );
        params.insert("toolChoice".into(), json!({"mode": "auto"}));
    }
    let result = ctx.client.request("sampling/createMessage", params).await?;
    let blocks: Vec<Value> = match &result["content"] {
        Value::Array(blocks) => blocks.clone(),
        Value::Object(_) => vec![result["content"].clone()],
        _ => Vec::new(),
    };
    let content = blocks
        .iter()
        .filter_map(|block| match block["type"].as_str() {
            Some("text") => Some(Part::text(block["text"].as_str().unwrap_or_default())),
            Some("tool_use") => Some(Part::ToolUse {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"].as_str().unwrap_or_default().to_string(),
                input: block["input"].clone(),
            }),
            _ => None,
        })
        .collect();
    Ok(ModelResponse {
        model: result["model"].as_str().unwrap_or("client").to_string(),
        content,
        stop_reason: match result["stopReason"].as_str() {
            Some("endTurn") => StopReason::EndTurn,
            Some("maxTokens") => StopReason::MaxTokens,
            Some("toolUse") => StopReason::ToolUse,
            Some("stopSequence") => StopReason::StopSequence,
            _ => StopReason::Other,
        },
        usage: None,
    })
}
