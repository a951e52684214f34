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
use serde::{Deserialize, Serialize};

use crate::access::{Role, ToolRules};

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
    "auth",
    "tenants",
    "audit",
    "databases",
    "secrets",
    "gateway",
    "upstreams",
    "virtual_servers",
    "models",
    "lakehouse",
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
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    /// Tenants created at start, with the tools each may use (`[tenants.acme]`).
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The database toolkit: limits, pools, and sources declared here.
    pub databases: DatabasesConfig,
    pub secrets: SecretsConfig,
    /// How federated MCP servers are supervised: timeouts, retries, restarts, breakers.
    pub gateway: GatewayConfig,
    /// Other MCP servers federated as toolkits (`[[upstreams]]`).
    pub upstreams: Vec<UpstreamSpec>,
    /// Curated sets of tools served at their own endpoint (`[[virtual_servers]]`).
    pub virtual_servers: Vec<VirtualServerSpec>,
    /// Language models for AI-assisted features.
    pub models: ModelsConfig,
    /// The lakehouse: Delta tables per tenant, queried with SQL.
    pub lakehouse: LakehouseConfig,
}

/// Where the lakehouse keeps its tables and how much a call may do.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakehouseConfig {
    /// A local folder or an object store URL (`s3://bucket/prefix`); unset, the
    /// folder `lake` in the data directory.
    pub root: Option<String>,
    /// Options for the object store (for S3: `aws_endpoint`, `aws_region`,
    /// `aws_allow_http`, ...). Credentials come from the usual `AWS_*` variables.
    pub storage_options: BTreeMap<String, String>,
    /// Folders `upload_file` may read a `path` from (none: only uploaded content).
    pub upload_dirs: Vec<PathBuf>,
    /// Rows a query returns unless it asks for fewer.
    pub max_rows: usize,
    /// The most rows a query may ask for.
    pub max_rows_limit: usize,
    pub query_timeout_secs: u64,
    /// Largest file `upload_file` takes, in bytes.
    pub max_upload_bytes: usize,
    /// Bytes a query's sorts, joins and aggregates may hold at once.
    pub query_memory_bytes: usize,
    /// The largest value (per column, per batch of rows) a function may build.
    pub max_value_bytes: usize,
}

impl Default for LakehouseConfig {
    fn default() -> Self {
        LakehouseConfig {
            root: None,
            storage_options: BTreeMap::new(),
            upload_dirs: Vec::new(),
            max_rows: 1000,
            max_rows_limit: 10_000,
            query_timeout_secs: 30,
            max_upload_bytes: 64 * 1024 * 1024,
            query_memory_bytes: 128 * 1024 * 1024,
            max_value_bytes: 32 * 1024 * 1024,
        }
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTransport {
    /// A child process speaking MCP on stdin and stdout.
    #[default]
    Stdio,
    /// Streamable HTTP.
    Http,
}

/// When a stdio upstream's process is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub cwd: Option<PathBuf>,
    /// http: the MCP endpoint.
    pub url: Option<String>,
    /// http: headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// http: sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// How its tools are named on `/mcp`: `prefix` (default), `on-collision`, `never`.
    pub naming: crate::naming::NamingMode,
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
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && self.name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok {
            return Err(format!(
                "name '{}' must be 1-32 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                self.name
            ));
        }
        if let Some(tenant) = &self.tenant
            && !crate::TenantId::is_valid(tenant)
        {
            return Err(format!(
                "tenant '{tenant}' must be 1-64 letters, digits, '_' or '-'"
            ));
        }
        if self.tenant.is_some() && self.naming != crate::naming::NamingMode::Prefix {
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

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The master key file (32 bytes, base64), created with mode 0600 on first start
    /// when missing; default `<data_dir>/master.key`. `TIDEWAY_MASTER_KEY` wins over it.
    pub master_key_file: Option<PathBuf>,
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
            sources: BTreeMap::new(),
        }
    }
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

/// How callers prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No credential needed: the caller is the local user. Loopback listeners only.
    None,
    /// `Authorization: Bearer tw_…` (or `X-API-Key`), created with `tideway keys create`.
    ApiKey,
    /// `Authorization: Bearer <JWT>` from an identity provider or OAuth authorization server.
    Jwt,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(AuthMode::None),
            "api-key" | "api_key" | "apikey" => Ok(AuthMode::ApiKey),
            "jwt" => Ok(AuthMode::Jwt),
            other => Err(format!(
                "unknown auth mode '{other}': use none, api-key or jwt"
            )),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted ways to authenticate; several may be on at once. `none` lets requests
    /// without a credential through as the local user, and only on loopback.
    pub modes: Vec<AuthMode>,
    /// The role of the local user (stdio, and HTTP requests under `none`); the tenant
    /// is `default_tenant`.
    pub local_role: Role,
    /// This server's MCP resource identifier (its public `/mcp` URL), the audience
    /// OAuth tokens must be issued for. Default: `http://{bind}/mcp`.
    pub resource_url: Option<String>,
    /// OAuth authorization servers that issue tokens for this resource, advertised at
    /// `/.well-known/oauth-protected-resource`.
    pub authorization_servers: Vec<String>,
    /// Scopes advertised in the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// How long a verified API key is trusted before it is looked up again; a key
    /// revoked by another process stops working within this time.
    pub key_cache_secs: u64,
    pub jwt: JwtConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256 shared secret (prefer `hs256_secret_file` or TIDEWAY_AUTH__JWT__HS256_SECRET).
    pub hs256_secret: Option<String>,
    pub hs256_secret_file: Option<PathBuf>,
    /// RS256/ES256 public keys: a JWKS URL (cached, refetched on an unknown key id) ...
    pub jwks_url: Option<String>,
    /// ... or a JWKS file.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty means the resource URL.
    pub audience: Vec<String>,
    /// The claim holding the tenant id.
    pub tenant_claim: String,
    /// The claim holding roles (a string, a space-separated string, or an array);
    /// values may carry a prefix such as `tideway:admin`. The highest role wins.
    pub roles_claim: String,
    /// The role of a token without a recognised role (none: such tokens are refused).
    pub default_role: Option<Role>,
    /// The claim naming the principal.
    pub subject_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How long fetched JWKS keys are kept before they are refetched.
    pub jwks_cache_secs: u64,
    /// The least time between two JWKS fetches triggered by unknown key ids, so
    /// tokens with made-up key ids cannot flood the identity provider.
    pub jwks_min_refetch_secs: u64,
}

