//! MCP over stdio, for Claude Desktop, Claude Code and other hosts that start the
//! server as a child process. stdout carries only protocol messages; logs go to
//! stderr. The process serves until the host closes stdin.

use std::sync::Arc;

use rmcp::{ServiceExt, transport::stdio};
use tideway_core::Scope;

use super::handler::{McpHandler, McpShared};

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("the MCP session over stdio could not start: {0}")]
    Start(String),
    #[error("the MCP session over stdio ended with an error: {0}")]
    Run(String),
}

pub async fn serve_stdio(shared: Arc<McpShared>) -> Result<(), StdioError> {
    let handler = McpHandler::new(shared, Scope::All);
    let service = handler
        .serve(stdio())
        .await
        .map_err(|error| StdioError::Start(error.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|error| StdioError::Run(error.to_string()))?;
    Ok(())
}
