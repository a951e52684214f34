//! A tenant's cloud accounts: the ones its admin stores (AWS or S3-compatible, or
//! Azure Blob Storage; the secret key sealed under the master key before it reaches
//! the store) and the ones the operator declares in `[cloud.accounts]` for chosen
//! tenants (local folders included). A tool names an account, or uses the tenant's only one. An account may
//! restrict the buckets, functions and parameters it serves by name patterns; a name
//! outside them is answered as missing, so it reveals nothing.

use std::{path::PathBuf, sync::Arc};

use chrono::{DateTime, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Store, TenantId,
    error::excerpt,
    on_store,
    parts::{self, InUse},
    secrets::MasterKey,
    store::SealedColumn,
};
use url::Url;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::settings::{
    AccountKind, CloudConfig, DeclaredAccount, check_tag_key, is_storage_account_name,
};
use crate::egress::Policy;

/// Where a stored account's secret access key is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "cloud account",
    table: "cloud_accounts",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "cloud",
};

const MAX_PATTERNS: usize = 64;

/// Name patterns (`tickets-*`, `process-?`); none means every name.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    set: Option<GlobSet>,
}

impl Patterns {
    /// The patterns; the error says which one does not read.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Ok(Patterns::default());
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(format!("at most {MAX_PATTERNS} patterns"));
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = Glob::new(pattern)
                .map_err(|error| format!("'{}' is not a pattern: {error}", excerpt(pattern)))?;
            builder.add(glob);
        }
        Ok(Patterns {
            set: Some(builder.build().map_err(|error| error.to_string())?),
        })
    }

    pub fn allows(&self, name: &str) -> bool {
        self.set.as_ref().is_none_or(|set| set.is_match(name))
    }

    /// Whether no pattern is given (so every name is allowed).
    pub fn is_empty(&self) -> bool {
        self.set.is_none()
    }
}

/// An account as a tenant's admin stores it; the secret is given once and never
/// shown again.
#[derive(Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// `aws` (the default: AWS or any S3-compatible store) or `azure` (Azure Blob
    /// Storage).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub kind: Option<AccountKind>,
    /// The region, e.g. `eu-west-1` (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// The service endpoint for S3-compatible stores and emulators, e.g.
    /// `https://minio.example.com`; AWS's own endpoints when absent. For `azure`, the
    /// account's blob URL (`https://<account>.blob.core.windows.net` when absent; an
    /// emulator's may carry the account as its path).
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Sealed at rest, never shown.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub secret_access_key: Option<String>,
    /// Take credentials from the server's environment instead (only where the
    /// operator allows it).
    #[serde(default)]
    pub use_provider_chain: bool,
    /// For `azure`: the storage account's name.
    #[serde(default)]
    pub storage_account: Option<String>,
    /// For `azure`: the storage account's key. Sealed at rest, never shown.
    #[serde(default)]
    #[schemars(extend("writeOnly" = true))]
    pub account_key: Option<String>,
    /// Bucket name patterns this account serves (all when empty).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Lambda function name patterns this account serves (all when empty).
    #[serde(default)]
    pub functions: Vec<String>,
    /// SSM parameter name patterns this account serves (all when empty), e.g. `/app/*`.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// Lambda functions served as MCP tools of their own (named after the
    /// function), by name pattern, e.g. `process-*`.
    #[serde(default)]
    pub function_tools: Vec<String>,
    /// Also serve as tools the functions carrying this tag key; a non-empty tag
    /// value becomes the tool's description.
    #[serde(default)]
    pub function_tool_tag: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An account as listed: never its secret.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct AccountView {
    pub name: String,
    #[schema(value_type = String)]
    pub kind: AccountKind,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    /// For `azure`: the storage account's name.
    pub storage_account: Option<String>,
    pub has_secret: bool,
    pub use_provider_chain: bool,
    pub buckets: Vec<String>,
    pub functions: Vec<String>,
    pub parameters: Vec<String>,
    pub function_tools: Vec<String>,
    pub function_tool_tag: Option<String>,
    pub description: Option<String>,
    /// `stored` (by the tenant's admin) or `config` (the operator's).
    pub origin: &'static str,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Where an AWS account's credentials come from.
#[derive(Clone)]
pub enum Credentials {
    Static {
        key_id: String,
        secret: Zeroizing<String>,
    },
    /// The server's environment (variables, profile, web identity, instance metadata).
    ProviderChain,
}

#[derive(Clone)]
pub struct AwsAccount {
    pub region: String,
    pub endpoint: Option<Url>,
    pub credentials: Credentials,
    /// Whether connections are held to `[cloud] allow` (a tenant's own account) or
    /// trusted (the operator's).
    pub guarded: bool,
}

#[derive(Clone)]
pub struct AzureAccount {
    pub storage_account: String,
    pub key: Zeroizing<String>,
    /// The account's blob URL.
    pub url: Url,
    /// As for [`AwsAccount::guarded`].
    pub guarded: bool,
}

#[derive(Clone)]
pub enum Backend {
    Aws(AwsAccount),
    Azure(AzureAccount),
    Local { root: PathBuf },
}

/// An account ready to use.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub backend: Backend,
    pub buckets: Patterns,
    pub functions: Patterns,
    pub parameters: Patterns,
    /// The functions served as tools of their own: by name, and by tag key.
    pub function_tools: Patterns,
    pub function_tool_tag: Option<String>,
}

