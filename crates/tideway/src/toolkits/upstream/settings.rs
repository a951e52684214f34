//! The gateway's part of the configuration file: `[gateway]` (how federated servers
//! are supervised: timeouts, retries, restarts, breakers) and `[[upstreams]]` (the
//! servers declared in the file).

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The keys it owns in the configuration file.
pub const KEYS: &[&str] = &["gateway", "upstreams"];

/// The supervision settings, checked.
pub fn gateway(config: &Config) -> Result<GatewayConfig, ConfigError> {
    let settings: GatewayConfig = config.section("gateway")?;
    if settings.call_timeout_secs == 0 || settings.connect_timeout_secs == 0 {
        return Err(ConfigError::Invalid(
            "gateway.call_timeout_secs and gateway.connect_timeout_secs must be at least 1".into(),
        ));
    }
    if settings.breaker_failures == 0 {
        return Err(ConfigError::Invalid(
            "gateway.breaker_failures must be at least 1".into(),
        ));
    }
    Ok(settings)
}

/// The servers declared in the file, each checked, names unique.
pub fn upstreams(config: &Config) -> Result<Vec<UpstreamSpec>, ConfigError> {
    let upstreams: Vec<UpstreamSpec> = config.section("upstreams")?;
    let mut names = std::collections::HashSet::new();
    for (index, upstream) in upstreams.iter().enumerate() {
        upstream.validate().map_err(|reason| {
            ConfigError::Invalid(format!("upstreams[{index}] ({}): {reason}", upstream.name))
        })?;
        if !names.insert(upstream.name.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "upstreams[{index}]: the name '{}' is used twice",
                upstream.name
            )));
        }
    }
    Ok(upstreams)
}

/// For the descriptor: reads and checks both keys.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    gateway(config)?;
    upstreams(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Deadline for one call to an upstream (an upstream's `timeout_secs` wins).
    pub call_timeout_secs: u64,
    /// Extra attempts for a failed call to a tool the upstream marks read-only or
    /// idempotent (an upstream's `retries` wins). Other tools are never retried.
    pub retries: u32,
    /// How long connecting and the MCP handshake may take (a first `npx` run downloads).
    pub connect_timeout_secs: u64,
    /// Seconds between health checks of each upstream.
    pub health_interval_secs: u64,
    /// Restarts after a crash before the upstream is given up and reported down.
    pub restart_max_attempts: u32,
    /// First wait before a restart; it doubles on each attempt up to the maximum.
    pub restart_initial_backoff_ms: u64,
    pub restart_max_backoff_ms: u64,
    /// Consecutive failures that open an upstream's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit fails calls fast before one probe is let through.
    pub breaker_open_secs: u64,
    /// Seconds between reading the stored upstreams, so changes made by the CLI or by
    /// another replica are applied (0: only at start).
    pub reconcile_secs: u64,
    /// Whether an upstream a tenant's admin adds may point at loopback, private or
    /// link-local addresses (off: a tenant cannot reach into the operator's network).
    pub tenant_private_addresses: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            call_timeout_secs: 60,
            retries: 2,
            connect_timeout_secs: 60,
            health_interval_secs: 30,
            restart_max_attempts: 5,
            restart_initial_backoff_ms: 500,
            restart_max_backoff_ms: 30_000,
            breaker_failures: 5,
            reconcile_secs: 10,
            tenant_private_addresses: false,
            breaker_open_secs: 30,
        }
    }
}

/// How Tideway talks to an upstream MCP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTransport {
    /// A child process speaking MCP on stdin and stdout.
    #[default]
    Stdio,
    /// Streamable HTTP.
    Http,
}

/// When a stdio upstream's process is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamStart {
    #[default]
    Boot,
    /// On first use; until then its catalog is the one cached from its last run
    /// (an upstream never seen before is started at boot once to learn it).
    Lazy,
}

/// Another MCP server federated as a toolkit named after it. Declared in the
/// configuration (`[[upstreams]]`) or added at runtime (`/api/v1/upstreams`, stored
/// with `env`, `headers` and `bearer_token` sealed under the master key).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSpec {
    /// The toolkit name: lower-case letters, digits, `_` or `-`, at most 32.
    pub name: String,
    /// The tenant it belongs to: only that tenant's principals see it. Unset, every
    /// tenant may use it (subject to its allow/deny rules).
    pub tenant: Option<String>,
    pub transport: UpstreamTransport,
    pub description: Option<String>,
    /// stdio: the program and its arguments.
    pub command: Option<String>,
    pub args: Vec<String>,
    /// stdio: variables set for the child (secrets belong here or in `env_from`).
    pub env: BTreeMap<String, String>,
    /// stdio: variables copied from Tideway's own environment (child name → ours).
    pub env_from: BTreeMap<String, String>,
    /// stdio: working directory.
    #[schema(value_type = Option<String>)]
    pub cwd: Option<PathBuf>,
    /// http: the MCP endpoint.
    pub url: Option<String>,
    /// http: headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// http: sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// How its tools are named on `/mcp`: `prefix` (default), `on-collision`, `never`.
    #[schema(value_type = String, example = "prefix")]
    pub naming: tideway_core::naming::NamingMode,
    pub start: UpstreamStart,
    /// Per-call deadline for this upstream, in seconds.
    pub timeout_secs: Option<u64>,
    /// Retries for its read-only or idempotent tools.
    pub retries: Option<u32>,
}

impl std::fmt::Debug for UpstreamSpec {
    // Values of env, headers and the token are secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSpec")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("transport", &self.transport)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("env_from", &self.env_from)
            .field("cwd", &self.cwd)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[redacted]"),
            )
            .field("naming", &self.naming)
            .field("start", &self.start)
            .finish()
    }
}

impl UpstreamSpec {
    /// Checks that the fields fit the transport; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !tideway_core::naming::is_valid_id(&self.name, 32) {
            return Err(format!(
                "name '{}' must be 1-32 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                self.name
            ));
        }
        if let Some(tenant) = &self.tenant
            && !tideway_core::TenantId::is_valid(tenant)
        {
            return Err(format!(
                "tenant '{tenant}' must be 1-64 letters, digits, '_' or '-'"
            ));
        }
        if self.tenant.is_some() && self.naming != tideway_core::naming::NamingMode::Prefix {
            return Err(
                "naming of a tenant's upstream must be 'prefix': the names on /mcp are shared by every tenant"
                    .into(),
            );
        }
        match self.transport {
            UpstreamTransport::Stdio => {
                if self.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err("command is required for a stdio upstream".into());
                }
                if self.url.is_some() || !self.headers.is_empty() || self.bearer_token.is_some() {
                    return Err(
                        "url, headers and bearer_token belong to http upstreams, not stdio".into(),
                    );
                }
            }
            UpstreamTransport::Http => {
                let url = self
                    .url
                    .as_deref()
                    .ok_or("url is required for an http upstream")?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("url '{url}' must start with http:// or https://"));
                }
                if self.command.is_some()
                    || !self.args.is_empty()
                    || !self.env.is_empty()
                    || !self.env_from.is_empty()
                    || self.cwd.is_some()
                {
                    return Err(
                        "command, args, env, env_from and cwd belong to stdio upstreams, not http"
                            .into(),
                    );
                }
            }
        }
        for name in self.headers.keys() {
            if http_header_name_invalid(name) {
                return Err(format!(
                    "header name '{name}' is not a valid HTTP header name"
                ));
            }
        }
        if self.timeout_secs == Some(0) {
            return Err("timeout_secs must be at least 1".into());
        }
        Ok(())
    }
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
