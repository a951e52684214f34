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
    /// How often the Lambda functions an account serves as tools of their own are
    /// listed again, so added, changed and removed functions show.
    pub function_refresh_secs: u64,
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
            function_refresh_secs: 300,
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
    /// Azure Blob Storage (or an emulator at `endpoint`): each container is a bucket.
    Azure,
    /// A folder on the server: each subfolder is a bucket. Declared by the operator only.
    Local,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Aws => "aws",
            AccountKind::Azure => "azure",
            AccountKind::Local => "local",
        }
    }
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
    /// For `azure`: the storage account's name.
    #[serde(default)]
    pub storage_account: Option<String>,
    /// For `azure`: the environment variable holding the storage account's key.
    #[serde(default)]
    pub account_key_env: Option<String>,
    /// For `local`: the folder whose subfolders are the buckets.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub buckets: Vec<String>,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Lambda functions served as MCP tools of their own, by name pattern.
    #[serde(default)]
    pub function_tools: Vec<String>,
    /// Also serve as tools the functions carrying this tag key.
    #[serde(default)]
    pub function_tool_tag: Option<String>,
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
            ("function_refresh_secs", self.function_refresh_secs),
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
                ("function_tools", &account.function_tools),
            ] {
                if let Err(reason) = Patterns::new(patterns) {
                    return invalid(format!("{at}.{field}: {reason}"));
                }
            }
            if let Some(tag) = &account.function_tool_tag
                && let Err(reason) = check_tag_key(tag)
            {
                return invalid(format!("{at}.function_tool_tag: {reason}"));
            }
            let azure_fields =
                account.storage_account.is_some() || account.account_key_env.is_some();
            if azure_fields && account.kind != AccountKind::Azure {
                return invalid(format!(
                    "{at}: storage_account and account_key_env belong to an azure account"
                ));
            }
            let lambda_fields = !account.functions.is_empty()
                || !account.function_tools.is_empty()
                || account.function_tool_tag.is_some();
            if lambda_fields && account.kind != AccountKind::Aws {
                return invalid(format!(
                    "{at}: functions and function tools belong to an aws account"
                ));
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
                AccountKind::Azure => {
                    if account.path.is_some()
                        || account.access_key_id.is_some()
                        || account.secret_access_key_env.is_some()
                        || account.use_provider_chain
                    {
                        return invalid(format!(
                            "{at}: an azure account takes storage_account and account_key_env"
                        ));
                    }
                    match &account.storage_account {
                        Some(name) if is_storage_account_name(name) => {}
                        _ => {
                            return invalid(format!(
                                "{at}.storage_account: the storage account's name (3-24 lower-case letters and digits)"
                            ));
                        }
                    }
                    if account.account_key_env.is_none() {
                        return invalid(format!(
                            "{at}.account_key_env: name the variable holding the account key"
                        ));
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

/// An Azure storage account's name: 3-24 lower-case letters and digits.
pub fn is_storage_account_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A tag key as Lambda allows it: 1-128 letters, digits, spaces and `+-=._:/@`.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    let valid = (1..=128).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!("'{}' is not a tag key", excerpt(key)))
    }
}
