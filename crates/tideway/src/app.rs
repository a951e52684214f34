//! Building a running Tideway from its configuration: open and migrate the store,
//! make sure the configured tenants exist, start the audit writer, set up
//! authentication, and register the enabled toolkits and virtual servers with the Hub. `serve`, `mcp`
//! and `doctor` all start here, so they see the same system.

use std::{sync::Arc, time::Instant};

use tideway_core::{
    CallLimits, Config, Credential, Hub, Principal, Store, TenantId, ToolRules, VirtualServer,
    config::VirtualServerSpec,
    secrets::{MASTER_KEY_ENV, MasterKey},
    store::StoreError,
};

use crate::{
    audit::AuditWriter,
    auth::{self, AuthError, Authenticator, Caller, rate::RateLimits},
    toolkits::{self, upstream::Gateway},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Toolkits(String),
    #[error("authentication is misconfigured: {0}")]
    Auth(String),
    #[error(transparent)]
    Secrets(#[from] tideway_core::secrets::SecretError),
    #[error("the gateway cannot start: {0}")]
    Gateway(tideway_core::HubError),
}

/// What every face shares.
pub struct App {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub rate_limits: Arc<RateLimits>,
    pub audit: Arc<AuditWriter>,
    /// The federated upstream MCP servers.
    pub gateway: Arc<Gateway>,
    /// Tool calls running in the background for REST callers.
    pub jobs: Arc<crate::api::jobs::Jobs>,
    /// Seals stored secrets and the console's session cookies.
    pub master_key: Arc<MasterKey>,
    pub started: Instant,
}

impl App {
    pub async fn start(config: Config, toolkit_names: &[String]) -> Result<Arc<App>, StartError> {
        let store = Store::open(&config.store_url()).await?;
        store.migrate(&toolkits::migrations()).await?;
        store
            .ensure_tenant(
                &TenantId::new(&config.default_tenant),
                &config.default_tenant,
            )
            .await?;
        for (id, tenant) in &config.tenants {
            store
                .ensure_tenant(&TenantId::new(id), tenant.name.as_deref().unwrap_or(id))
                .await?;
        }
        let hub = Arc::new(
            Hub::new()
                .with_limits(CallLimits {
                    tenant_concurrent_calls: config.limits.tenant_concurrent_calls,
                    max_argument_bytes: config.limits.max_argument_bytes,
                })
                .with_listing(config.mcp_catalog),
        );
        crate::trace_export::register_metrics(hub.metrics());
        let audit = AuditWriter::start(store.clone(), hub.metrics().audit_dropped());
        if config.audit.enabled {
            hub.set_audit_sink(audit.clone());
        } else {
            tracing::warn!("the audit log is off (audit.enabled = false)");
        }
        let names = if toolkit_names.is_empty() {
            config.toolkits.clone()
        } else {
            toolkit_names.to_vec()
        };
        let master_key = Arc::new(MasterKey::resolve(
            std::env::var(MASTER_KEY_ENV).ok().as_deref(),
            &config.master_key_file(),
        )?);
        toolkits::register(&hub, &names, &store, &config, &master_key)
            .map_err(StartError::Toolkits)?;
        hub.set_views(config.virtual_servers.iter().map(virtual_server).collect())
            .map_err(|error| StartError::Toolkits(format!("virtual servers: {error}")))?;
        let gateway = Gateway::start(hub.clone(), store.clone(), master_key.clone(), &config)
            .await
            .map_err(StartError::Gateway)?;
        let local = local_caller(&config);
        let auth = auth::authenticator(&config, &store, local)
            .map_err(|error: AuthError| StartError::Auth(error.reason().to_string()))?;
        // The console reads it when it signs someone in; a file that cannot be read
        // is better found now than at the first sign-in.
        config
            .auth
            .oidc
            .client_secret()
            .map_err(|error| StartError::Auth(error.to_string()))?;
        Ok(Arc::new(App {
            rate_limits: RateLimits::new(&config.limits),
            config: Arc::new(config),
            hub,
            store,
            auth,
            audit,
            gateway,
            jobs: Arc::default(),
            master_key,
            started: Instant::now(),
        }))
    }

    /// The caller of unauthenticated local use: stdio and loopback HTTP under `none`.
    pub fn local_caller(&self) -> Caller {
        local_caller(&self.config)
    }

    /// Stops the toolkits' background work (workflow steps finish within their
    /// grace), then every upstream child, writes what is queued in the audit log, and
    /// closes the store.
    pub async fn shutdown(&self) {
        for entry in self.hub.entries() {
            entry.toolkit.shutdown().await;
        }
        self.gateway.shutdown().await;
        self.audit.flush_and_stop().await;
        self.store.close().await;
    }
}

fn virtual_server(spec: &VirtualServerSpec) -> VirtualServer {
    VirtualServer {
        name: spec.name.clone(),
        description: spec.description.clone(),
        tools: ToolRules {
            allow: spec.tools.clone(),
            deny: spec.exclude.clone(),
        },
    }
}

fn local_caller(config: &Config) -> Caller {
    let rules = config
        .tenants
        .get(&config.default_tenant)
        .map(|tenant| vec![tenant.rules()])
        .unwrap_or_default();
    Caller {
        tenant: TenantId::new(&config.default_tenant),
        principal: Principal::new("local", config.auth.local_role, Credential::Local)
            .with_rules(rules)
            .with_tenant(TenantId::new(&config.default_tenant)),
    }
}
