//! A tenant's Kafka clusters: the ones its admin stores (the SASL password sealed
//! under the master key before it reaches the store) and the ones the operator
//! declares in `[messaging.clusters]` for chosen tenants. A tool names a cluster,
//! or uses the tenant's only one. A cluster may restrict the topics it serves by
//! name patterns; a topic outside them is answered exactly as a missing one. It may
//! restrict the consumer groups a tenant uses the same way, so tenants sharing a
//! cluster neither see nor move each other's groups. In a declared cluster's
//! lists, `{tenant}` stands for the calling tenant's id, so one cluster can give
//! each of its tenants a prefix of its own (`groups = ["{tenant}-*"]`).
//!
//! Each cluster's clients (producer and admin) are made once and kept, keyed by
//! the cluster's last change, because a producer holds its broker connections and
//! its batches: making one per call would cost every publish a connection.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, PartHealth, Store, TenantId, error::excerpt, on_store, parts,
    secrets::MasterKey, store::SealedColumn,
};
use tideway_kafka::{Cluster, ClusterSpec, SaslMechanism, Security};
use utoipa::ToSchema;

use super::settings::{DeclaredCluster, MessagingConfig};
use crate::{egress::Policy, toolkits::cloud::accounts::Patterns};

/// Where a stored cluster's SASL password is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "messaging cluster",
    table: "messaging_clusters",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "messaging",
};

/// How a cluster's connections are secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityKind {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityKind {
    fn as_str(self) -> &'static str {
        match self {
            SecurityKind::Plaintext => "plaintext",
            SecurityKind::Ssl => "ssl",
            SecurityKind::SaslPlaintext => "sasl_plaintext",
            SecurityKind::SaslSsl => "sasl_ssl",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            SecurityKind::Plaintext,
            SecurityKind::Ssl,
            SecurityKind::SaslPlaintext,
            SecurityKind::SaslSsl,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    fn is_sasl(self) -> bool {
        matches!(self, SecurityKind::SaslPlaintext | SecurityKind::SaslSsl)
    }
}

/// The SASL mechanism a name stands for (PLAIN when none is given).
pub fn mechanism(name: Option<&str>) -> Result<SaslMechanism, String> {
    match name.map(str::to_ascii_uppercase).as_deref() {
        None | Some("PLAIN") => Ok(SaslMechanism::Plain),
        Some("SCRAM-SHA-256") => Ok(SaslMechanism::ScramSha256),
        Some("SCRAM-SHA-512") => Ok(SaslMechanism::ScramSha512),
        Some(_) => Err(format!(
            "'{}' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            excerpt(name.unwrap_or_default())
        )),
    }
}

/// The bootstrap servers: 1-16 `host:port` pairs, comma-separated.
pub fn check_bootstrap(text: &str) -> Result<Vec<(String, u16)>, String> {
    let servers: Vec<&str> = text.split(',').map(str::trim).collect();
    if text.trim().is_empty() || servers.len() > 16 {
        return Err("give 1-16 host:port pairs, comma-separated".into());
    }
    servers
        .into_iter()
        .map(|server| {
            let (host, port) = server
                .rsplit_once(':')
                .ok_or_else(|| format!("'{}' is not host:port", excerpt(server)))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port: u16 = port
                .parse()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("'{}' has no valid port", excerpt(server)))?;
            let valid_host = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c));
            if !valid_host {
                return Err(format!("'{}' is not a host name", excerpt(host)));
            }
            Ok((host.to_string(), port))
        })
        .collect()
}