impl Account {
    /// The AWS side of the account, for Lambda and SSM.
    pub fn aws(&self, service: &str) -> Result<&AwsAccount, HubError> {
        let kind = match &self.backend {
            Backend::Aws(aws) => return Ok(aws),
            Backend::Azure(_) => "an Azure storage account",
            Backend::Local { .. } => "a local folder",
        };
        Err(HubError::Unsupported(format!(
            "account '{}' is {kind}; {service} needs an AWS account",
            self.name
        )))
    }

    /// Whether it serves some Lambda functions as tools of their own.
    pub fn serves_function_tools(&self) -> bool {
        matches!(self.backend, Backend::Aws(_))
            && (!self.function_tools.is_empty() || self.function_tool_tag.is_some())
    }

    /// Refuses a bucket the account does not serve, as if it did not exist.
    pub fn check_bucket(&self, bucket: &str) -> Result<(), HubError> {
        if self.buckets.allows(bucket) {
            Ok(())
        } else {
            Err(missing("bucket", bucket, &self.name))
        }
    }

    pub fn check_function(&self, function: &str) -> Result<(), HubError> {
        if self.functions.allows(function) {
            Ok(())
        } else {
            Err(missing("function", function, &self.name))
        }
    }

    pub fn check_parameter(&self, parameter: &str) -> Result<(), HubError> {
        if self.parameters.allows(parameter) {
            Ok(())
        } else {
            Err(missing("parameter", parameter, &self.name))
        }
    }
}

/// The answer for a name that does not exist, or that the account does not serve.
pub fn missing(what: &str, name: &str, account: &str) -> HubError {
    HubError::NotFound(format!(
        "no {what} '{}' in account '{account}'",
        excerpt(name)
    ))
}

#[derive(sqlx::FromRow)]
struct Stored {
    name: String,
    kind: String,
    region: String,
    endpoint: Option<String>,
    access_key_id: Option<String>,
    secret: Option<String>,
    use_provider_chain: bool,
    buckets: String,
    functions: String,
    parameters: String,
    function_tools: String,
    function_tool_tag: Option<String>,
    description: Option<String>,
    updated_at: DateTime<Utc>,
}

pub struct Accounts {
    store: Store,
    key: Arc<MasterKey>,
    config: Arc<CloudConfig>,
    /// The accounts calls opened lately, which the monitor checks.
    in_use: InUse<Account>,
}

fn json_list(text: &str) -> Result<Vec<String>, HubError> {
    serde_json::from_str(text).map_err(HubError::internal)
}

impl Accounts {
    pub fn new(store: Store, key: Arc<MasterKey>, config: Arc<CloudConfig>) -> Self {
        Accounts {
            store,
            key,
            config,
            in_use: InUse::new(parts::IN_USE_WINDOW),
        }
    }

    /// The accounts calls opened within [`parts::IN_USE_WINDOW`], by tenant and name.
    pub fn in_use(&self) -> Vec<(TenantId, String, Account)> {
        self.in_use.recent()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn declared_for<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> impl Iterator<Item = (&'a String, &'a DeclaredAccount)> + 'a {
        self.config.accounts.iter().filter(move |(_, account)| {
            account
                .tenants
                .iter()
                .any(|tenant| tenant == "*" || tenant == ctx.tenant.as_str())
        })
    }

