//! The Hub: the registry of toolkits and the one call path. MCP, REST, workflows and
//! agents all reach a tool through [`Hub::call`], which resolves the tool and
//! validates the arguments against its schema; it, [`Hub::read_resource`] and
//! [`Hub::get_prompt`] then pass the same guard (`hub/guard.rs`: in-flight bound,
//! deadline, cancellation, metrics, trace, audit). Toolkits can be added and removed
//! at runtime (the gateway does); readers take a snapshot of the catalog, so a change
//! never blocks a call in flight.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

mod guard;

use guard::Verb;

use crate::{
    access::{Role, ToolRules},
    audit::{AuditRecord, AuditSink, argument_digest},
    context::{CallContext, Principal, TenantId},
    error::HubError,
    mcp::{
        ArgumentInfo, CallToolResult, GetPromptResult, JsonObject, Prompt, Reference, Resource,
        ResourceContents, ResourceTemplate, Tool,
    },
    metrics::Metrics,
    naming::{is_valid_name, qualified_tool_name},
    schema::ArgumentValidator,
    toolkit::{Health, Toolkit},
};

/// Which part of the catalog a face serves: every toolkit with prefixed names (`/mcp`),
/// one toolkit with its bare names (`/mcp/{toolkit}`), or a virtual server, a curated
/// set of tools from any toolkits with their `/mcp` names (`/mcp/{virtual server}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Toolkit(String),
    View(String),
}

impl Scope {
    /// Whether names in this scope are the `/mcp` names (`{toolkit}_{tool}`).
    fn qualified(&self) -> bool {
        !matches!(self, Scope::Toolkit(_))
    }
}

/// A virtual server: a name and the tools it serves, picked by patterns over
/// `toolkit.tool` names (as in allow/deny rules). Resources and prompts of every
/// toolkit it picks from are served too.
#[derive(Clone, Debug, Serialize)]
pub struct VirtualServer {
    pub name: String,
    pub description: Option<String>,
    pub tools: ToolRules,
}

/// Changes the faces pass on to connected clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubEvent {
    ToolsChanged,
    PromptsChanged,
    ResourcesChanged,
    /// A resource changed. Only subscribers of the same tenant hear of it; a
    /// resource every tenant shares (a federated upstream's) has no tenant, and its
    /// subscribers are those allowed to see the toolkit serving it.
    ResourceUpdated {
        tenant: Option<TenantId>,
        uri: String,
    },
}

/// Bounds on the call path, per tenant and per call.
#[derive(Clone, Debug)]
pub struct CallLimits {
    /// Tool calls one tenant may have in flight at once (0: no bound).
    pub tenant_concurrent_calls: usize,
    /// Largest tool-call arguments object, as JSON, in bytes.
    pub max_argument_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            tenant_concurrent_calls: 0,
            max_argument_bytes: 1024 * 1024,
        }
    }
}

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

/// A registered toolkit with what the Hub derived from it once.
pub struct Entry {
    pub toolkit: Arc<dyn Toolkit>,
    pub tools: Vec<Tool>,
    validators: HashMap<String, ArgumentValidator>,
    /// The least role that may call each tool.
    roles: HashMap<String, Role>,
    pub prompts: Vec<Prompt>,
    pub templates: Vec<ResourceTemplate>,
    uri_prefixes: Vec<String>,
    /// Tool → its name on `/mcp`; a tool whose name there was taken is absent.
    mcp_tool_names: HashMap<String, String>,
    mcp_prompt_names: HashMap<String, String>,
    /// What was left off `/mcp` because its name there was taken.
    pub collisions: Vec<NameCollision>,
    /// The tenant that alone may see it, if any.
    pub owner: Option<TenantId>,
}

/// A tool or prompt left off `/mcp` because another already has its name there. It
/// is still served on `/mcp/{toolkit}`; nothing is shadowed silently.
#[derive(Clone, Debug, Serialize)]
pub struct NameCollision {
    /// `tool` or `prompt`.
    pub kind: &'static str,
    /// The tool or prompt as this toolkit names it.
    pub item: String,
    /// The name it would have had on `/mcp`.
    pub name: String,
    pub taken_by_toolkit: String,
    pub taken_by: String,
}

