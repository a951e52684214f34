//! The database service: a tenant's sources (registered ones in the store, with the
//! password sealed under the master key, plus those declared in the configuration),
//! connection tests (`diagnosis.rs` says what failed), and guarded statements run
//! through each source's pool. Every method takes the call context; the tenant comes
//! from it and nowhere else.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::Value;
use tideway_core::{
    CallContext, Credential, HubError, PartHealth, Store, TenantId, error::bounded, parts,
    secrets::MasterKey,
};

use zeroize::Zeroizing;

use super::{
    desk::{self, Desk},
    diagnosis,
    engine::{self, RunError, RunSpec},
    guard::{self, Mode},
    model::{
        ConnectFailure, Connected, ConnectionTest, FailureKind, Origin, QueryPlan, QueryResult,
        SourceKind, SourceSettings, SourceView, SslMode,
    },
    pools::{Pools, SourcePool},
    records::{self, SourceRecord},
    settings::{DatabasesConfig, DeclaredSource},
};

/// A source with its password opened, for this process only. `Debug` is not derived
/// so the password cannot reach a log line by accident.
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub settings: SourceSettings,
    pub password: Option<Zeroizing<String>>,
    pub read_write: bool,
    pub origin: Origin,
    pub created_at: Option<chrono::DateTime<Utc>>,
    pub updated_at: Option<chrono::DateTime<Utc>>,
}