    /// Stores (or replaces) an account for the tenant, sealing its secret.
    pub async fn put(
        &self,
        ctx: &CallContext,
        name: &str,
        input: AccountInput,
        policy: &Policy,
    ) -> Result<(), HubError> {
        self.in_use.forget(&ctx.tenant, name);
        if !tideway_core::naming::is_valid_id(name, 64) {
            return Err(HubError::invalid_argument(
                "name",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        // Only the operator's accounts this tenant can see take a name from it, so a
        // refusal reveals nothing about other tenants' accounts.
        if self.declared_for(ctx).any(|(declared, _)| declared == name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is an account the operator declares in the configuration; choose another name"
            )));
        }
        for (field, patterns) in [
            ("buckets", &input.buckets),
            ("functions", &input.functions),
            ("parameters", &input.parameters),
            ("function_tools", &input.function_tools),
        ] {
            Patterns::new(patterns).map_err(|reason| HubError::invalid_argument(field, reason))?;
        }
        if let Some(tag) = &input.function_tool_tag {
            check_tag_key(tag)
                .map_err(|reason| HubError::invalid_argument("function_tool_tag", reason))?;
        }
        let kind = input.kind.unwrap_or(AccountKind::Aws);
        let seal = |secret: &str| {
            self.key
                .seal(secret, &SEALED.at([ctx.tenant.as_str(), name]).context())
                .map_err(HubError::internal)
        };
        let (region, endpoint, key_id, secret) = match kind {
            AccountKind::Local => {
                return Err(HubError::invalid_argument(
                    "kind",
                    "a local folder is on the server's disk; only the operator declares one, in [cloud.accounts]",
                ));
            }
            AccountKind::Azure => {
                check_azure_input(&input)?;
                let storage_account = input.storage_account.clone().unwrap_or_default();
                let key = input.account_key.as_deref().unwrap_or_default();
                let endpoint = match &input.endpoint {
                    Some(text) => endpoint(text, policy, true)?,
                    None => default_azure_url(&storage_account)?,
                };
                (
                    String::new(),
                    Some(endpoint),
                    Some(storage_account),
                    Some(seal(key)?),
                )
            }
            AccountKind::Aws => {
                if input.storage_account.is_some() || input.account_key.is_some() {
                    return Err(HubError::invalid_argument(
                        "storage_account",
                        "belongs to an azure account (set kind to azure)",
                    ));
                }
                let region = input.region.clone().unwrap_or_else(|| "us-east-1".into());
                check_region(&region)?;
                let endpoint = match &input.endpoint {
                    Some(text) => Some(endpoint(text, policy, false)?),
                    None => None,
                };
                let secret = match self.aws_secret(&input)? {
                    Some(secret) => Some(seal(secret)?),
                    None => None,
                };
                (region, endpoint, input.access_key_id.clone(), secret)
            }
        };
        let lists = [
            &input.buckets,
            &input.functions,
            &input.parameters,
            &input.function_tools,
        ]
        .map(|list| serde_json::to_string(list).unwrap_or_else(|_| "[]".into()));
        let now = tideway_core::store::now();
        on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO cloud_accounts (tenant_id, name, kind, region, endpoint, access_key_id, secret, use_provider_chain, buckets, functions, parameters, function_tools, function_tool_tag, description, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) ON CONFLICT (tenant_id, name) DO UPDATE SET \
                 kind = excluded.kind, region = excluded.region, endpoint = excluded.endpoint, access_key_id = excluded.access_key_id, secret = excluded.secret, \
                 use_provider_chain = excluded.use_provider_chain, buckets = excluded.buckets, functions = excluded.functions, \
                 parameters = excluded.parameters, function_tools = excluded.function_tools, function_tool_tag = excluded.function_tool_tag, \
                 description = excluded.description, updated_at = excluded.updated_at",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .bind(kind.as_str())
            .bind(&region)
            .bind(endpoint.as_ref().map(Url::as_str))
            .bind(&key_id)
            .bind(&secret)
            .bind(input.use_provider_chain)
            .bind(&lists[0])
            .bind(&lists[1])
            .bind(&lists[2])
            .bind(&lists[3])
            .bind(&input.function_tool_tag)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// An AWS account's secret access key to seal, or `None` for the provider chain;
    /// the error names the field that is missing, extra or malformed.
    fn aws_secret<'a>(&self, input: &'a AccountInput) -> Result<Option<&'a str>, HubError> {
        match (
            input.use_provider_chain,
            &input.access_key_id,
            &input.secret_access_key,
        ) {
            (true, None, None) => {
                if !self.config.allow_provider_chain {
                    return Err(HubError::Forbidden(
                        "this server does not lend its own cloud credentials to accounts ([cloud] allow_provider_chain is off); give access_key_id and secret_access_key".into(),
                    ));
                }
                Ok(None)
            }
            (true, _, _) => Err(HubError::invalid_argument(
                "use_provider_chain",
                "give either use_provider_chain or access_key_id with secret_access_key, not both",
            )),
            (false, Some(key_id), Some(secret)) => {
                if key_id.is_empty()
                    || key_id.len() > 128
                    || !key_id.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(HubError::invalid_argument(
                        "access_key_id",
                        format!("'{}' is not an access key id", excerpt(key_id)),
                    ));
                }
                // The secret is never quoted, not even in an error.
                if secret.is_empty() || secret.len() > 256 || secret.chars().any(char::is_control) {
                    return Err(HubError::invalid_argument(
                        "secret_access_key",
                        "must be 1-256 printable characters",
                    ));
                }
                Ok(Some(secret))
            }
            (false, None, _) => Err(HubError::invalid_argument(
                "access_key_id",
                "is required (with secret_access_key), unless use_provider_chain is set",
            )),
            (false, Some(_), None) => Err(HubError::invalid_argument(
                "secret_access_key",
                "is required with access_key_id",
            )),
        }
    }

    async fn stored(&self, ctx: &CallContext, name: Option<&str>) -> Result<Vec<Stored>, HubError> {
        let rows: Vec<Stored> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT name, kind, region, endpoint, access_key_id, secret, use_provider_chain, buckets, functions, parameters, function_tools, function_tool_tag, description, updated_at \
                 FROM cloud_accounts WHERE tenant_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name",
            )
            .bind(ctx.tenant.as_str())
            .bind(name)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The tenant's accounts, the operator's first, without their secrets.
    pub async fn list(&self, ctx: &CallContext) -> Result<Vec<AccountView>, HubError> {
        let mut views: Vec<AccountView> = self
            .declared_for(ctx)
            .map(|(name, account)| AccountView {
                name: name.clone(),
                kind: account.kind,
                region: account.region.clone(),
                endpoint: account.endpoint.clone(),
                access_key_id: account.access_key_id.clone(),
                storage_account: account.storage_account.clone(),
                has_secret: account.secret_access_key_env.is_some()
                    || account.account_key_env.is_some(),
                use_provider_chain: account.use_provider_chain,
                buckets: account.buckets.clone(),
                functions: account.functions.clone(),
                parameters: account.parameters.clone(),
                function_tools: account.function_tools.clone(),
                function_tool_tag: account.function_tool_tag.clone(),
                description: account.description.clone(),
                origin: "config",
                updated_at: None,
            })
            .collect();
        for stored in self.stored(ctx, None).await? {
            let azure = stored.kind == "azure";
            let (access_key_id, storage_account) = if azure {
                (None, stored.access_key_id)
            } else {
                (stored.access_key_id, None)
            };
            views.push(AccountView {
                kind: if azure {
                    AccountKind::Azure
                } else {
                    AccountKind::Aws
                },
                region: (!azure).then_some(stored.region),
                endpoint: stored.endpoint,
                access_key_id,
                storage_account,
                has_secret: stored.secret.is_some(),
                use_provider_chain: stored.use_provider_chain,
                buckets: json_list(&stored.buckets)?,
                functions: json_list(&stored.functions)?,
                parameters: json_list(&stored.parameters)?,
                function_tools: json_list(&stored.function_tools)?,
                function_tool_tag: stored.function_tool_tag,
                description: stored.description,
                origin: "stored",
                updated_at: Some(stored.updated_at),
                name: stored.name,
            });
        }
        Ok(views)
    }

    /// Removes a stored account; `false` when the tenant has none of that name.
    pub async fn delete(&self, ctx: &CallContext, name: &str) -> Result<bool, HubError> {
        self.in_use.forget(&ctx.tenant, name);
        if self.declared_for(ctx).any(|(declared, _)| declared == name) {
            return Err(HubError::Conflict(format!(
                "'{name}' is declared in the configuration file; the operator removes it there"
            )));
        }
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM cloud_accounts WHERE tenant_id = $1 AND name = $2")
                .bind(ctx.tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted > 0)
    }

    /// The account a call names, or the tenant's only one; noted as in use.
    pub async fn open(&self, ctx: &CallContext, name: Option<&str>) -> Result<Account, HubError> {
        let account = self.resolve(ctx, name).await?;
        self.in_use
            .note(&ctx.tenant, &account.name, account.clone());
        Ok(account)
    }

    async fn resolve(&self, ctx: &CallContext, name: Option<&str>) -> Result<Account, HubError> {
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
                            "this tenant has no cloud account; an admin adds one with set_account"
                                .into(),
                        ));
                    }
                    _ => {
                        return Err(HubError::invalid_argument(
                            "account",
                            format!(
                                "this tenant has several accounts; name one of: {}",
                                names.join(", ")
                            ),
                        ));
                    }
                }
            }
        };
        if let Some((_, declared)) = self
            .declared_for(ctx)
            .find(|(declared, _)| **declared == name)
        {
            return open_declared(&name, declared);
        }
        let Some(stored) = self.stored(ctx, Some(&name)).await?.into_iter().next() else {
            return Err(HubError::NotFound(format!(
                "no cloud account named '{}'",
                excerpt(&name)
            )));
        };
        let unseal = |sealed: &str| {
            self.key
                .open(
                    sealed,
                    &SEALED.at([ctx.tenant.as_str(), name.as_str()]).context(),
                )
                .map_err(|error| HubError::Unavailable {
                    component: format!("cloud account '{name}'"),
                    reason: format!("its stored secret cannot be opened: {error}"),
                })
        };
        let endpoint = match &stored.endpoint {
            Some(text) => Some(Url::parse(text).map_err(HubError::internal)?),
            None => None,
        };
        let backend = match stored.kind.as_str() {
            "aws" => {
                let credentials = match (stored.access_key_id, &stored.secret) {
                    (Some(key_id), Some(sealed)) => Credentials::Static {
                        key_id,
                        secret: unseal(sealed)?,
                    },
                    _ if stored.use_provider_chain && self.config.allow_provider_chain => {
                        Credentials::ProviderChain
                    }
                    _ => {
                        return Err(HubError::Forbidden(format!(
                            "account '{name}' takes the server's own credentials, which [cloud] allow_provider_chain no longer allows"
                        )));
                    }
                };
                Backend::Aws(AwsAccount {
                    region: stored.region,
                    endpoint,
                    credentials,
                    guarded: true,
                })
            }
            "azure" => {
                let (Some(storage_account), Some(sealed), Some(url)) =
                    (stored.access_key_id, &stored.secret, endpoint)
                else {
                    return Err(HubError::internal("an azure account without its key"));
                };
                Backend::Azure(AzureAccount {
                    storage_account,
                    key: unseal(sealed)?,
                    url,
                    guarded: true,
                })
            }
            other => {
                return Err(HubError::internal(format!(
                    "stored account of kind {other}"
                )));
            }
        };
        Ok(Account {
            backend,
            buckets: patterns(&stored.buckets)?,
            functions: patterns(&stored.functions)?,
            parameters: patterns(&stored.parameters)?,
            function_tools: patterns(&stored.function_tools)?,
            function_tool_tag: stored.function_tool_tag,
            name,
        })
    }
}

