//! The prompts toolkit's tests: the service through the Hub on both stores, and the
//! REST and MCP faces over HTTP with credentials.

mod http;
mod service;
