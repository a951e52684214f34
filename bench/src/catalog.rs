//! `catalog-size`: how much of a model's context each MCP endpoint's tool list takes.
//! Starts `tideway serve` with every built-in toolkit a user would serve, once with the
//! lean `/mcp` listing (the default) and once with the full one, reads `tools/list` from
//! `/mcp` and from each `/mcp/{toolkit}`, and prints per endpoint: tools listed, bytes
//! of the `tools/list` result as sent, and tokens (OpenAI's o200k_base encoding) of
//! what a client passes to its model: each tool's name, description and input schema.

use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{rpc, start_server};

#[derive(Parser, Debug)]
#[command(about = "Token and byte size of each MCP endpoint's tool list")]
struct Args {
    /// The tideway binary.
    #[arg(long)]
    bin: PathBuf,
}

/// The toolkits measured: the defaults and the opt-in files and fetch, not the test
/// and benchmark toolkits.
const TOOLKITS: &[&str] = &[
    "system",
    "support",
    "database",
    "prompts",
    "models",
    "files",
    "fetch",
    "workflows",
    "lakehouse",
];

/// Every tool of `tools/list` at `endpoint`, page after page, and the bytes sent.
async fn list_tools(http: &reqwest::Client, endpoint: &str) -> anyhow::Result<(Vec<Value>, usize)> {
    let mut tools = Vec::new();
    let mut bytes = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut params = json!({});
        if let Some(cursor) = &cursor {
            params["cursor"] = json!(cursor);
        }
        let message = rpc(http, endpoint, None, "tools/list", params).await?;
        let result = &message["result"];
        let Some(page) = result["tools"].as_array() else {
            bail!("tools/list at {endpoint} failed: {message}");
        };
        bytes += result.to_string().len();
        tools.extend(page.iter().cloned());
        match result["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok((tools, bytes)),
        }
    }
}

/// Tokens of what a client hands its model for these tools.
fn model_tokens(bpe: &tiktoken_rs::CoreBPE, tools: &[Value]) -> usize {
    tools
        .iter()
        .map(|tool| {
            let definition = json!({
                "name": tool["name"],
                "description": tool["description"],
                "parameters": tool["inputSchema"],
            });
            bpe.encode_ordinary(&definition.to_string()).len()
        })
        .sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bpe = tiktoken_rs::o200k_base()?;
    let http = reqwest::Client::new();
    let mut toolkit_args = Vec::new();
    for toolkit in TOOLKITS {
        toolkit_args.extend(["--toolkit", toolkit]);
    }
    println!("| endpoint | listing | tools | tools/list bytes | model tokens |");
    println!("|---|---|---|---|---|");
    for listing in ["lean", "full"] {
        let data = tempfile::tempdir()?;
        let server = start_server(
            &args.bin,
            data.path(),
            &toolkit_args,
            &[("TIDEWAY_MCP_CATALOG", listing)],
        )
        .await?;
        let mut endpoints = vec![("/mcp".to_string(), format!("{}/mcp", server.base))];
        if listing == "lean" {
            // A toolkit's own endpoint lists all its tools whatever the listing.
            endpoints.extend(TOOLKITS.iter().map(|toolkit| {
                (
                    format!("/mcp/{toolkit}"),
                    format!("{}/mcp/{toolkit}", server.base),
                )
            }));
        }
        for (name, url) in endpoints {
            let (tools, bytes) = list_tools(&http, &url).await?;
            let shown = if name == "/mcp" { listing } else { "all" };
            println!(
                "| `{name}` | {shown} | {} | {bytes} | {} |",
                tools.len(),
                model_tokens(&bpe, &tools)
            );
        }
    }
    Ok(())
}
