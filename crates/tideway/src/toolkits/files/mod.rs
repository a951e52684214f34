//! The `files` toolkit: each tenant's files in named roots (its own `home` under the
//! data directory, and folders the operator grants), read, written, edited, moved
//! and searched through the tools of the reference filesystem server. Nothing
//! outside a tenant's roots can be reached whatever a path says: paths are parsed
//! strictly (`paths.rs`) and everything is opened relative to a root's directory
//! handle (`access.rs`).

mod access;
mod file_routes;
mod paths;
mod reading;
mod resources;
pub mod routes;
pub mod settings;
pub mod tools;
mod walking;
mod writing;

#[cfg(test)]
mod tests;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use tideway_core::{
    CallContext, HubError, Toolkit,
    mcp::{CallToolResult, JsonObject, Resource, ResourceContents, ResourceTemplate, Tool},
    toolkit::Health,
    typed::ToolSet,
};

use self::{access::Roots, settings::FilesConfig};

/// The `files` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "files",
    summary: "files in each tenant's roots: read, write, edit, move and search, never outside them",
    // It writes to the server's disk, so it runs only where the operator names it.
    on_by_default: false,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[],
    sealed: &[],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(FilesToolkit::new(config, &shared.config.data_dir)))
    }),
    rest: Some(super::Rest {
        tag: "files",
        description: "Files in each tenant's roots: the filesystem operations (the files toolkit)",
        routes: routes::router,
        tools: routes::OPERATIONS,
    }),
    cli: None,
};

pub struct FilesState {
    pub roots: Roots,
}

pub struct FilesToolkit {
    tools: ToolSet<FilesState>,
    state: Arc<FilesState>,
}

/// New files of writes older than this are taken for leftovers of a crash.
const PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

impl FilesToolkit {
    /// The toolkit over its roots. What crashed writes left behind is removed in the
    /// background.
    pub fn new(config: FilesConfig, data_dir: &Path) -> Self {
        let state = Arc::new(FilesState {
            roots: Roots::new(config, data_dir),
        });
        let sweeping = state.clone();
        std::thread::spawn(move || {
            let removed = sweeping.roots.sweep_partials(PARTIAL_MAX_AGE);
            if removed > 0 {
                tracing::info!(removed, "removed files that interrupted writes left behind");
            }
        });
        FilesToolkit {
            tools: tools::tool_set(),
            state,
        }
    }
}

#[async_trait]
impl Toolkit for FilesToolkit {
    fn name(&self) -> &str {
        "files"
    }

    fn description(&self) -> &str {
        "Files in this tenant's roots (its own `home` and folders the operator shares): read text and media, write atomically, edit with a diff, list, find by name, search contents, move and delete. Paths are `<root>/<path>`."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[
            tools::names::READ_TEXT_FILE,
            tools::names::WRITE_FILE,
            tools::names::EDIT_FILE,
            tools::names::LIST_DIRECTORY,
            tools::names::SEARCH_FILES,
            tools::names::GREP_FILES,
        ])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
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

    /// Down when a folder the operator granted cannot be opened (the detail names the
    /// root, not the server's path).
    async fn health(&self) -> Health {
        let config = self.state.roots.config();
        let missing: Vec<&str> = config
            .roots
            .iter()
            .filter(|(_, root)| !root.path.is_dir())
            .map(|(name, _)| name.as_str())
            .collect();
        if missing.is_empty() {
            Health::healthy()
        } else {
            Health::down(format!(
                "granted roots that are not folders on the server: {}",
                missing.join(", ")
            ))
        }
    }
}
