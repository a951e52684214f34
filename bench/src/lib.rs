//! What the load generators share: starting a `tideway serve` process and reading its
//! address, one MCP request or `tools/call` over Streamable HTTP (2026-07-28, stateless), latency
//! percentiles, and the server's memory from /proc. The MCP load generator itself is
//! in [`load`], process readings and CPU pinning in [`process`].

pub mod load;
pub mod process;

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"tideway-bench","version":"1"}}"#;

/// One JSON-RPC request in the 2026-07-28 era at `endpoint` (e.g. `http://…/mcp`),
/// with an optional bearer credential; returns the answer, which the server may send
/// as JSON or as one server-sent event. `params` get the era's `_meta`.
pub async fn rpc(
    http: &reqwest::Client,
    endpoint: &str,
    bearer: Option<&str>,
    method: &str,
    mut params: Value,
) -> anyhow::Result<Value> {
    params["_meta"] = serde_json::from_str(META)?;
    let mut request = http
        .post(endpoint)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = request.json(&body).send().await?.text().await?;
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:").map(str::trim))
        .unwrap_or(text.trim());
    serde_json::from_str(json).with_context(|| format!("not JSON-RPC: {text}"))
}

/// One `tools/call` at `endpoint` (e.g. `http://…/mcp/support`), with an optional
/// bearer credential; returns the structured result.
pub async fn call_tool(
    http: &reqwest::Client,
    endpoint: &str,
    bearer: Option<&str>,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<Value> {
    let params = json!({"name": tool, "arguments": arguments});
    let message = rpc(http, endpoint, bearer, "tools/call", params).await?;
    let result = &message["result"];
    if result.is_null() || result["isError"] == true {
        bail!("{tool} failed: {message}");
    }
    Ok(result["structuredContent"].clone())
}

/// The `p` quantile (0 to 1) of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// A running `tideway serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

/// Starts `tideway serve --bind 127.0.0.1:0 --data-dir DIR ARGS…` with `env` set, and
/// waits for the line that gives its address.
pub async fn start_server(
    bin: &Path,
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    let mut command = Command::new(bin);
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("TIDEWAY_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().context("starting tideway")?;
    let stdout = child.stdout.take().context("tideway's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await?;
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|url| url.starts_with("http://"))
        .with_context(|| format!("unexpected start-up line: {line:?}"))?
        .to_string();
    Ok(Server { child, base })
}

/// Peak resident memory of a process, in MiB (Linux).
pub fn peak_rss_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
