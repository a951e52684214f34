//! One upstream's life: a single shared connection (one child process for a stdio
//! upstream, whatever the number of clients), started at boot or on first use,
//! restarted with exponential backoff after a crash and given up after the configured
//! number of attempts; its catalog refreshed when it says it changed; periodic health
//! checks; and the circuit breaker every call (`forward.rs`) passes, with the
//! deadline, and retries for the tools it marks read-only or idempotent.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rmcp::{Peer, RoleClient, model::ServerNotification, service::ServiceError};
use serde::Serialize;
use tideway_core::{Health, HealthStatus, Hub, HubError, Principal, Store, TenantId};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

mod answers;
mod follower;
mod forward;

use super::{
    breaker::{Breaker, CircuitState},
    catalog::{Catalog, Listing},
    client::{self, ChildInfo, InFlight, Opened, Relay, publish_update},
    settings::{GatewayConfig, UpstreamSpec, UpstreamStart},
    toolkit::UpstreamToolkit,
};
use follower::Follower;

/// Resources one upstream follows for subscribed clients, at most.
const MAX_FOLLOWED_RESOURCES: usize = 256;

/// Where an upstream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Starting,
    Running,
    /// Lazy and not started yet; listed from its cached catalog.
    Idle,
    /// Waiting to restart after a failure.
    Backoff,
    /// Given up after the configured attempts; see the detail.
    Down,
    Stopped,
}

/// Where an upstream's definition comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Observed {
    /// What went wrong last, for an operator.
    pub detail: Option<String>,
    pub restarts: u32,
    pub pid: Option<u32>,
    pub protocol_version: Option<String>,
    pub server_name: Option<String>,
    pub last_check_at: Option<DateTime<Utc>>,
    pub latency_ms: Option<f64>,
    pub last_check_ok: Option<bool>,
    pub stderr_tail: Vec<String>,
}

