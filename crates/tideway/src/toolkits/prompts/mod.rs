//! The prompts toolkit: prompt templates stored per tenant and served as MCP prompts
//! (`prompts/list`, `prompts/get` rendering the current version, completion of
//! argument values, list_changed when templates change), tools to render and manage
//! them, and the REST API under `/api/v1/prompts`. Templates are minijinja, bounded
//! when rendered, and may inline resources the caller may read.

mod filters;
pub mod library;
pub mod model;
pub mod render;
pub mod routes;
mod sandbox;
pub mod service;
pub mod tools;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tideway_core::{
    CallContext, Hub, HubError, Store, Toolkit,
    mcp::{
        ArgumentInfo, CallToolResult, GetPromptResult, JsonObject, Prompt, PromptMessage,
        Reference, Role as MessageRole, Tool,
    },
    typed::ToolSet,
};

use self::service::{PromptService, prompt_arguments};

/// The `prompts` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "prompts",
    summary: "prompt templates per tenant, versioned and rendered with bounds",
    on_by_default: true,
    feature: None,
    settings: None,
    migrations: &[tideway_core::store::Migration {
        version: 7,
        name: "prompts",
        sqlite: include_str!("migrations/sqlite/0007_prompts.sql"),
        postgres: include_str!("migrations/postgres/0007_prompts.sql"),
    }],
    sealed: &[],
    build: Some(|shared| {
        Ok(Arc::new(PromptsToolkit::new(
            shared.store.clone(),
            Arc::downgrade(shared.hub),
        )))
    }),
    rest: Some(super::Rest {
        tag: "prompts",
        description: "Prompt templates: versions, rendering, categories and usage (the prompts toolkit)",
        routes: routes::router,
        tools: &[
            tools::names::CREATE_PROMPT_TEMPLATE,
            tools::names::DELETE_PROMPT_TEMPLATE,
            tools::names::GET_PROMPT_STATS,
            tools::names::GET_PROMPT_TEMPLATE,
            tools::names::LIST_PROMPT_CATEGORIES,
            tools::names::LIST_PROMPT_TEMPLATES,
            tools::names::LIST_PROMPT_VERSIONS,
            tools::names::RENDER_PROMPT,
            tools::names::RESTORE_PROMPT_VERSION,
            tools::names::UPDATE_PROMPT_TEMPLATE,
        ],
    }),
    cli: None,
};

pub struct PromptState {
    pub service: PromptService,
}

pub struct PromptsToolkit {
    tools: ToolSet<PromptState>,
    state: Arc<PromptState>,
}

impl PromptsToolkit {
    pub fn new(store: Store, hub: Weak<Hub>) -> Self {
        PromptsToolkit {
            tools: tools::tool_set(),
            state: Arc::new(PromptState {
                service: PromptService::new(store, hub),
            }),
        }
    }
}

#[async_trait]
impl Toolkit for PromptsToolkit {
    fn name(&self) -> &str {
        "prompts"
    }

    fn description(&self) -> &str {
        "Prompt templates stored per tenant and served as MCP prompts: render, create, version, restore and measure them."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            tools::names::LIST_PROMPT_TEMPLATES,
            tools::names::RENDER_PROMPT,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
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

    fn dynamic_prompts(&self) -> bool {
        true
    }

    async fn list_prompts(&self, ctx: &CallContext) -> Result<Vec<Prompt>, HubError> {
        let templates = self.state.service.list(ctx, None, None).await?;
        Ok(templates
            .into_iter()
            .map(|template| {
                let mut prompt = Prompt::new(
                    template.name,
                    template.description,
                    Some(prompt_arguments(&template.arguments)),
                );
                prompt.title = template.title;
                prompt
            })
            .collect())
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        let (_, text) = self
            .state
            .service
            .render(ctx, name, None, &arguments)
            .await?;
        let template = self.state.service.get(ctx, name).await?;
        let mut result =
            GetPromptResult::new(vec![PromptMessage::new_text(MessageRole::User, text)]);
        if let Some(description) = template.and_then(|t| t.description) {
            result = result.with_description(description);
        }
        Ok(result)
    }

    async fn complete(
        &self,
        ctx: &CallContext,
        reference: &Reference,
        argument: &ArgumentInfo,
    ) -> Result<Vec<String>, HubError> {
        match reference {
            Reference::Prompt(prompt) => {
                self.state
                    .service
                    .completions(ctx, &prompt.name, &argument.name)
                    .await
            }
            _ => Ok(Vec::new()),
        }
    }
}