fn patterns(json: &str) -> Result<Patterns, HubError> {
    Patterns::new(&json_list(json)?).map_err(HubError::internal)
}

fn open_declared(name: &str, declared: &DeclaredAccount) -> Result<Account, HubError> {
    let checked = |patterns: &[String]| Patterns::new(patterns).map_err(HubError::internal);
    let unavailable = |reason: String| HubError::Unavailable {
        component: format!("cloud account '{name}'"),
        reason,
    };
    let endpoint = match &declared.endpoint {
        Some(text) => Some(
            Url::parse(text)
                .map_err(|error| unavailable(format!("its endpoint is not a URL: {error}")))?,
        ),
        None => None,
    };
    let backend = match declared.kind {
        AccountKind::Azure => {
            let storage_account = declared.storage_account.clone().unwrap_or_default();
            let var = declared.account_key_env.as_deref().unwrap_or_default();
            let key = std::env::var(var)
                .map_err(|_| unavailable(format!("its account key variable {var} is not set")))?;
            Backend::Azure(AzureAccount {
                url: match endpoint {
                    Some(url) => url,
                    None => default_azure_url(&storage_account)?,
                },
                storage_account,
                key: Zeroizing::new(key),
                guarded: false,
            })
        }
        AccountKind::Local => Backend::Local {
            root: declared
                .path
                .clone()
                .ok_or_else(|| HubError::internal("a local account without a path"))?,
        },
        AccountKind::Aws => {
            let credentials = match (&declared.access_key_id, &declared.secret_access_key_env) {
                (Some(key_id), Some(var)) => Credentials::Static {
                    key_id: key_id.clone(),
                    secret: Zeroizing::new(std::env::var(var).map_err(|_| {
                        unavailable(format!("its secret variable {var} is not set"))
                    })?),
                },
                _ => Credentials::ProviderChain,
            };
            Backend::Aws(AwsAccount {
                region: declared
                    .region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".into()),
                endpoint,
                credentials,
                guarded: false,
            })
        }
    };
    Ok(Account {
        name: name.to_string(),
        backend,
        buckets: checked(&declared.buckets)?,
        functions: checked(&declared.functions)?,
        parameters: checked(&declared.parameters)?,
        function_tools: checked(&declared.function_tools)?,
        function_tool_tag: declared.function_tool_tag.clone(),
    })
}

