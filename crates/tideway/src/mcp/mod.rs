//! The MCP face: one handler over the Hub, served on stdio and Streamable HTTP.

mod channel;
mod direct;
pub mod envelope;
pub mod errors;
pub mod handler;
pub mod http;
pub mod input;
pub mod stdio;
mod tasks;

pub use handler::{McpHandler, McpShared};