/// A tenant declared in the configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    pub name: Option<String>,
    /// Tools this tenant's callers may use: `toolkit`, `toolkit.tool`, `prefix*`.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// The language model this tenant uses and its budgets, over `[models]`.
    pub models: TenantModels,
    /// Let this tenant's admins register database sources on internal addresses
    /// (loopback, private, link-local); off, only public hosts are reachable.
    pub allow_private_database_hosts: bool,
}

/// A tenant's own choice of model and budgets; unset fields follow `[models]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantModels {
    pub provider: Option<String>,
    pub tokens_per_day: Option<u64>,
    pub requests_per_minute: Option<u32>,
}

/// How AI-assisted features reach a language model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The provider tenants use unless they choose another: `sampling` (ask the
    /// calling MCP client's model; no key needed), `none`, or a name under
    /// `[models.providers]` (or one a tenant's admin stored).
    pub provider: String,
    /// Providers declared here, by name.
    pub providers: BTreeMap<String, ModelProviderConfig>,
    /// Deadline for one request to a provider.
    pub timeout_secs: u64,
    /// Extra attempts after a 429 or 5xx answer, with exponential backoff (a
    /// `Retry-After` the provider sends is honoured).
    pub max_retries: u32,
    /// Tokens (in and out) each tenant may use per UTC day (0: no limit).
    pub tokens_per_day: u64,
    /// Requests each tenant may make per minute (0: no limit).
    pub requests_per_minute: u32,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            provider: "sampling".into(),
            providers: BTreeMap::new(),
            timeout_secs: 60,
            max_retries: 3,
            tokens_per_day: 0,
            requests_per_minute: 0,
        }
    }
}

/// The HTTP API a provider speaks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI's chat completions, which vLLM, llama.cpp, Ollama and others also speak.
    #[default]
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

/// A language-model provider declared in the configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelProviderConfig {
    pub kind: ProviderKind,
    /// The API's base URL, e.g. `https://api.openai.com/v1` or
    /// `http://localhost:11434/v1`; each kind has its vendor's as a default.
    pub base_url: Option<String>,
    pub model: String,
    /// The environment variable holding the API key (keys are never written in the file).
    pub api_key_env: Option<String>,
    /// Largest answer asked for, in tokens, when a call does not say.
    pub max_tokens: u32,
    /// Stream answers (server-sent events) instead of waiting for the whole reply.
    pub stream: bool,
}

impl TenantConfig {
    pub fn rules(&self) -> ToolRules {
        ToolRules {
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            modes: vec![AuthMode::None],
            local_role: Role::Admin,
            resource_url: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            key_cache_secs: 10,
            jwt: JwtConfig::default(),
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            hs256_secret: None,
            hs256_secret_file: None,
            jwks_url: None,
            jwks_file: None,
            issuer: None,
            audience: Vec::new(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            default_role: None,
            subject_claim: "sub".into(),
            leeway_secs: 30,
            jwks_cache_secs: 300,
            jwks_min_refetch_secs: 10,
        }
    }
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
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            tenants: BTreeMap::new(),
            databases: DatabasesConfig::default(),
            secrets: SecretsConfig::default(),
            gateway: GatewayConfig::default(),
            upstreams: Vec::new(),
            virtual_servers: Vec::new(),
            models: ModelsConfig::default(),
            lakehouse: LakehouseConfig::default(),
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
        let mut upstream_names = std::collections::HashSet::new();
        for (index, upstream) in self.upstreams.iter().enumerate() {
            upstream.validate().map_err(|reason| {
                ConfigError::Invalid(format!("upstreams[{index}] ({}): {reason}", upstream.name))
            })?;
            if !upstream_names.insert(upstream.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "upstreams[{index}]: the name '{}' is used twice",
                    upstream.name
                )));
            }
        }
        if self.gateway.call_timeout_secs == 0 || self.gateway.connect_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "gateway.call_timeout_secs and gateway.connect_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        if self.gateway.breaker_failures == 0 {
            return Err(ConfigError::Invalid(
                "gateway.breaker_failures must be at least 1".into(),
            ));
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
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::Invalid(
                "database_url must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        }
        let databases = &self.databases;
        if databases.max_rows == 0 || databases.max_rows > databases.max_rows_limit {
            return Err(ConfigError::Invalid(
                "databases.max_rows must be between 1 and databases.max_rows_limit".into(),
            ));
        }
        if databases.statement_timeout_secs == 0 || databases.pool_max_connections == 0 {
            return Err(ConfigError::Invalid(
                "databases.statement_timeout_secs and databases.pool_max_connections must be at least 1".into(),
            ));
        }
        for (name, source) in &databases.sources {
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
