//! The messaging toolkit's part of the configuration file, `[messaging]`: which
//! internal hosts a tenant's own cluster may name (none by default), the bounds on
//! what one call publishes or reads, and clusters the operator declares
//! (`[messaging.clusters.<name>]`, the password from an environment variable).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError, error::excerpt};

use super::clusters::{SecurityKind, check_bootstrap, for_tenant};
use crate::{egress::Allowed, toolkits::cloud::accounts::Patterns};

/// The key it owns in the configuration file.
pub const KEY: &str = "messaging";

pub fn from_config(config: &Config) -> Result<MessagingConfig, ConfigError> {
    let settings: MessagingConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagingConfig {
    /// Internal hosts and ranges a tenant's stored cluster may name as a bootstrap
    /// server (an address, a range, a host name or `*.domain`). Empty by default.
    /// Clusters declared here are the operator's and may name any host.
    pub allow: Vec<String>,
    /// The most messages one consume or peek returns.
    pub max_messages: usize,
    /// The longest a consume or peek waits for messages.
    pub max_wait_ms: u64,
    /// The largest message `publish_message` sends.
    pub max_message_bytes: usize,
    /// The most messages one publish call sends.
    pub max_batch: usize,
    /// Values longer than this come back cut, flagged `truncated`.
    pub max_value_bytes: usize,
    /// How long one request to the brokers may take.
    pub request_timeout_ms: u64,
    /// How long a consumer may stay silent before its group hands its partitions
    /// to another member (Kafka's `session.timeout.ms`; 6 s is brokers' usual
    /// floor). Some brokers make a join wait a share of it.
    pub session_timeout_ms: u64,
    pub clusters: BTreeMap<String, DeclaredCluster>,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            allow: Vec::new(),
            max_messages: 500,
            max_wait_ms: 30_000,
            max_message_bytes: 1024 * 1024,
            max_batch: 500,
            max_value_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            session_timeout_ms: 6_000,
            clusters: BTreeMap::new(),
        }
    }
}

/// A cluster declared in the configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCluster {
    /// The tenants that may use it, or `["*"]` for all.
    pub tenants: Vec<String>,
    /// `host:port` pairs, comma-separated.
    pub bootstrap_servers: String,
    #[serde(default)]
    pub security: Option<SecurityKind>,
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the SASL password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A PEM file with the CA certificates to trust for TLS.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic name patterns this cluster serves (all when empty); `{tenant}` stands
    /// for the calling tenant's id.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Consumer group name patterns its tenants may use and see (all when empty).
    /// A cluster shared by several tenants gives each a prefix of its own with
    /// `{tenant}` (`["{tenant}-*"]`), so none sees or moves another's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[cfg(test)]
impl DeclaredCluster {
    /// A plaintext cluster declared for `tenants`, serving every topic and group.
    pub(crate) fn plaintext(tenants: &[&str], bootstrap: &str) -> Self {
        DeclaredCluster {
            tenants: tenants.iter().map(|tenant| tenant.to_string()).collect(),
            bootstrap_servers: bootstrap.into(),
            security: None,
            sasl_mechanism: None,
            username: None,
            password_env: None,
            ca_file: None,
            client_id: None,
            topics: Vec::new(),
            groups: Vec::new(),
            description: None,
        }
    }
}

impl MessagingConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        for entry in &self.allow {
            if let Err(reason) = Allowed::parse(entry) {
                return invalid(format!("allow: '{}' {reason}", excerpt(entry)));
            }
        }
        for (field, value) in [
            ("max_messages", self.max_messages as u64),
            ("max_wait_ms", self.max_wait_ms),
            ("max_message_bytes", self.max_message_bytes as u64),
            ("max_batch", self.max_batch as u64),
            ("max_value_bytes", self.max_value_bytes as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("session_timeout_ms", self.session_timeout_ms),
        ] {
            if value == 0 {
                return invalid(format!("{field} must be at least 1"));
            }
        }
        for (name, cluster) in &self.clusters {
            let at = format!("clusters.{}", excerpt(name));
            if !tideway_core::naming::is_valid_id(name, 64) {
                return invalid(format!(
                    "{at}: a cluster name is 1-64 lower-case letters, digits, '_' or '-'"
                ));
            }
            if cluster.tenants.is_empty() {
                return invalid(format!("{at}.tenants: name the tenants (or \"*\")"));
            }
            if let Err(reason) = check_bootstrap(&cluster.bootstrap_servers) {
                return invalid(format!("{at}.bootstrap_servers: {reason}"));
            }
            // Checked as they will apply to a tenant, placeholder filled in.
            for (field, patterns) in [("topics", &cluster.topics), ("groups", &cluster.groups)] {
                if let Err(reason) = Patterns::new(&for_tenant(patterns, "tenant")) {
                    return invalid(format!("{at}.{field}: {reason}"));
                }
            }
            let sasl = matches!(
                cluster.security,
                Some(SecurityKind::SaslPlaintext | SecurityKind::SaslSsl)
            );
            if sasl != cluster.password_env.is_some() || sasl != cluster.username.is_some() {
                return invalid(format!(
                    "{at}: username and password_env go with security sasl_plaintext or sasl_ssl"
                ));
            }
            if sasl
                && let Err(reason) = super::clusters::mechanism(cluster.sasl_mechanism.as_deref())
            {
                return invalid(format!("{at}.sasl_mechanism: {reason}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(groups: &[&str]) -> MessagingConfig {
        let mut config = MessagingConfig::default();
        config.clusters.insert(
            "shared".into(),
            DeclaredCluster {
                topics: vec!["{tenant}.*".into()],
                groups: groups.iter().map(|group| group.to_string()).collect(),
                ..DeclaredCluster::plaintext(&["*"], "kafka-1.example.com:9092")
            },
        );
        config
    }

    #[test]
    fn a_declared_clusters_patterns_are_read_with_the_tenant_filled_in() {
        assert!(shared(&["{tenant}-*"]).check().is_ok());
        let error = shared(&["{tenant}-[agents"])
            .check()
            .expect_err("an unclosed class is not a pattern");
        assert!(
            error
                .to_string()
                .contains("messaging.clusters.shared.groups"),
            "{error}"
        );
        assert_eq!(
            for_tenant(&["{tenant}-*".into(), "audit".into()], "acme"),
            ["acme-*", "audit"]
        );
    }
}
