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
pub mod routes;
pub mod supervisor;
pub mod toolkit;

pub use gateway::Gateway;