/// Takes the first free name among `candidates` for `target`, or says who holds the
/// last one.
fn place(
    names: &mut HashMap<String, (String, String)>,
    candidates: &[String],
    (toolkit, item): (&str, &str),
) -> Result<String, (String, (String, String))> {
    for candidate in candidates {
        if !names.contains_key(candidate) {
            names.insert(candidate.clone(), (toolkit.to_string(), item.to_string()));
            return Ok(candidate.clone());
        }
    }
    let taken = candidates.last().cloned().unwrap_or_default();
    let holder = names.get(&taken).cloned().unwrap_or_default();
    Err((taken, holder))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Entry {
    /// Checks a toolkit's names and compiles its schemas.
    fn build(toolkit: Arc<dyn Toolkit>) -> Result<Entry, HubError> {
        let name = toolkit.name().to_string();
        if !is_valid_name(&name) {
            return Err(HubError::Internal(format!(
                "toolkit name '{name}' must be 1-64 letters, digits, '_' or '-'"
            )));
        }
        let tools = toolkit.tools();
        let mut validators = HashMap::new();
        for tool in &tools {
            if !is_valid_name(&tool.name) {
                return Err(HubError::Internal(format!(
                    "tool '{}' of toolkit '{name}' must be 1-64 letters, digits, '_' or '-'",
                    tool.name
                )));
            }
            validators.insert(
                tool.name.to_string(),
                ArgumentValidator::compile(&tool.name, &tool.input_schema)?,
            );
        }
        let roles = tools
            .iter()
            .map(|tool| (tool.name.to_string(), toolkit.required_role(tool)))
            .collect();
        Ok(Entry {
            owner: toolkit.owner().cloned(),
            roles,
            prompts: toolkit.prompts(),
            templates: toolkit.resource_templates(),
            uri_prefixes: toolkit.uri_prefixes(),
            tools,
            validators,
            toolkit,
            mcp_tool_names: HashMap::new(),
            mcp_prompt_names: HashMap::new(),
            collisions: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        self.toolkit.name()
    }

    /// The name of `tool` on `/mcp`, unless it was left off there.
    pub fn mcp_tool_name(&self, tool: &str) -> Option<&str> {
        self.mcp_tool_names.get(tool).map(String::as_str)
    }
    fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|tool| tool.name == name)
    }

    /// The least role that may call `tool` (admin for a tool the Hub does not know).
    pub fn required_role(&self, tool: &str) -> Role {
        self.roles.get(tool).copied().unwrap_or(Role::Admin)
    }

    /// Whether the toolkit exists for `principal` at all (it is shared, or owned by
    /// the principal's tenant).
    pub fn visible_to(&self, principal: &Principal) -> bool {
        principal.sees_owner(self.owner.as_ref())
    }

    /// Whether the toolkit's resources and prompts are shown to `principal`: it is
    /// visible to its tenant and the principal's rules permit something of it.
    pub fn shown_to(&self, principal: &Principal) -> bool {
        self.visible_to(principal) && principal.permits_toolkit(self.name())
    }

    /// Whether `principal` may call `tool` of this toolkit.
    pub fn may_call(&self, principal: &Principal, tool: &str) -> bool {
        self.visible_to(principal)
            && principal.role >= self.required_role(tool)
            && principal.permits_tool(self.name(), tool)
    }

    /// The tools `principal` may call.
    pub fn callable_tools<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a Tool> + 'a {
        self.tools
            .iter()
            .filter(move |tool| self.may_call(principal, &tool.name))
    }
}

#[derive(Default)]
struct Catalog {
    entries: Vec<Arc<Entry>>,
    /// Qualified tool name on `/mcp` → (toolkit, tool).
    qualified_tools: HashMap<String, (String, String)>,
    qualified_prompts: HashMap<String, (String, String)>,
    views: Arc<HashMap<String, VirtualServer>>,
}

