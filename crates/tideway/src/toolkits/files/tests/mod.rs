//! The files toolkit's tests, through the Hub as an MCP client reaches it: what each
//! tool does (`behaviour.rs`), a corpus of paths that try to leave a root
//! (`escapes.rs`), the same corpus over the REST routes (`rest_escapes.rs`) and the
//! roots a client names (`client_roots.rs`).

mod behaviour;
mod client_roots;
mod escapes;
mod rest_escapes;

use std::{collections::BTreeMap, path::Path, sync::Arc};

use serde_json::{Value, json};
use tideway_core::{CallContext, Hub, HubError, context::Role, mcp::JsonObject};

use super::{
    FilesToolkit,
    settings::{FilesConfig, GrantedRoot},
};

/// What the outside world holds; no tool may read or change it.
pub const SECRET: &str = "TOPSECRET-outside-the-roots";

/// A data directory with the tenants' homes, a folder outside every root holding a
/// secret, a read-only shared root and a writable drop root.
pub struct Fixture {
    pub hub: Arc<Hub>,
    pub dir: tempfile::TempDir,
    /// The settings the toolkit was made with, for an application serving the same
    /// roots over HTTP.
    pub config: FilesConfig,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut FilesConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path();
        let outside = base.join("outside");
        std::fs::create_dir_all(outside.join("inner")).expect("outside");
        std::fs::write(outside.join("secret.txt"), SECRET).expect("secret");
        std::fs::write(outside.join("inner/deep.txt"), SECRET).expect("secret");
        let shared = base.join("shared");
        std::fs::create_dir_all(&shared).expect("shared");
        std::fs::write(shared.join("handbook.md"), "# Handbook\nBe kind.\n").expect("handbook");
        let drop = base.join("drop");
        std::fs::create_dir_all(&drop).expect("drop");
        let mut config = FilesConfig::default();
        config.roots.insert(
            "shared".into(),
            GrantedRoot {
                path: shared,
                tenants: vec!["acme".into()],
                writable: false,
                description: Some("the handbook".into()),
            },
        );
        config.roots.insert(
            "drop".into(),
            GrantedRoot {
                path: drop,
                tenants: vec!["*".into()],
                writable: true,
                description: None,
            },
        );
        configure(&mut config);
        let data = base.join("data");
        let hub = Arc::new(Hub::new());
        hub.register(Arc::new(FilesToolkit::new(config.clone(), &data)))
            .expect("register");
        let fixture = Fixture { hub, dir, config };
        // The home exists once used; make it now to plant things in it.
        std::fs::create_dir_all(fixture.home("acme")).expect("home");
        fixture
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn home(&self, tenant: &str) -> std::path::PathBuf {
        self.data_dir().join("files").join(tenant)
    }

    pub fn outside(&self) -> std::path::PathBuf {
        self.dir.path().join("outside")
    }

    /// Every file below the outside folder with its content, to show nothing there
    /// changed.
    pub fn outside_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &Path, prefix: &str, into: &mut BTreeMap<String, Vec<u8>>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("read outside")
                .map(|entry| entry.expect("entry"))
                .collect();
            entries.sort_by_key(|entry| entry.file_name());
            for entry in entries {
                let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
                let kind = entry.file_type().expect("type");
                if kind.is_dir() {
                    into.insert(format!("{name}/"), Vec::new());
                    walk(&entry.path(), &name, into);
                } else {
                    into.insert(name, std::fs::read(entry.path()).unwrap_or_default());
                }
            }
        }
        let mut snapshot = BTreeMap::new();
        walk(&self.outside(), "", &mut snapshot);
        snapshot
    }

    pub async fn call(
        &self,
        tenant: &str,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        self.call_as(&ctx(tenant, Role::Operator), tool, arguments)
            .await
    }

    pub async fn call_as(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, HubError> {
        let arguments: JsonObject = serde_json::from_value(arguments).expect("object");
        let result = self.hub.call(ctx, "files", tool, Some(arguments)).await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
        // The whole answer, text blocks and structured content, for checks on what
        // it reveals.
        let content = serde_json::to_value(&result.content).unwrap_or(Value::Null);
        Ok(json!({
            "structured": crate::toolkits::testing::structured(&self.hub, "files", tool, result),
            "content": content,
        }))
    }
}

pub use crate::toolkits::testing::ctx;
