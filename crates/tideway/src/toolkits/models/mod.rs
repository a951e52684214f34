//! The models toolkit: one way to reach a language model for every AI-assisted
//! feature (MCP sampling through the calling client, an OpenAI-compatible API, or
//! Anthropic's Messages API, chosen per tenant), with tool calling, budgets, retries,
//! and every generation stored. Other toolkits (and later agents and workflows) ask
//! for a generation by calling `models.generate` through the Hub, so they get the
//! same budgets, audit and records.

pub mod backends;
pub mod model;
pub mod routes;
pub mod service;
pub mod settings;

#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, Hub, HubError, PartHealth, Role, Store, Toolkit,
    config::Config,
    mcp::{CallToolResult, JsonObject, Tool},
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use self::{
    model::{Message, ModelRequest, Part, StopReason, ToolDefinition, Usage},
    service::{Generation, ModelChoice, ModelService, ProviderCheck, ProviderInput, ProviderView},
};

/// The tools' names, shared by their declarations and the REST routes that call
/// them, so a route cannot name a tool that does not exist.
pub mod names {
    pub const DELETE_MODEL_PROVIDER: &str = "delete_model_provider";
    pub const GENERATE: &str = "generate";
    pub const GET_GENERATION: &str = "get_generation";
    pub const LIST_GENERATIONS: &str = "list_generations";
    pub const LIST_MODEL_PROVIDERS: &str = "list_model_providers";
    pub const SET_MODEL_PROVIDER: &str = "set_model_provider";
    pub const TEST_MODEL_PROVIDER: &str = "test_model_provider";
}

/// The `models` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "models",
    summary: "language models per tenant (sampling, OpenAI-compatible, Anthropic) with budgets",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[settings::TENANT_KEY],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 8,
            name: "models",
            sqlite: include_str!("migrations/sqlite/0008_models.sql"),
            postgres: include_str!("migrations/postgres/0008_models.sql"),
        },
        tideway_core::store::Migration {
            version: 23,
            name: "model_costs",
            sqlite: include_str!("migrations/sqlite/0023_model_costs.sql"),
            postgres: include_str!("migrations/postgres/0023_model_costs.sql"),
        },
    ],
    sealed: &[&service::SEALED],
    build: Some(|shared| {
        Ok(Arc::new(
            ModelsToolkit::new(
                shared.store.clone(),
                shared.master_key.clone(),
                shared.config,
                Arc::downgrade(shared.hub),
            )
            .map_err(|error| error.to_string())?,
        ))
    }),
    rest: Some(super::Rest {
        tag: "models",
        description: "Language model providers and completions (the models toolkit)",
        routes: routes::router,
        tools: &[
            names::DELETE_MODEL_PROVIDER,
            names::GENERATE,
            names::GET_GENERATION,
            names::LIST_GENERATIONS,
            names::LIST_MODEL_PROVIDERS,
            names::SET_MODEL_PROVIDER,
            names::TEST_MODEL_PROVIDER,
        ],
    }),
    cli: None,
};

pub struct ModelState {
    pub service: ModelService,
    hub: Weak<Hub>,
}

pub struct ModelsToolkit {
    tools: ToolSet<ModelState>,
    state: Arc<ModelState>,
}

/// A stored prompt template to render as the user's message.
#[derive(Deserialize, JsonSchema, ToSchema)]
pub struct TemplateRef {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: JsonObject,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// One user message (instead of `messages` or `template`).
    #[serde(default)]
    pub prompt: Option<String>,
    /// The conversation so far.
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    /// A stored prompt template, rendered, as the user message.
    #[serde(default)]
    pub template: Option<TemplateRef>,
    #[serde(default)]
    pub system: Option<String>,
    /// Tools the model may ask to call; its calls come back in `content`.
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 200000))]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f32>,
    /// A provider of this tenant's other than its default (a name from
    /// `list_model_providers`, or `sampling`).
    #[serde(default)]
    pub provider: Option<String>,
    /// A model of the provider other than the one it names.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Generated {
    pub generation_id: i64,
    pub provider: String,
    pub model: String,
    /// The answer's text.
    pub text: String,
    /// Every part of the answer, tool calls included.
    pub content: Vec<Part>,
    pub stop_reason: StopReason,
    pub usage: Option<Usage>,
}

