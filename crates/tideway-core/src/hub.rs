//! The Hub: the registry of toolkits and the one call path. MCP, REST, workflows and
//! agents all reach a tool through [`Hub::call`], which resolves the tool and
//! validates the arguments against its schema; it, [`Hub::read_resource`] and
//! [`Hub::get_prompt`] then pass the same guard (`hub/guard.rs`: in-flight bound,
//! deadline, cancellation, metrics, trace, audit). Toolkits can be added and removed
//! at runtime (the gateway does); readers take a snapshot of the catalog, so a change
//! never blocks a call in flight.
//!
//! One job per file: this one holds the Hub's state (the catalog snapshot, limits,
//! events, the audit sink) and registration; `catalog.rs` is the catalog as pure
//! code (names on `/mcp`, collisions, views, scopes); `calls.rs` the tool path;
//! `resources.rs` and `prompts.rs` theirs; `guard.rs` what every verb passes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

mod calls;
mod catalog;
mod guard;
mod prompts;
mod resources;

use catalog::Catalog;
pub use catalog::{Entry, NameCollision};

use crate::{
    access::ToolRules,
    audit::{AuditRecord, AuditSink, argument_digest},
    background::BackgroundCalls,
    context::{CallContext, TenantId},
    error::HubError,
    mcp::JsonObject,
    metrics::Metrics,
    parts::PartHealth,
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

/// What `tools/list` on `/mcp` shows. Lean keeps an agent's context small as toolkits
/// are added: each toolkit's featured tools, with `find_tools` and `call_tool` to
/// reach the rest. Either way every tool stays callable there by its `/mcp` name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogListing {
    #[default]
    Lean,
    Full,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub struct Hub {
    catalog: RwLock<Arc<Catalog>>,
    events: broadcast::Sender<HubEvent>,
    metrics: Arc<Metrics>,
    limits: CallLimits,
    listing: CatalogListing,
    in_flight: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
    audit: RwLock<Option<Arc<dyn AuditSink>>>,
    background: RwLock<Option<Arc<dyn BackgroundCalls>>>,
    /// Services a toolkit shares with the faces' routes of its own (a typed map).
    shared: RwLock<Vec<Arc<dyn std::any::Any + Send + Sync>>>,
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
            listing: CatalogListing::default(),
            in_flight: Mutex::new(HashMap::new()),
            audit: RwLock::new(None),
            background: RwLock::new(None),
            shared: RwLock::new(Vec::new()),
            writer: Mutex::new(()),
        }
    }

    pub fn with_limits(mut self, limits: CallLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_listing(mut self, listing: CatalogListing) -> Self {
        self.listing = listing;
        self
    }

    /// What `tools/list` on `/mcp` shows.
    pub fn listing(&self) -> CatalogListing {
        self.listing
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

    /// Has `runner` run the calls faces start in the background, from now on.
    pub fn set_background_calls(&self, runner: Arc<dyn BackgroundCalls>) {
        let mut guard = match self.background.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some(runner);
    }

    /// The durable runner of background calls, when one is registered.
    pub fn background_calls(&self) -> Option<Arc<dyn BackgroundCalls>> {
        match self.background.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Shares `service` with routes that reach it by its type (a toolkit's public
    /// route that is not a tool call, such as an inbound webhook). Replaces one of
    /// the same type.
    pub fn share<T: std::any::Any + Send + Sync>(&self, service: Arc<T>) {
        let mut guard = match self.shared.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.retain(|shared| !shared.is::<T>());
        guard.push(service);
    }

    /// The service of type `T` a toolkit shared, if one did.
    pub fn shared<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let guard = match self.shared.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard
            .iter()
            .find_map(|shared| shared.clone().downcast::<T>().ok())
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

    /// Records a REST request that changes something but left no record of its own
    /// (it was refused before reaching a tool or management action): toolkit
    /// `rest`, the method and path as the action, the outcome from the status.
    pub fn audit_request(&self, ctx: &CallContext, action: &str, status: u16, elapsed: Duration) {
        let error_kind = match status {
            0..400 => None,
            400 | 413 | 415 | 422 => Some("invalid-arguments"),
            401 | 403 => Some("forbidden"),
            404 | 405 => Some("not-found"),
            409 | 412 => Some("conflict"),
            429 => Some("rate-limited"),
            503 => Some("unavailable"),
            504 => Some("deadline-exceeded"),
            _ => Some("internal"),
        };
        let outcome = if error_kind.is_some() { "error" } else { "ok" };
        let mut arguments = JsonObject::new();
        arguments.insert("status".into(), status.into());
        let digest = argument_digest(&arguments, None);
        self.audit(ctx, "rest", action, digest, (outcome, error_kind), elapsed);
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
        crate::audit::mark_audited();
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
        let entry = Entry::build(toolkit)?;
        let name = entry.name().to_string();
        // Writers take turns, so two changes at once cannot lose one another.
        let _writer = lock(&self.writer);
        let (next, changed) = self.snapshot().with_toolkit(entry, replace)?;
        for collision in next
            .entry(&name)
            .map(|e| e.collisions.as_slice())
            .unwrap_or_default()
        {
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
        self.replace(next);
        self.publish(HubEvent::ToolsChanged);
        if changed.prompts {
            self.publish(HubEvent::PromptsChanged);
        }
        if changed.resources {
            self.publish(HubEvent::ResourcesChanged);
        }
        Ok(())
    }

    /// Removes a toolkit; calls already in flight finish on the snapshot they hold.
    pub fn unregister(&self, name: &str) -> bool {
        let _writer = lock(&self.writer);
        let Some(next) = self.snapshot().without(name) else {
            return false;
        };
        self.replace(next);
        self.publish(HubEvent::ToolsChanged);
        self.publish(HubEvent::PromptsChanged);
        self.publish(HubEvent::ResourcesChanged);
        true
    }

    /// Sets the virtual servers. A name already taken by a toolkit, or patterns that
    /// could never match, are refused with the reason.
    pub fn set_views(&self, views: Vec<VirtualServer>) -> Result<(), HubError> {
        let _writer = lock(&self.writer);
        let next = self.snapshot().with_views(views)?;
        self.replace(next);
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

    /// Every toolkit's parts in use, by toolkit. A toolkit's whole answer is bounded
    /// too (twice `timeout`, its parts being checked at once), so one toolkit that
    /// ignores its timeout cannot hold up the round; its parts are then left out.
    pub async fn parts(&self, timeout: Duration) -> Vec<(String, Vec<PartHealth>)> {
        let entries = self.entries();
        join_all(entries.iter().map(|entry| async move {
            let parts = tokio::time::timeout(timeout * 2, entry.toolkit.parts(timeout))
                .await
                .unwrap_or_default();
            (entry.name().to_string(), parts)
        }))
        .await
    }
}