/// An account's endpoint: http(s), no credentials, query or fragment, no path unless
/// `with_path` (an Azure emulator names the account in its path), and not an internal
/// address unless the operator opened it with `[cloud] allow`.
fn endpoint(text: &str, policy: &Policy, with_path: bool) -> Result<Url, HubError> {
    let invalid = |message: String| HubError::invalid_argument("endpoint", message);
    let url = Url::parse(text)
        .map_err(|error| invalid(format!("'{}' is not a URL: {error}", excerpt(text))))?;
    policy
        .check_url(&url)
        .map_err(|refusal| invalid(refusal.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must have no query or fragment".into()));
    }
    if with_path {
        let path = url.path().trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        if segments.len() > 1
            || segments
                .iter()
                .any(|segment| !is_storage_account_name(segment))
        {
            return Err(invalid(
                "is the account's blob URL: an origin, optionally with the account's name as its path".into(),
            ));
        }
        let mut url = url.clone();
        url.set_path(path);
        return Ok(url);
    }
    if url.path() != "/" {
        return Err(invalid(
            "is the service's origin only (scheme, host and port), with no path or query".into(),
        ));
    }
    Ok(url)
}

/// Azure's own blob URL for a storage account.
fn default_azure_url(storage_account: &str) -> Result<Url, HubError> {
    Url::parse(&format!("https://{storage_account}.blob.core.windows.net"))
        .map_err(|error| HubError::invalid_argument("storage_account", error.to_string()))
}

fn check_region(region: &str) -> Result<(), HubError> {
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(HubError::invalid_argument(
            "region",
            format!("'{}' is not a region name", excerpt(region)),
        ));
    }
    Ok(())
}