/// A cluster as a tenant's admin stores it; the password is given once and never
/// shown again.
#[derive(Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterInput {
    /// `host:port` pairs, comma-separated, e.g. `kafka-1.example.com:9092`.
    pub bootstrap_servers: String,
    /// `plaintext` (the default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub security: Option<SecurityKind>,
    /// For SASL: `PLAIN` (the default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// Sealed at rest, never shown.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub password: Option<String>,
    /// PEM certificates of the CAs to trust for TLS (the system's when absent).
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// The client id the brokers see (default `tideway`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic name patterns this cluster serves, e.g. `support.*` (all when empty).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Consumer group name patterns the tenant may use and see, e.g. `support-*`
    /// (all when empty).
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A cluster as listed: never its password.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct ClusterView {
    pub name: String,
    pub bootstrap_servers: String,
    #[schema(value_type = String)]
    pub security: SecurityKind,
    pub sasl_mechanism: Option<String>,
    pub username: Option<String>,
    pub has_password: bool,
    pub client_id: Option<String>,
    pub topics: Vec<String>,
    pub groups: Vec<String>,
    pub description: Option<String>,
    /// `stored` (by the tenant's admin) or `config` (the operator's).
    pub origin: &'static str,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A cluster ready to use.
pub struct OpenCluster {
    pub name: String,
    pub client: Arc<Cluster>,
    topics: Patterns,
    groups: Patterns,
}

impl OpenCluster {
    /// Whether the cluster serves the topic.
    pub fn serves(&self, topic: &str) -> bool {
        self.topics.allows(topic)
    }

    /// Refuses a topic the cluster does not serve, exactly as a missing one.
    pub fn check_topic(&self, topic: &str) -> Result<(), HubError> {
        if self.serves(topic) {
            Ok(())
        } else {
            Err(missing_topic(topic, &self.name))
        }
    }

    /// Whether the tenant may use and see the consumer group.
    pub fn serves_group(&self, group: &str) -> bool {
        self.groups.allows(group)
    }

    /// Refuses a consumer group outside the cluster's group patterns. Any name is a
    /// group a consumer may start, so the refusal says nothing of whether it exists.
    pub fn check_group(&self, group: &str) -> Result<(), HubError> {
        if self.serves_group(group) {
            Ok(())
        } else {
            Err(HubError::invalid_argument(
                "group_id",
                format!(
                    "'{}' is not among the consumer groups cluster '{}' lets this tenant use",
                    excerpt(group),
                    self.name
                ),
            ))
        }
    }
}

/// The answer for a topic that does not exist, or that the cluster does not serve.
pub fn missing_topic(topic: &str, cluster: &str) -> HubError {
    HubError::NotFound(format!(
        "no topic '{}' in cluster '{cluster}'",
        excerpt(topic)
    ))
}

#[derive(sqlx::FromRow)]
struct Stored {
    name: String,
    bootstrap: String,
    security: String,
    sasl_mechanism: Option<String>,
    username: Option<String>,
    secret: Option<String>,
    ca_pem: Option<String>,
    client_id: Option<String>,
    topics: String,
    consumer_groups: String,
    description: Option<String>,
    updated_at: DateTime<Utc>,
}

/// A cluster's clients are kept per (tenant, cluster name).
type ClientKey = (String, String);

/// Clients with the change of the cluster they were made for (its `updated_at`,
/// or `config` for the operator's).
type MadeFor = (String, Arc<Cluster>);

/// The tenant's clusters and their clients.
pub struct Clusters {
    store: Store,
    key: Arc<MasterKey>,
    config: Arc<MessagingConfig>,
    policy: Arc<Policy>,
    clients: Mutex<HashMap<ClientKey, MadeFor>>,
}

impl Clusters {
    pub fn new(
        store: Store,
        key: Arc<MasterKey>,
        config: Arc<MessagingConfig>,
        policy: Arc<Policy>,
    ) -> Self {
        Clusters {
            store,
            key,
            config,
            policy,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn declared_for<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> impl Iterator<Item = (&'a String, &'a DeclaredCluster)> + 'a {
        self.config.clusters.iter().filter(move |(_, cluster)| {
            cluster
                .tenants
                .iter()
                .any(|tenant| tenant == "*" || tenant == ctx.tenant.as_str())
        })
    }

    /// Stores (or replaces) a cluster for the tenant, sealing its password.
    pub async fn put(
        &self,
        ctx: &CallContext,
        name: &str,
        input: ClusterInput,
    ) -> Result<(), HubError> {
        if !tideway_core::naming::is_valid_id(name, 64) {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        if self.declared_for(ctx).any(|(declared, _)| declared == name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is a cluster the operator declares in the configuration; choose another name"
            )));
        }
        let servers = check_bootstrap(&input.bootstrap_servers)
            .map_err(|reason| HubError::invalid_argument("bootstrap_servers", reason))?;
        // A tenant's cluster reaches only the internet unless the operator opened
        // an internal host with `[messaging] allow`.
        for (host, _) in &servers {
            self.policy.resolve(host).await.map_err(|refusal| {
                HubError::invalid_argument("bootstrap_servers", refusal.to_string())
            })?;
        }
        Patterns::new(&input.topics)
            .map_err(|reason| HubError::invalid_argument("topics", reason))?;
        Patterns::new(&input.groups)
            .map_err(|reason| HubError::invalid_argument("groups", reason))?;
        let security = input.security.unwrap_or(SecurityKind::Plaintext);
        let secret = if security.is_sasl() {
            mechanism(input.sasl_mechanism.as_deref())
                .map_err(|reason| HubError::invalid_argument("sasl_mechanism", reason))?;
            match &input.username {
                Some(user)
                    if !user.is_empty()
                        && user.len() <= 256
                        && !user.chars().any(char::is_control) => {}
                _ => {
                    return Err(HubError::invalid_argument(
                        "username",
                        "SASL needs a user name of 1-256 printable characters",
                    ));
                }
            }
            // The password is never quoted, not even in an error.
            match &input.password {
                Some(password)
                    if !password.is_empty()
                        && password.len() <= 1024
                        && !password.chars().any(char::is_control) =>
                {
                    Some(
                        self.key
                            .seal(password, &SEALED.at([ctx.tenant.as_str(), name]).context())
                            .map_err(HubError::internal)?,
                    )
                }
                _ => {
                    return Err(HubError::invalid_argument(
                        "password",
                        "SASL needs a password of 1-1024 printable characters",
                    ));
                }
            }
        } else {
            for (field, given) in [
                ("sasl_mechanism", input.sasl_mechanism.is_some()),
                ("username", input.username.is_some()),
                ("password", input.password.is_some()),
            ] {
                if given {
                    return Err(HubError::invalid_argument(
                        field,
                        "belongs to a SASL cluster (security sasl_plaintext or sasl_ssl)",
                    ));
                }
            }
            None
        };
        if let Some(ca) = &input.ca_pem
            && (!ca.contains("-----BEGIN CERTIFICATE-----") || ca.len() > 256 * 1024)
        {
            return Err(HubError::invalid_argument(
                "ca_pem",
                "must be PEM certificates (-----BEGIN CERTIFICATE-----), at most 256 KiB",
            ));
        }
        if let Some(client_id) = &input.client_id
            && (client_id.is_empty()
                || client_id.len() > 128
                || !client_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(HubError::invalid_argument(
                "client_id",
                format!(
                    "'{}' must be 1-128 letters, digits, '.', '_' or '-'",
                    excerpt(client_id)
                ),
            ));
        }
        let topics = serde_json::to_string(&input.topics).map_err(HubError::internal)?;
        let groups = serde_json::to_string(&input.groups).map_err(HubError::internal)?;
        let now = tideway_core::store::now();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO messaging_clusters (tenant_id, name, bootstrap, security, sasl_mechanism, username, secret, ca_pem, client_id, topics, consumer_groups, description, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) ON CONFLICT (tenant_id, name) DO UPDATE SET \
                 bootstrap = excluded.bootstrap, security = excluded.security, sasl_mechanism = excluded.sasl_mechanism, \
                 username = excluded.username, secret = excluded.secret, ca_pem = excluded.ca_pem, client_id = excluded.client_id, \
                 topics = excluded.topics, consumer_groups = excluded.consumer_groups, \
                 description = excluded.description, updated_at = excluded.updated_at",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .bind(input.bootstrap_servers.trim())
            .bind(security.as_str())
            .bind(input.sasl_mechanism.as_deref().map(str::to_ascii_uppercase))
            .bind(&input.username)
            .bind(&secret)
            .bind(&input.ca_pem)
            .bind(&input.client_id)
            .bind(&topics)
            .bind(&groups)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    async fn stored(&self, ctx: &CallContext, name: Option<&str>) -> Result<Vec<Stored>, HubError> {
        let rows: Vec<Stored> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT name, bootstrap, security, sasl_mechanism, username, secret, ca_pem, client_id, topics, consumer_groups, description, updated_at \
                 FROM messaging_clusters WHERE tenant_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The tenant's clusters, the operator's first, without their passwords.
    pub async fn list(&self, ctx: &CallContext) -> Result<Vec<ClusterView>, HubError> {
        let mut views: Vec<ClusterView> = self
            .declared_for(ctx)
            .map(|(name, cluster)| ClusterView {
                name: name.clone(),
                bootstrap_servers: cluster.bootstrap_servers.clone(),
                security: cluster.security.unwrap_or(SecurityKind::Plaintext),
                sasl_mechanism: cluster.sasl_mechanism.clone(),
                username: cluster.username.clone(),
                has_password: cluster.password_env.is_some(),
                client_id: cluster.client_id.clone(),
                topics: for_tenant(&cluster.topics, ctx.tenant.as_str()),
                groups: for_tenant(&cluster.groups, ctx.tenant.as_str()),
                description: cluster.description.clone(),
                origin: "config",
                updated_at: None,
            })
            .collect();
        for stored in self.stored(ctx, None).await? {
            views.push(ClusterView {
                bootstrap_servers: stored.bootstrap,
                security: SecurityKind::parse(&stored.security)
                    .ok_or_else(|| HubError::internal("a stored cluster's security"))?,
                sasl_mechanism: stored.sasl_mechanism,
                username: stored.username,
                has_password: stored.secret.is_some(),
                client_id: stored.client_id,
                topics: serde_json::from_str(&stored.topics).map_err(HubError::internal)?,
                groups: serde_json::from_str(&stored.consumer_groups)
                    .map_err(HubError::internal)?,
                description: stored.description,
                origin: "stored",
                updated_at: Some(stored.updated_at),
                name: stored.name,
            });
        }
        Ok(views)
    }

    /// Removes a stored cluster; `false` when the tenant has none of that name.
    pub async fn delete(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        if self.declared_for(ctx).any(|(declared, _)| declared == name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is declared in the configuration file; the operator removes it there"
            )));
        }
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM messaging_clusters WHERE tenant_id = $1 AND name = $2")
                .bind(ctx.tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        self.discard(ctx, name);
        Ok(deleted > 0)
    }

    /// The cluster a call names, or the tenant's only one.
    pub async fn open(
        &self,
        ctx: &CallContext,
        name: Option<&str>,
    ) -> Result<OpenCluster, HubError> {
        let name = match name {
            Some(name) => name.to_string(),
            None => {
                let names: Vec<String> = self
                    .list(ctx)
                    .await?
                    .into_iter()
                    .map(|view| view.name)
                    .collect();
                match names.as_slice() {
                    [only] => only.clone(),
                    [] => {
                        return Err(HubError::NotFound(
                            "this tenant has no Kafka cluster; an admin adds one with set_cluster"
                                .into(),
                        ));
                    }
                    _ => {
                        return Err(HubError::invalid_argument(
                            "cluster",
                            format!(
                                "this tenant has several clusters; name one of: {}",
                                names.join(", ")
                            ),
                        ));
                    }
                }
            }
        };
        let tenant = ctx.tenant.as_str().to_string();
        let unavailable = |reason: String| HubError::Unavailable {
            component: format!("Kafka cluster '{name}'"),
            reason,
        };
        let (stamp, topics, groups, spec) = if let Some((_, declared)) = self
            .declared_for(ctx)
            .find(|(declared, _)| **declared == name)
        {
            let spec = self.declared_spec(declared).map_err(unavailable)?;
            (
                "config".to_string(),
                for_tenant(&declared.topics, &tenant),
                for_tenant(&declared.groups, &tenant),
                spec,
            )
        } else {
            let Some(stored) = self.stored(ctx, Some(&name)).await?.into_iter().next() else {
                return Err(HubError::NotFound(format!(
                    "no Kafka cluster named '{}'",
                    excerpt(&name)
                )));
            };
            let stamp = stored.updated_at.to_rfc3339();
            if let Some(client) = self.cached(&tenant, &name, &stamp) {
                return Ok(OpenCluster {
                    topics: patterns(&stored.topics)?,
                    groups: patterns(&stored.consumer_groups)?,
                    name,
                    client,
                });
            }
            let password = match &stored.secret {
                Some(sealed) => Some(
                    self.key
                        .open(
                            sealed,
                            &SEALED.at([tenant.as_str(), name.as_str()]).context(),
                        )
                        .map_err(|error| {
                            unavailable(format!("its stored password cannot be opened: {error}"))
                        })?,
                ),
                None => None,
            };
            let security = SecurityKind::parse(&stored.security)
                .ok_or_else(|| HubError::internal("a stored cluster's security"))?;
            let spec = self
                .spec(
                    stored.bootstrap.clone(),
                    security,
                    stored.sasl_mechanism.as_deref(),
                    stored.username.clone(),
                    password.map(|password| password.to_string()),
                    stored.ca_pem.clone(),
                    stored.client_id.clone(),
                )
                .map_err(unavailable)?;
            (
                stamp,
                serde_json::from_str(&stored.topics).map_err(HubError::internal)?,
                serde_json::from_str(&stored.consumer_groups).map_err(HubError::internal)?,
                spec,
            )
        };
        let client = match self.cached(&tenant, &name, &stamp) {
            Some(client) => client,
            None => {
                let client =
                    Arc::new(Cluster::new(spec).map_err(|error| unavailable(error.to_string()))?);
                let replaced = self.clients.lock().ok().and_then(|mut clients| {
                    clients.insert((tenant, name.clone()), (stamp, client.clone()))
                });
                if let Some((_, old)) = replaced {
                    retire(old);
                }
                client
            }
        };
        Ok(OpenCluster {
            topics: Patterns::new(&topics).map_err(HubError::internal)?,
            groups: Patterns::new(&groups).map_err(HubError::internal)?,
            name,
            client,
        })
    }

    /// Forgets the cluster's clients, so the next call makes fresh ones.
    pub fn discard(&self, ctx: &CallContext, name: &str) {
        let removed = self.clients.lock().ok().and_then(|mut clients| {
            clients.remove(&(ctx.tenant.as_str().to_string(), name.to_string()))
        });
        if let Some((_, client)) = removed {
            retire(client);
        }
    }

    /// The health of each cluster this server holds clients for (one a call
    /// opened), asked for its brokers through those clients, as a call would.
    pub async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        let held: Vec<_> = match self.clients.lock() {
            Ok(clients) => clients
                .iter()
                .map(|((tenant, name), (_, client))| {
                    (TenantId::new(tenant), name.clone(), client.clone())
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        parts::check_each("cluster", held, timeout, |client| async move {
            match client.check().await {
                Ok(brokers) if brokers.is_empty() => Err("it named no broker".to_string()),
                Ok(_) => Ok(()),
                Err(error) => Err(error.to_string()),
            }
        })
        .await
    }

    fn cached(&self, tenant: &str, name: &str, stamp: &str) -> Option<Arc<Cluster>> {
        let clients = self.clients.lock().ok()?;
        clients
            .get(&(tenant.to_string(), name.to_string()))
            .filter(|(made_for, _)| made_for == stamp)
            .map(|(_, client)| client.clone())
    }

    fn declared_spec(&self, declared: &DeclaredCluster) -> Result<ClusterSpec, String> {
        let password = match &declared.password_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| format!("its password variable {var} is not set"))?,
            ),
            None => None,
        };
        let ca_pem = match &declared.ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| format!("its CA file cannot be read: {}", error.kind()))?,
            ),
            None => None,
        };
        self.spec(
            declared.bootstrap_servers.clone(),
            declared.security.unwrap_or(SecurityKind::Plaintext),
            declared.sasl_mechanism.as_deref(),
            declared.username.clone(),
            password,
            ca_pem,
            declared.client_id.clone(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn spec(
        &self,
        bootstrap: String,
        security: SecurityKind,
        sasl_mechanism: Option<&str>,
        username: Option<String>,
        password: Option<String>,
        ca_pem: Option<String>,
        client_id: Option<String>,
    ) -> Result<ClusterSpec, String> {
        let security = match security {
            SecurityKind::Plaintext => Security::Plaintext,
            SecurityKind::Ssl => Security::Ssl { ca_pem },
            SecurityKind::SaslPlaintext | SecurityKind::SaslSsl => Security::Sasl {
                mechanism: mechanism(sasl_mechanism)?,
                username: username.unwrap_or_default(),
                password: password.unwrap_or_default(),
                tls: security == SecurityKind::SaslSsl,
                ca_pem,
            },
        };
        Ok(ClusterSpec {
            bootstrap,
            client_id: client_id.unwrap_or_else(|| "tideway".into()),
            security,
            session_timeout: Duration::from_millis(self.config.session_timeout_ms),
            request_timeout: Duration::from_millis(self.config.request_timeout_ms),
        })
    }
}

/// Lets go of a cluster's clients on a blocking thread: the last handle's drop
/// flushes the producer and joins librdkafka's threads, which must not stall a
/// runtime thread.
pub fn retire(client: Arc<Cluster>) {
    let Some(last) = Arc::into_inner(client) else {
        return;
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(move || drop(last));
        }
        Err(_) => drop(last),
    }
}

/// Stands for the calling tenant in a declared cluster's patterns.
const TENANT_PLACEHOLDER: &str = "{tenant}";

/// A declared cluster's patterns as they apply to `tenant`.
pub fn for_tenant(patterns: &[String], tenant: &str) -> Vec<String> {
    patterns
        .iter()
        .map(|pattern| pattern.replace(TENANT_PLACEHOLDER, tenant))
        .collect()
}

fn patterns(json: &str) -> Result<Patterns, HubError> {
    let list: Vec<String> = serde_json::from_str(json).map_err(HubError::internal)?;
    Patterns::new(&list).map_err(HubError::internal)
}