pub struct Upstream {
    pub spec: UpstreamSpec,
    pub origin: Origin,
    /// When its stored definition was last written (`None` for the configuration's).
    pub revision: Option<DateTime<Utc>>,
    /// The tenant that alone may see it, if any.
    pub owner: Option<TenantId>,
    secrets: Opened,
    settings: GatewayConfig,
    hub: Weak<Hub>,
    store: Store,
    pub breaker: Breaker,
    calls: Arc<InFlight>,
    changed: Arc<Notify>,
    /// Resource URIs clients subscribed to; kept across reconnects.
    interest: Mutex<BTreeSet<String>>,
    interest_changed: Notify,
    /// The interest the live connection has last acted on, so a subscriber can wait
    /// until updates really flow before its `resources/subscribe` is answered.
    followed: watch::Sender<BTreeSet<String>>,
    wake: Notify,
    phase: watch::Sender<Phase>,
    peer: RwLock<Option<Peer<RoleClient>>>,
    catalog: RwLock<Arc<Catalog>>,
    observed: Mutex<Observed>,
    stop: CancellationToken,
    stopped: watch::Sender<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<T>(lock: &RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

impl Upstream {
    pub fn new(
        spec: UpstreamSpec,
        (origin, revision): (Origin, Option<DateTime<Utc>>),
        secrets: Opened,
        settings: GatewayConfig,
        hub: Weak<Hub>,
        store: Store,
    ) -> Arc<Upstream> {
        let breaker = Breaker::new(
            settings.breaker_failures,
            Duration::from_secs(settings.breaker_open_secs),
        );
        Arc::new(Upstream {
            owner: spec.tenant.as_deref().map(TenantId::new),
            spec,
            origin,
            revision,
            secrets,
            settings,
            hub,
            store,
            breaker,
            calls: Arc::new(InFlight::default()),
            changed: Arc::new(Notify::new()),
            interest: Mutex::new(BTreeSet::new()),
            interest_changed: Notify::new(),
            followed: watch::channel(BTreeSet::new()).0,
            wake: Notify::new(),
            phase: watch::channel(Phase::Starting).0,
            peer: RwLock::new(None),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            observed: Mutex::new(Observed::default()),
            stop: CancellationToken::new(),
            stopped: watch::channel(false).0,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether `principal` may see it: its tenant's (or everyone's), and its rules
    /// permit something of it.
    pub fn shown_to(&self, principal: &Principal) -> bool {
        principal.sees_owner(self.owner.as_ref()) && principal.permits_toolkit(self.name())
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Follows the phase as it changes.
    pub fn phases(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub fn observed(&self) -> Observed {
        lock(&self.observed).clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        read(&self.catalog)
    }

    /// The names of its env variables and headers that carry a value, and whether it
    /// has a bearer token; never the values.
    pub fn secret_names(&self) -> (Vec<String>, Vec<String>, bool) {
        (
            self.secrets.env.keys().cloned().collect(),
            self.secrets.headers.keys().cloned().collect(),
            self.secrets.bearer_token.is_some(),
        )
    }

    pub fn in_flight(&self) -> usize {
        self.calls.count()
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    fn note(&self, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::warn!(upstream = %self.name(), %detail, "upstream problem");
        lock(&self.observed).detail = Some(detail);
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_secs(
            self.spec
                .timeout_secs
                .unwrap_or(self.settings.call_timeout_secs),
        )
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let initial = self.settings.restart_initial_backoff_ms.max(1);
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(
            initial
                .saturating_mul(factor)
                .min(self.settings.restart_max_backoff_ms.max(initial)),
        )
    }

    /// Starts the supervisor task.
    pub fn spawn(self: &Arc<Self>) {
        let upstream = self.clone();
        tokio::spawn(async move {
            upstream.supervise().await;
            upstream.stopped.send_replace(true);
        });
    }

    /// Stops the connection (the child and its whole process group) and waits for it.
    pub async fn stop(&self) {
        self.stop.cancel();
        let mut stopped = self.stopped.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(15), stopped.wait_for(|done| *done)).await;
    }

    async fn supervise(self: &Arc<Self>) {
        if self.spec.start == UpstreamStart::Lazy {
            match super::records::catalog(&self.store, self.name()).await {
                Ok(Some(cached)) => match serde_json::from_value::<Listing>(cached) {
                    Ok(listing) => {
                        self.install(Catalog::new(listing));
                        self.set_phase(Phase::Idle);
                        tokio::select! {
                            _ = self.stop.cancelled() => {
                                self.set_phase(Phase::Stopped);
                                return;
                            }
                            _ = self.wake.notified() => {}
                        }
                    }
                    Err(error) => self.note(format!("the cached catalog is unreadable: {error}")),
                },
                Ok(None) => {}
                Err(error) => self.note(format!("the cached catalog cannot be read: {error}")),
            }
        }
        let mut attempt = 0u32;
        loop {
            if self.stop.is_cancelled() {
                self.set_phase(Phase::Stopped);
                return;
            }
            self.set_phase(Phase::Starting);
            let started = Instant::now();
            match self.run_once().await {
                RunEnd::Stopped => {
                    self.set_phase(Phase::Stopped);
                    return;
                }
                RunEnd::Failed(detail) => self.note(detail),
            }
            // A connection that stayed up a while earns a fresh set of attempts.
            if started.elapsed() > Duration::from_secs(30) {
                attempt = 0;
            }
            attempt += 1;
            if attempt > self.settings.restart_max_attempts {
                let detail = lock(&self.observed).detail.clone().unwrap_or_default();
                self.note(format!(
                    "given up after {} attempts; last failure: {detail}",
                    attempt
                ));
                self.set_phase(Phase::Down);
                self.stop.cancelled().await;
                self.set_phase(Phase::Stopped);
                return;
            }
            self.set_phase(Phase::Backoff);
            let wait = self.backoff(attempt);
            tracing::info!(upstream = %self.name(), attempt, ?wait, "restarting after a failure");
            tokio::select! {
                _ = self.stop.cancelled() => {
                    self.set_phase(Phase::Stopped);
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
            lock(&self.observed).restarts += 1;
        }
    }

    /// Connects, serves until the connection ends or a stop, and says which.
    async fn run_once(self: &Arc<Self>) -> RunEnd {
        let relay = Relay {
            upstream: self.name().to_string(),
            calls: self.calls.clone(),
            changed: self.changed.clone(),
            hub: self.hub.clone(),
            owner: self.owner.clone(),
        };
        let timeout = Duration::from_secs(self.settings.connect_timeout_secs);
        let connect = client::connect(&self.spec, &self.secrets, relay, timeout);
        let (connection, child) = tokio::select! {
            _ = self.stop.cancelled() => return RunEnd::Stopped,
            outcome = connect => match outcome {
                Ok(connected) => connected,
                Err(error) => return RunEnd::Failed(error.to_string()),
            }
        };
        let peer = connection.peer().clone();
        {
            let info = peer.peer_info();
            let mut observed = lock(&self.observed);
            observed.pid = child.pid;
            observed.protocol_version = info.as_ref().map(|i| i.protocol_version.to_string());
            observed.server_name = info
                .as_ref()
                .and_then(|i| i.server_info.as_ref())
                .map(|server| format!("{} {}", server.name, server.version));
        }
        let token = connection.cancellation_token();
        let mut waiting = std::pin::pin!(connection.waiting());
        if let Err(error) = self.refresh(&peer).await {
            token.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), &mut waiting).await;
            return RunEnd::Failed(format!("listing its catalog failed: {error}"));
        }
        write(&self.peer, Some(peer.clone()));
        {
            let mut observed = lock(&self.observed);
            observed.detail = None;
            observed.last_check_ok = Some(true);
        }
        self.set_phase(Phase::Running);
        tracing::info!(upstream = %self.name(), pid = ?child.pid, "upstream connected");
        let interval = Duration::from_secs(self.settings.health_interval_secs.max(1));
        let mut health = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut follower = Follower::new(&peer);
        follower.follow(self).await;
        let end = loop {
            tokio::select! {
                _ = self.interest_changed.notified() => {
                    follower.follow(self).await;
                }
                notification = follower.next() => {
                    match notification {
                        Some(notification) => self.on_listened(notification),
                        // The stream ended: listen again (with a pause, so a
                        // server that refuses does not spin).
                        None => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            follower.follow(self).await;
                        }
                    }
                }
                _ = self.stop.cancelled() => {
                    // A server drains its open requests before it exits at the end of
                    // its input, and a listen stream never ends by itself: end it first.
                    follower.close().await;
                    token.cancel();
                    let _ = tokio::time::timeout(Duration::from_secs(15), &mut waiting).await;
                    break RunEnd::Stopped;
                }
                _ = &mut waiting => {
                    child.drained().await;
                    break RunEnd::Failed(self.exit_detail(&child));
                }
                _ = self.changed.notified() => {
                    if let Err(error) = self.refresh(&peer).await {
                        self.note(format!("refreshing its catalog failed: {error}"));
                    }
                }
                _ = health.tick() => {
                    self.check(&peer).await;
                }
            }
        };
        write(&self.peer, None);
        lock(&self.observed).pid = None;
        end
    }

    /// Asks for updates of `uri` from now on, and after every reconnect. The set is
    /// bounded: each new URI reopens a 2026-07-28 listen stream. While the upstream
    /// is connected the answer waits (up to the call timeout) until the connection
    /// has acted on the new interest: a client that changes the resource right after
    /// subscribing must hear of that change.
    pub async fn subscribe(&self, uri: &str) -> Result<(), HubError> {
        {
            let mut interest = lock(&self.interest);
            if !interest.contains(uri) {
                if interest.len() >= MAX_FOLLOWED_RESOURCES {
                    return Err(self.unavailable(format!(
                        "it already follows {MAX_FOLLOWED_RESOURCES} resources for subscribers"
                    )));
                }
                interest.insert(uri.to_string());
                self.interest_changed.notify_one();
            }
        }
        if self.phase() != Phase::Running {
            return Ok(());
        }
        let mut followed = self.followed.subscribe();
        let applied = tokio::time::timeout(
            self.call_timeout(),
            followed.wait_for(|followed| followed.contains(uri)),
        )
        .await;
        if applied.is_err() {
            // The interest stays recorded and is retried on every reconnect.
            tracing::warn!(upstream = %self.name(), %uri, "the upstream did not take the subscription in time");
        }
        Ok(())
    }

    fn on_listened(&self, notification: ServerNotification) {
        match notification {
            ServerNotification::ToolListChangedNotification(_)
            | ServerNotification::PromptListChangedNotification(_)
            | ServerNotification::ResourceListChangedNotification(_) => self.changed.notify_one(),
            ServerNotification::ResourceUpdatedNotification(update) => {
                publish_update(&self.hub, self.owner.as_ref(), update.params.uri)
            }
            _ => {}
        }
    }

    fn exit_detail(&self, child: &ChildInfo) -> String {
        let tail = child.tail();
        lock(&self.observed).stderr_tail = tail.clone();
        match tail.last() {
            Some(last) => format!("the connection ended; its stderr ended with: {last}"),
            None => "the connection ended".to_string(),
        }
    }

    /// Lists the catalog, caches it and installs it in the Hub.
    async fn refresh(self: &Arc<Self>, peer: &Peer<RoleClient>) -> Result<(), ServiceError> {
        let capabilities = peer
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default();
        let mut listing = Listing::default();
        if capabilities.tools.is_some() {
            listing.tools = peer.list_all_tools().await?;
        }
        if capabilities.prompts.is_some() {
            listing.prompts = peer.list_all_prompts().await?;
        }
        if capabilities.resources.is_some() {
            listing.resources = peer.list_all_resources().await?;
            listing.resource_templates = peer.list_all_resource_templates().await?;
        }
        match serde_json::to_value(&listing) {
            Ok(value) => {
                if let Err(error) =
                    super::records::put_catalog(&self.store, self.name(), &value).await
                {
                    tracing::warn!(upstream = %self.name(), %error, "could not cache the catalog");
                }
            }
            Err(error) => {
                tracing::warn!(upstream = %self.name(), %error, "could not encode the catalog")
            }
        }
        self.install(Catalog::new(listing));
        Ok(())
    }

    fn install(self: &Arc<Self>, catalog: Catalog) {
        for problem in &catalog.problems {
            tracing::warn!(upstream = %self.name(), %problem, "upstream catalog problem");
        }
        let catalog = Arc::new(catalog);
        write(&self.catalog, catalog.clone());
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let toolkit = UpstreamToolkit::new(self.clone(), catalog);
        if let Err(error) = hub.replace_toolkit(Arc::new(toolkit)) {
            self.note(format!("the Hub refused its catalog: {error}"));
        }
    }

    /// A health check: a catalog request, timed.
    async fn check(&self, peer: &Peer<RoleClient>) {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.call_timeout(), peer.list_tools(None)).await;
        let elapsed = started.elapsed();
        let ok = matches!(outcome, Ok(Ok(_)));
        {
            let mut observed = lock(&self.observed);
            observed.last_check_at = Some(Utc::now());
            observed.latency_ms = Some(elapsed.as_secs_f64() * 1e3);
            observed.last_check_ok = Some(ok);
        }
        if ok {
            self.breaker.success();
        } else {
            self.breaker.failure(Instant::now());
            self.note(match outcome {
                Ok(Err(error)) => format!("health check failed: {error}"),
                _ => format!(
                    "health check did not answer within {:?}",
                    self.call_timeout()
                ),
            });
        }
    }

    /// A fresh health check now, for `/integration/mcp/health/{server}`.
    pub async fn check_now(&self) {
        let peer = read(&self.peer);
        if let Some(peer) = peer {
            self.check(&peer).await;
        }
    }

    pub fn health(&self) -> Health {
        let observed = self.observed();
        let circuit = self.breaker.state(Instant::now());
        let (status, detail) = match self.phase() {
            Phase::Running
                if circuit == CircuitState::Closed && observed.last_check_ok != Some(false) =>
            {
                (HealthStatus::Healthy, None)
            }
            Phase::Running => (
                HealthStatus::Degraded,
                Some(format!(
                    "circuit {circuit:?}; {}",
                    observed.detail.clone().unwrap_or_default()
                )),
            ),
            Phase::Idle => (HealthStatus::Healthy, Some("not started yet (lazy)".into())),
            Phase::Starting | Phase::Backoff => (
                HealthStatus::Degraded,
                Some(format!(
                    "starting (restarts so far: {}){}",
                    observed.restarts,
                    observed
                        .detail
                        .as_ref()
                        .map(|d| format!("; last failure: {d}"))
                        .unwrap_or_default()
                )),
            ),
            Phase::Down | Phase::Stopped => (
                HealthStatus::Down,
                Some(observed.detail.clone().unwrap_or_else(|| "stopped".into())),
            ),
        };
        Health {
            status,
            detail,
            latency_ms: observed.latency_ms,
        }
    }

    /// The connection for a call, starting a lazy upstream and waiting out a restart
    /// until `deadline`.
    async fn connected(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<Peer<RoleClient>, HubError> {
        let mut phases = self.phase.subscribe();
        loop {
            let phase = *phases.borrow_and_update();
            match phase {
                Phase::Running => {
                    if let Some(peer) = read(&self.peer) {
                        return Ok(peer);
                    }
                }
                Phase::Idle => self.wake.notify_one(),
                Phase::Down | Phase::Stopped => {
                    return Err(self.unavailable(format!(
                        "it is {}: {}",
                        if phase == Phase::Down {
                            "down"
                        } else {
                            "stopped"
                        },
                        self.observed().detail.unwrap_or_default()
                    )));
                }
                Phase::Starting | Phase::Backoff => {}
            }
            if tokio::time::timeout_at(deadline, phases.changed())
                .await
                .is_err()
            {
                return Err(self.unavailable(format!("it did not come up in time ({phase:?})")));
            }
        }
    }

    fn unavailable(&self, reason: String) -> HubError {
        HubError::Unavailable {
            component: format!("upstream '{}'", self.name()),
            reason,
        }
    }

    fn admit(&self) -> Result<(), HubError> {
        self.breaker.admit(Instant::now()).map_err(|wait| {
            self.unavailable(format!(
                "its circuit is open after repeated failures; calls fail fast for another {:.0} s",
                wait.as_secs_f64().ceil()
            ))
        })
    }
}

enum RunEnd {
    Stopped,
    Failed(String),
}
