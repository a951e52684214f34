//! The call path for tools: naming a tool in a scope, listing what a principal may
//! call, and the call itself (authorize, bound and validate the arguments, then the
//! guard every verb shares).

use std::sync::Arc;

use super::{CatalogListing, Entry, Hub, Scope, guard::Verb};
use crate::{
    access::Role,
    audit::argument_digest,
    context::{CallContext, Principal},
    error::HubError,
    mcp::{CallToolResult, JsonObject, Tool},
    toolkit::TaskSupport,
};

/// Refuses a call the principal's role or rules do not allow, saying which.
fn authorize(principal: &Principal, entry: &Entry, tool: &str) -> Result<(), HubError> {
    // Another tenant's toolkit answers exactly like a missing one.
    if !entry.visible_to(principal) {
        return Err(HubError::UnknownToolkit(entry.name().to_string()));
    }
    if !principal.permits_tool(entry.name(), tool) {
        return Err(HubError::Forbidden(format!(
            "tool '{tool}' of toolkit '{}' is not available to this credential",
            entry.name()
        )));
    }
    let needed = entry.required_role(tool);
    if principal.role < needed {
        let what = match needed {
            Role::Admin => "manages the system",
            _ => "changes data",
        };
        return Err(HubError::Forbidden(format!(
            "tool '{tool}' {what} and needs the {needed} role; this credential is a {}",
            principal.role
        )));
    }
    Ok(())
}

/// The refusal of a name `scope` does not serve, spelled as the caller spelled it.
fn unknown_tool(scope: &Scope, name: &str) -> HubError {
    HubError::UnknownTool {
        toolkit: match scope {
            Scope::All => String::new(),
            Scope::Toolkit(kit) | Scope::View(kit) => kit.clone(),
        },
        tool: name.to_string(),
    }
}

/// The length of `value` as compact JSON, counted without building the text.
fn json_size(value: &JsonObject) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

impl Hub {
    /// The tools a scope serves to `principal`, named as that scope names them.
    pub fn list_tools(&self, scope: &Scope, principal: &Principal) -> Vec<Tool> {
        self.tools_in(scope, principal, false)
    }

    /// What `tools/list` shows in a scope: on `/mcp` with a lean listing, only each
    /// toolkit's featured tools; elsewhere every tool `list_tools` gives.
    pub fn listed_tools(&self, scope: &Scope, principal: &Principal) -> Vec<Tool> {
        let lean = *scope == Scope::All && self.listing() == CatalogListing::Lean;
        self.tools_in(scope, principal, lean)
    }

    fn tools_in(&self, scope: &Scope, principal: &Principal, featured_only: bool) -> Vec<Tool> {
        let catalog = self.snapshot();
        let mut tools = Vec::new();
        for entry in catalog.in_scope(scope) {
            for tool in entry.callable_tools(principal) {
                if !catalog.serves_tool(scope, entry.name(), &tool.name)
                    || (featured_only && !entry.is_featured(&tool.name))
                {
                    continue;
                }
                let mut tool = tool.clone();
                if scope.qualified() {
                    let Some(name) = entry.mcp_tool_names.get(tool.name.as_ref()) else {
                        continue;
                    };
                    tool.name = name.clone().into();
                }
                tools.push(tool);
            }
        }
        tools
    }

    /// Finds `(toolkit, tool)` for a name as the scope spells it.
    pub fn resolve_tool(&self, scope: &Scope, name: &str) -> Result<(String, String), HubError> {
        let catalog = self.snapshot();
        let unknown = || unknown_tool(scope, name);
        match scope {
            Scope::All | Scope::View(_) => catalog
                .qualified_tools
                .get(name)
                .filter(|(kit, tool)| catalog.serves_tool(scope, kit, tool))
                .cloned()
                .ok_or_else(unknown),
            Scope::Toolkit(kit) => {
                let entry = catalog
                    .entry(kit)
                    .ok_or_else(|| HubError::UnknownToolkit(kit.clone()))?;
                entry
                    .tool(name)
                    .map(|_| (kit.clone(), name.to_string()))
                    .ok_or_else(unknown)
            }
        }
    }

    /// The input schema of `tool` of `toolkit`.
    pub fn tool_schema(&self, toolkit: &str, tool: &str) -> Option<Arc<JsonObject>> {
        self.snapshot()
            .entry(toolkit)?
            .tool(tool)
            .map(|tool| tool.input_schema.clone())
    }

