//! The store: SQLite (embedded default, a file in the data directory) or PostgreSQL
//! (production). Each backend has its own migrations, kept in step (same numbered
//! files, same tables and columns), applied at start and by `tideway migrate`: core's
//! and every toolkit's, merged by version (`migrations.rs`).
//! Queries that differ by dialect live next to each other in one method, so a reader
//! sees both at once and they cannot drift apart unnoticed.

pub mod audit;
pub mod failures;
pub mod keys;
pub mod migrations;
pub mod sealed;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;

use std::{
    path::Path,
    str::FromStr,
    time::{Duration, Instant},
};

use sqlx::{
    Connection, PgConnection, PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use audit::{AuditEntry, AuditQuery};
pub use failures::{OnUniqueViolation, at_store_precision, is_busy, is_unique_violation, now};
pub use keys::{ApiKey, NewApiKey};
pub use migrations::Migration;
pub use sealed::{SealedAt, SealedColumn, SealedSecret};
pub use tenants::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the {backend} store: {reason}")]
    Connect {
        backend: &'static str,
        reason: String,
    },
    #[error("migrating the store failed: {0}")]
    Migrate(String),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Runs one piece of sqlx code against whichever backend the store has, so portable
/// queries are written once. Portable SQL uses `$1`-style parameters, which SQLite
/// also accepts; where the dialects differ, match on the store explicitly instead.
#[macro_export]
macro_rules! on_store {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the store at `url` (`sqlite://path?mode=rwc` or `postgres://...`).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // One direct connection first: a pool retries until its timeout and then
            // reports only that it timed out, hiding the reason (refused, auth, no database).
            let probe = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url))
                .await
                .map_err(|_| StoreError::Connect {
                    backend: "PostgreSQL",
                    reason: "the server did not answer within 10 s".into(),
                })?
                .map_err(|error| StoreError::Connect {
                    backend: "PostgreSQL",
                    reason: explain_connect_error(&error),
                })?;
            let _ = probe.close().await;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .after_release(|connection, _| {
                    Box::pin(async move { Ok(!connection.is_in_transaction()) })
                })
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(Duration::from_secs(300))
                .connect(url)
                .await
                .map_err(|error| StoreError::Connect {
                    backend: "PostgreSQL",
                    reason: explain_connect_error(&error),
                })?;
            return Ok(Store::Postgres(pool));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::Connect {
                backend: "SQLite",
                reason: error.to_string(),
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = Path::new(options.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Connect {
                backend: "SQLite",
                reason: format!("cannot create {}: {error}", parent.display()),
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // Each SQLite connection lives on its own thread and every command is a
            // round trip to it, so a ping costs as much as a small query. An
            // in-process connection cannot have gone away the way a network one can:
            // the ping sqlx sends before handing out a connection checks nothing.
            .test_before_acquire(false)
            // A transaction whose COMMIT failed (SQLITE_FULL on a full disk) may leave
            // the connection believing it is still inside one after SQLite rolled it
            // back itself; back in the pool, every later BEGIN on it would fail until
            // a restart. Such a connection is closed instead of reused. The ping lets
            // the rollback that dropping the transaction queued run first, so the
            // depth read after it is the settled one. Only the worker thread lowers
            // the depth, and nothing queued at release can raise it, so a connection
            // already at depth 0 is settled and goes back without the round trip.
            .after_release(|connection, _| {
                Box::pin(async move {
                    if !connection.is_in_transaction() {
                        return Ok(true);
                    }
                    connection.ping().await?;
                    Ok(!connection.is_in_transaction())
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| StoreError::Connect {
                backend: "SQLite",
                reason: explain_connect_error(&error),
            })?;
        Ok(Store::Sqlite(pool))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The statement that opens a transaction that will write. SQLite takes the write
    /// lock up front: a deferred transaction that reads and then writes fails with
    /// SQLITE_BUSY when another writer got there first, instead of waiting.
    pub fn begin_write_sql(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "BEGIN IMMEDIATE",
            Store::Postgres(_) => "BEGIN",
        }
    }

    /// Applies pending migrations, core's and the given toolkits'; applying them
    /// again is a no-op.
    pub async fn migrate(&self, toolkits: &[Migration]) -> Result<(), StoreError> {
        let migrations = migrations::collect(toolkits)?;
        let outcome = match self {
            Store::Sqlite(pool) => migrations::migrator(&migrations, false).run(pool).await,
            Store::Postgres(pool) => migrations::migrator(&migrations, true).run(pool).await,
        };
        outcome.map_err(|error| StoreError::Migrate(error.to_string()))
    }

    /// Numbers of the migrations the binary carries (core's and the given toolkits'),
    /// for `doctor` and tests.
    pub fn known_migrations(toolkits: &[Migration]) -> Result<Vec<i64>, StoreError> {
        Ok(migrations::collect(toolkits)?
            .iter()
            .map(|migration| migration.version)
            .collect())
    }

    /// Numbers of the migrations applied to this database.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let versions = match self {
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
        };
        Ok(versions)
    }

    /// A round trip to the database, timed.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        match self {
            Store::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Store::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(started.elapsed())
    }

    /// A round trip that commits a write, timed: a store that answers reads but
    /// cannot commit (a full disk, a read-only server) is not ready to serve. Needs
    /// the migrated schema.
    pub async fn check_writable(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        match self {
            Store::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO store_probe (id, checked_at) VALUES (1, datetime('now')) \
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                )
                .execute(pool)
                .await?;
            }
            Store::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO store_probe (id, checked_at) VALUES (1, now()::text) \
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                )
                .execute(pool)
                .await?;
            }
        }
        Ok(started.elapsed())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// Turns a connection failure into a reason a person can act on.
fn explain_connect_error(error: &sqlx::Error) -> String {
    let text = error.to_string();
    let hint = if let sqlx::Error::Database(db) = error {
        match db.code().as_deref() {
            Some("28P01" | "28000") => Some("the user name or password was refused"),
            Some("3D000") => {
                Some("the database does not exist; create it or fix the name in database_url")
            }
            _ => None,
        }
    } else if text.contains("Connection refused") {
        Some("nothing is listening at that host and port; is the server running?")
    } else if text.contains("failed to lookup address")
        || text.contains("Name or service not known")
    {
        Some("the host name does not resolve")
    } else if text.contains("unable to open database file") {
        Some("the SQLite file cannot be created or opened; check data_dir and its permissions")
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{hint} ({text})"),
        None => text,
    }
}
