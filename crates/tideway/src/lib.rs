//! Tideway: the integration hub for AI agents. This crate holds the faces (MCP over
//! stdio and Streamable HTTP, the REST API), the built-in toolkits and the command
//! line; the Hub, call context, configuration and store are in `tideway-core`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod console;
pub mod doctor;
pub mod egress;
pub mod http_client;
pub mod mcp;
pub mod server;
pub mod telemetry;
pub mod toolkits;
pub mod trace_export;