    /// Whether `tool` of `toolkit` may run as an MCP task.
    pub fn task_support(&self, toolkit: &str, tool: &str) -> TaskSupport {
        self.snapshot()
            .entry(toolkit)
            .map(|entry| entry.toolkit.task_support(tool))
            .unwrap_or_default()
    }

    /// The toolkit's questions before a call of `tool` becomes a task
    /// ([`crate::Toolkit::before_task`]), for a caller who may make that call with
    /// these arguments: nothing is asked of a caller the call would refuse.
    pub async fn before_task(
        &self,
        ctx: &CallContext,
        toolkit: &str,
        tool: &str,
        mut arguments: JsonObject,
    ) -> Result<JsonObject, HubError> {
        let entry = self
            .snapshot()
            .entry(toolkit)
            .cloned()
            .ok_or_else(|| HubError::UnknownToolkit(toolkit.to_string()))?;
        self.admit_call(ctx, &entry, tool, &mut arguments)?;
        entry.toolkit.before_task(ctx, tool, arguments).await
    }

    /// The one call path for tools: authorize, check the arguments, then the guard
    /// every verb shares (in-flight bound, deadline, cancellation, metrics, trace,
    /// audit).
    pub async fn call(
        &self,
        ctx: &CallContext,
        toolkit: &str,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, HubError> {
        let arguments = arguments.unwrap_or_default();
        let entry = self.snapshot().entry(toolkit).cloned();
        // The digest is taken before the arguments move into the tool.
        let digest = match (&entry, self.audit_sink()) {
            (Some(entry), Some(_)) => {
                let schema = entry.tool(tool).map(|t| t.input_schema.as_ref());
                Some(argument_digest(&arguments, schema))
            }
            _ => None,
        };
        let work = async {
            let entry = entry.ok_or_else(|| HubError::UnknownToolkit(toolkit.to_string()))?;
            self.checked_call(ctx, &entry, tool, arguments).await
        };
        self.guarded(ctx, toolkit, Verb::Tool(tool), digest, work)
            .await
    }

    /// A tool call's own checks, then the call.
    async fn checked_call(
        &self,
        ctx: &CallContext,
        entry: &Arc<Entry>,
        tool: &str,
        mut arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.admit_call(ctx, entry, tool, &mut arguments)?;
        entry.toolkit.call_tool(ctx, tool, arguments).await
    }

    /// What a call of `tool` must pass before its toolkit sees it: the tool exists,
    /// the caller may call it, the arguments fit and validate (synonyms accepted).
    fn admit_call(
        &self,
        ctx: &CallContext,
        entry: &Entry,
        tool: &str,
        arguments: &mut JsonObject,
    ) -> Result<(), HubError> {
        let validator = entry
            .validators
            .get(tool)
            .ok_or_else(|| HubError::UnknownTool {
                toolkit: entry.name().to_string(),
                tool: tool.to_string(),
            })?;
        authorize(&ctx.principal, entry, tool)?;
        let size = json_size(arguments);
        if size > self.limits.max_argument_bytes {
            return Err(HubError::invalid_argument(
                "arguments",
                format!(
                    "are {size} bytes of JSON; the limit is {} (limits.max_argument_bytes)",
                    self.limits.max_argument_bytes
                ),
            ));
        }
        validator.accept_synonyms(arguments);
        validator.validate(arguments)
    }

    /// Finds `(toolkit, tool)` for a name as the scope spells it, for `principal`.
    pub fn resolve_tool_for(
        &self,
        scope: &Scope,
        name: &str,
        principal: &Principal,
    ) -> Result<(String, String), HubError> {
        let (toolkit, tool) = self.resolve_tool(scope, name)?;
        // A shared scope's names reach every tenant's toolkits. Another tenant's tool
        // answers as a name nothing serves: refusing it by its toolkit would spell out
        // that toolkit's name, which carries the other tenant's.
        if !matches!(scope, Scope::Toolkit(_))
            && !self
                .snapshot()
                .entry(&toolkit)
                .is_some_and(|entry| entry.visible_to(principal))
        {
            return Err(unknown_tool(scope, name));
        }
        Ok((toolkit, tool))
    }

    /// Calls a tool by the name a scope gives it.
    pub async fn call_in_scope(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, HubError> {
        let (toolkit, tool) = self.resolve_tool_for(scope, name, &ctx.principal)?;
        self.call(ctx, &toolkit, &tool, arguments).await
    }
}
