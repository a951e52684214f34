//! One connection pool per source, created on first use. Pools are bounded, test a
//! connection before lending it (so a database that restarted heals on the next
//! call), close connections idle too long, and are themselves closed when the source
//! is unused for `pool_evict_secs` or is replaced or removed.
//!
//! Every new connection is checked before it is used: a tenant's source reaches only
//! the external addresses its host resolved to when the pool was made (a changed DNS
//! record cannot turn it inward), its role is checked for privileges it must not
//! have (`privileges.rs`), PostgreSQL strings are read as the guard's parser reads
//! them (`standard_conforming_strings`), and SQLite values are bounded in length.

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
use tideway_core::{TenantId, net::AddressError};

use super::{
    model::{SourceKind, SslMode},
    privileges::{self, Privileged},
    service::Source,
    settings::DatabasesConfig,
};

/// The longest string or blob a SQLite source's connection may build or read: one
/// `randomblob(1e9)` would otherwise allocate a gigabyte inside Tideway's process.
pub const SQLITE_MAX_LENGTH: usize = 64 * 1024 * 1024;

/// What a new connection must satisfy beyond connecting.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// Refuse a role with more privileges than the source needs.
    pub refuse_privileged: bool,
    /// The source writes (`read_write`), so only privileges beyond writing count.
    pub read_write: bool,
}

impl Checks {
    pub fn for_source(source: &Source) -> Self {
        Checks {
            refuse_privileged: !source.settings.allow_privileged_role,
            read_write: source.read_write,
        }
    }
}

#[derive(Clone, Debug)]
pub enum SourcePool {
    Postgres(PgPool),
    Mysql(MySqlPool),
    Sqlite(SqlitePool),
}

impl SourcePool {
    /// Whether a connection can be had from the pool and answers: the path every
    /// query takes (the pool tests a connection before lending it).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            SourcePool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            SourcePool::Mysql(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            SourcePool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        }
    }

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
                // Backslashes in '' strings are literal, as the guard's parser reads them.
                options = options.options([("standard_conforming_strings", "on")]);
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

    /// The same target, connecting to `address` instead of resolving its host again.
    /// With `verify-full` the host name stays: the certificate must name it, which an
    /// internal server reached by a changed DNS record cannot prove.
    fn pinned(self, address: std::net::SocketAddr, ssl_mode: SslMode) -> Target {
        if ssl_mode == SslMode::VerifyFull {
            return self;
        }
        let ip = address.ip().to_string();
        match self {
            Target::Postgres(options) => Target::Postgres(options.host(&ip)),
            Target::Mysql(options) => Target::Mysql(options.host(&ip)),
            sqlite => sqlite,
        }
    }

    /// How to reach `source`; for a source whose tenant may reach only external
    /// addresses, its host is resolved and checked now and the connection pinned to
    /// the address found.
    pub async fn checked(source: &Source, external_only: bool) -> Result<Target, AddressError> {
        let target = Target::for_source(source);
        if !external_only || source.kind == SourceKind::Sqlite {
            return Ok(target);
        }
        let (host, port) = source.host_and_port();
        let addresses = tideway_core::net::resolve_external(host, port).await?;
        Ok(match addresses.first() {
            Some(address) => target.pinned(*address, source.settings.ssl_mode.unwrap_or_default()),
            // resolve_external answers an error rather than no address.
            None => target,
        })
    }

    /// Connects once, runs a trivial query, checks the role's privileges and reports
    /// the server's version.
    pub async fn probe(&self, checks: Checks) -> Result<String, ProbeError> {
        match self {
            Target::Postgres(options) => {
                let mut connection = options.connect().await?;
                let (version,): (String,) = sqlx::query_as("SHOW server_version")
                    .fetch_one(&mut connection)
                    .await?;
                let privileged = privileges::postgres(&mut connection, checks).await;
                let _ = connection.close().await;
                privileged?;
                Ok(format!("PostgreSQL {version}"))
            }
            Target::Mysql(options) => {
                let mut connection = options.connect().await?;
                let (version,): (String,) = sqlx::query_as("SELECT VERSION()")
                    .fetch_one(&mut connection)
                    .await?;
                let privileged = privileges::mysql(&mut connection, checks).await;
                let _ = connection.close().await;
                privileged?;
                let product = if version.to_ascii_lowercase().contains("mariadb") {
                    "MariaDB"
                } else {
                    "MySQL"
                };
                Ok(format!("{product} {version}"))
            }
            Target::Sqlite(options) => {
                let mut connection = options.connect().await?;
                limit_sqlite_lengths(&mut connection).await?;
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

    fn into_pool(self, config: &DatabasesConfig, checks: Checks) -> SourcePool {
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
                    .after_connect(move |connection, _| {
                        Box::pin(async move {
                            privileges::postgres(connection, checks)
                                .await
                                .map_err(ProbeError::into_sqlx)
                        })
                    })
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
                    .after_connect(move |connection, _| {
                        Box::pin(async move {
                            privileges::mysql(connection, checks)
                                .await
                                .map_err(ProbeError::into_sqlx)
                        })
                    })
                    .connect_lazy_with(options),
            ),
            Target::Sqlite(options) => SourcePool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(config.pool_max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire)
                    .idle_timeout(idle)
                    .after_connect(|connection, _| {
                        Box::pin(async move { limit_sqlite_lengths(connection).await })
                    })
                    .connect_lazy_with(options),
            ),
        }
    }
}