impl Catalog {
    fn entry(&self, toolkit: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|entry| entry.name() == toolkit)
    }

    fn in_scope<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Arc<Entry>> + 'a {
        let view = match scope {
            Scope::View(name) => self.views.get(name),
            _ => None,
        };
        self.entries.iter().filter(move |entry| match scope {
            Scope::All => true,
            Scope::Toolkit(name) => entry.name() == name,
            Scope::View(_) => view.is_some_and(|view| view.tools.permits_toolkit(entry.name())),
        })
    }

    /// Whether `tool` of `toolkit` is served in `scope` at all (before access rules).
    fn serves_tool(&self, scope: &Scope, toolkit: &str, tool: &str) -> bool {
        match scope {
            Scope::All => true,
            Scope::Toolkit(name) => name == toolkit,
            Scope::View(name) => self
                .views
                .get(name)
                .is_some_and(|view| view.tools.permits_tool(toolkit, tool)),
        }
    }

    /// The toolkits in scope whose resources and prompts `principal` may see.
    fn visible<'a>(
        &'a self,
        scope: &'a Scope,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a Arc<Entry>> + 'a {
        self.in_scope(scope)
            .filter(move |entry| entry.shown_to(principal))
    }
}

pub struct Hub {
    catalog: RwLock<Arc<Catalog>>,
    events: broadcast::Sender<HubEvent>,
    metrics: Arc<Metrics>,
    limits: CallLimits,
    in_flight: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
    audit: RwLock<Option<Arc<dyn AuditSink>>>,
    writer: Mutex<()>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(256);
        Hub {
            catalog: RwLock::new(Arc::new(Catalog::default())),
            events,
            metrics: Arc::new(Metrics::new()),
            limits: CallLimits::default(),
            in_flight: Mutex::new(HashMap::new()),
            audit: RwLock::new(None),
            writer: Mutex::new(()),
        }
    }

    pub fn with_limits(mut self, limits: CallLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sends a record of every tool call to `sink` from now on.
    pub fn set_audit_sink(&self, sink: Arc<dyn AuditSink>) {
        let mut guard = match self.audit.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some(sink);
    }

    fn audit_sink(&self) -> Option<Arc<dyn AuditSink>> {
        match self.audit.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records a management action that is not a tool call (a REST mutation such as
    /// creating a key) in the audit log, as toolkit `admin`.
    pub fn audit_action(
        &self,
        ctx: &CallContext,
        action: &str,
        arguments: &JsonObject,
        outcome: Result<(), &HubError>,
        elapsed: Duration,
    ) {
        let (outcome, error_kind) = match outcome {
            Ok(()) => ("ok", None),
            Err(error) => ("error", Some(error.kind())),
        };
        if self.audit_sink().is_some() {
            let digest = argument_digest(arguments, None);
            self.audit(ctx, "admin", action, digest, (outcome, error_kind), elapsed);
        }
    }

    /// Hands one record to the audit sink, if there is one; never waits. `digest` is
    /// the redacted arguments and their hash (see [`argument_digest`]).
    fn audit(
        &self,
        ctx: &CallContext,
        toolkit: &str,
        tool: &str,
        (arguments, arguments_sha256): (String, String),
        (outcome, error_kind): (&str, Option<&str>),
        elapsed: Duration,
    ) {
        let Some(sink) = self.audit_sink() else {
            return;
        };
        sink.record(AuditRecord {
            at: chrono::Utc::now(),
            tenant: ctx.tenant.to_string(),
            principal: ctx.principal.id.clone(),
            face: ctx.face.as_str().into(),
            request_id: ctx.request_id.clone(),
            toolkit: toolkit.into(),
            tool: tool.into(),
            arguments,
            arguments_sha256,
            outcome: outcome.into(),
            error_kind: error_kind.map(str::to_string),
            latency_ms: elapsed.as_secs_f64() * 1e3,
        });
    }

    /// Takes one of the tenant's in-flight call slots, or says to come back later.
    fn admit(&self, tenant: &TenantId) -> Result<Option<OwnedSemaphorePermit>, HubError> {
        let bound = self.limits.tenant_concurrent_calls;
        if bound == 0 {
            return Ok(None);
        }
        let semaphore = {
            let mut map = match self.in_flight.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            map.entry(tenant.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(bound)))
                .clone()
        };
        semaphore
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| HubError::RateLimited {
                message: format!(
                    "tenant '{tenant}' already has {bound} calls in flight; retry when one finishes"
                ),
                retry_after: Duration::from_secs(1),
            })
    }

    fn snapshot(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, catalog: Catalog) {
        let mut guard = match self.catalog.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(catalog);
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    /// Tells connected clients that something changed (a resource, a catalog).
    pub fn publish(&self, event: HubEvent) {
        // No receivers is normal: nobody is connected.
        let _ = self.events.send(event);
    }

    /// Adds a toolkit. Its name, its tools' names and its schemas are checked here, so
    /// a bad definition fails at start rather than on a client's first call.
    pub fn register(&self, toolkit: Arc<dyn Toolkit>) -> Result<(), HubError> {
        self.install(toolkit, false)
    }

    /// Registers `toolkit`, or swaps it in for the registered toolkit of the same name
    /// (a federated upstream whose catalog changed). Calls in flight finish on the
    /// toolkit they started with.
    pub fn replace_toolkit(&self, toolkit: Arc<dyn Toolkit>) -> Result<(), HubError> {
        self.install(toolkit, true)
    }

    fn install(&self, toolkit: Arc<dyn Toolkit>, replace: bool) -> Result<(), HubError> {
        let mut entry = Entry::build(toolkit)?;
        let name = entry.name().to_string();
        // Writers take turns, so two changes at once cannot lose one another.
        let _writer = lock(&self.writer);
        let current = self.snapshot();
        let position = current.entries.iter().position(|e| e.name() == name);
        if position.is_some() && !replace {
            return Err(HubError::Conflict(format!(
                "a toolkit named '{name}' is already registered"
            )));
        }
        if current.views.contains_key(&name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is the name of a virtual server"
            )));
        }
        let others = |(kit, _): &(String, String)| kit != &name;
        let mut qualified_tools: HashMap<String, (String, String)> = current
            .qualified_tools
            .iter()
            .filter(|(_, target)| others(target))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut qualified_prompts: HashMap<String, (String, String)> = current
            .qualified_prompts
            .iter()
            .filter(|(_, target)| others(target))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mode = entry.toolkit.naming();
        let tool_names: Vec<String> = entry.tools.iter().map(|t| t.name.to_string()).collect();
        for tool in tool_names {
            let candidates = mode.candidates(&name, &tool);
            match place(&mut qualified_tools, &candidates, (&name, &tool)) {
                Ok(chosen) => {
                    entry.mcp_tool_names.insert(tool, chosen);
                }
                Err((taken, (other_kit, other_tool))) => entry.collisions.push(NameCollision {
                    kind: "tool",
                    item: tool,
                    name: taken,
                    taken_by_toolkit: other_kit,
                    taken_by: other_tool,
                }),
            }
        }
        let prompt_names: Vec<String> = entry.prompts.iter().map(|p| p.name.clone()).collect();
        for prompt in prompt_names {
            let candidates = [qualified_tool_name(&name, &prompt)];
            match place(&mut qualified_prompts, &candidates, (&name, &prompt)) {
                Ok(chosen) => {
                    entry.mcp_prompt_names.insert(prompt, chosen);
                }
                Err((taken, (other_kit, other_prompt))) => entry.collisions.push(NameCollision {
                    kind: "prompt",
                    item: prompt,
                    name: taken,
                    taken_by_toolkit: other_kit,
                    taken_by: other_prompt,
                }),
            }
        }
        for collision in &entry.collisions {
            tracing::warn!(
                toolkit = %name,
                kind = collision.kind,
                item = %collision.item,
                name = %collision.name,
                taken_by_toolkit = %collision.taken_by_toolkit,
                taken_by = %collision.taken_by,
                "left off /mcp: the name is taken (still served on /mcp/{{toolkit}})"
            );
        }
        let entry = Arc::new(entry);
        let has_prompts = !entry.prompts.is_empty();
        let has_resources = !entry.uri_prefixes.is_empty() || !entry.templates.is_empty();
        let mut entries = current.entries.clone();
        match position {
            Some(index) => entries[index] = entry,
            None => entries.push(entry),
        }
        self.replace(Catalog {
            entries,
            qualified_tools,
            qualified_prompts,
            views: current.views.clone(),
        });
        self.publish(HubEvent::ToolsChanged);
        if has_prompts || replace {
            self.publish(HubEvent::PromptsChanged);
        }
        if has_resources || replace {
            self.publish(HubEvent::ResourcesChanged);
        }
        Ok(())
    }

    /// Removes a toolkit; calls already in flight finish on the snapshot they hold.
    pub fn unregister(&self, name: &str) -> bool {
        let _writer = lock(&self.writer);
        let current = self.snapshot();
        if current.entry(name).is_none() {
            return false;
        }
        let entries: Vec<_> = current
            .entries
            .iter()
            .filter(|entry| entry.name() != name)
            .cloned()
            .collect();
        let keep = |(kit, _): &(String, String)| kit != name;
        let qualified_tools = current
            .qualified_tools
            .iter()
            .filter(|(_, target)| keep(target))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let qualified_prompts = current
            .qualified_prompts
            .iter()
            .filter(|(_, target)| keep(target))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.replace(Catalog {
            entries,
            qualified_tools,
            qualified_prompts,
            views: current.views.clone(),
        });
        self.publish(HubEvent::ToolsChanged);
        self.publish(HubEvent::PromptsChanged);
        self.publish(HubEvent::ResourcesChanged);
        true
    }

    /// Sets the virtual servers. A name already taken by a toolkit, or patterns that
    /// could never match, are refused with the reason.
    pub fn set_views(&self, views: Vec<VirtualServer>) -> Result<(), HubError> {
        let _writer = lock(&self.writer);
        let current = self.snapshot();
        let mut map = HashMap::new();
        for view in views {
            if !is_valid_name(&view.name) {
                return Err(HubError::invalid_argument(
                    "virtual_servers.name",
                    format!("'{}' must be 1-64 letters, digits, '_' or '-'", view.name),
                ));
            }
            if current.entry(&view.name).is_some() {
                return Err(HubError::Conflict(format!(
                    "virtual server '{}' has the name of a toolkit",
                    view.name
                )));
            }
            if view.tools.allow.is_empty() {
                return Err(HubError::invalid_argument(
                    "virtual_servers.tools",
                    format!("virtual server '{}' picks no tools", view.name),
                ));
            }
            view.tools
                .validate()
                .map_err(|reason| HubError::invalid_argument("virtual_servers.tools", reason))?;
            if map.insert(view.name.clone(), view).is_some() {
                return Err(HubError::Conflict(
                    "two virtual servers share a name".into(),
                ));
            }
        }
        self.replace(Catalog {
            entries: current.entries.clone(),
            qualified_tools: current.qualified_tools.clone(),
            qualified_prompts: current.qualified_prompts.clone(),
            views: Arc::new(map),
        });
        self.publish(HubEvent::ToolsChanged);
        self.publish(HubEvent::PromptsChanged);
        self.publish(HubEvent::ResourcesChanged);
        Ok(())
    }

    pub fn has_view(&self, name: &str) -> bool {
        self.snapshot().views.contains_key(name)
    }

    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.snapshot().entries.clone()
    }

    pub fn has_toolkit(&self, name: &str) -> bool {
        self.snapshot().entry(name).is_some()
    }

    /// The tools a scope serves to `principal`, named as that scope names them.
    pub fn list_tools(&self, scope: &Scope, principal: &Principal) -> Vec<Tool> {
        let catalog = self.snapshot();
        let mut tools = Vec::new();
        for entry in catalog.in_scope(scope) {
            for tool in entry.callable_tools(principal) {
                if !catalog.serves_tool(scope, entry.name(), &tool.name) {
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
        let unknown = || HubError::UnknownTool {
            toolkit: match scope {
                Scope::All => String::new(),
                Scope::Toolkit(kit) | Scope::View(kit) => kit.clone(),
            },
            tool: name.to_string(),
        };
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

    /// A tool call's own checks (the tool exists, the caller may call it, the
    /// arguments fit and validate), then the call.
    async fn checked_call(
        &self,
        ctx: &CallContext,
        entry: &Arc<Entry>,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        let validator = entry
            .validators
            .get(tool)
            .ok_or_else(|| HubError::UnknownTool {
                toolkit: entry.name().to_string(),
                tool: tool.to_string(),
            })?;
        authorize(&ctx.principal, entry, tool)?;
        let size = json_size(&arguments);
        if size > self.limits.max_argument_bytes {
            return Err(HubError::invalid_argument(
                "arguments",
                format!(
                    "are {size} bytes of JSON; the limit is {} (limits.max_argument_bytes)",
                    self.limits.max_argument_bytes
                ),
            ));
        }
        validator.validate(&arguments)?;
        entry.toolkit.call_tool(ctx, tool, arguments).await
    }

    /// Calls a tool by the name a scope gives it.
    pub async fn call_in_scope(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, HubError> {
        let (toolkit, tool) = self.resolve_tool(scope, name)?;
        self.call(ctx, &toolkit, &tool, arguments).await
    }

    pub async fn list_resources(
        &self,
        ctx: &CallContext,
        scope: &Scope,
    ) -> Result<Vec<Resource>, HubError> {
        let catalog = self.snapshot();
        let mut resources = Vec::new();
        for entry in catalog.visible(scope, &ctx.principal) {
            resources.extend(entry.toolkit.list_resources(ctx).await?);
        }
        Ok(resources)
    }

    pub fn list_resource_templates(
        &self,
        scope: &Scope,
        principal: &Principal,
    ) -> Vec<ResourceTemplate> {
        self.snapshot()
            .visible(scope, principal)
            .flat_map(|entry| entry.templates.clone())
            .collect()
    }

    /// The toolkit in scope that serves `uri`: the one with the longest matching prefix.
    fn owner_of(&self, scope: &Scope, uri: &str, principal: &Principal) -> Option<Arc<Entry>> {
        let catalog = self.snapshot();
        catalog
            .visible(scope, principal)
            .filter_map(|entry| {
                entry
                    .uri_prefixes
                    .iter()
                    .filter(|prefix| uri.starts_with(prefix.as_str()))
                    .map(String::len)
                    .max()
                    .map(|len| (len, entry.clone()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, entry)| entry)
    }

    pub async fn read_resource(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        // A toolkit the caller may not see does not serve the URI for them.
        let entry = self
            .owner_of(scope, uri, &ctx.principal)
            .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
        let digest = self.audit_sink().map(|_| {
            let mut arguments = JsonObject::new();
            arguments.insert("uri".into(), uri.into());
            argument_digest(&arguments, None)
        });
        let work = entry.toolkit.read_resource(ctx, uri);
        self.guarded(ctx, entry.name(), Verb::ReadResource, digest, work)
            .await
    }

    /// Tells the toolkit serving `uri` that a client wants to hear of its changes (a
    /// federated upstream subscribes upstream); an unknown URI is not found.
    pub async fn subscribe_resource(
        &self,
        ctx: &CallContext,
        scope: &Scope,
        uri: &str,
    ) -> Result<(), HubError> {
        let entry = self
            .owner_of(scope, uri, &ctx.principal)
            .ok_or_else(|| HubError::ResourceNotFound(uri.to_string()))?;
        entry.toolkit.subscribe(ctx, uri).await
    }

    /// Whether a resource URI is served in this scope (for subscriptions).
    pub fn serves_uri(&self, scope: &Scope, uri: &str, principal: &Principal) -> bool {
        self.owner_of(scope, uri, principal).is_some()
    }

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

    /// Every toolkit's health, checked concurrently, each bounded by `timeout`.
    pub async fn health(&self, timeout: Duration) -> Vec<(String, Health)> {
        let entries = self.entries();
        join_all(entries.iter().map(|entry| async move {
            let started = Instant::now();
            let health = match tokio::time::timeout(timeout, entry.toolkit.health()).await {
                Ok(health) => health,
                Err(_) => Health::down(format!("health check did not answer within {timeout:?}")),
            };
            let health = if health.latency_ms.is_none() {
                health.with_latency(started.elapsed())
            } else {
                health
            };
            (entry.name().to_string(), health)
        }))
        .await
    }
}
