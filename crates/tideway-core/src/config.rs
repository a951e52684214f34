//! Configuration: one typed struct with a default for everything, read from an
//! optional TOML file and then `TIDEWAY_*` environment variables (nested keys use a
//! double underscore: `TIDEWAY_HTTP__ALLOWED_HOSTS`). No file is needed to start.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{access::ToolRules, hub::CatalogListing};

mod auth;

pub use auth::{AuthConfig, AuthMode, JwtConfig, OidcConfig, OidcToken};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

/// Core's keys, read from the file and the environment; toolkits add their own.
/// Anything else under `TIDEWAY_` (such as `TIDEWAY_CONFIG`, the file's path) is not
/// configuration.
const CORE_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "toolkits",
    "mcp_catalog",
    "default_tenant",
    "http",
    "limits",
    "log",
    "auth",
    "tenants",
    "audit",
    "secrets",
    "virtual_servers",
];

// Not `deny_unknown_fields`: the toolkits' sections are collected by `flatten`, and
// `load` refuses keys no one owns instead.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP listener binds (MCP and REST share it).
    pub bind: SocketAddr,
    /// Where the embedded store and local files live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Toolkits to enable; empty means those on by default (`tideway toolkits` says which).
    pub toolkits: Vec<String>,
    /// What `tools/list` on `/mcp` shows: `lean` (each toolkit's featured tools, plus
    /// `find_tools` and `call_tool` for the rest) or `full` (every tool).
    pub mcp_catalog: CatalogListing,
    /// The tenant of unauthenticated local use (stdio, loopback).
    pub default_tenant: String,
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    /// Tenants created at start, with the tools each may use (`[tenants.acme]`).
    pub tenants: BTreeMap<String, TenantConfig>,
    pub secrets: SecretsConfig,
    /// Curated sets of tools served at their own endpoint (`[[virtual_servers]]`).
    pub virtual_servers: Vec<VirtualServerSpec>,
    /// Each toolkit's own part of the file (`[databases]`, `[gateway]`,
    /// `[[upstreams]]`, `[models]`, `[lakehouse]`, ...) as it was read; the toolkit
    /// that owns a key reads it into its own types ([`Config::section`]). Which keys
    /// exist is the toolkits' to say: [`Config::load`] refuses any other.
    #[serde(flatten)]
    pub sections: BTreeMap<String, figment::value::Value>,
}

impl std::fmt::Debug for Config {
    // The toolkits' sections may hold passwords and tokens: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "[set]"))
            .field("toolkits", &self.toolkits)
            .field("mcp_catalog", &self.mcp_catalog)
            .field("default_tenant", &self.default_tenant)
            .field("http", &self.http)
            .field("limits", &self.limits)
            .field("log", &self.log)
            .field("auth", &self.auth)
            .field("audit", &self.audit)
            .field("tenants", &self.tenants)
            .field("secrets", &self.secrets)
            .field("virtual_servers", &self.virtual_servers)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A virtual server: `/mcp/{name}` serves the tools its patterns pick from any
/// toolkits and upstreams, with their `/mcp` names (`support_get_tickets`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VirtualServerSpec {
    pub name: String,
    pub description: Option<String>,
    /// Tools it serves: `toolkit`, `toolkit.tool`, a trailing `*` on either part.
    pub tools: Vec<String>,
    /// Tools left out although a pattern in `tools` picks them.
    pub exclude: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The master key file (32 bytes, base64), created with mode 0600 on first start
    /// when missing; default `<data_dir>/master.key`. `TIDEWAY_MASTER_KEY` wins over it.
    pub master_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Record every tool call and REST mutation in the store's audit log.
    pub enabled: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: true }
    }
}

/// Keys every tenant has, whatever the toolkits add.
const TENANT_CORE_KEYS: &[&str] = &["name", "allow", "deny"];

/// A tenant declared in the configuration. Not `deny_unknown_fields`, for the same
/// reason as [`Config`].
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantConfig {
    pub name: Option<String>,
    /// Tools this tenant's callers may use: `toolkit`, `toolkit.tool`, `prefix*`.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// The toolkits' per-tenant settings (`[tenants.<id>.models]`,
    /// `tenants.<id>.allow_private_database_hosts`, ...) as read; the toolkit that
    /// owns a key reads it ([`TenantConfig::section`]), and [`Config::load`] refuses
    /// keys no toolkit owns.
    #[serde(flatten)]
    pub sections: BTreeMap<String, figment::value::Value>,
}

