//! MCP over stdio, for Claude Desktop, Claude Code and other hosts that start the
//! server as a child process. stdout carries only protocol messages; logs go to
//! stderr. The process serves until the host closes stdin.
//!
//! Each line from stdin is looked at first (`envelope.rs`): a line that is not one
//! JSON-RPC message, or a request whose params cannot be right, is answered here with
//! its JSON-RPC error, where the protocol library would drop it without a word. The
//! rest goes on to the library through a pipe, and its answers come back through
//! another, so that both writers share stdout a whole line at a time.

use std::sync::Arc;

use rmcp::ServiceExt;
use tideway_core::Scope;
use tokio::{
    io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    sync::Mutex,
};

use super::{
    envelope,
    handler::{McpHandler, McpShared},
};

/// Room in each pipe between the line filter and the protocol library.
const PIPE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("the MCP session over stdio could not start: {0}")]
    Start(String),
    #[error("the MCP session over stdio ended with an error: {0}")]
    Run(String),
}

pub async fn serve_stdio(shared: Arc<McpShared>) -> Result<(), StdioError> {
    serve_lines(shared, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves MCP on any line-oriented pair of streams (stdio, or pipes in tests).
pub async fn serve_lines<R, W>(
    shared: Arc<McpShared>,
    input: R,
    output: W,
) -> Result<(), StdioError>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (library_input, mut to_library) = tokio::io::duplex(PIPE_BYTES);
    let (library_output, from_library) = tokio::io::duplex(PIPE_BYTES);
    let output = Arc::new(Mutex::new(output));

    let answers = output.clone();
    let relay = tokio::spawn(async move {
        let mut lines = BufReader::new(from_library);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if write_line(&answers, &line).await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    let refusals = output.clone();
    let filter = tokio::spawn(async move {
        let mut lines = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match envelope::check(&line, envelope::Era::Sessions) {
                Ok(()) => {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                    if to_library.write_all(&line).await.is_err() {
                        break;
                    }
                }
                Err(refusal) => {
                    tracing::debug!(code = refusal.code, "refused a message on stdin");
                    let mut answer = refusal.answer().to_string().into_bytes();
                    answer.push(b'\n');
                    if write_line(&refusals, &answer).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The host closed stdin: the library sees the end and stops.
        let _ = to_library.shutdown().await;
    });

    let handler = McpHandler::new(shared, Scope::All);
    let outcome = match handler.serve((library_input, library_output)).await {
        Ok(service) => service
            .waiting()
            .await
            .map(|_| ())
            .map_err(|error| StdioError::Run(error.to_string())),
        Err(error) => Err(StdioError::Start(error.to_string())),
    };
    filter.abort();
    // The library's last answers are in the pipe; let them out before returning
    // (bounded, should the pipe not close).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), relay).await;
    outcome
}

async fn write_line<W: AsyncWrite + Unpin>(output: &Mutex<W>, line: &[u8]) -> std::io::Result<()> {
    let mut output = output.lock().await;
    output.write_all(line).await?;
    output.flush().await
}
