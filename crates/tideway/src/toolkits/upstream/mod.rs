//! The gateway toolkit family: other MCP servers (stdio children or Streamable HTTP
//! endpoints) federated as toolkits named after them, with one shared connection
//! each, restarts with backoff, health checks, circuit breakers, per-call deadlines
//! and retries for read-only tools, and the REST endpoints that report on them and
//! manage them at runtime.

pub mod breaker;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod gateway;
pub mod records;
pub mod routes;
pub mod settings;
pub mod supervisor;
pub mod toolkit;

pub use gateway::Gateway;

/// The gateway's descriptor. It is not registered by name: the gateway starts with
/// the application and registers one toolkit per federated server.
pub const BUILTIN: super::Builtin = super::Builtin {
    name: "gateway",
    summary: "federated MCP servers, each a toolkit named after it (always on)",
    on_by_default: true,
    feature: None,
    settings: Some(super::Settings {
        keys: settings::KEYS,
        tenant_keys: &[],
        check: settings::check,
    }),
    migrations: &[
        tideway_core::store::Migration {
            version: 5,
            name: "upstreams",
            sqlite: include_str!("migrations/sqlite/0005_upstreams.sql"),
            postgres: include_str!("migrations/postgres/0005_upstreams.sql"),
        },
        tideway_core::store::Migration {
            version: 6,
            name: "upstream_tenants",
            sqlite: include_str!("migrations/sqlite/0006_upstream_tenants.sql"),
            postgres: include_str!("migrations/postgres/0006_upstream_tenants.sql"),
        },
    ],
    sealed: &[&records::SEALED],
    build: None,
    rest: Some(super::Rest {
        tag: "gateway",
        description: "Federated MCP servers: health, status, calls, and runtime management (the upstream toolkits)",
        routes: routes::router,
        tools: &[],
    }),
    cli: Some(cli::CLI),
};
