//! The cloud toolkit's tests, through the Hub as an MCP client reaches it: a local
//! folder account (`local.rs`), an S3 + SSM + Lambda emulator (moto's server, started
//! by the test command; `aws.rs`) for stored accounts, credentials, restrictions,
//! tenancy, each tool and functions served as tools, and an Azure Blob Storage
//! emulator (Azurite, also started by the test command; `azure.rs`); Lambda functions
//! picked as tools of their own (`function_tools.rs`).

mod aws;
mod azure;
mod function_tools;
mod local;

use std::{path::Path, sync::Arc};

use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError,
    context::Role,
    hub::CallLimits,
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::{CloudToolkit, aws::Clients, settings::CloudConfig};
use crate::{
    egress::{Policy, SystemLookup},
    toolkits::testing::prepare_store,
};

pub use crate::toolkits::testing::ctx;

pub struct Fixture {
    pub hub: Arc<Hub>,
    pub store: tideway_core::Store,
    _kept: (Option<TestStore>, Option<tempfile::TempDir>),
}

impl Fixture {
    /// On a SQLite store.
    pub async fn new(config: CloudConfig) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = tideway_core::Store::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cloud.db").display()
        ))
        .await
        .expect("store");
        Self::over(store, (None, Some(dir)), config).await
    }

    /// One per store backend, for what the store keeps.
    pub async fn on_each_store(config: &CloudConfig) -> Vec<Fixture> {
        let mut fixtures = Vec::new();
        for test in test_stores().await {
            let store = test.store.clone();
            fixtures.push(Self::over(store, (Some(test), None), config.clone()).await);
        }
        fixtures
    }

    async fn over(
        store: tideway_core::Store,
        kept: (Option<TestStore>, Option<tempfile::TempDir>),
        config: CloudConfig,
    ) -> Fixture {
        prepare_store(&store, &["acme", "globex"]).await;
        let (key, _) = MasterKey::generate().expect("key");
        // Large enough for the multipart upload's body inside the arguments.
        let hub = Arc::new(Hub::new().with_limits(CallLimits {
            max_argument_bytes: 64 * 1024 * 1024,
            ..CallLimits::default()
        }));
        hub.register(Arc::new(
            CloudToolkit::new(
                config,
                store.clone(),
                Arc::new(key),
                Arc::new(SystemLookup),
                Arc::downgrade(&hub),
            )
            .expect("toolkit"),
        ))
        .expect("register");
        Fixture {
            hub,
            store,
            _kept: kept,
        }
    }

    /// A call by acme's operator that must succeed.
    pub async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.try_call(&ctx("acme", Role::Operator), tool, arguments)
            .await
            .unwrap_or_else(|error| panic!("{tool}: {error}"))
    }

    /// A call's structured result, or its error.
    pub async fn try_call(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self.hub.call(ctx, "cloud", tool, Some(arguments)).await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        Ok(crate::toolkits::testing::structured(
            &self.hub, "cloud", tool, result,
        ))
    }

    /// A call that must fail; its error.
    pub async fn refused(&self, ctx: &CallContext, tool: &str, arguments: Value) -> HubError {
        match self.try_call(ctx, tool, arguments.clone()).await {
            Ok(answer) => panic!("{tool} {arguments} should fail, answered {answer}"),
            Err(error) => error,
        }
    }
}

/// Every file below `dir`, as paths relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The `json!` of an account stored by acme's admin.
pub fn with(account: Value) -> Value {
    json!({"name": "main", "account": account})
}

/// The endpoint of the emulator the test command started, named by
/// `TIDEWAY_TEST_{service}_ENDPOINT`; `None` skips the test, unless
/// `TIDEWAY_REQUIRE_{service}` says the emulator must be there.
pub fn emulator(service: &str) -> Option<String> {
    match std::env::var(format!("TIDEWAY_TEST_{service}_ENDPOINT")) {
        Ok(endpoint) => Some(endpoint),
        Err(_) => {
            assert!(
                std::env::var(format!("TIDEWAY_REQUIRE_{service}")).is_err(),
                "TIDEWAY_REQUIRE_{service} is set but TIDEWAY_TEST_{service}_ENDPOINT is not"
            );
            None
        }
    }
}

/// Loopback opened, as for an emulator on this machine.
pub fn loopback_config() -> CloudConfig {
    CloudConfig {
        allow: vec!["127.0.0.1".into()],
        ..CloudConfig::default()
    }
}

/// Clients that skip the egress check, for setting up the emulators as their
/// administrator would.
pub fn setup_clients() -> Clients {
    Clients::new(
        &CloudConfig::default(),
        Arc::new(Policy::new(&[], Arc::new(SystemLookup), "[cloud] allow").expect("policy")),
    )
    .expect("clients")
}

/// A unique bucket or container name, so tests sharing an emulator do not meet.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A principal of `tenant` as authentication makes it: the tenant set on the
/// credential too, so the tenant's own toolkits are visible to it.
pub fn tenant_ctx(tenant: &str, role: Role) -> CallContext {
    let mut ctx = ctx(tenant, role);
    ctx.principal = ctx
        .principal
        .with_tenant(tideway_core::TenantId::new(tenant));
    ctx
}
