//! The engine that runs workflow steps: one loop per server claims due steps from
//! the store (any tenant's), runs each as the principal that started its run, through
//! the Hub, and records the outcome. A claimed step carries a lease the loop renews
//! while the step runs; a lease that runs out (its server died) is taken over: the
//! step runs again if its tool only reads or is idempotent, and is otherwise marked
//! `unknown` for a person to decide. Nothing here holds a run in memory, so any
//! server sharing the store can carry any run on. How each kind of step runs is in
//! `steps.rs`.

mod steps;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use tideway_core::{Hub, HubError, HubEvent, Scope, TenantId};
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    progress::RunStatus,
    runs::{Claimed, Outcome, Runs, Touched, now_ms},
    settings::WorkflowsConfig,
    templates::TemplateStore,
};

/// How often a server deletes the runs past their keeping time.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A change to a run, for live views (server-sent events, resource updates).
#[derive(Clone, Debug)]
pub struct RunEvent {
    pub execution_id: String,
}

pub struct Engine {
    hub: Weak<Hub>,
    pub runs: Runs,
    /// Where workflow steps find the templates of their child runs.
    templates: TemplateStore,
    config: WorkflowsConfig,
    /// This server's name on the leases it holds: host, process id and a random part
    /// (a restarted process may get the same id).
    owner: String,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
    /// Steps in flight here, so a cancel reaches them at once.
    in_flight: Mutex<HashMap<Claimed, CancellationToken>>,
    events: broadcast::Sender<RunEvent>,
    /// No new step is claimed once this is cancelled.
    stop_claiming: CancellationToken,
    /// Steps in flight are cancelled (and left to be taken over) once this is.
    abandon: CancellationToken,
    /// When this server last deleted old runs.
    last_sweep: Mutex<Option<std::time::Instant>>,
}