/// Why a probe failed: the connection, or a role with too many privileges.
#[derive(Debug)]
pub enum ProbeError {
    Connect(sqlx::Error),
    Privileged(Privileged),
}

impl From<sqlx::Error> for ProbeError {
    fn from(error: sqlx::Error) -> Self {
        ProbeError::Connect(error)
    }
}

impl From<Privileged> for ProbeError {
    fn from(privileged: Privileged) -> Self {
        ProbeError::Privileged(privileged)
    }
}

impl ProbeError {
    /// As the pool's connect hook must report it.
    fn into_sqlx(self) -> sqlx::Error {
        match self {
            ProbeError::Connect(error) => error,
            ProbeError::Privileged(privileged) => {
                sqlx::Error::Configuration(privileged.to_string().into())
            }
        }
    }
}

/// Bounds every string and blob this SQLite connection builds or reads.
pub(super) async fn limit_sqlite_lengths(
    connection: &mut sqlx::SqliteConnection,
) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let raw = handle.as_raw_handle().as_ptr();
    let limit = i32::try_from(SQLITE_MAX_LENGTH).unwrap_or(i32::MAX);
    // SAFETY: the handle is locked for the duration of the call, so no other thread
    // uses the connection; sqlite3_limit only stores the new bound on it.
    unsafe {
        libsqlite3_sys::sqlite3_limit(raw, libsqlite3_sys::SQLITE_LIMIT_LENGTH, limit);
    }
    Ok(())
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

    /// The pool for `source` of `tenant`, made on first use; `external_only` sources
    /// have their host checked (and pinned) when the pool is made. Pools of sources
    /// unused longer than `pool_evict_secs` are closed on the way.
    pub async fn get(
        &self,
        tenant: &str,
        source: &Source,
        config: &DatabasesConfig,
        external_only: bool,
    ) -> Result<SourcePool, AddressError> {
        let evict_after = Duration::from_secs(config.pool_evict_secs);
        let key = (tenant.to_string(), source.name.clone());
        let version = source.version();
        let mut closing = Vec::new();
        let current = {
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
                    Some(entry.pool.clone())
                }
                _ => None,
            }
        };
        let pool = match current {
            Some(pool) => pool,
            None => {
                // Resolving the host may take a while; the lock is not held meanwhile.
                let pool = Target::checked(source, external_only)
                    .await?
                    .into_pool(config, Checks::for_source(source));
                let replaced = self.entries().insert(
                    key,
                    PoolEntry {
                        pool: pool.clone(),
                        version,
                        last_used: Instant::now(),
                    },
                );
                closing.extend(replaced.map(|entry| entry.pool));
                pool
            }
        };
        for pool in closing {
            tokio::spawn(async move { pool.close().await });
        }
        Ok(pool)
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

    /// The pools calls used within `within` (the sources in use), by tenant and
    /// source. Reading them does not count as use, so checking them keeps no pool open.
    pub fn in_use(&self, within: Duration) -> Vec<(TenantId, String, SourcePool)> {
        let mut in_use: Vec<_> = self
            .entries()
            .iter()
            .filter(|(_, entry)| entry.last_used.elapsed() < within)
            .map(|((tenant, name), entry)| {
                (TenantId::new(tenant), name.clone(), entry.pool.clone())
            })
            .collect();
        in_use.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        in_use
    }

    /// How many pools are open (for tests and metrics).
    pub fn open_count(&self) -> usize {
        self.entries().len()
    }
}
