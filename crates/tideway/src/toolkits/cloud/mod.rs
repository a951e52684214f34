//! The `cloud` toolkit: object storage on every backend the object store library
//! serves here (S3 and S3-compatible stores, Azure Blob Storage, local folders the
//! operator grants), Lambda invocation (and functions served as tools of their own)
//! and SSM parameters, for the accounts a tenant's admin stores or the operator
//! declares. No AWS SDK: Lambda and SSM are signed JSON calls (`aws.rs`).
//! Every request a tenant's account makes is held to the egress policy
//! (`crate::egress`, opened by `[cloud] allow`).

pub mod accounts;
pub mod aws;
mod azure;
mod connector;
pub mod diagnosis;
pub mod function_tools;
pub mod lambda;
pub mod listing;
pub mod objects;
mod resources;
pub mod routes;
pub mod settings;
pub mod ssm;
pub mod tools;

#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use tideway_core::{
    CallContext, Hub, HubError, PartHealth, Role, Store, Toolkit,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, ResourceTemplate, Tool},
    parts,
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use self::{
    accounts::Accounts, aws::Clients, function_tools::FunctionTools, settings::CloudConfig,
    tools::names,
};
use crate::egress::{Lookup, Policy, SystemLookup};

/// The `cloud` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "cloud",
    summary: "S3 and other object stores, Lambda and SSM parameters, per-tenant accounts",
    // It reaches a cloud with credentials a tenant stores; useless until an account
    // exists, and it reaches the network, so the operator names it.
    on_by_default: false,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 15,
            name: "cloud_accounts",
            sqlite: include_str!("migrations/sqlite/0015_cloud_accounts.sql"),
            postgres: include_str!("migrations/postgres/0015_cloud_accounts.sql"),
        },
        tideway_core::store::Migration {
            version: 16,
            name: "cloud_function_tools",
            sqlite: include_str!("migrations/sqlite/0016_cloud_function_tools.sql"),
            postgres: include_str!("migrations/postgres/0016_cloud_function_tools.sql"),
        },
    ],
    sealed: &[&accounts::SEALED],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(CloudToolkit::new(
            config,
            shared.store.clone(),
            shared.master_key.clone(),
            Arc::new(SystemLookup),
            Arc::downgrade(shared.hub),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "cloud",
        description: "Object storage, Lambda and SSM parameters, and the tenant's cloud accounts (the cloud toolkit)",
        routes: routes::router,
        tools: routes::OPERATIONS,
    }),
    cli: None,
};

pub struct CloudState {
    pub config: Arc<CloudConfig>,
    pub policy: Arc<Policy>,
    pub clients: Clients,
    pub accounts: Accounts,
    /// The Lambda functions accounts serve as tools of their own.
    pub functions: FunctionTools,
}

pub struct CloudToolkit {
    tools: ToolSet<CloudState>,
    state: Arc<CloudState>,
}

impl CloudToolkit {
    /// The toolkit over `[cloud]`; names are resolved by `lookup`.
    pub fn new(
        config: CloudConfig,
        store: Store,
        key: Arc<MasterKey>,
        lookup: Arc<dyn Lookup>,
        hub: Weak<Hub>,
    ) -> Result<Self, String> {
        let config = Arc::new(config);
        // One policy: the check when an account is stored and the resolver of every
        // connection it makes.
        let policy = Arc::new(Policy::new(&config.allow, lookup, "[cloud] allow")?);
        let clients = Clients::new(&config, policy.clone())?;
        let refresh = Duration::from_secs(config.function_refresh_secs);
        let state = Arc::new(CloudState {
            accounts: Accounts::new(store, key, config.clone()),
            config,
            policy,
            clients,
            functions: FunctionTools::new(hub),
        });
        FunctionTools::spawn(
            Arc::downgrade(&state),
            state.functions.stop.clone(),
            refresh,
        );
        Ok(CloudToolkit {
            tools: tools::tool_set(),
            state,
        })
    }
}

#[async_trait]
impl Toolkit for CloudToolkit {
    fn name(&self) -> &str {
        "cloud"
    }

    fn description(&self) -> &str {
        "Cloud storage and services: objects in S3-compatible stores, Azure Blob Storage and local folders (upload, download, list, presign), Lambda functions, and SSM parameters, through the tenant's accounts."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            names::S3_LIST_OBJECTS,
            names::S3_DOWNLOAD_FILE,
            names::S3_UPLOAD_FILE,
            names::LAMBDA_INVOKE,
            names::GET_PARAMETER_STORE_VALUE,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Storing and deleting accounts (their secrets) manages the tenant: admins only.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::SET_ACCOUNT | names::DELETE_ACCOUNT => Role::Admin,
            _ => role_by_annotations(tool),
        }
    }

    /// Each account a call opened lately, reached as `test_account` reaches it. A
    /// refusal to list (`permission`) still shows the service answering to the
    /// account's credentials, and an account kept to one bucket or to functions
    /// gets it while its calls succeed, so it does not count as down.
    async fn parts(&self, timeout: Duration) -> Vec<PartHealth> {
        let state = self.state.clone();
        parts::check_each(
            "account",
            self.state.accounts.in_use(),
            timeout,
            |account| {
                let state = state.clone();
                async move {
                    match tools::test(&state, &account).await {
                        Err(failure) if failure.kind != "permission" => {
                            Err(format!("{}: {}", failure.kind, failure.detail))
                        }
                        _ => Ok(()),
                    }
                }
            },
        )
        .await
    }

    async fn call_tool(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        self.tools
            .call(self.state.clone(), ctx, name, arguments)
            .await
    }

    fn uri_prefixes(&self) -> Vec<String> {
        vec![resources::PREFIX.to_string()]
    }

    async fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Resource>, HubError> {
        resources::list(&self.state, ctx).await
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        resources::templates()
    }

    async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        resources::read(&self.state, ctx, uri).await
    }

    async fn shutdown(&self) {
        self.state.functions.stop.cancel();
    }
}
