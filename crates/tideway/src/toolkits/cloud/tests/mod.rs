//! The cloud toolkit's tests, through the Hub as an MCP client reaches it: a local
//! folder account (`local.rs`), an S3 + SSM + Lambda emulator (moto's server, started
//! by the test command; `aws.rs`) for stored accounts, credentials, restrictions,
//! tenancy, each tool and functions served as tools, and an Azure Blob Storage
//! emulator (Azurite, also started by the test command; `azure.rs`).

mod aws;
mod azure;
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

use super::{CloudToolkit, settings::CloudConfig};
use crate::{egress::SystemLookup, toolkits::testing::prepare_store};

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
        Ok(result.structured_content.unwrap_or(Value::Null))
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