impl Source {
    pub fn view(&self) -> SourceView {
        SourceView {
            id: self.name.clone(),
            kind: self.kind,
            host: self.settings.host.clone(),
            port: self.settings.port,
            database: self.settings.database.clone(),
            user: self.settings.user.clone(),
            ssl_mode: self.settings.ssl_mode,
            path: self.settings.path.clone(),
            read_write: self.read_write,
            explain_analyze: self.settings.explain_analyze,
            allow_privileged_role: self.settings.allow_privileged_role,
            has_password: self.password.is_some(),
            origin: self.origin,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The host and port connections go to, defaults filled in.
    pub fn host_and_port(&self) -> (&str, u16) {
        let host = self.settings.host.as_deref().unwrap_or("localhost");
        let port = self
            .settings
            .port
            .or(self.kind.default_port())
            .unwrap_or_default();
        (host, port)
    }

    /// Changes whenever the source is replaced, so its pool is rebuilt.
    pub fn version(&self) -> String {
        self.updated_at
            .map(|at| at.to_rfc3339())
            .unwrap_or_else(|| "config".into())
    }

    /// Removes the password from text a driver produced, in case it echoes it.
    pub fn redact(&self, text: &str) -> String {
        match self.password.as_deref() {
            Some(password) if password.len() >= 3 => text.replace(password.as_str(), "[redacted]"),
            _ => text.to_string(),
        }
    }
}

/// What registering a source needs.
pub struct NewSource {
    pub name: String,
    pub kind: SourceKind,
    pub settings: SourceSettings,
    pub password: Option<Zeroizing<String>>,
    pub read_write: bool,
    pub replace: bool,
}

pub struct DatabaseService {
    store: Store,
    key: Arc<MasterKey>,
    config: DatabasesConfig,
    default_tenant: String,
    data_dir: PathBuf,
    pools: Pools,
    /// Tenants whose admins may register sources on internal addresses.
    private_host_tenants: HashSet<String>,
    /// The built-in `desk` source, when the help desk is enabled.
    desk: Option<Desk>,
}

fn secret_context(tenant: &TenantId, name: &str) -> String {
    records::SEALED.at([tenant.as_str(), name]).context()
}

/// Source names are ids in URIs and tool arguments: short, lower-case, unambiguous.
pub fn valid_name(name: &str) -> bool {
    tideway_core::naming::is_valid_id(name, 64)
}

impl DatabaseService {
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        config: DatabasesConfig,
        default_tenant: String,
        data_dir: PathBuf,
    ) -> Self {
        DatabaseService {
            store,
            key,
            config,
            default_tenant,
            data_dir,
            pools: Pools::default(),
            private_host_tenants: HashSet::new(),
            desk: None,
        }
    }

    /// Serves each tenant's help desk as the read-only source `desk` (when the
    /// support toolkit is enabled).
    pub fn with_desk(mut self) -> Self {
        self.desk = Some(Desk::new(self.store.clone()));
        self
    }

    fn desk_source(&self) -> Option<Source> {
        self.desk.as_ref().map(|_| Source {
            name: desk::NAME.to_string(),
            kind: SourceKind::Sqlite,
            settings: SourceSettings::default(),
            password: None,
            read_write: false,
            origin: Origin::Builtin,
            created_at: None,
            updated_at: None,
        })
    }

    /// The service as the configuration describes it: its `databases` settings, and
    /// the tenants allowed to reach internal addresses.
    pub fn from_config(
        store: Store,
        key: Arc<MasterKey>,
        config: &tideway_core::Config,
    ) -> Result<Self, tideway_core::config::ConfigError> {
        Ok(DatabaseService::new(
            store,
            key,
            super::settings::from_config(config)?,
            config.default_tenant.clone(),
            config.data_dir.clone(),
        )
        .allowing_private_hosts(super::settings::private_host_tenants(config)?))
    }

    /// Lets these tenants' sources reach internal addresses (the operator's choice,
    /// `tenants.<id>.allow_private_database_hosts`).
    pub fn allowing_private_hosts(mut self, tenants: impl IntoIterator<Item = String>) -> Self {
        self.private_host_tenants = tenants.into_iter().collect();
        self
    }

    /// Whether `tenant`'s registered sources may reach only external addresses. The
    /// operator's own tenant and sources declared in the configuration are trusted.
    fn external_only(&self, tenant: &TenantId, origin: Origin) -> bool {
        origin == Origin::Registered
            && tenant.as_str() != self.default_tenant
            && !self.private_host_tenants.contains(tenant.as_str())
    }

    pub fn config(&self) -> &DatabasesConfig {
        &self.config
    }

    pub fn open_pools(&self) -> usize {
        self.pools.open_count()
    }

    /// How many tenants' desk copies are held (for tests).
    #[cfg(test)]
    pub fn desk_copies(&self) -> usize {
        self.desk.as_ref().map_or(0, Desk::held)
    }

    fn declared(&self, tenant: &TenantId) -> Vec<(&String, &DeclaredSource)> {
        self.config
            .sources
            .iter()
            .filter(|(_, declared)| {
                declared.tenant.as_deref().unwrap_or(&self.default_tenant) == tenant.as_str()
            })
            .collect()
    }

    fn from_declared(name: &str, declared: &DeclaredSource) -> Result<Source, HubError> {
        let kind = SourceKind::parse(&declared.kind).ok_or_else(|| HubError::Unavailable {
            component: format!("source '{name}'"),
            reason: format!("unknown kind '{}' in the configuration", declared.kind),
        })?;
        let password = match (&declared.password_env, &declared.password) {
            (Some(variable), _) => Some(Zeroizing::new(std::env::var(variable).map_err(|_| {
                HubError::Unavailable {
                    component: format!("source '{name}'"),
                    reason: format!(
                        "the environment variable {variable} named by password_env is not set"
                    ),
                }
            })?)),
            (None, Some(password)) => Some(Zeroizing::new(password.clone())),
            (None, None) => None,
        };
        Ok(Source {
            name: name.to_string(),
            kind,
            settings: SourceSettings {
                host: declared.host.clone(),
                port: declared.port.or(kind.default_port()),
                database: declared.database.clone(),
                user: declared.user.clone(),
                ssl_mode: declared.ssl_mode.as_deref().and_then(SslMode::parse),
                path: declared
                    .path
                    .as_ref()
                    .map(|path| path.to_string_lossy().into_owned()),
                explain_analyze: declared.explain_analyze,
                allow_privileged_role: declared.allow_privileged_role,
            },
            password,
            read_write: declared.read_write,
            origin: Origin::Config,
            created_at: None,
            updated_at: None,
        })
    }

    fn open_record(&self, record: SourceRecord) -> Result<Source, HubError> {
        let tenant = TenantId::new(&record.tenant);
        let kind = SourceKind::parse(&record.kind)
            .ok_or_else(|| HubError::internal(format!("source {}: unknown kind", record.name)))?;
        let settings: SourceSettings = serde_json::from_value(record.settings)
            .map_err(|error| HubError::internal(format!("source {}: {error}", record.name)))?;
        let password = match &record.secret {
            Some(sealed) => Some(
                self.key
                    .open(sealed, &secret_context(&tenant, &record.name))
                    .map_err(|error| HubError::Unavailable {
                        component: format!("source '{}'", record.name),
                        reason: format!("its stored password cannot be opened: {error}"),
                    })?,
            ),
            None => None,
        };
        Ok(Source {
            name: record.name,
            kind,
            settings,
            password,
            read_write: record.read_write,
            origin: Origin::Registered,
            created_at: Some(record.created_at),
            updated_at: Some(record.updated_at),
        })
    }

    /// The tenant's sources, declared ones first.
    pub async fn list(&self, ctx: &CallContext) -> Result<Vec<SourceView>, HubError> {
        let mut views = Vec::new();
        for (name, declared) in self.declared(&ctx.tenant) {
            match Self::from_declared(name, declared) {
                Ok(source) => views.push(source.view()),
                Err(error) => {
                    tracing::warn!(source = %name, %error, "a declared source is unusable")
                }
            }
        }
        for record in records::list(&self.store, &ctx.tenant).await? {
            let name = record.name.clone();
            match self.open_record(record) {
                Ok(source) => views.push(source.view()),
                Err(error) => tracing::warn!(source = %name, %error, "a stored source is unusable"),
            }
        }
        views.extend(self.desk_source().map(|desk| desk.view()));
        Ok(views)
    }

    /// One source by name, with its password opened.
    pub async fn source(&self, ctx: &CallContext, name: &str) -> Result<Source, HubError> {
        if name == desk::NAME
            && let Some(desk) = self.desk_source()
        {
            return Ok(desk);
        }
        if let Some((name, declared)) = self
            .declared(&ctx.tenant)
            .into_iter()
            .find(|(declared, _)| declared.as_str() == name)
        {
            return Self::from_declared(name, declared);
        }
        match records::get(&self.store, &ctx.tenant, name).await? {
            Some(record) => self.open_record(record),
            None => Err(HubError::NotFound(format!(
                "no source named '{name}'; list_sources shows this tenant's sources"
            ))),
        }
    }

    /// The named source; with no name, the tenant's only source of its own, or the
    /// help desk (`desk`) when it has none.
    pub async fn resolve(&self, ctx: &CallContext, name: Option<&str>) -> Result<Source, HubError> {
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            return self.source(ctx, name).await;
        }
        let views = self.list(ctx).await?;
        let own: Vec<&SourceView> = views
            .iter()
            .filter(|view| view.origin != Origin::Builtin)
            .collect();
        match own.as_slice() {
            [] => self.desk_source().ok_or_else(|| HubError::NotFound(
                "this tenant has no database sources yet; an admin registers one with connect_postgres or connect_source".into(),
            )),
            [only] => self.source(ctx, &only.id).await,
            _ => Err(HubError::invalid_argument(
                "connection_id",
                format!(
                    "this tenant has {} sources ({}); name one",
                    views.len(),
                    views.iter().map(|view| view.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// A SQLite file must lie under a directory the caller may use: for a tenant's
    /// admin, a `{tenant}` directory of `sqlite_dirs` made its own; for the operator,
    /// any of them; for the local user with none configured, anywhere. Never in
    /// Tideway's own data directory. Paths are compared after resolving symlinks.
    fn check_sqlite_path(&self, ctx: &CallContext, path: &str) -> Result<(), HubError> {
        let path = Path::new(path);
        if !path.is_absolute() {
            return Err(HubError::invalid_argument(
                "path",
                "a SQLite source needs an absolute path to its database file",
            ));
        }
        let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let resolved = canonical(path);
        if resolved.starts_with(canonical(&self.data_dir)) {
            return Err(HubError::Forbidden(
                "a SQLite source may not point into Tideway's own data directory".into(),
            ));
        }
        let operator = ctx.is_operator(&self.default_tenant);
        let local = matches!(ctx.principal.credential, Credential::Local);
        // A tenant id becomes a path component only when it cannot climb out.
        let tenant = ctx.tenant.as_str();
        let tenant_is_a_name = !tenant.is_empty()
            && tenant != "."
            && tenant != ".."
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let usable: Vec<PathBuf> = self
            .config
            .sqlite_dirs
            .iter()
            .filter_map(|dir| {
                let text = dir.to_string_lossy();
                if text.contains("{tenant}") {
                    tenant_is_a_name.then(|| PathBuf::from(text.replace("{tenant}", tenant)))
                } else {
                    operator.then(|| dir.clone())
                }
            })
            .collect();
        let allowed = usable
            .iter()
            .any(|dir| resolved.starts_with(canonical(dir)));
        if allowed || (local && self.config.sqlite_dirs.is_empty()) {
            Ok(())
        } else if usable.is_empty() {
            Err(HubError::Forbidden(
                "SQLite sources may be registered remotely only under databases.sqlite_dirs, and none of them is this tenant's (a directory with {tenant} in it)".into(),
            ))
        } else {
            Err(HubError::Forbidden(format!(
                "SQLite sources of this tenant must lie under {}",
                usable
                    .iter()
                    .map(|dir| dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Registers (or with `replace`, replaces) a source after testing it. A source
    /// that cannot be reached is kept, so it can be fixed and retried; one whose host
    /// this tenant may not reach, or whose role has privileges the source must not
    /// allow, is refused and not stored.
    pub async fn connect(&self, ctx: &CallContext, new: NewSource) -> Result<Connected, HubError> {
        if !valid_name(&new.name) {
            return Err(HubError::invalid_argument(
                "name",
                "1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        if new.name == desk::NAME {
            return Err(HubError::Conflict(format!(
                "'{}' is the help desk's built-in source; choose another name",
                desk::NAME
            )));
        }
        if new.settings.allow_privileged_role && !ctx.is_operator(&self.default_tenant) {
            return Err(HubError::Forbidden(
                "only the operator may accept a privileged database role (allow_privileged_role)"
                    .into(),
            ));
        }
        if self
            .declared(&ctx.tenant)
            .iter()
            .any(|(name, _)| name.as_str() == new.name)
        {
            return Err(HubError::Conflict(format!(
                "'{}' is declared in the configuration file; change it there",
                new.name
            )));
        }
        let mut settings = new.settings;
        match new.kind {
            SourceKind::Sqlite => {
                let path = settings.path.as_deref().ok_or_else(|| {
                    HubError::invalid_argument(
                        "path",
                        "a SQLite source needs the database file's path",
                    )
                })?;
                self.check_sqlite_path(ctx, path)?;
                settings.host = None;
                settings.port = None;
                settings.user = None;
                settings.ssl_mode = None;
            }
            kind => {
                if settings.host.as_deref().is_none_or(str::is_empty) {
                    return Err(HubError::invalid_argument("host", "a host is required"));
                }
                if settings.database.as_deref().is_none_or(str::is_empty) {
                    return Err(HubError::invalid_argument(
                        "database",
                        "a database name is required",
                    ));
                }
                if settings.user.as_deref().is_none_or(str::is_empty) {
                    return Err(HubError::invalid_argument(
                        "user",
                        "a user name is required",
                    ));
                }
                settings.port = settings.port.or(kind.default_port());
                settings.ssl_mode = Some(settings.ssl_mode.unwrap_or_default());
                settings.path = None;
            }
        }
        let secret = match &new.password {
            Some(password) if !password.is_empty() => Some(
                self.key
                    .seal(password, &secret_context(&ctx.tenant, &new.name))
                    .map_err(HubError::internal)?,
            ),
            _ => None,
        };
        let now = Utc::now();
        let record = SourceRecord {
            tenant: ctx.tenant.to_string(),
            name: new.name.clone(),
            kind: new.kind.as_str().to_string(),
            settings: serde_json::to_value(&settings).map_err(HubError::internal)?,
            secret,
            read_write: new.read_write,
            created_by: ctx.principal.id.clone(),
            created_at: now,
            updated_at: now,
        };
        let existed = records::get(&self.store, &ctx.tenant, &new.name)
            .await?
            .is_some();
        if existed && !new.replace {
            return Err(HubError::Conflict(format!(
                "a source named '{}' exists; pass replace: true to replace it",
                new.name
            )));
        }
        let candidate = Source {
            name: new.name.clone(),
            kind: new.kind,
            settings,
            password: new.password,
            read_write: new.read_write,
            origin: Origin::Registered,
            created_at: Some(now),
            updated_at: Some(now),
        };
        let test = self.test_source(&ctx.tenant, &candidate).await;
        if let Some(failure) = &test.failure
            && matches!(failure.kind, FailureKind::Blocked | FailureKind::Privileged)
        {
            return Err(HubError::Forbidden(format!(
                "{} {}",
                failure.message, failure.hint
            )));
        }
        records::put(&self.store, &record, new.replace).await?;
        if existed {
            self.pools.remove(ctx.tenant.as_str(), &new.name).await;
        }
        let source = self.source(ctx, &new.name).await?;
        Ok(Connected {
            source: source.view(),
            replaced: existed,
            test,
        })
    }

    pub async fn remove(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        if name == desk::NAME && self.desk.is_some() {
            return Err(HubError::Conflict(format!(
                "'{name}' is built in (the help desk's own data) and cannot be removed"
            )));
        }
        if self
            .declared(&ctx.tenant)
            .iter()
            .any(|(declared, _)| declared.as_str() == name)
        {
            return Err(HubError::Conflict(format!(
                "'{name}' is declared in the configuration file; remove it there"
            )));
        }
        let removed = records::delete(&self.store, &ctx.tenant, name).await?;
        self.pools.remove(ctx.tenant.as_str(), name).await;
        if removed {
            Ok(true)
        } else {
            Err(HubError::NotFound(format!("no source named '{name}'")))
        }
    }

    pub async fn test(
        &self,
        ctx: &CallContext,
        name: Option<&str>,
    ) -> Result<ConnectionTest, HubError> {
        let source = self.resolve(ctx, name).await?;
        Ok(self.test_source(&ctx.tenant, &source).await)
    }

    /// The health of each source a call used lately, through its pool as a query
    /// goes; a failure is reported without the source's secrets.
    pub async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        let in_use = self
            .pools
            .in_use(Duration::from_secs(self.config.pool_evict_secs));
        parts::check_each("source", in_use, timeout, |pool| async move {
            pool.ping()
                .await
                .map_err(|error| bounded(&error.to_string(), 300).into_owned())
        })
        .await
    }

    /// Connects once (not through the pool, so a broken pool cannot mask the cause),
    /// to the addresses `tenant` may reach, and checks the role's privileges.
    pub async fn test_source(&self, tenant: &TenantId, source: &Source) -> ConnectionTest {
        if source.origin == Origin::Builtin {
            return self.test_desk(tenant).await;
        }
        let timeout = Duration::from_secs(self.config.connect_timeout_secs.max(1));
        diagnosis::test_connection(source, self.external_only(tenant, source.origin), timeout).await
    }

    /// The desk needs no network: its test builds (or reuses) the tenant's copy.
    async fn test_desk(&self, tenant: &TenantId) -> ConnectionTest {
        let started = Instant::now();
        let version = match &self.desk {
            Some(desk) => match desk.pool(tenant, &self.config).await {
                Ok(pool) => sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
                    .fetch_one(&pool)
                    .await
                    .map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            },
            None => Err("the help desk is not enabled".to_string()),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match version {
            Ok(version) => ConnectionTest {
                source: desk::NAME.into(),
                ok: true,
                server_version: Some(format!("SQLite {version} (the help desk, copied)")),
                latency_ms,
                failure: None,
            },
            Err(message) => ConnectionTest {
                source: desk::NAME.into(),
                ok: false,
                server_version: None,
                latency_ms,
                failure: Some(ConnectFailure {
                    kind: FailureKind::Other,
                    message,
                    hint: "the help desk's tables could not be read from Tideway's store; /ready says whether the store is healthy".into(),
                }),
            },
        }
    }

    async fn pool(&self, ctx: &CallContext, source: &Source) -> Result<SourcePool, HubError> {
        if source.origin == Origin::Builtin {
            return match &self.desk {
                Some(desk) => Ok(SourcePool::Sqlite(
                    desk.pool(&ctx.tenant, &self.config).await?,
                )),
                None => Err(HubError::NotFound(format!(
                    "no source named '{}'",
                    source.name
                ))),
            };
        }
        let external_only = self.external_only(&ctx.tenant, source.origin);
        self.pools
            .get(ctx.tenant.as_str(), source, &self.config, external_only)
            .await
            .map_err(|error| {
                HubError::Forbidden(format!("source '{}' cannot be used: {error}", source.name))
            })
    }

    /// The statement timeout of a call: the configured one, or less when the call's
    /// own deadline comes sooner.
    /// A margin before the call's deadline, so the server's timeout fires first and
    /// the call reports it cleanly instead of being dropped by the Hub.
    fn timeout(&self, ctx: &CallContext) -> Duration {
        Duration::from_secs(self.config.statement_timeout_secs)
            .min(ctx.remaining().saturating_sub(Duration::from_millis(250)))
            .max(Duration::from_millis(10))
    }

    fn row_cap(&self, requested: Option<usize>) -> usize {
        requested
            .unwrap_or(self.config.max_rows)
            .clamp(1, self.config.max_rows_limit)
    }

    /// Runs a guarded statement: a read on any source, or a write on a `read_write`
    /// source when `write` is set.
    pub async fn query(
        &self,
        ctx: &CallContext,
        source: &Source,
        sql: &str,
        params: &[Value],
        max_rows: Option<usize>,
        write: bool,
    ) -> Result<QueryResult, HubError> {
        if write && !source.read_write {
            return Err(HubError::Forbidden(format!(
                "source '{}' is read-only; an admin may re-register it with read_write: true",
                source.name
            )));
        }
        let mode = if write { Mode::Write } else { Mode::Read };
        let checked = guard::check(source.kind, mode, source.settings.explain_analyze, sql)
            .map_err(|refusal| HubError::invalid_argument("query", refusal.0))?;
        let started = Instant::now();
        let row_cap = self.row_cap(max_rows);
        let plain_query = match (checked.is_plain_query, &checked.statement) {
            (true, Some(span)) if source.kind == SourceKind::Postgres => sql.get(span.clone()),
            _ => None,
        };
        let spec = RunSpec {
            sql,
            params,
            write,
            row_cap,
            max_bytes: self.config.max_result_bytes,
            max_value_bytes: self.config.max_value_bytes,
            plain_query,
            timeout: self.timeout(ctx),
            cancel: ctx.cancel.clone(),
        };
        let output = engine::run(&self.pool(ctx, source).await?, &spec)
            .await
            .map_err(|error| run_error(source, error))?;
        Ok(output.into_result(&source.name, row_cap, started))
    }

    /// EXPLAIN for a read; with `analyze`, the query runs (read-only, under the
    /// timeout) and the plan carries real timings.
    pub async fn explain(
        &self,
        ctx: &CallContext,
        source: &Source,
        sql: &str,
        params: &[Value],
        analyze: bool,
    ) -> Result<QueryPlan, HubError> {
        if analyze && !source.settings.explain_analyze {
            return Err(HubError::Forbidden(format!(
                "source '{}' does not allow EXPLAIN ANALYZE, which runs the statement; an admin may set explain_analyze on it",
                source.name
            )));
        }
        let checked = guard::check(source.kind, Mode::Read, false, sql)
            .map_err(|refusal| HubError::invalid_argument("query", refusal.0))?;
        if !checked.is_plain_query {
            return Err(HubError::invalid_argument(
                "query",
                "explain_query takes a query (SELECT, VALUES, TABLE, WITH … SELECT)",
            ));
        }
        let explain = match (source.kind, analyze) {
            (SourceKind::Postgres, false) => format!("EXPLAIN (FORMAT JSON) {sql}"),
            (SourceKind::Postgres, true) => {
                format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            }
            (SourceKind::Mysql, false) => format!("EXPLAIN FORMAT=JSON {sql}"),
            (SourceKind::Mysql, true) => format!("ANALYZE FORMAT=JSON {sql}"),
            (SourceKind::Sqlite, false) => format!("EXPLAIN QUERY PLAN {sql}"),
            (SourceKind::Sqlite, true) => {
                return Err(HubError::Unsupported(
                    "SQLite has no EXPLAIN ANALYZE; explain without analyze".into(),
                ));
            }
        };
        let started = Instant::now();
        let spec = RunSpec {
            sql: &explain,
            params,
            write: false,
            row_cap: 10_000,
            max_bytes: self.config.max_result_bytes,
            max_value_bytes: self.config.max_result_bytes,
            plain_query: None,
            timeout: self.timeout(ctx),
            cancel: ctx.cancel.clone(),
        };
        let output = engine::run(&self.pool(ctx, source).await?, &spec)
            .await
            .map_err(|error| run_error(source, error))?;
        let plan = match source.kind {
            SourceKind::Sqlite => Value::Array(
                output
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().last().unwrap_or(Value::Null))
                    .collect(),
            ),
            _ => {
                let cell = output
                    .rows
                    .into_iter()
                    .next()
                    .and_then(|row| row.into_iter().next())
                    .unwrap_or(Value::Null);
                match cell {
                    Value::String(text) => {
                        serde_json::from_str(&text).unwrap_or(Value::String(text))
                    }
                    other => other,
                }
            }
        };
        Ok(QueryPlan {
            source: source.name.clone(),
            analyzed: analyze,
            plan,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Runs one of the toolkit's own catalog queries (trusted SQL, bound parameters).
    pub async fn catalog_rows(
        &self,
        ctx: &CallContext,
        source: &Source,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, HubError> {
        let spec = RunSpec {
            sql,
            params,
            write: false,
            row_cap: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_value_bytes: self.config.max_value_bytes,
            plain_query: None,
            timeout: self.timeout(ctx),
            cancel: ctx.cancel.clone(),
        };
        engine::run(&self.pool(ctx, source).await?, &spec)
            .await
            .map(|output| output.rows)
            .map_err(|error| run_error(source, error))
    }
}

fn run_error(source: &Source, error: RunError) -> HubError {
    match error {
        RunError::Timeout(limit) => HubError::DeadlineExceeded(limit),
        RunError::Cancelled => HubError::Cancelled,
        RunError::Database(message) => HubError::invalid_argument(
            "query",
            format!(
                "the database refused the query: {}",
                source.redact(&message)
            ),
        ),
        RunError::Connection(message) => HubError::Unavailable {
            component: format!("source '{}'", source.name),
            reason: format!("{}; test_connection says more", source.redact(&message)),
        },
    }
}