impl std::fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConfig")
            .field("name", &self.name)
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TenantConfig {
    pub fn rules(&self) -> ToolRules {
        ToolRules {
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }

    /// What a toolkit keeps under `key` for this tenant, in its own type; the
    /// type's default when absent. The error names the key.
    pub fn section<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T, ConfigError> {
        read_section(&self.sections, key)
    }

    /// Replaces what is kept under `key` for this tenant (for programs and tests
    /// that build their configuration in code).
    pub fn set_section<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), ConfigError> {
        write_section(&mut self.sections, key, value)
    }
}

fn read_section<T: DeserializeOwned + Default>(
    sections: &BTreeMap<String, figment::value::Value>,
    key: &str,
) -> Result<T, ConfigError> {
    match sections.get(key) {
        None => Ok(T::default()),
        Some(value) => value
            .deserialize()
            .map_err(|error| ConfigError::Invalid(format!("{key}: {error}"))),
    }
}

fn write_section<T: Serialize>(
    sections: &mut BTreeMap<String, figment::value::Value>,
    key: &str,
    value: &T,
) -> Result<(), ConfigError> {
    let value = figment::value::Value::serialize(value)
        .map_err(|error| ConfigError::Invalid(format!("{key}: {error}")))?;
    sections.insert(key.to_string(), value);
    Ok(())
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
    /// Answer plain 2026-07-28 requests on Tideway's direct path, without a
    /// protocol service per request; off sends every request through the MCP
    /// library's own path (same answers, more CPU per call).
    pub mcp_direct: bool,
    /// How long to wait for in-flight calls on shutdown.
    pub shutdown_grace_secs: u64,
    /// Browser origins allowed by CORS (`*` for any). Empty: CORS is off.
    pub cors_origins: Vec<String>,
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
    /// Largest tool-call arguments object, as JSON, in bytes.
    pub max_argument_bytes: usize,
    /// Sustained requests per second per API key or token subject (0: unlimited).
    pub key_requests_per_second: f64,
    /// Requests a key may make at once above the sustained rate.
    pub key_burst: u32,
    /// Sustained requests per second per tenant, all its callers together (0: unlimited).
    pub tenant_requests_per_second: f64,
    pub tenant_burst: u32,
    /// Tool calls a tenant may have in flight at once (0: unlimited).
    pub tenant_concurrent_calls: usize,
    /// Deadline for a call started as a background job (`Prefer: respond-async`).
    pub job_timeout_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `tideway=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// An OTLP/HTTP receiver (an OpenTelemetry collector) that spans are exported
    /// to, as its base URL: `http://collector:4318` sends to `…/v1/traces`. Unset,
    /// nothing is exported. Headers the receiver needs (an API key) come from the
    /// standard `OTEL_EXPORTER_OTLP_HEADERS`, never from this file.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` exported spans carry (tell replicas apart with
    /// `OTEL_RESOURCE_ATTRIBUTES`).
    pub otlp_service_name: String,
    /// The share of traces exported, from 0 to 1. A request that carries a
    /// `traceparent` follows its caller's decision instead.
    pub otlp_sample_ratio: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: default_data_dir(),
            database_url: None,
            toolkits: Vec::new(),
            mcp_catalog: CatalogListing::default(),
            default_tenant: "default".into(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            tenants: BTreeMap::new(),
            secrets: SecretsConfig::default(),
            virtual_servers: Vec::new(),
            sections: BTreeMap::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            sessions: true,
            mcp_direct: true,
            shutdown_grace_secs: 30,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            call_timeout_secs: 60,
            max_body_bytes: 4 * 1024 * 1024,
            page_size: 100,
            max_argument_bytes: 1024 * 1024,
            key_requests_per_second: 50.0,
            key_burst: 100,
            tenant_requests_per_second: 200.0,
            tenant_burst: 400,
            tenant_concurrent_calls: 64,
            job_timeout_secs: 3600,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info,rmcp=warn".into(),
            format: "text".into(),
            otlp_endpoint: None,
            otlp_service_name: "tideway".into(),
            otlp_sample_ratio: 1.0,
        }
    }
}

impl LogConfig {
    fn validate_otlp(&self) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let host = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
                .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
            if host.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
                return Err(ConfigError::Invalid(format!(
                    "log.otlp_endpoint must be an http:// or https:// URL such as http://127.0.0.1:4318, not '{}'",
                    crate::error::excerpt(endpoint)
                )));
            }
        }
        if self.otlp_service_name.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "log.otlp_service_name must not be empty".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.otlp_sample_ratio) {
            return Err(ConfigError::Invalid(format!(
                "log.otlp_sample_ratio must be between 0 and 1, not {}",
                self.otlp_sample_ratio
            )));
        }
        Ok(())
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .map(|dir| dir.join("tideway"))
        .unwrap_or_else(|| PathBuf::from(".tideway"))
}

