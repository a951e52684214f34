//! The support toolkit's tests: the service on both stores, and the REST and MCP
//! faces end to end over HTTP.

mod http;
mod isolation;
mod service;
