//! The gateway: every federated upstream, from the configuration file and from the
//! store (added over REST or the CLI). It starts them at boot, adds, replaces and
//! removes them at runtime (a new upstream is usable at `/mcp/{name}` as soon as its
//! handshake is done), follows the store so that changes made by the CLI or another
//! replica are applied within `gateway.reconcile_secs`, and stops every child on
//! shutdown. Secret values (the child's environment, HTTP headers, the bearer token)
//! are sealed under the master key before they reach the store and never leave it in
//! a listing.

use std::{
    collections::BTreeMap,
    sync::{Arc, Weak},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tideway_core::{Hub, HubError, Store, TenantId, config::Config, secrets::MasterKey};

use tokio::sync::Mutex;

use super::{
    client::Opened,
    records::{self, UpstreamRecord},
    settings::{self, GatewayConfig, UpstreamSpec},
    supervisor::{Origin, Phase, Upstream},
};

/// The secret parts of a spec, sealed together.
#[derive(Default, Serialize, Deserialize)]
struct SecretParts {
    env: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    bearer_token: Option<String>,
}

fn secret_context(name: &str) -> String {
    records::SEALED.at([name]).context()
}

/// Splits a spec into what may be stored in the clear and its secret values.
fn split(spec: &UpstreamSpec) -> (UpstreamSpec, Opened) {
    let mut public = spec.clone();
    let opened = Opened {
        env: std::mem::take(&mut public.env),
        headers: std::mem::take(&mut public.headers),
        bearer_token: public.bearer_token.take(),
    };
    (public, opened)
}

/// Stores an upstream's definition with its secret values sealed, replacing one of
/// the same name, and returns the record as written. The REST API and the CLI both
/// store through here.
pub async fn store_upstream(
    store: &Store,
    key: &MasterKey,
    spec: &UpstreamSpec,
    by: &str,
) -> Result<UpstreamRecord, HubError> {
    let (public, opened) = split(spec);
    let parts = SecretParts {
        env: opened.env,
        headers: opened.headers,
        bearer_token: opened.bearer_token,
    };
    let secret = if parts.env.is_empty() && parts.headers.is_empty() && parts.bearer_token.is_none()
    {
        None
    } else {
        let plain =
            zeroize::Zeroizing::new(serde_json::to_string(&parts).map_err(HubError::internal)?);
        Some(
            key.seal(&plain, &secret_context(&spec.name))
                .map_err(HubError::internal)?,
        )
    };
    if let Some(tenant) = &spec.tenant {
        store.ensure_tenant(&TenantId::new(tenant), tenant).await?;
    }
    // At the store's precision (PostgreSQL keeps microseconds), so the revision a
    // running upstream remembers equals the one the reconcile loop reads back.
    let now = tideway_core::store::now();
    let record = UpstreamRecord {
        name: spec.name.clone(),
        tenant: spec.tenant.clone(),
        spec: serde_json::to_value(&public).map_err(HubError::internal)?,
        secret,
        created_by: by.to_string(),
        // Kept from the first version by the store when this replaces one.
        created_at: now,
        updated_at: now,
    };
    records::put(store, &record).await?;
    Ok(record)
}

pub struct Gateway {
    hub: Arc<Hub>,
    store: Store,
    key: Arc<MasterKey>,
    settings: GatewayConfig,
    upstreams: Mutex<BTreeMap<String, Arc<Upstream>>>,
    /// Held by each change (add, replace, remove, reconcile) so they take turns.
    changes: Mutex<()>,
    /// Cancelled at shutdown: nothing is started after it.
    stopping: tokio_util::sync::CancellationToken,
}

impl Gateway {
    /// Starts every declared and stored upstream. Connecting happens in the
    /// background: one slow or broken upstream does not hold up the others or the
    /// server's start.
    pub async fn start(
        hub: Arc<Hub>,
        store: Store,
        key: Arc<MasterKey>,
        config: &Config,
    ) -> Result<Arc<Gateway>, HubError> {
        let gateway = Arc::new(Gateway {
            hub,
            store,
            key,
            settings: settings::gateway(config).map_err(HubError::internal)?,
            upstreams: Mutex::new(BTreeMap::new()),
            changes: Mutex::new(()),
            stopping: tokio_util::sync::CancellationToken::new(),
        });
        for spec in &settings::upstreams(config).map_err(HubError::internal)? {
            let (public, opened) = split(spec);
            gateway
                .launch(public, (Origin::Config, None), opened)
                .await?;
        }
        for record in records::list(&gateway.store).await? {
            gateway.launch_record(record).await;
        }
        if gateway.settings.reconcile_secs > 0 {
            tokio::spawn(reconcile_loop(
                Arc::downgrade(&gateway),
                Duration::from_secs(gateway.settings.reconcile_secs),
            ));
        }
        Ok(gateway)
    }

    async fn launch_record(&self, record: UpstreamRecord) {
        let name = record.name.clone();
        let revision = record.updated_at;
        match self.open_record(record) {
            Ok((spec, opened)) => {
                if let Err(error) = self
                    .launch(spec, (Origin::Api, Some(revision)), opened)
                    .await
                {
                    tracing::error!(upstream = %name, %error, "a stored upstream cannot start");
                }
            }
            Err(error) => {
                tracing::error!(upstream = %name, %error, "a stored upstream is unusable")
            }
        }
    }

    /// Brings the running upstreams in line with the store: starts what was added,
    /// restarts what was changed and stops what was removed elsewhere (the CLI,
    /// another replica). Upstreams from the configuration file are left alone.
    pub async fn reconcile(&self) -> Result<(), HubError> {
        let _turn = self.changes.lock().await;
        if self.stopping.is_cancelled() {
            return Ok(());
        }
        let records = records::list(&self.store).await?;
        let running = self.list().await;
        for upstream in &running {
            if upstream.origin != Origin::Api {
                continue;
            }
            let stored = records.iter().find(|r| r.name == upstream.name());
            if stored.is_none_or(|record| Some(record.updated_at) != upstream.revision) {
                tracing::info!(upstream = %upstream.name(), "the stored definition changed; applying it");
                self.retire(upstream).await;
            }
        }
        for record in records {
            if self.get(&record.name).await.is_none() {
                self.launch_record(record).await;
            }
        }
        Ok(())
    }

    fn open_record(&self, record: UpstreamRecord) -> Result<(UpstreamSpec, Opened), HubError> {
        let spec: UpstreamSpec = serde_json::from_value(record.spec)
            .map_err(|error| HubError::internal(format!("upstream {}: {error}", record.name)))?;
        let parts = match &record.secret {
            Some(sealed) => {
                let plain = self
                    .key
                    .open(sealed, &secret_context(&record.name))
                    .map_err(|error| HubError::Unavailable {
                        component: format!("upstream '{}'", record.name),
                        reason: format!("its stored secrets cannot be opened: {error}"),
                    })?;
                serde_json::from_str(&plain).map_err(HubError::internal)?
            }
            None => SecretParts::default(),
        };
        Ok((
            spec,
            Opened {
                env: parts.env,
                headers: parts.headers,
                bearer_token: parts.bearer_token,
            },
        ))
    }

    async fn launch(
        &self,
        spec: UpstreamSpec,
        origin: (Origin, Option<DateTime<Utc>>),
        opened: Opened,
    ) -> Result<Arc<Upstream>, HubError> {
        let mut upstreams = self.upstreams.lock().await;
        if upstreams.contains_key(&spec.name) || self.name_taken(&spec.name) {
            return Err(HubError::Conflict(format!(
                "the name '{}' is already used by a toolkit, upstream or virtual server",
                spec.name
            )));
        }
        let upstream = Upstream::new(
            spec,
            origin,
            opened,
            self.settings.clone(),
            Arc::downgrade(&self.hub),
            self.store.clone(),
        );
        upstream.spawn();
        upstreams.insert(upstream.name().to_string(), upstream.clone());
        Ok(upstream)
    }

    fn name_taken(&self, name: &str) -> bool {
        self.hub.has_toolkit(name) || self.hub.has_view(name)
    }

    /// How its upstreams are supervised (`[gateway]`).
    pub fn settings(&self) -> &GatewayConfig {
        &self.settings
    }

    pub async fn list(&self) -> Vec<Arc<Upstream>> {
        self.upstreams.lock().await.values().cloned().collect()
    }

    pub async fn get(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams.lock().await.get(name).cloned()
    }

    /// Adds an upstream, stores it, and waits (up to the connect timeout) for its
    /// first connection, so it is usable when this returns. A failed first
    /// connection is reported in its status; the upstream stays and keeps retrying.
    pub async fn add(&self, spec: UpstreamSpec, by: &str) -> Result<Arc<Upstream>, HubError> {
        spec.validate()
            .map_err(|reason| HubError::invalid_argument("upstream", reason))?;
        let _turn = self.changes.lock().await;
        if self.get(&spec.name).await.is_some() || self.name_taken(&spec.name) {
            return Err(HubError::Conflict(format!(
                "the name '{}' is already used by a toolkit, upstream or virtual server",
                spec.name
            )));
        }
        let record = store_upstream(&self.store, &self.key, &spec, by).await?;
        let (public, opened) = split(&spec);
        let origin = (Origin::Api, Some(record.updated_at));
        let upstream = match self.launch(public, origin, opened).await {
            Ok(upstream) => upstream,
            Err(error) => {
                let _ = records::delete(&self.store, &spec.name).await;
                return Err(error);
            }
        };
        self.settle(&upstream).await;
        Ok(upstream)
    }

    /// Replaces an upstream added at runtime with a new definition.
    pub async fn replace(&self, spec: UpstreamSpec, by: &str) -> Result<Arc<Upstream>, HubError> {
        spec.validate()
            .map_err(|reason| HubError::invalid_argument("upstream", reason))?;
        let _turn = self.changes.lock().await;
        let old = self.removable(&spec.name).await?;
        let record = store_upstream(&self.store, &self.key, &spec, by).await?;
        self.retire(&old).await;
        let (public, opened) = split(&spec);
        let origin = (Origin::Api, Some(record.updated_at));
        let upstream = self.launch(public, origin, opened).await?;
        self.settle(&upstream).await;
        Ok(upstream)
    }

    /// Stops an upstream added at runtime and forgets it.
    pub async fn remove(&self, name: &str) -> Result<(), HubError> {
        let _turn = self.changes.lock().await;
        let upstream = self.removable(name).await?;
        self.retire(&upstream).await;
        records::delete(&self.store, name).await?;
        Ok(())
    }

    async fn removable(&self, name: &str) -> Result<Arc<Upstream>, HubError> {
        let upstream = self
            .get(name)
            .await
            .ok_or_else(|| HubError::NotFound(format!("no upstream named '{name}'")))?;
        if upstream.origin == Origin::Config {
            return Err(HubError::Conflict(format!(
                "upstream '{name}' is declared in the configuration file; change it there"
            )));
        }
        Ok(upstream)
    }

    async fn retire(&self, upstream: &Arc<Upstream>) {
        self.upstreams.lock().await.remove(upstream.name());
        self.hub.unregister(upstream.name());
        upstream.stop().await;
    }

    /// Waits until a new upstream is running or has failed its first attempt.
    async fn settle(&self, upstream: &Arc<Upstream>) {
        let limit = Duration::from_secs(self.settings.connect_timeout_secs + 1);
        let mut phases = upstream.phases();
        let _ =
            tokio::time::timeout(limit, phases.wait_for(|phase| *phase != Phase::Starting)).await;
    }

    /// Stops every upstream (each child and its process group) at once.
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        let _turn = self.changes.lock().await;
        let upstreams: Vec<_> = std::mem::take(&mut *self.upstreams.lock().await)
            .into_values()
            .collect();
        join_all(upstreams.iter().map(|upstream| upstream.stop())).await;
    }
}

/// Reconciles with the store every `every` while the gateway lives.
async fn reconcile_loop(gateway: Weak<Gateway>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        if gateway.stopping.is_cancelled() {
            return;
        }
        if let Err(error) = gateway.reconcile().await {
            tracing::warn!(%error, "reading the stored upstreams failed; trying again later");
        }
    }
}
