//! Prompts and completion: listing prompts across a scope (fixed ones and those a
//! toolkit keeps per tenant), resolving a prompt by the name a scope gives it,
//! rendering it through the shared guard after checking its arguments, and
//! completing argument values.

use std::sync::Arc;

use super::{Entry, Hub, Scope, guard::Verb};
use crate::{
    audit::argument_digest,
    context::CallContext,
    error::HubError,
    mcp::{ArgumentInfo, GetPromptResult, JsonObject, Prompt, Reference},
    naming::qualified_tool_name,
};

impl Hub {
    /// The prompts a scope serves to the caller, named as that scope names them. A
    /// toolkit whose prompts are per tenant is asked now; on `/mcp` its prompts take
    /// `{toolkit}_{prompt}` names unless a fixed prompt already holds the name.
    pub async fn list_prompts(
        &self,
        ctx: &CallContext,
        scope: &Scope,
    ) -> Result<Vec<Prompt>, HubError> {
        let catalog = self.snapshot();
        let mut prompts = Vec::new();
        for entry in catalog.visible(scope, &ctx.principal) {
            if entry.toolkit.dynamic_prompts() {
                for mut prompt in entry.toolkit.list_prompts(ctx).await? {
                    if scope.qualified() {
                        let name = qualified_tool_name(entry.name(), &prompt.name);
                        if catalog.qualified_prompts.contains_key(&name) {
                            continue;
                        }
                        prompt.name = name;
                    }
                    prompts.push(prompt);
                }
                continue;
            }
            for prompt in &entry.prompts {
                let mut prompt = prompt.clone();
                if scope.qualified() {
                    let Some(name) = entry.mcp_prompt_names.get(&prompt.name) else {
                        continue;
                    };
                    prompt.name = name.clone();
                }
                prompts.push(prompt);
            }
        }
        Ok(prompts)
    }

    async fn resolve_prompt(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        name: &str,
    ) -> Result<(Arc<Entry>, Prompt), HubError> {
        let unknown = || HubError::UnknownPrompt(name.to_string());
        let catalog = self.snapshot();
        let principal = &ctx.principal;
        let fixed = match scope {
            Scope::All | Scope::View(_) => catalog.qualified_prompts.get(name).cloned(),
            Scope::Toolkit(kit) => Some((kit.clone(), name.to_string())),
        };
        if let Some((kit, bare)) = fixed
            && let Some(entry) = catalog
                .visible(scope, principal)
                .find(|entry| entry.name() == kit)
        {
            let listed = if entry.toolkit.dynamic_prompts() {
                entry.toolkit.list_prompts(ctx).await?
            } else {
                entry.prompts.clone()
            };
            if let Some(prompt) = listed.into_iter().find(|prompt| prompt.name == bare) {
                return Ok((entry.clone(), prompt));
            }
        }
        // A per-tenant prompt on /mcp: `{toolkit}_{prompt}`.
        if scope.qualified() {
            for entry in catalog
                .visible(scope, principal)
                .filter(|entry| entry.toolkit.dynamic_prompts())
            {
                let Some(bare) = name
                    .strip_prefix(entry.name())
                    .and_then(|rest| rest.strip_prefix('_'))
                else {
                    continue;
                };
                if let Some(prompt) = entry
                    .toolkit
                    .list_prompts(ctx)
                    .await?
                    .into_iter()
                    .find(|prompt| prompt.name == bare)
                {
                    return Ok((entry.clone(), prompt));
                }
            }
        }
        Err(unknown())
    }

    /// Renders a prompt after checking its arguments: a missing required argument or
    /// an argument the prompt does not declare is named in the error.
    pub async fn get_prompt(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, HubError> {
        // A prompt of a toolkit the caller may not see is unknown to them.
        let (entry, prompt) = self.resolve_prompt(ctx, scope, name).await?;
        let arguments = arguments.unwrap_or_default();
        let digest = self.audit_sink().map(|_| {
            let mut audited = JsonObject::new();
            audited.insert("prompt".into(), prompt.name.clone().into());
            audited.insert("arguments".into(), arguments.clone().into());
            argument_digest(&audited, None)
        });
        let work = async {
            let declared = prompt.arguments.clone().unwrap_or_default();
            for argument in &declared {
                if argument.required == Some(true) && !arguments.contains_key(&argument.name) {
                    return Err(HubError::InvalidPromptArguments {
                        field: argument.name.clone(),
                        message: format!("is required by prompt '{name}'"),
                    });
                }
            }
            for key in arguments.keys() {
                if !declared.iter().any(|argument| &argument.name == key) {
                    return Err(HubError::InvalidPromptArguments {
                        field: key.clone(),
                        message: format!("is not an argument of prompt '{name}'"),
                    });
                }
            }
            entry.toolkit.get_prompt(ctx, &prompt.name, arguments).await
        };
        self.guarded(ctx, entry.name(), Verb::GetPrompt, digest, work)
            .await
    }

    pub async fn complete(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        reference: &Reference,
        argument: &ArgumentInfo,
    ) -> Result<Vec<String>, HubError> {
        match reference {
            Reference::Prompt(prompt) => {
                let (entry, found) = self.resolve_prompt(ctx, scope, &prompt.name).await?;
                let bare = Reference::for_prompt(found.name);
                entry.toolkit.complete(ctx, &bare, argument).await
            }
            Reference::Resource(template) => {
                match self.owner_of(scope, &template.uri, &ctx.principal) {
                    Some(entry) => entry.toolkit.complete(ctx, reference, argument).await,
                    None => Err(HubError::ResourceNotFound(template.uri.clone())),
                }
            }
            _ => Ok(Vec::new()),
        }
    }
}
