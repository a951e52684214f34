//! The built-in `desk` source: each tenant's help desk (customers, tickets, their
//! events, interactions, articles) as a read-only SQLite database, so the same SQL
//! tools that read a team's own databases answer questions about the desk.
//!
//! The source is a copy held in memory, one per tenant, holding only that tenant's
//! rows (`support::snapshot`): scoping is by construction, not by a filter a query
//! could leave out. A copy is reused while the store's fingerprint of the tenant's
//! rows is unchanged and rebuilt on the first call after a change, so answers are
//! never staler than the call. Copies unused for `pool_evict_secs` are dropped.

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::{
    ConnectOptions, Connection, SqliteConnection,
    sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions},
};
use tideway_core::{HubError, Store, TenantId};

use super::{pools::limit_sqlite_lengths, settings::DatabasesConfig};
use crate::toolkits::support::snapshot;

/// The source's id in `connection_id`, `list_sources` and `datasource://` URIs.
pub const NAME: &str = "desk";

/// One tenant's copy.
struct DeskCopy {
    fingerprint: String,
    pool: SqlitePool,
    /// An in-memory database lives only while a connection to it is open, and the
    /// pool closes idle ones; this one stays open for as long as the copy is kept.
    keeper: SqliteConnection,
    last_used: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<DeskCopy>>>;

pub struct Desk {
    store: Store,
    /// A slot per tenant. Its async lock lets one call build a tenant's copy while
    /// the tenant's other calls wait for it rather than building their own.
    copies: Mutex<HashMap<String, Slot>>,
}

impl Desk {
    pub fn new(store: Store) -> Self {
        Desk {
            store,
            copies: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's slot; slots of other tenants unused for `evict_after` are
    /// dropped on the way (a slot being built or read is busy and kept).
    fn slot(&self, tenant: &TenantId, evict_after: Duration) -> Slot {
        let mut copies = match self.copies.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        copies.retain(|key, slot| {
            key == tenant.as_str()
                || slot.try_lock().map_or(true, |copy| {
                    copy.as_ref()
                        .is_some_and(|copy| copy.last_used.elapsed() < evict_after)
                })
        });
        copies.entry(tenant.to_string()).or_default().clone()
    }

    /// A pool over the tenant's current copy, rebuilt first if the desk changed.
    pub async fn pool(
        &self,
        tenant: &TenantId,
        config: &DatabasesConfig,
    ) -> Result<SqlitePool, HubError> {
        // Read before copying: rows changed in between make the copy newer than its
        // fingerprint, which costs one more copy on the next call, never a stale one.
        let fingerprint = snapshot::fingerprint(&self.store, tenant).await?;
        let slot = self.slot(tenant, Duration::from_secs(config.pool_evict_secs));
        let mut slot = slot.lock().await;
        if let Some(copy) = slot.as_mut()
            && copy.fingerprint == fingerprint
        {
            copy.last_used = Instant::now();
            return Ok(copy.pool.clone());
        }
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(HubError::internal)?
            .disable_statement_logging();
        let mut keeper = options
            .clone()
            .connect()
            .await
            .map_err(HubError::internal)?;
        let rows = snapshot::copy(&self.store, tenant, &mut keeper, config.desk_max_rows).await?;
        tracing::debug!(tenant = %tenant, rows, "copied the desk for SQL");
        let pool = SqlitePoolOptions::new()
            .max_connections(config.pool_max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(config.connect_timeout_secs.max(1)))
            .idle_timeout(Duration::from_secs(config.pool_idle_secs))
            .after_connect(|connection, _| {
                Box::pin(async move {
                    limit_sqlite_lengths(connection).await?;
                    // The guard lets only reads through; the connection refuses
                    // writes as well.
                    sqlx::query("PRAGMA query_only = ON")
                        .execute(connection)
                        .await
                        .map(|_| ())
                })
            })
            .connect_lazy_with(options);
        let replaced = slot.replace(DeskCopy {
            fingerprint,
            pool: pool.clone(),
            keeper,
            last_used: Instant::now(),
        });
        if let Some(old) = replaced {
            // Queries still running on the old copy finish on it first.
            tokio::spawn(async move {
                old.pool.close().await;
                let _ = old.keeper.close().await;
            });
        }
        Ok(pool)
    }

    /// How many tenants' copies are held (for tests).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        match self.copies.lock() {
            Ok(copies) => copies.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }
}
