//! The `fetch` toolkit: web pages for a model to read (`fetch`, as the reference fetch
//! server has it: Markdown of the main content, read in parts) and HTTP API calls
//! (`http_request`, through a tenant's stored connections when they need
//! credentials). It cannot be turned against the network it runs in: every hop of
//! every request is held to one policy (`crate::egress`) and the HTTP client connects only
//! to addresses that policy resolved and checked (`client.rs`).

mod client;
pub mod connections;
mod content;
mod robots;
pub mod routes;
pub mod settings;
pub mod tools;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tideway_core::{
    CallContext, HubError, Role, Store, Toolkit,
    mcp::{CallToolResult, JsonObject, Tool},
    secrets::MasterKey,
    toolkit::role_by_annotations,
    typed::ToolSet,
};

use crate::egress::{Lookup, Policy, SystemLookup};

use self::{
    client::Fetcher, connections::Connections, robots::Robots, settings::FetchConfig, tools::names,
};

/// The `fetch` toolkit's descriptor.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "fetch",
    summary: "web pages as Markdown and HTTP API calls, never to internal addresses",
    // It reaches the internet on a model's behalf, so it runs only where the operator
    // names it.
    on_by_default: false,
    feature: None,
    settings: Some(super::Settings {
        keys: &[settings::KEY],
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[tideway_core::store::Migration {
        version: 11,
        name: "http_connections",
        sqlite: include_str!("migrations/sqlite/0011_http_connections.sql"),
        postgres: include_str!("migrations/postgres/0011_http_connections.sql"),
    }],
    sealed: &[&connections::SEALED],
    build: Some(|shared| {
        let config = settings::from_config(shared.config).map_err(|error| error.to_string())?;
        Ok(Arc::new(FetchToolkit::new(
            config,
            shared.store.clone(),
            shared.master_key.clone(),
            Arc::new(SystemLookup),
        )?))
    }),
    rest: Some(super::Rest {
        tag: "fetch",
        description: "Web pages and HTTP API calls, and the tenant's HTTP connections (the fetch toolkit)",
        routes: routes::router,
        tools: &[
            names::FETCH,
            names::HTTP_REQUEST,
            names::LIST_HTTP_CONNECTIONS,
            names::SET_HTTP_CONNECTION,
            names::DELETE_HTTP_CONNECTION,
        ],
    }),
    cli: None,
};

pub struct FetchState {
    pub config: FetchConfig,
    pub fetcher: Fetcher,
    pub robots: Robots,
    pub connections: Connections,
}

pub struct FetchToolkit {
    tools: ToolSet<FetchState>,
    state: Arc<FetchState>,
}

impl FetchToolkit {
    /// The toolkit over `[fetch]`; names are resolved by `lookup`.
    pub fn new(
        config: FetchConfig,
        store: Store,
        key: Arc<MasterKey>,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        let policy = Arc::new(Policy::new(&config.allow, lookup, "[fetch] allow")?);
        let fetcher = Fetcher::new(&config, policy)?;
        Ok(FetchToolkit {
            tools: tools::tool_set(),
            state: Arc::new(FetchState {
                config,
                fetcher,
                robots: Robots::default(),
                connections: Connections::new(store, key),
            }),
        })
    }
}

#[async_trait]
impl Toolkit for FetchToolkit {
    fn name(&self) -> &str {
        "fetch"
    }

    fn description(&self) -> &str {
        "The web and HTTP APIs: fetch a page as Markdown (read long pages in parts), call an API with any method, through the tenant's stored connections when it needs credentials. Internal addresses are refused."
    }

    fn featured_tools(&self) -> Option<Vec<String>> {
        tideway_core::toolkit::featured(&[tools::names::FETCH, tools::names::HTTP_REQUEST])
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.tools()
    }

    /// Storing and deleting connections (their credentials) manages the tenant:
    /// admins only.
    fn required_role(&self, tool: &Tool) -> Role {
        match tool.name.as_ref() {
            names::SET_HTTP_CONNECTION | names::DELETE_HTTP_CONNECTION => Role::Admin,
            _ => role_by_annotations(tool),
        }
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
}
