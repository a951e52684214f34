//! The fixtures of the conformance suite's input-required scenarios (2026-07-28
//! multi-round requests): tools and a prompt that ask the client for elicitation,
//! sampling and roots under the keys the suite expects, alone, together, or over two
//! rounds, and those of the stateless scenario. They ask through the call's client
//! channel like any tool, so the same fixtures ask on the stream in a 2025-11-25
//! session.

use std::{future::Future, pin::Pin, sync::Arc};

use serde_json::{Value, json};
use tideway_core::{
    CallContext, HubError,
    mcp::{CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt, PromptMessage, Role},
    typed::ToolSet,
};

use super::{object, tool};

/// The prompt that asks for input before it can be rendered.
pub const PROMPT: &str = "test_input_required_result_prompt";

type Answer = Result<CallToolResult, HubError>;

async fn ask(ctx: &CallContext, key: &str, method: &str, params: Value) -> Result<Value, HubError> {
    ctx.client.ask(key, method, object(params)).await
}

/// Asks the user one string field through a form.
pub(super) async fn ask_field(
    ctx: &CallContext,
    key: &str,
    message: &str,
    field: &str,
) -> Result<String, HubError> {
    let form = json!({
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    });
    let answer = ask(ctx, key, "elicitation/create", form).await?;
    Ok(match &answer["content"][field] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// Asks the client's model one question.
async fn ask_model(
    ctx: &CallContext,
    key: &str,
    text: &str,
    max_tokens: u32,
) -> Result<String, HubError> {
    let question = json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        "maxTokens": max_tokens
    });
    let answer = ask(ctx, key, "sampling/createMessage", question).await?;
    Ok(answer["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Asks the client for its roots; their URIs.
async fn ask_roots(ctx: &CallContext) -> Result<String, HubError> {
    let answer = ask(ctx, "client_roots", "roots/list", json!({})).await?;
    let uris: Vec<&str> = answer["roots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|root| root["uri"].as_str())
        .collect();
    Ok(uris.join(", "))
}

async fn ask_confirmation(ctx: &CallContext) -> Result<Value, HubError> {
    let form = json!({
        "message": "Please confirm",
        "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    });
    let answer = ask(ctx, "confirm", "elicitation/create", form).await?;
    Ok(answer["content"]["ok"].clone())
}

fn text(text: String) -> Answer {
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

async fn greet(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    let name = ask_field(&ctx, "user_name", "What is your name?", "name").await?;
    text(format!("Hello, {name}!"))
}

async fn capital(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    let said = ask_model(
        &ctx,
        "capital_question",
        "What is the capital of France?",
        100,
    )
    .await?;
    text(format!("The model said: {said}"))
}

async fn roots(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    text(format!("Client roots: {}", ask_roots(&ctx).await?))
}

async fn confirm(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    text(format!("Confirmed: {}", ask_confirmation(&ctx).await?))
}

async fn all_at_once(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    // Asked together, so all three go to the client in one round.
    let (name, greeting, roots) = futures::join!(
        ask_field(&ctx, "user_name", "What is your name?", "name"),
        ask_model(&ctx, "greeting", "Generate a greeting", 50),
        ask_roots(&ctx),
    );
    text(format!("{} {} (roots: {})", greeting?, name?, roots?))
}

async fn two_rounds(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    let name = ask_field(&ctx, "step1", "Step 1: What is your name?", "name").await?;
    let color = ask_field(
        &ctx,
        "step2",
        "Step 2: What is your favorite color?",
        "color",
    )
    .await?;
    text(format!("{name} likes {color}"))
}

async fn only_what_is_declared(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    let elicit = ctx.client.can_answer("elicitation/create");
    let sample = ctx.client.can_answer("sampling/createMessage");
    let not_asked = || Ok::<_, HubError>("not asked".to_string());
    let (name, greeting) = futures::join!(
        async {
            match elicit {
                true => ask_field(&ctx, "user_name", "What is your name?", "name").await,
                false => not_asked(),
            }
        },
        async {
            match sample {
                true => ask_model(&ctx, "greeting", "Generate a greeting", 50).await,
                false => not_asked(),
            }
        },
    );
    text(format!("name: {}, greeting: {}", name?, greeting?))
}

async fn needs_sampling(_: Arc<()>, ctx: CallContext, _: JsonObject) -> Answer {
    let said = ask_model(&ctx, "question", "Say hello", 20).await?;
    text(format!("The model said: {said}"))
}

async fn progress_then_ask(state: Arc<()>, ctx: CallContext, arguments: JsonObject) -> Answer {
    ctx.client
        .progress(1.0, Some(2.0), Some("asking".into()))
        .await;
    greet(state, ctx, arguments).await
}

pub fn add_fixtures(tools: ToolSet<()>) -> ToolSet<()> {
    let fixtures: [(&'static str, &'static str, Handler); 10] = [
        (
            "test_input_required_result_elicitation",
            "Asks the client for the user's name",
            |s, c, a| Box::pin(greet(s, c, a)),
        ),
        (
            "test_input_required_result_sampling",
            "Asks the client's model a question",
            |s, c, a| Box::pin(capital(s, c, a)),
        ),
        (
            "test_input_required_result_list_roots",
            "Asks the client for its roots",
            |s, c, a| Box::pin(roots(s, c, a)),
        ),
        (
            "test_input_required_result_request_state",
            "Asks for a confirmation, keeping state between rounds",
            |s, c, a| Box::pin(confirm(s, c, a)),
        ),
        (
            "test_input_required_result_tampered_state",
            "Asks for a confirmation under a signed state",
            |s, c, a| Box::pin(confirm(s, c, a)),
        ),
        (
            "test_input_required_result_multiple_inputs",
            "Asks for a name, a greeting and the roots at once",
            |s, c, a| Box::pin(all_at_once(s, c, a)),
        ),
        (
            "test_input_required_result_multi_round",
            "Asks one question, then another in the next round",
            |s, c, a| Box::pin(two_rounds(s, c, a)),
        ),
        (
            "test_input_required_result_capabilities",
            "Asks only what the client declared it can answer",
            |s, c, a| Box::pin(only_what_is_declared(s, c, a)),
        ),
        // The stateless scenario's: one that needs sampling whether or not the client
        // declared it, and one that asks mid-call (a 2026-07-28 client gets an
        // input-required result, never a request on the stream).
        (
            "test_missing_capability",
            "Needs the client's model, declared or not",
            |s, c, a| Box::pin(needs_sampling(s, c, a)),
        ),
        (
            "test_streaming_elicitation",
            "Reports progress, then asks the user for a name",
            |s, c, a| Box::pin(progress_then_ask(s, c, a)),
        ),
    ];
    fixtures
        .into_iter()
        .fold(tools, |tools, (name, description, handler)| {
            tools.add_raw(tool(name, description), handler)
        })
}

/// A fixture's handler, as one type for the list above.
type Handler = fn(Arc<()>, CallContext, JsonObject) -> Pin<Box<dyn Future<Output = Answer> + Send>>;

pub fn prompt() -> Prompt {
    Prompt::new(
        PROMPT,
        Some("A prompt that asks the user for its context first"),
        None,
    )
    .with_title("Prompt That Asks For Input")
}

pub async fn render_prompt(ctx: &CallContext) -> Result<GetPromptResult, HubError> {
    let context = ask_field(
        ctx,
        "user_context",
        "What context should the prompt use?",
        "context",
    )
    .await?;
    Ok(GetPromptResult::new(vec![PromptMessage::new(
        Role::User,
        ContentBlock::text(format!("Answer with this context in mind: {context}")),
    )]))
}
