//! The database toolkit's part of the configuration file, `[databases]`: limits,
//! pools, where SQLite files may live, and sources declared in the file.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The keys it owns in the configuration file.
pub const KEY: &str = "databases";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<DatabasesConfig, ConfigError> {
    let settings: DatabasesConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// The key it owns under each `[tenants.<id>]`: whether that tenant's admins may
/// register sources on internal addresses (loopback, private, link-local); off, only
/// public hosts are reachable.
pub const TENANT_KEY: &str = "allow_private_database_hosts";

/// The tenants whose registered sources may reach internal addresses.
pub fn private_host_tenants(config: &Config) -> Result<Vec<String>, ConfigError> {
    Ok(config
        .tenant_sections::<bool>(TENANT_KEY)?
        .into_iter()
        .filter(|(_, allowed)| *allowed)
        .map(|(id, _)| id)
        .collect())
}

/// For the descriptor: reads and checks the section and the tenants' key.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config)?;
    private_host_tenants(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabasesConfig {
    /// Rows a query returns unless the call asks for fewer.
    pub max_rows: usize,
    /// The most rows a call may ask for.
    pub max_rows_limit: usize,
    /// The most bytes of JSON a result may hold; rows beyond it are cut (`truncated`).
    pub max_result_bytes: usize,
    /// The longest value a cell may hold; longer ones are cut to their first part and
    /// listed in the result's `cut` (PostgreSQL cuts them on the server).
    pub max_value_bytes: usize,
    /// Server-side statement timeout; a call's own deadline lowers it further.
    pub statement_timeout_secs: u64,
    /// Connections per source pool.
    pub pool_max_connections: u32,
    /// A pooled connection idle this long is closed.
    pub pool_idle_secs: u64,
    /// A source's whole pool unused this long is closed (reopened on the next call).
    pub pool_evict_secs: u64,
    /// Time allowed to connect to a source.
    pub connect_timeout_secs: u64,
    /// Directories SQLite sources registered by remote callers must lie under. A
    /// directory containing `{tenant}` is per tenant (`/srv/sqlite/{tenant}`): a
    /// tenant's admin may use only its own; the others only the operator may use.
    /// Empty: only the local principal (stdio, `--auth none` on loopback) may register
    /// SQLite files, anywhere but the data directory.
    pub sqlite_dirs: Vec<PathBuf>,
    /// The most rows (all tables together) the built-in `desk` source copies for one
    /// tenant; a larger desk is refused with a clear error rather than held in memory.
    pub desk_max_rows: u64,
    /// Sources declared here (`[databases.sources.crm]`), served to their tenant
    /// beside the ones registered with `connect_postgres` / `connect_source`.
    pub sources: BTreeMap<String, DeclaredSource>,
}

/// A source declared in the configuration file. `Debug` leaves the password out.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclaredSource {
    /// The tenant that sees it; default: `default_tenant`.
    pub tenant: Option<String>,
    /// `postgres`, `mysql` (also MariaDB) or `sqlite`.
    pub kind: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    /// Prefer `password_env`: a password here sits in the file in clear.
    pub password: Option<String>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub ssl_mode: Option<String>,
    /// The database file of a SQLite source.
    pub path: Option<PathBuf>,
    /// Allow writes (`execute_statement`); reads only otherwise.
    pub read_write: bool,
    /// Allow `EXPLAIN ANALYZE`, which runs the statement.
    pub explain_analyze: bool,
    /// Accept a role that is a superuser, can write (on a read-only source) or
    /// reaches server files and programs. Prefer a role with only what it needs.
    pub allow_privileged_role: bool,
}

impl std::fmt::Debug for DeclaredSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclaredSource")
            .field("tenant", &self.tenant)
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("password_env", &self.password_env)
            .field("ssl_mode", &self.ssl_mode)
            .field("path", &self.path)
            .field("read_write", &self.read_write)
            .finish()
    }
}

impl Default for DatabasesConfig {
    fn default() -> Self {
        DatabasesConfig {
            max_rows: 1000,
            max_rows_limit: 10_000,
            max_result_bytes: 4 * 1024 * 1024,
            max_value_bytes: 1024 * 1024,
            statement_timeout_secs: 30,
            pool_max_connections: 4,
            pool_idle_secs: 300,
            pool_evict_secs: 900,
            connect_timeout_secs: 10,
            sqlite_dirs: Vec::new(),
            desk_max_rows: 1_000_000,
            sources: BTreeMap::new(),
        }
    }
}

impl DatabasesConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if self.max_rows == 0 || self.max_rows > self.max_rows_limit {
            return Err(ConfigError::Invalid(
                "databases.max_rows must be between 1 and databases.max_rows_limit".into(),
            ));
        }
        if self.statement_timeout_secs == 0 || self.pool_max_connections == 0 {
            return Err(ConfigError::Invalid(
                "databases.statement_timeout_secs and databases.pool_max_connections must be at least 1".into(),
            ));
        }
        for (name, source) in &self.sources {
            if name == super::desk::NAME {
                return Err(ConfigError::Invalid(format!(
                    "databases.sources.{name}: the name '{name}' is reserved for the help desk's own data"
                )));
            }
            if !matches!(
                source.kind.as_str(),
                "postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite"
            ) {
                return Err(ConfigError::Invalid(format!(
                    "databases.sources.{name}.kind must be postgres, mysql, mariadb or sqlite"
                )));
            }
        }
        Ok(())
    }
}
