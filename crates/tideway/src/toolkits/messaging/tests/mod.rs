//! The messaging toolkit's tests, through the Hub as an MCP client reaches it,
//! against a real Kafka-protocol broker (tansu, started by the test command):
//! groups across calls (`groups.rs`), the broker going away and coming back
//! (`restart.rs`), and clusters, tenancy, restrictions, secrets and bad input
//! (`clusters.rs`). Skipped when no broker was started, unless
//! `TIDEWAY_REQUIRE_KAFKA` says one must be.

mod clusters;
mod groups;
mod restart;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
};

use serde_json::{Value, json};
use tideway_core::{
    CallContext, Hub, HubError,
    context::Role,
    mcp::JsonObject,
    secrets::MasterKey,
    store::testing::{TestStore, test_stores},
};

use super::MessagingToolkit;
pub use super::settings::MessagingConfig;
use crate::{egress::SystemLookup, toolkits::testing::prepare_store};

pub use crate::toolkits::testing::ctx;

/// The bootstrap address of the broker the test command started; `None` skips
/// the test, unless `TIDEWAY_REQUIRE_KAFKA` says the broker must be there.
pub fn broker() -> Option<String> {
    match std::env::var("TIDEWAY_TEST_KAFKA_BOOTSTRAP") {
        Ok(bootstrap) => Some(bootstrap),
        Err(_) => {
            assert!(
                std::env::var("TIDEWAY_REQUIRE_KAFKA").is_err(),
                "TIDEWAY_REQUIRE_KAFKA is set but TIDEWAY_TEST_KAFKA_BOOTSTRAP is not"
            );
            None
        }
    }
}

/// The broker binary the test command names in `TIDEWAY_TEST_KAFKA_BROKER`, for
/// tests that run a broker of their own.
pub fn broker_binary() -> Option<String> {
    match std::env::var("TIDEWAY_TEST_KAFKA_BROKER") {
        Ok(binary) => Some(binary),
        Err(_) => {
            assert!(
                std::env::var("TIDEWAY_REQUIRE_KAFKA").is_err(),
                "TIDEWAY_REQUIRE_KAFKA is set but TIDEWAY_TEST_KAFKA_BROKER is not"
            );
            None
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A broker of a test's own (tansu, in memory), stopped when dropped.
pub struct Broker(Child);

impl Broker {
    /// On `port`; with `authentication`, it requires SASL.
    pub fn start(binary: &str, port: u16, authentication: bool) -> Broker {
        let address = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(binary);
        command.args([
            "broker",
            "--listener-url",
            &address,
            "--advertised-listener-url",
            &address,
            "--storage-engine",
            "memory://tansu/",
        ]);
        if authentication {
            command.arg("--authentication");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("broker starts");
        Broker(child)
    }

    pub fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Loopback opened, short timeouts: as for a broker on this machine.
pub fn loopback_config() -> MessagingConfig {
    MessagingConfig {
        allow: vec!["127.0.0.1".into()],
        request_timeout_ms: 3000,
        ..MessagingConfig::default()
    }
}

/// A topic name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub struct Fixture {
    pub hub: Arc<Hub>,
    pub store: tideway_core::Store,
    _kept: (Option<TestStore>, Option<tempfile::TempDir>),
}

impl Fixture {
    /// On a SQLite store.
    pub async fn new(config: MessagingConfig) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = tideway_core::Store::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("messaging.db").display()
        ))
        .await
        .expect("store");
        Self::over(store, (None, Some(dir)), config).await
    }

    /// One per store backend, for what the store keeps.
    pub async fn on_each_store(config: &MessagingConfig) -> Vec<Fixture> {
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
        config: MessagingConfig,
    ) -> Fixture {
        prepare_store(&store, &["acme", "globex"]).await;
        let (key, _) = MasterKey::generate().expect("key");
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(
            MessagingToolkit::new(config, store.clone(), Arc::new(key), Arc::new(SystemLookup))
                .expect("toolkit"),
        ))
        .expect("register");
        Fixture {
            hub,
            store,
            _kept: kept,
        }
    }

    /// Stores acme's cluster `main` at `bootstrap`, as its admin.
    pub async fn with_cluster(self, bootstrap: &str, extra: Value) -> Fixture {
        let mut cluster = json!({"bootstrap_servers": bootstrap});
        if let (Some(cluster), Some(extra)) = (cluster.as_object_mut(), extra.as_object()) {
            cluster.extend(extra.clone());
        }
        self.try_call(
            &ctx("acme", Role::Admin),
            "set_cluster",
            json!({"name": "main", "cluster": cluster}),
        )
        .await
        .expect("cluster stored");
        self
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
        let result = self
            .hub
            .call(ctx, "messaging", tool, Some(arguments))
            .await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        Ok(crate::toolkits::testing::structured(
            &self.hub,
            "messaging",
            tool,
            result,
        ))
    }

    /// A call by acme's operator that must fail; its error.
    pub async fn refused(&self, tool: &str, arguments: Value) -> HubError {
        self.refused_for(&ctx("acme", Role::Operator), tool, arguments)
            .await
    }

    pub async fn refused_for(&self, ctx: &CallContext, tool: &str, arguments: Value) -> HubError {
        match self.try_call(ctx, tool, arguments.clone()).await {
            Ok(answer) => panic!("{tool} {arguments} should fail, answered {answer}"),
            Err(error) => error,
        }
    }

    /// Creates a topic with `partitions` partitions.
    pub async fn topic(&self, prefix: &str, partitions: i32) -> String {
        let topic = unique(prefix);
        self.call(
            "create_topic",
            json!({"topic": topic, "partitions": partitions}),
        )
        .await;
        topic
    }
}

/// The (partition, offset) of each message a consume or peek returned.
pub fn positions(answer: &Value) -> Vec<(i64, i64)> {
    answer["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|message| {
                    (
                        message["partition"].as_i64().unwrap_or(-1),
                        message["offset"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