/// The configuration keys the toolkits own, beside core's.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnedKeys<'a> {
    /// Top-level keys (`databases`, `models`, `[[upstreams]]`, ...).
    pub sections: &'a [&'a str],
    /// Keys under each `[tenants.<id>]` (`models`, `allow_private_database_hosts`).
    pub tenant: &'a [&'a str],
}

impl<'a> OwnedKeys<'a> {
    /// Top-level keys only.
    pub fn sections(sections: &'a [&'a str]) -> Self {
        OwnedKeys {
            sections,
            tenant: &[],
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the environment. `owned` are the keys
    /// the toolkits own; a key that is neither core's nor theirs is refused.
    pub fn load(file: Option<&Path>, owned: OwnedKeys) -> Result<Config, ConfigError> {
        let sections = owned.sections;
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        let keys: Vec<String> = CORE_KEYS
            .iter()
            .chain(sections)
            .map(|key| key.to_string())
            .collect();
        figment = figment.merge(
            Env::prefixed("TIDEWAY_")
                .split("__")
                // The key still has the variable's case here; figment lower-cases later.
                .filter(move |key| {
                    let key = key.as_str().to_ascii_lowercase();
                    keys.iter().any(|known| key.starts_with(known.as_str()))
                }),
        );
        let config: Config = figment
            .extract()
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        if let Some(unknown) = config
            .sections
            .keys()
            .find(|key| !sections.contains(&key.as_str()))
        {
            let mut known: Vec<&str> = CORE_KEYS.iter().chain(sections).copied().collect();
            known.sort_unstable();
            return Err(ConfigError::Invalid(format!(
                "unknown key '{}'; the configuration has: {}",
                crate::error::excerpt(unknown),
                known.join(", ")
            )));
        }
        for (id, tenant) in &config.tenants {
            if let Some(unknown) = tenant
                .sections
                .keys()
                .find(|key| !owned.tenant.contains(&key.as_str()))
            {
                let mut known: Vec<&str> = TENANT_CORE_KEYS
                    .iter()
                    .chain(owned.tenant)
                    .copied()
                    .collect();
                known.sort_unstable();
                return Err(ConfigError::Invalid(format!(
                    "unknown key '{}' in tenants.{}; a tenant has: {}",
                    crate::error::excerpt(unknown),
                    crate::error::excerpt(id),
                    known.join(", ")
                )));
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.limits.job_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "limits.job_timeout_secs must be at least 1".into(),
            ));
        }
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
        for (field, rate) in [
            (
                "limits.key_requests_per_second",
                self.limits.key_requests_per_second,
            ),
            (
                "limits.tenant_requests_per_second",
                self.limits.tenant_requests_per_second,
            ),
        ] {
            if !rate.is_finite() || rate < 0.0 {
                return Err(ConfigError::Invalid(format!(
                    "{field} must be 0 (unlimited) or a positive number"
                )));
            }
        }
        if self.auth.modes.is_empty() {
            return Err(ConfigError::Invalid(
                "auth.modes must name at least one of none, api-key, jwt".into(),
            ));
        }
        if self.auth.modes.contains(&AuthMode::Jwt) {
            let jwt = &self.auth.jwt;
            let sources = [
                jwt.hs256_secret.is_some(),
                jwt.hs256_secret_file.is_some(),
                jwt.jwks_url.is_some(),
                jwt.jwks_file.is_some(),
            ];
            if !sources.contains(&true) {
                return Err(ConfigError::Invalid(
                    "auth mode jwt needs a key: auth.jwt.hs256_secret(_file), auth.jwt.jwks_url or auth.jwt.jwks_file".into(),
                ));
            }
            if jwt
                .hs256_secret
                .as_ref()
                .is_some_and(|secret| secret.len() < 32)
            {
                return Err(ConfigError::Invalid(
                    "auth.jwt.hs256_secret must be at least 32 bytes".into(),
                ));
            }
        }
        self.auth.oidc.validate(&self.auth.modes)?;
        for (id, tenant) in &self.tenants {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::Invalid(format!(
                    "tenant id '{id}' must be 1-64 letters, digits, '_' or '-'"
                )));
            }
            tenant
                .rules()
                .validate()
                .map_err(|error| ConfigError::Invalid(format!("tenants.{id}: {error}")))?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format must be 'text' or 'json', not '{}'",
                self.log.format
            )));
        }
        self.log.validate_otlp()?;
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

    /// The settings a toolkit keeps under `key`, in its own type; the type's defaults
    /// when the key is absent. The error names the key.
    pub fn section<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T, ConfigError> {
        read_section(&self.sections, key)
    }

    /// Replaces what is kept under `key` (for programs and tests that build their
    /// configuration in code).
    pub fn set_section<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), ConfigError> {
        write_section(&mut self.sections, key, value)
    }

    /// What a toolkit keeps under `key` for each declared tenant, by tenant id;
    /// the error names the tenant and the key.
    pub fn tenant_sections<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<BTreeMap<String, T>, ConfigError> {
        self.tenants
            .iter()
            .map(|(id, tenant)| {
                let value = match tenant.sections.get(key) {
                    None => T::default(),
                    Some(value) => value.deserialize().map_err(|error| {
                        ConfigError::Invalid(format!(
                            "tenants.{}.{key}: {error}",
                            crate::error::excerpt(id)
                        ))
                    })?,
                };
                Ok((id.clone(), value))
            })
            .collect()
    }

    /// Changes the settings under `key` in place.
    pub fn update_section<T: DeserializeOwned + Serialize + Default>(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut T),
    ) -> Result<(), ConfigError> {
        let mut value: T = self.section(key)?;
        change(&mut value);
        self.set_section(key, &value)
    }

    /// The master key file: the configured one or `<data_dir>/master.key`.
    pub fn master_key_file(&self) -> PathBuf {
        self.secrets
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The MCP resource identifier tokens must be issued for.
    pub fn resource_url(&self) -> String {
        match &self.auth.resource_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}/mcp", self.bind),
        }
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
    fn a_provider_sign_in_needs_jwt_a_client_and_no_cleartext_off_loopback() {
        let mut config = Config::default();
        config.auth.oidc.issuer = Some("https://id.example.com".into());
        config.auth.oidc.client_id = "tideway".into();
        let error = config.validate().expect_err("needs jwt").to_string();
        assert!(error.contains("auth mode jwt"), "{error}");

        config.auth.modes = vec![AuthMode::Jwt];
        config.auth.jwt.jwks_url = Some("https://id.example.com/jwks".into());
        assert!(config.validate().is_ok());

        config.auth.oidc.client_id = " ".into();
        let error = config.validate().expect_err("needs a client").to_string();
        assert!(error.contains("auth.oidc.client_id"), "{error}");
        config.auth.oidc.client_id = "tideway".into();

        for (url, fine) in [
            ("http://127.0.0.1:9000/realms/x", true),
            ("http://localhost/", true),
            ("http://[::1]:8443", true),
            ("http://id.example.com", false),
            ("http://127.0.0.1@evil.example.com/", false),
            ("http://localhost.evil.example.com/", false),
            ("ftp://id.example.com", false),
            ("https://", false),
        ] {
            config.auth.oidc.issuer = Some(url.into());
            assert_eq!(config.validate().is_ok(), fine, "{url}");
        }
        config.auth.oidc.issuer = Some("https://id.example.com".into());
        config.auth.oidc.redirect_url = Some("http://console.example.com/cb".into());
        let error = config
            .validate()
            .expect_err("cleartext redirect")
            .to_string();
        assert!(error.contains("auth.oidc.redirect_url"), "{error}");

        config.auth.oidc.client_secret = Some("very-secret-value".into());
        assert!(!format!("{:?}", config.auth.oidc).contains("very-secret-value"));
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
        let config = Config::load(Some(&path), OwnedKeys::default()).expect("loads");
        assert_eq!(config.bind.port(), 9999);
        assert_eq!(config.limits.page_size, 7);
        assert_eq!(config.limits.call_timeout_secs, 60);

        std::fs::write(&path, "bnid = \"127.0.0.1:9999\"\n").expect("write");
        let error = Config::load(Some(&path), OwnedKeys::default()).expect_err("typo refused");
        assert!(error.to_string().contains("bnid"), "{error}");
    }

    #[test]
    fn a_toolkit_section_is_kept_for_its_toolkit_and_unclaimed_keys_are_refused() {
        #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        struct Widgets {
            size: u32,
            names: Vec<String>,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tideway.toml");
        std::fs::write(&path, "[widgets]\nsize = 3\nnames = [\"a\"]\n").expect("write");
        let mut config =
            Config::load(Some(&path), OwnedKeys::sections(&["widgets"])).expect("loads");
        let widgets: Widgets = config.section("widgets").expect("typed");
        assert_eq!(
            widgets,
            Widgets {
                size: 3,
                names: vec!["a".into()]
            }
        );
        assert_eq!(
            config.section::<Widgets>("gadgets").expect("absent"),
            Widgets::default()
        );
        config
            .update_section("widgets", |widgets: &mut Widgets| widgets.size = 9)
            .expect("updated");
        assert_eq!(config.section::<Widgets>("widgets").expect("typed").size, 9);

        let error = Config::load(Some(&path), OwnedKeys::default()).expect_err("nobody owns it");
        assert!(
            error.to_string().contains("unknown key 'widgets'"),
            "{error}"
        );
        std::fs::write(&path, "[widgets]\nsise = 3\n").expect("write");
        let config = Config::load(Some(&path), OwnedKeys::sections(&["widgets"]))
            .expect("the owner checks its own keys");
        let error = config.section::<Widgets>("widgets").expect_err("typo");
        assert!(
            error
                .to_string()
                .starts_with("configuration is invalid: widgets:"),
            "{error}"
        );
        assert!(error.to_string().contains("sise"), "{error}");
    }

    #[test]
    fn a_toolkit_key_under_a_tenant_is_kept_and_unclaimed_ones_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tideway.toml");
        std::fs::write(
            &path,
            "[tenants.acme]\nallow = [\"support\"]\nwidgets = true\n[tenants.acme.gadgets]\nsize = 4\n",
        )
        .expect("write");
        let owned = OwnedKeys {
            sections: &[],
            tenant: &["widgets", "gadgets"],
        };
        let config = Config::load(Some(&path), owned).expect("loads");
        let acme = &config.tenants["acme"];
        assert_eq!(acme.allow, vec!["support".to_string()]);
        assert!(acme.section::<bool>("widgets").expect("typed"));
        assert!(
            !acme
                .section::<bool>("sprockets")
                .expect("absent is the default")
        );
        let error = config
            .tenant_sections::<String>("gadgets")
            .expect_err("a table is not a string");
        assert!(
            error
                .to_string()
                .starts_with("configuration is invalid: tenants.acme.gadgets:"),
            "{error}"
        );

        let error = Config::load(
            Some(&path),
            OwnedKeys {
                sections: &[],
                tenant: &["widgets"],
            },
        )
        .expect_err("nobody owns gadgets");
        let message = error.to_string();
        assert!(
            message.contains("unknown key 'gadgets' in tenants.acme"),
            "{message}"
        );
        assert!(message.contains("allow, deny, name, widgets"), "{message}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let error = Config::load(
            Some(Path::new("/nonexistent/tideway.toml")),
            OwnedKeys::default(),
        )
        .expect_err("missing");
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

    #[test]
    fn an_otlp_endpoint_must_be_an_http_url_and_the_ratio_a_share() {
        let with_log = |endpoint: &str, ratio: f64| Config {
            log: LogConfig {
                otlp_endpoint: Some(endpoint.into()),
                otlp_sample_ratio: ratio,
                ..LogConfig::default()
            },
            ..Config::default()
        };
        for endpoint in [
            "http://127.0.0.1:4318",
            "https://otel.example.com/",
            "http://collector:4318/base",
        ] {
            assert!(with_log(endpoint, 0.5).validate().is_ok(), "{endpoint}");
        }
        for endpoint in [
            "127.0.0.1:4318",
            "grpc://collector:4317",
            "http://",
            "https:///v1",
        ] {
            let error = with_log(endpoint, 1.0).validate().expect_err(endpoint);
            assert!(
                error
                    .to_string()
                    .contains("log.otlp_endpoint must be an http:// or https:// URL"),
                "{endpoint}: {error}"
            );
        }
        let error = with_log("http://127.0.0.1:4318", 1.5)
            .validate()
            .expect_err("ratio");
        assert!(
            error
                .to_string()
                .contains("log.otlp_sample_ratio must be between 0 and 1, not 1.5"),
            "{error}"
        );
        let error = with_log("http://127.0.0.1:4318", f64::NAN)
            .validate()
            .expect_err("NaN");
        assert!(
            error.to_string().contains("log.otlp_sample_ratio"),
            "{error}"
        );
    }
}