/// An Azure account's input: its storage account and key, and none of AWS's fields.
fn check_azure_input(input: &AccountInput) -> Result<(), HubError> {
    let aws_only = [
        ("region", input.region.is_some()),
        ("access_key_id", input.access_key_id.is_some()),
        ("secret_access_key", input.secret_access_key.is_some()),
        ("use_provider_chain", input.use_provider_chain),
        ("functions", !input.functions.is_empty()),
        ("parameters", !input.parameters.is_empty()),
        ("function_tools", !input.function_tools.is_empty()),
        ("function_tool_tag", input.function_tool_tag.is_some()),
    ];
    if let Some((field, _)) = aws_only.iter().find(|(_, given)| *given) {
        return Err(HubError::invalid_argument(
            *field,
            "belongs to an aws account; an azure account takes storage_account and account_key",
        ));
    }
    match &input.storage_account {
        Some(name) if is_storage_account_name(name) => {}
        Some(name) => {
            return Err(HubError::invalid_argument(
                "storage_account",
                format!(
                    "'{}' is not a storage account name (3-24 lower-case letters and digits)",
                    excerpt(name)
                ),
            ));
        }
        None => {
            return Err(HubError::invalid_argument(
                "storage_account",
                "is required for an azure account",
            ));
        }
    }
    // The key is never quoted, not even in an error.
    match &input.account_key {
        Some(key)
            if object_store::azure::AzureAccessKey::try_new(key).is_ok() && key.len() <= 256 =>
        {
            Ok(())
        }
        Some(_) => Err(HubError::invalid_argument(
            "account_key",
            "is not a storage account key (base64, as the Azure portal shows it)",
        )),
        None => Err(HubError::invalid_argument(
            "account_key",
            "is required for an azure account",
        )),
    }
}
