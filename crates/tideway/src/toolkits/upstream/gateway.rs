//! The gateway: every federated upstream, from the configuration file and from the
//! store (added over REST or the CLI). It starts them at boot, adds, replaces and
//! removes them at runtime (a new upstream is usable at `/mcp/{name}` as soon as its
//! handshake is done), and stops every child on shutdown. Secret values (the child's
//! environment, HTTP headers, the bearer token) are sealed under the master key
//! before they reach the store and never leave it in a listing.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::Utc;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tideway_core::{
    Hub, HubError, Store,
    config::{Config, GatewayConfig, UpstreamSpec},
    secrets::MasterKey,
    store::{SealedAt, UpstreamRecord},
};
use tokio::sync::Mutex;

use super::{
    client::Opened,
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
    SealedAt::upstream(name).context()
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

pub struct Gateway {
    hub: Arc<Hub>,
    store: Store,
    key: Arc<MasterKey>,
    settings: GatewayConfig,
    upstreams: Mutex<BTreeMap<String, Arc<Upstream>>>,
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
            settings: config.gateway.clone(),
            upstreams: Mutex::new(BTreeMap::new()),
        });
        for spec in &config.upstreams {
            let (public, opened) = split(spec);
            gateway.launch(public, Origin::Config, opened).await?;
        }
        for record in gateway.store.list_upstreams().await? {
            let name = record.name.clone();
            match gateway.open_record(record) {
                Ok((spec, opened)) => {
                    if let Err(error) = gateway.launch(spec, Origin::Api, opened).await {
                        tracing::error!(upstream = %name, %error, "a stored upstream cannot start");
                    }
                }
                Err(error) => {
                    tracing::error!(upstream = %name, %error, "a stored upstream is unusable")
                }
            }
        }
        Ok(gateway)
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
        origin: Origin,
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
        if self.get(&spec.name).await.is_some() || self.name_taken(&spec.name) {
            return Err(HubError::Conflict(format!(
                "the name '{}' is already used by a toolkit, upstream or virtual server",
                spec.name
            )));
        }
        self.persist(&spec, by).await?;
        let (public, opened) = split(&spec);
        let upstream = match self.launch(public, Origin::Api, opened).await {
            Ok(upstream) => upstream,
            Err(error) => {
                let _ = self.store.delete_upstream(&spec.name).await;
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
        let old = self.removable(&spec.name).await?;
        self.persist(&spec, by).await?;
        self.retire(&old).await;
        let (public, opened) = split(&spec);
        let upstream = self.launch(public, Origin::Api, opened).await?;
        self.settle(&upstream).await;
        Ok(upstream)
    }

    /// Stops an upstream added at runtime and forgets it.
    pub async fn remove(&self, name: &str) -> Result<(), HubError> {
        let upstream = self.removable(name).await?;
        self.retire(&upstream).await;
        self.store.delete_upstream(name).await?;
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

    async fn persist(&self, spec: &UpstreamSpec, by: &str) -> Result<(), HubError> {
        let (public, opened) = split(spec);
        let parts = SecretParts {
            env: opened.env,
            headers: opened.headers,
            bearer_token: opened.bearer_token,
        };
        let secret =
            if parts.env.is_empty() && parts.headers.is_empty() && parts.bearer_token.is_none() {
                None
            } else {
                let plain = zeroize::Zeroizing::new(
                    serde_json::to_string(&parts).map_err(HubError::internal)?,
                );
                Some(
                    self.key
                        .seal(&plain, &secret_context(&spec.name))
                        .map_err(HubError::internal)?,
                )
            };
        let now = Utc::now();
        self.store
            .put_upstream(&UpstreamRecord {
                name: spec.name.clone(),
                spec: serde_json::to_value(&public).map_err(HubError::internal)?,
                secret,
                created_by: by.to_string(),
                // Kept from the first version by the store when this replaces one.
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
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
        let upstreams: Vec<_> = std::mem::take(&mut *self.upstreams.lock().await)
            .into_values()
            .collect();
        join_all(upstreams.iter().map(|upstream| upstream.stop())).await;
    }
}