impl ToolText for Generated {
    fn text(&self) -> String {
        let calls: Vec<String> = self
            .content
            .iter()
            .filter_map(|part| match part {
                Part::ToolUse { name, input, .. } => Some(format!("[calls {name} with {input}]")),
                _ => None,
            })
            .collect();
        if calls.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.text, calls.join("\n"))
        }
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct ListArgs {
    /// How many (default 20).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// Only generations with a smaller id (the next page).
    pub before: Option<i64>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GenerationList {
    pub generations: Vec<Generation>,
}

impl ToolText for GenerationList {
    fn text(&self) -> String {
        self.generations
            .iter()
            .map(|g| {
                format!(
                    "#{} {} {} {} ({} ms)",
                    g.id,
                    g.created_at.format("%Y-%m-%d %H:%M:%S"),
                    g.provider,
                    g.outcome,
                    g.latency_ms.round()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct IdArgs {
    pub id: i64,
}

impl ToolText for Generation {}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ProviderList {
    /// The provider this tenant uses: `sampling`, `none` or a name below.
    pub current: String,
    pub providers: Vec<ProviderView>,
    /// The tenant's model tokens left today (UTC); absent when it has no daily
    /// budget (`models.tokens_per_day`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_left_today: Option<u64>,
}

impl ToolText for ProviderList {
    fn text(&self) -> String {
        let mut lines = vec![format!("in use: {}", self.current)];
        lines.extend(
            self.providers
                .iter()
                .map(|p| format!("{} ({:?}, {}, {})", p.name, p.kind, p.model, p.origin)),
        );
        lines.join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutProviderArgs {
    /// The provider's name in this tenant.
    pub name: String,
    pub provider: ProviderInput,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Done {
    pub name: String,
    pub done: bool,
}

impl ToolText for ProviderCheck {
    fn text(&self) -> String {
        match &self.error {
            None => format!("{}: answers ({:.0} ms)", self.provider, self.latency_ms),
            Some(error) => format!("{}: {error}", self.provider),
        }
    }
}

impl ToolText for Done {
    fn text(&self) -> String {
        format!("{}: done", self.name)
    }
}

async fn generate(
    state: Arc<ModelState>,
    ctx: CallContext,
    args: GenerateArgs,
) -> Result<Generated, HubError> {
    let given = [
        args.prompt.is_some(),
        args.messages.is_some(),
        args.template.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if given != 1 {
        return Err(HubError::invalid_argument(
            "prompt",
            "give exactly one of prompt, messages or template",
        ));
    }
    let messages = match (args.prompt, args.messages, args.template) {
        (Some(prompt), _, _) => vec![Message::user(prompt)],
        (_, Some(messages), _) => messages,
        (_, _, Some(template)) => {
            let hub = state
                .hub
                .upgrade()
                .ok_or_else(|| HubError::internal("the hub is shutting down"))?;
            let mut arguments = JsonObject::new();
            arguments.insert("name".into(), template.name.clone().into());
            arguments.insert(
                "arguments".into(),
                serde_json::Value::Object(template.arguments),
            );
            let rendered = hub
                .call(&ctx, "prompts", "render_prompt", Some(arguments))
                .await?;
            let text = rendered
                .structured_content
                .as_ref()
                .and_then(|value| value["text"].as_str())
                .ok_or_else(|| HubError::internal("render_prompt gave no text"))?
                .to_string();
            vec![Message::user(text)]
        }
        _ => unreachable!("exactly one was given"),
    };
    let request = ModelRequest {
        system: args.system,
        messages,
        tools: args.tools,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
    };
    let choice = ModelChoice {
        provider: args.provider,
        model: args.model,
    };
    let (response, generation_id, provider) =
        state.service.generate(&ctx, &request, &choice).await?;
    Ok(Generated {
        generation_id,
        provider,
        text: response.text(),
        model: response.model,
        content: response.content,
        stop_reason: response.stop_reason,
        usage: response.usage,
    })
}

impl ModelsToolkit {
    /// The toolkit over `[models]` and each tenant's `[tenants.<id>.models]`; the
    /// error names a setting that does not read.
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        config: &Config,
        hub: Weak<Hub>,
    ) -> Result<Self, tideway_core::config::ConfigError> {
        let settings = settings::from_config(config)?;
        let tenants = settings::tenants_from_config(config)?;
        let tools = ToolSet::new()
            .add(
                ToolSpec {
                    name: names::GENERATE,
                    title: "Generate with the language model",
                    description: "Asks this tenant's language model (the calling client's own model through sampling, or a configured provider) with a prompt, a conversation or a stored prompt template, optionally offering tools it may ask to call. The generation is recorded.",
                    effect: Effect::Additive,
                    open_world: true,
                },
                generate,
            )
            .add(
                ToolSpec {
                    name: names::LIST_GENERATIONS,
                    title: "List generations",
                    description: "The tenant's recorded generations, newest first: provider, model, tokens, latency, outcome.",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |state: Arc<ModelState>, ctx, args: ListArgs| async move {
                    Ok(GenerationList {
                        generations: state
                            .service
                            .generations(&ctx, args.limit.unwrap_or(20), args.before)
                            .await?,
                    })
                },
            )
            .add(
                ToolSpec {
                    name: names::GET_GENERATION,
                    title: "Get a generation",
                    description: "One recorded generation with what was asked and what came back.",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |state: Arc<ModelState>, ctx, args: IdArgs| async move {
                    state
                        .service
                        .generation(&ctx, args.id)
                        .await?
                        .ok_or_else(|| HubError::NotFound(format!("no generation {}", args.id)))
                },
            )
            .add(
                ToolSpec {
                    name: names::LIST_MODEL_PROVIDERS,
                    title: "List model providers",
                    description: "Which language model this tenant uses and which providers are available (never their keys).",
                    effect: Effect::ReadOnly,
                    open_world: false,
                },
                |state: Arc<ModelState>, ctx, _args: NoArgs| async move {
                    let (current, providers) = state.service.providers(&ctx).await?;
                    let tokens_left_today = state
                        .service
                        .tokens_today(&ctx)
                        .await?
                        .map(|(used, per_day)| per_day.saturating_sub(used));
                    Ok(ProviderList {
                        current,
                        providers,
                        tokens_left_today,
                    })
                },
            )
            .add(
                ToolSpec {
                    name: names::TEST_MODEL_PROVIDER,
                    title: "Test a model provider",
                    description: "Asks one of this tenant's providers (its own when no name is given) whether it answers, with its key and without spending tokens: reachable or not, how quickly, and why not.",
                    effect: Effect::ReadOnly,
                    open_world: true,
                },
                |state: Arc<ModelState>, ctx, args: service_args::MaybeName| async move {
                    state.service.check_provider(&ctx, args.name).await
                },
            )
            .add(
                ToolSpec {
                    name: names::SET_MODEL_PROVIDER,
                    title: "Store a model provider",
                    description: "Stores (or replaces) an OpenAI-compatible or Anthropic provider for this tenant, its API key sealed at rest and never shown again; with default=true the tenant uses it.",
                    effect: Effect::Idempotent,
                    open_world: false,
                },
                |state: Arc<ModelState>, ctx, args: PutProviderArgs| async move {
                    state
                        .service
                        .put_provider(&ctx, &args.name, args.provider)
                        .await?;
                    Ok(Done {
                        name: args.name,
                        done: true,
                    })
                },
            )
            .add(
                ToolSpec {
                    name: names::DELETE_MODEL_PROVIDER,
                    title: "Delete a model provider",
                    description: "Deletes a provider this tenant stored.",
                    effect: Effect::Destructive,
                    open_world: false,
                },
                |state: Arc<ModelState>, ctx, args: service_args::Name| async move {
                    if !state.service.delete_provider(&ctx, &args.name).await? {
                        return Err(HubError::NotFound(format!("no stored provider '{}'", args.name)));
                    }
                    Ok(Done {
                        name: args.name,
                        done: true,
                    })
                },
            );
        Ok(ModelsToolkit {
            tools,
            state: Arc::new(ModelState {
                service: ModelService::new(store, key, settings, tenants).map_err(|error| {
                    tideway_core::config::ConfigError::Invalid(format!(
                        "the models toolkit's HTTP client cannot be built: {error}"
                    ))
                })?,
                hub,
            }),
        })
    }
}

mod service_args {
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    pub struct Name {
        pub name: String,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct MaybeName {
        /// A provider's name; the tenant's own when absent.
        #[serde(default)]
        pub name: Option<String>,
    }
}

#[async_trait]
impl Toolkit for ModelsToolkit {
    fn name(&self) -> &str {
        "models"
    }

    fn description(&self) -> &str {
        "The language model behind AI-assisted features: generate (sampling or a configured provider, with tool calling), recorded generations, and the tenant's providers."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[names::GENERATE])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Storing and deleting providers (their keys) manages the tenant: admins only.
    /// A generation changes none of the tenant's data (it is recorded, and the
    /// tenant's budget bounds it), so a viewer may generate, as an agent run a viewer
    /// starts must.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::SET_MODEL_PROVIDER | names::DELETE_MODEL_PROVIDER => Role::Admin,
            names::GENERATE => Role::Viewer,
            _ => role_by_annotations(tool),
        }
    }

    async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        self.state.service.parts(timeout).await
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools
            .call(self.state.clone(), ctx, name, arguments)
            .await
    }
}