impl Engine {
    pub fn new(
        hub: &Arc<Hub>,
        runs: Runs,
        templates: TemplateStore,
        config: WorkflowsConfig,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(256);
        Arc::new(Engine {
            hub: Arc::downgrade(hub),
            runs,
            templates,
            slots: Arc::new(Semaphore::new(config.max_concurrent_steps)),
            config,
            owner: format!(
                "{}:{}:{}",
                hostname(),
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            wake: Arc::new(Notify::new()),
            in_flight: Mutex::default(),
            events,
            stop_claiming: CancellationToken::new(),
            abandon: CancellationToken::new(),
            last_sweep: Mutex::new(None),
        })
    }

    /// Starts the loop that claims and runs steps, when this server runs them.
    pub fn start(self: &Arc<Self>) {
        if !self.config.run_steps {
            return;
        }
        let engine = Arc::downgrade(self);
        let stop = self.stop_claiming.clone();
        let poll = Duration::from_millis(self.config.poll_ms);
        tokio::spawn(async move {
            loop {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                // A store error is logged and the loop goes on: the store may come back.
                if let Err(error) = engine.take_over_expired().await {
                    tracing::warn!(%error, "workflows: could not check for expired leases");
                }
                if let Err(error) = engine.claim_and_run().await {
                    tracing::warn!(%error, "workflows: could not claim steps");
                }
                engine.sweep_when_due().await;
                // The loop holds the engine only while it works, so dropping the
                // toolkit ends it; a wake-up sent meanwhile is kept by the Notify.
                let wake = engine.wake.clone();
                drop(engine);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        });
    }

    /// Stops claiming steps and gives those in flight up to `grace` to finish; the
    /// rest are abandoned. A graceful stop so leaves no step `unknown` that could
    /// finish in time.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop_claiming.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && self.in_flight_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.abandon();
    }

    /// Stops at once, as a dying server would: steps in flight are cancelled and
    /// nothing about them is recorded; their leases run out for another server (or
    /// this one, restarted) to take them over.
    pub fn abandon(&self) {
        self.stop_claiming.cancel();
        self.abandon.cancel();
    }

    fn in_flight_count(&self) -> usize {
        self.in_flight
            .lock()
            .map(|in_flight| in_flight.len())
            .unwrap_or(0)
    }

    /// How long a finished run is kept; `None` when runs are kept for good.
    pub fn kept_for(&self) -> Option<Duration> {
        self.config.kept_for()
    }

    /// Deletes the runs that finished longer ago than they are kept; how many. Every
    /// replica may sweep: a run deleted twice is deleted once.
    pub async fn sweep(&self) -> Result<u64, HubError> {
        let Some(kept) = self.kept_for() else {
            return Ok(0);
        };
        let kept = chrono::Duration::from_std(kept).map_err(HubError::internal)?;
        let deleted = self
            .runs
            .delete_finished_before(tideway_core::store::now() - kept)
            .await?;
        if deleted > 0 {
            tracing::info!(deleted, "workflows: deleted runs past their keeping time");
        }
        Ok(deleted)
    }

    /// Sweeps at most once every `SWEEP_EVERY`.
    async fn sweep_when_due(&self) {
        {
            let Ok(mut last) = self.last_sweep.lock() else {
                return;
            };
            if last.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        if let Err(error) = self.sweep().await {
            tracing::warn!(%error, "workflows: could not delete old runs");
        }
    }

    /// Makes the loop look for due steps now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Tells live views (and subscribers of the run's resource) that a run changed,
    /// and looks for steps it made ready.
    pub fn changed(&self, tenant: &TenantId, execution_id: &str) {
        let _ = self.events.send(RunEvent {
            execution_id: execution_id.to_string(),
        });
        if let Some(hub) = self.hub.upgrade() {
            hub.publish(HubEvent::ResourceUpdated {
                tenant: Some(tenant.clone()),
                uri: format!("{}{execution_id}", super::resources::PREFIX),
            });
        }
        self.wake();
    }

    /// Passes on changes to other runs that a change to one made: child runs
    /// cancelled with it stop their steps here at once, and live views hear of all.
    pub fn touched(&self, tenant: &TenantId, others: &[Touched]) {
        for other in others {
            if other.cancelled {
                self.cancel_local(&other.execution_id);
            }
            self.changed(tenant, &other.execution_id);
        }
    }

    /// Cancels this server's in-flight steps of a run.
    pub fn cancel_local(&self, execution_id: &str) {
        if let Ok(in_flight) = self.in_flight.lock() {
            for (claimed, token) in in_flight.iter() {
                if claimed.execution_id == execution_id {
                    token.cancel();
                }
            }
        }
    }

    fn lease_until(&self) -> i64 {
        now_ms().saturating_add(
            i64::try_from(self.config.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        )
    }

    async fn take_over_expired(&self) -> Result<(), HubError> {
        for (tenant, execution_id, step_id, tool) in self.runs.expired().await? {
            let repeatable = match &tool {
                // Sleeps and approvals have no effect to repeat.
                None => true,
                Some(tool) => self.is_repeatable(tool),
            };
            if self
                .runs
                .take_over(&execution_id, &step_id, repeatable)
                .await?
            {
                tracing::warn!(
                    execution_id,
                    step_id,
                    repeatable,
                    "workflows: took over a step whose server stopped"
                );
                self.changed(&tenant, &execution_id);
            }
        }
        Ok(())
    }

    /// Whether running `tool` again is harmless: it only reads, or says it is
    /// idempotent.
    fn is_repeatable(&self, tool: &str) -> bool {
        let Some(hub) = self.hub.upgrade() else {
            return false;
        };
        let Ok((toolkit, name)) = hub.resolve_tool(&Scope::All, tool) else {
            return false;
        };
        hub.entries()
            .into_iter()
            .find(|entry| entry.name() == toolkit)
            .and_then(|entry| entry.tools.iter().find(|tool| tool.name == name).cloned())
            .and_then(|tool| tool.annotations)
            .is_some_and(|annotations| {
                annotations.read_only_hint == Some(true)
                    || annotations.idempotent_hint == Some(true)
            })
    }

    async fn claim_and_run(self: &Arc<Self>) -> Result<(), HubError> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let claimed = self
            .runs
            .claim(&self.owner, self.lease_until(), free)
            .await?;
        for step in claimed {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // Cannot happen (we claimed at most `free`), but if it does the lease
                // runs out and the step is taken over.
                break;
            };
            let engine = self.clone();
            let span = tracing::info_span!(
                "workflow_step",
                execution_id = %step.execution_id,
                step_id = %step.step_id,
                attempt = step.attempt
            );
            tokio::spawn(
                async move {
                    engine.run_claimed(step).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
        Ok(())
    }

    async fn run_claimed(self: Arc<Self>, claimed: Claimed) {
        let token = self.abandon.child_token();
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(claimed.clone(), token.clone());
        }
        self.run_and_record(&claimed, token).await;
        // Only once the outcome is recorded: a graceful shutdown waits for this.
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&claimed);
        }
    }

    async fn run_and_record(&self, claimed: &Claimed, token: CancellationToken) {
        let mut tenant = None;
        let outcome = match self
            .runs
            .load(&claimed.execution_id, &claimed.step_id)
            .await
        {
            Ok(loaded) => {
                tenant = Some(loaded.tenant.clone());
                let work = self.run_step(claimed, &loaded, token.clone());
                let heartbeat = self.heartbeat(claimed, token.clone());
                tokio::select! {
                    outcome = work => Some(outcome),
                    () = heartbeat => None,
                }
            }
            Err(error) => {
                tracing::error!(%error, "workflows: could not load the run of a claimed step");
                Some(Outcome::Failed {
                    problem: None,
                    message: format!("the run could not be read: {error}"),
                    retry_in: None,
                })
            }
        };
        let Some(outcome) = outcome else {
            // The lease was lost: another server took the step over.
            return;
        };
        // An abandoned step is left to be taken over rather than recorded cancelled.
        if self.abandon.is_cancelled() && matches!(outcome, Outcome::Cancelled) {
            return;
        }
        match self.runs.finish(&self.owner, claimed, outcome).await {
            Ok(Some(others)) => match &tenant {
                Some(tenant) => {
                    self.changed(tenant, &claimed.execution_id);
                    self.touched(tenant, &others);
                }
                None => self.wake(),
            },
            Ok(None) => tracing::warn!("workflows: a step's lease was lost before it finished"),
            Err(error) => tracing::error!(%error, "workflows: could not record a step's outcome"),
        }
    }

    /// Renews the lease until the step is done; cancels the step when the run was
    /// cancelled elsewhere. Returns only when the lease is lost.
    async fn heartbeat(&self, claimed: &Claimed, token: CancellationToken) {
        let every = Duration::from_millis(self.config.lease_secs.saturating_mul(1000) / 3);
        loop {
            tokio::time::sleep(every).await;
            match self
                .runs
                .heartbeat(&self.owner, claimed, self.lease_until())
                .await
            {
                Ok(Some(RunStatus::Cancelled | RunStatus::Failed)) => token.cancel(),
                Ok(Some(_)) => {}
                Ok(None) => {
                    token.cancel();
                    return;
                }
                // The store is unreachable: keep the step running and try again; if
                // the lease runs out meanwhile, the finish is refused.
                Err(error) => tracing::warn!(%error, "workflows: heartbeat failed"),
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "tideway".into())
}
