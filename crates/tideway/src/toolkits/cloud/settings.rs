//! The cloud toolkit's part of the configuration file, `[cloud]`: which internal hosts
//! a tenant's own account may reach (none by default, as for fetch), whether accounts
//! may take credentials from the server's environment, the size bounds, and accounts
//! the operator declares (`[cloud.accounts.<name>]`), including local folders, which
//! only the operator can grant since they name the server's disk.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError, error::excerpt};

use super::accounts::Patterns;
use crate::egress::Allowed;

/// The key it owns in the configuration file.
pub const KEY: &str = "cloud";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<CloudConfig, ConfigError> {
    let settings: CloudConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    /// Internal hosts and ranges a tenant's stored account may use as its endpoint
    /// (an address, a range, a host name or `*.domain`). Empty by default: tenants'
    /// accounts reach only the internet. Accounts declared here are the operator's
    /// and may name any endpoint.
    pub allow: Vec<String>,
    /// Whether an account may take its AWS credentials from the server's own
    /// environment (variables, profile, web identity, instance metadata). Off by
    /// default: it would lend the server's identity to a tenant.
    pub allow_provider_chain: bool,
    /// The largest object `s3_upload_file` accepts.
    pub max_upload_bytes: u64,
    /// The most bytes of an object `s3_download_file` returns inline; larger objects
    /// come back truncated (flagged), or as a presigned URL on request.
    pub max_download_bytes: u64,
    /// The longest a presigned URL may stay valid.
    pub max_presign_secs: u64,
    /// The largest response payload read from a Lambda function (its synchronous
    /// limit is 6 MB).
    pub max_lambda_payload_bytes: u64,
    /// The longest one request to a cloud service may take.
    pub timeout_secs: u64,
    /// Accounts the operator declares, by name.
    pub accounts: BTreeMap<String, DeclaredAccount>,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            allow: Vec::new(),
            allow_provider_chain: false,
            max_upload_bytes: 100 * 1024 * 1024,
            max_download_bytes: 5 * 1024 * 1024,
            max_presign_secs: 7 * 24 * 3600,
            max_lambda_payload_bytes: 6 * 1024 * 1024,
            timeout_secs: 60,
            accounts: BTreeMap::new(),
        }
    }
}

/// What kind of storage or cloud an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// AWS, or any S3-compatible store with `endpoint` (Lambda and SSM too where the
    /// endpoint serves them).
    Aws,
    /// A folder on the server: each subfolder is a bucket. Declared by the operator only.
    Local,
}

/// An account declared in the configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredAccount {
    pub kind: AccountKind,
    /// The tenants that may use it, or `["*"]` for all.
    pub tenants: Vec<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// Take credentials from the server's environment (needs `allow_provider_chain`).
    #[serde(default)]
    pub use_provider_chain: bool,
    /// For `local`: the folder whose subfolders are the buckets.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub buckets: Vec<String>,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub parameters: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl CloudConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        for entry in &self.allow {
            if let Err(reason) = Allowed::parse(entry) {
                return invalid(format!("allow: '{}' {reason}", excerpt(entry)));
            }
        }
        for (field, value) in [
            ("max_upload_bytes", self.max_upload_bytes),
            ("max_download_bytes", self.max_download_bytes),
            ("max_presign_secs", self.max_presign_secs),
            ("max_lambda_payload_bytes", self.max_lambda_payload_bytes),
            ("timeout_secs", self.timeout_secs),
        ] {
            if value == 0 {
                return invalid(format!("{field} must be at least 1"));
            }
        }
        if self.max_presign_secs > 7 * 24 * 3600 {
            return invalid(
                "max_presign_secs must be at most 604800 (7 days, SigV4's limit)".into(),
            );
        }
        for (name, account) in &self.accounts {
            let at = format!("accounts.{}", excerpt(name));
            if !tideway_core::naming::is_valid_id(name, 64) {
                return invalid(format!(
                    "{at}: an account name is 1-64 lower-case letters, digits, '_' or '-'"
                ));
            }
            if account.tenants.is_empty() {
                return invalid(format!("{at}.tenants: name the tenants (or \"*\")"));
            }
            for (field, patterns) in [
                ("buckets", &account.buckets),
                ("functions", &account.functions),
                ("parameters", &account.parameters),
            ] {
                if let Err(reason) = Patterns::new(patterns) {
                    return invalid(format!("{at}.{field}: {reason}"));
                }
            }
            match account.kind {
                AccountKind::Local => {
                    let Some(path) = &account.path else {
                        return invalid(format!("{at}.path: a local account needs its folder"));
                    };
                    if !path.is_absolute() {
                        return invalid(format!("{at}.path: must be an absolute path"));
                    }
                }
                AccountKind::Aws => {
                    if account.path.is_some() {
                        return invalid(format!("{at}.path: only a local account has a path"));
                    }
                    if account.use_provider_chain && !self.allow_provider_chain {
                        return invalid(format!(
                            "{at}.use_provider_chain: needs [cloud] allow_provider_chain = true"
                        ));
                    }
                    if account.use_provider_chain == account.secret_access_key_env.is_some() {
                        return invalid(format!(
                            "{at}: give access_key_id with secret_access_key_env, or use_provider_chain"
                        ));
                    }
                    if account.secret_access_key_env.is_some() && account.access_key_id.is_none() {
                        return invalid(format!(
                            "{at}.access_key_id: goes with secret_access_key_env"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
