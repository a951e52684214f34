//! Configuration: one typed struct with a default for everything, read from an
//! optional TOML file and then `TIDEWAY_*` environment variables (nested keys use a
//! double underscore: `TIDEWAY_HTTP__ALLOWED_HOSTS`). No file is needed to start.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

/// Keys read from the environment; everything else under `TIDEWAY_` (such as
/// `TIDEWAY_CONFIG`, the file's path) is not configuration.
const ENV_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "toolkits",
    "default_tenant",
    "http",
    "limits",
    "log",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP listener binds (MCP and REST share it).
    pub bind: SocketAddr,
    /// Where the embedded store and local files live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Toolkits to enable; empty means every built-in toolkit except `conformance`.
    pub toolkits: Vec<String>,
    /// The tenant of unauthenticated local use (stdio, loopback).
    pub default_tenant: String,
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Host names (optionally `host:port`) accepted in the `Host` header, against DNS
    /// rebinding. Loopback names are always accepted on a loopback listener.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted in the `Origin` header; empty accepts only requests
    /// without an `Origin` or from loopback origins.
    pub allowed_origins: Vec<String>,
    /// Serve 2025-11-25 clients with sessions (`Mcp-Session-Id`). 2026-07-28 clients
    /// are always served statelessly.
    pub sessions: bool,
    /// How long to wait for in-flight calls on shutdown.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Deadline for one tool call, resource read or prompt render.
    pub call_timeout_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Items per page in MCP list results.
    pub page_size: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `tideway=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: default_data_dir(),
            database_url: None,
            toolkits: Vec::new(),
            default_tenant: "default".into(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            sessions: true,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            call_timeout_secs: 60,
            max_body_bytes: 4 * 1024 * 1024,
            page_size: 100,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info,rmcp=warn".into(),
            format: "text".into(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .map(|dir| dir.join("tideway"))
        .unwrap_or_else(|| PathBuf::from(".tideway"))
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("TIDEWAY_")
                .split("__")
                // The key still has the variable's case here; figment lower-cases later.
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    ENV_KEYS.iter().any(|known| key.starts_with(known))
                }),
        );
        let config: Config = figment
            .extract()
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.limits.call_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "limits.call_timeout_secs must be at least 1".into(),
            ));
        }
        if self.limits.page_size == 0 || self.limits.page_size > 10_000 {
            return Err(ConfigError::Invalid(
                "limits.page_size must be between 1 and 10000".into(),
            ));
        }
        if self.limits.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_body_bytes must be at least 1024".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format must be 'text' or 'json', not '{}'",
                self.log.format
            )));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::Invalid(
                "database_url must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        }
        Ok(())
    }

    /// The store's URL: the configured one, or SQLite in the data directory.
    pub fn store_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tideway.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let config = Config::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert!(config.store_url().starts_with("sqlite://"));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn file_values_override_defaults_and_typos_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tideway.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9999\"\n[limits]\npage_size = 7\n",
        )
        .expect("write");
        let config = Config::load(Some(&path)).expect("loads");
        assert_eq!(config.bind.port(), 9999);
        assert_eq!(config.limits.page_size, 7);
        assert_eq!(config.limits.call_timeout_secs, 60);

        std::fs::write(&path, "bnid = \"127.0.0.1:9999\"\n").expect("write");
        let error = Config::load(Some(&path)).expect_err("typo refused");
        assert!(error.to_string().contains("bnid"), "{error}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let error =
            Config::load(Some(Path::new("/nonexistent/tideway.toml"))).expect_err("missing");
        assert!(error.to_string().contains("does not exist"));
    }

    #[test]
    fn invalid_values_are_refused() {
        let config = Config {
            database_url: Some("mysql://x".into()),
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
