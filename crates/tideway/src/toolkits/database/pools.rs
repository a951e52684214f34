//! One connection pool per source, created on first use. Pools are bounded, test a
//! connection before lending it (so a database that restarted heals on the next
//! call), close connections idle too long, and are themselves closed when the source
//! is unused for `pool_evict_secs` or is replaced or removed.

use std::{
    collections::HashMap,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::{
    ConnectOptions, Connection,
    mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode},
    postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode},
    sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions},
};
use tideway_core::config::DatabasesConfig;

use super::{
    model::{SourceKind, SslMode},
    service::Source,
};

#[derive(Clone, Debug)]
pub enum SourcePool {
    Postgres(PgPool),
    Mysql(MySqlPool),
    Sqlite(SqlitePool),
}

impl SourcePool {
    async fn close(&self) {
        match self {
            SourcePool::Postgres(pool) => pool.close().await,
            SourcePool::Mysql(pool) => pool.close().await,
            SourcePool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// How to reach one source, for a pool or for a single test connection.
pub enum Target {
    Postgres(PgConnectOptions),
    Mysql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

impl Target {
    pub fn for_source(source: &Source) -> Target {
        let settings = &source.settings;
        let host = settings.host.as_deref().unwrap_or("localhost");
        let password = source.password.as_deref().map(String::as_str);
        match source.kind {
            SourceKind::Postgres => {
                let mut options = PgConnectOptions::new_without_pgpass()
                    .host(host)
                    .port(settings.port.unwrap_or(5432))
                    .username(settings.user.as_deref().unwrap_or("postgres"))
                    .application_name("tideway")
                    .ssl_mode(match settings.ssl_mode.unwrap_or_default() {
                        SslMode::Disable => PgSslMode::Disable,
                        SslMode::Prefer => PgSslMode::Prefer,
                        SslMode::Require => PgSslMode::Require,
                        SslMode::VerifyCa => PgSslMode::VerifyCa,
                        SslMode::VerifyFull => PgSslMode::VerifyFull,
                    });
                if let Some(database) = &settings.database {
                    options = options.database(database);
                }
                if let Some(password) = password {
                    options = options.password(password);
                }
                if !source.read_write {
                    // The session itself refuses writes, under the READ ONLY
                    // transaction each call opens.
                    options = options.options([("default_transaction_read_only", "on")]);
                }
                Target::Postgres(options.disable_statement_logging())
            }
            SourceKind::Mysql => {
                let mut options = MySqlConnectOptions::new()
                    .host(host)
                    .port(settings.port.unwrap_or(3306))
                    .username(settings.user.as_deref().unwrap_or("root"))
                    .ssl_mode(match settings.ssl_mode.unwrap_or_default() {
                        SslMode::Disable => MySqlSslMode::Disabled,
                        SslMode::Prefer => MySqlSslMode::Preferred,
                        SslMode::Require => MySqlSslMode::Required,
                        SslMode::VerifyCa => MySqlSslMode::VerifyCa,
                        SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
                    });
                if let Some(database) = &settings.database {
                    options = options.database(database);
                }
                if let Some(password) = password {
                    options = options.password(password);
                }
                Target::Mysql(options.disable_statement_logging())
            }
            SourceKind::Sqlite => {
                let path = settings.path.as_deref().unwrap_or_default();
                let options = SqliteConnectOptions::new()
                    .filename(Path::new(path))
                    .create_if_missing(false)
                    .read_only(!source.read_write)
                    .busy_timeout(Duration::from_secs(5));
                Target::Sqlite(options.disable_statement_logging())
            }
        }
    }

    /// Connects once, runs a trivial query and reports the server's version.
    pub async fn probe(&self) -> Result<String, sqlx::Error> {
        match self {
            Target::Postgres(options) => {
                let mut connection = options.connect().await?;
                let (version,): (String,) = sqlx::query_as("SHOW server_version")
                    .fetch_one(&mut connection)
                    .await?;
                let _ = connection.close().await;
                Ok(format!("PostgreSQL {version}"))
            }
            Target::Mysql(options) => {
                let mut connection = options.connect().await?;
                let (version,): (String,) = sqlx::query_as("SELECT VERSION()")
                    .fetch_one(&mut connection)
                    .await?;
                let _ = connection.close().await;
                let product = if version.to_ascii_lowercase().contains("mariadb") {
                    "MariaDB"
                } else {
                    "MySQL"
                };
                Ok(format!("{product} {version}"))
            }
            Target::Sqlite(options) => {
                let mut connection = options.connect().await?;
                // Reading the schema proves the file is a database, not just a file.
                let (_tables,): (i64,) = sqlx::query_as("SELECT count(*) FROM sqlite_master")
                    .fetch_one(&mut connection)
                    .await?;
                let (version,): (String,) = sqlx::query_as("SELECT sqlite_version()")
                    .fetch_one(&mut connection)
                    .await?;
                let _ = connection.close().await;
                Ok(format!("SQLite {version}"))
            }
        }
    }

    fn into_pool(self, config: &DatabasesConfig) -> SourcePool {
        let idle = Duration::from_secs(config.pool_idle_secs);
        let acquire = Duration::from_secs(config.connect_timeout_secs.max(1));
        let lifetime = Duration::from_secs(30 * 60);
        match self {
            Target::Postgres(options) => SourcePool::Postgres(
                PgPoolOptions::new()
                    .max_connections(config.pool_max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire)
                    .idle_timeout(idle)
                    .max_lifetime(lifetime)
                    .test_before_acquire(true)
                    .connect_lazy_with(options),
            ),
            Target::Mysql(options) => SourcePool::Mysql(
                MySqlPoolOptions::new()
                    .max_connections(config.pool_max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire)
                    .idle_timeout(idle)
                    .max_lifetime(lifetime)
                    .test_before_acquire(true)
                    .connect_lazy_with(options),
            ),
            Target::Sqlite(options) => SourcePool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(config.pool_max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire)
                    .idle_timeout(idle)
                    .connect_lazy_with(options),
            ),
        }
    }
}

struct PoolEntry {
    pool: SourcePool,
    /// The source's `updated_at` when the pool was made: a replaced source gets a new pool.
    version: String,
    last_used: Instant,
}

/// The pools of every tenant's sources, keyed by (tenant, source).
#[derive(Default)]
pub struct Pools {
    entries: Mutex<HashMap<(String, String), PoolEntry>>,
}

impl Pools {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PoolEntry>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The pool for `source` of `tenant`, made on first use. Pools of sources unused
    /// longer than `pool_evict_secs` are closed on the way.
    pub fn get(&self, tenant: &str, source: &Source, config: &DatabasesConfig) -> SourcePool {
        let evict_after = Duration::from_secs(config.pool_evict_secs);
        let key = (tenant.to_string(), source.name.clone());
        let version = source.version();
        let mut closing = Vec::new();
        let pool = {
            let mut entries = self.entries();
            entries.retain(|entry_key, entry| {
                let keep = *entry_key == key || entry.last_used.elapsed() < evict_after;
                if !keep {
                    closing.push(entry.pool.clone());
                }
                keep
            });
            match entries.get_mut(&key) {
                Some(entry) if entry.version == version => {
                    entry.last_used = Instant::now();
                    entry.pool.clone()
                }
                _ => {
                    let pool = Target::for_source(source).into_pool(config);
                    if let Some(old) = entries.insert(
                        key,
                        PoolEntry {
                            pool: pool.clone(),
                            version,
                            last_used: Instant::now(),
                        },
                    ) {
                        closing.push(old.pool);
                    }
                    pool
                }
            }
        };
        for pool in closing {
            tokio::spawn(async move { pool.close().await });
        }
        pool
    }

    /// Closes and forgets the pool of a removed source.
    pub async fn remove(&self, tenant: &str, name: &str) {
        let removed = self
            .entries()
            .remove(&(tenant.to_string(), name.to_string()));
        if let Some(entry) = removed {
            entry.pool.close().await;
        }
    }

    /// How many pools are open (for tests and metrics).
    pub fn open_count(&self) -> usize {
        self.entries().len()
    }
}
