//! Building a running Tideway from its configuration: open and migrate the store,
//! make sure the default tenant exists, register the enabled toolkits with the Hub.
//! `serve`, `mcp` and `doctor` all start here, so they see the same system.

use std::{sync::Arc, time::Instant};

use tideway_core::{Config, Hub, Principal, Store, TenantId, store::StoreError};

use crate::{mcp::Caller, toolkits};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Toolkits(String),
}

/// What every face shares.
pub struct App {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub store: Store,
    pub started: Instant,
}

impl App {
    pub async fn start(config: Config, toolkit_names: &[String]) -> Result<Arc<App>, StartError> {
        let store = Store::open(&config.store_url()).await?;
        store.migrate().await?;
        store
            .ensure_tenant(
                &TenantId::new(&config.default_tenant),
                &config.default_tenant,
            )
            .await?;
        let hub = Arc::new(Hub::new());
        let names = if toolkit_names.is_empty() {
            config.toolkits.clone()
        } else {
            toolkit_names.to_vec()
        };
        toolkits::register(&hub, &names, &store).map_err(StartError::Toolkits)?;
        Ok(Arc::new(App {
            config: Arc::new(config),
            hub,
            store,
            started: Instant::now(),
        }))
    }

    /// The caller of unauthenticated local use: stdio and loopback HTTP.
    pub fn local_caller(&self) -> Caller {
        Caller {
            tenant: TenantId::new(&self.config.default_tenant),
            principal: Principal::local(),
        }
    }
}
