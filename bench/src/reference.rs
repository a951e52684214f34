//! `reference-bench`: Tideway's fetch and files toolkits beside the reference servers
//! users compare them with, all over stdio, in one run on one machine:
//!
//! - `fetch` of a 1 MiB HTML page (served on loopback by this program) into Markdown,
//!   beside `mcp-server-fetch` (PyPI) on the same page;
//! - `read_text_file` of a 64 KiB file and `search_files` for one name pattern in a
//!   tree of 10,000 files, beside `@modelcontextprotocol/server-filesystem` (npm).
//!
//! Each peer is started fresh per round, warmed with one call, then timed over
//! `--calls` calls made one after another; the table gives the median and p90 latency,
//! the size of the answer (so a peer that does less is seen doing less) and the
//! server's peak resident memory. Peers run in alternation, so drift touches all.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{peak_rss_mib, percentile};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    net::TcpListener,
    process::{Child, ChildStdin, ChildStdout, Command},
};

#[derive(Parser, Debug)]
#[command(about = "Tideway's fetch and files toolkits beside the reference MCP servers")]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// `mcp-server-fetch`'s executable (PyPI `mcp-server-fetch`).
    #[arg(long)]
    fetch_server: Option<PathBuf>,
    /// Node 24, to run the reference filesystem server.
    #[arg(long)]
    node: Option<PathBuf>,
    /// `@modelcontextprotocol/server-filesystem`'s `dist/index.js`.
    #[arg(long)]
    filesystem_server: Option<PathBuf>,
    /// Timed calls per peer and round.
    #[arg(long, default_value_t = 20)]
    calls: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Files in the tree `search_files` walks.
    #[arg(long, default_value_t = 10_000)]
    files: usize,
}

/// An MCP server over stdio (2025-11-25 handshake); killed when dropped.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Peer {
    async fn start(mut command: Command) -> anyhow::Result<Peer> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut peer = Peer {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        peer.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "reference-bench", "version": "1"}}),
        )
        .await?;
        peer.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(peer)
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{message}\n").as_bytes())
            .await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        loop {
            let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
                .await
                .context("no answer within 120 s")??
                .context("the server closed its output")?;
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["id"] == json!(id) {
                if !message["error"].is_null() {
                    bail!("{method} failed: {message}");
                }
                return Ok(message["result"].clone());
            }
        }
    }

    /// One tool call; the size of its text answer in characters.
    async fn call(&mut self, tool: &str, arguments: &Value) -> anyhow::Result<usize> {
        let result = self
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await?;
        if result["isError"] == true {
            bail!("{tool} answered an error: {}", result["content"]);
        }
        Ok(result["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|block| block["text"].as_str())
            .map(|text| text.chars().count())
            .sum())
    }
}

struct Row {
    scenario: &'static str,
    peer: &'static str,
    round: usize,
    median_ms: f64,
    p90_ms: f64,
    answer_chars: usize,
    peak_mib: Option<f64>,
}

/// Warms a fresh peer with one call, then times `calls` calls.
async fn measure(
    scenario: &'static str,
    peer_name: &'static str,
    round: usize,
    command: Command,
    tool: &str,
    arguments: &Value,
    calls: usize,
) -> anyhow::Result<Row> {
    let mut peer = Peer::start(command).await?;
    let answer_chars = peer.call(tool, arguments).await?;
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        peer.call(tool, arguments).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let peak_mib = peak_rss_mib(peer.child.id());
    let _ = peer.child.kill().await;
    Ok(Row {
        scenario,
        peer: peer_name,
        round,
        median_ms: percentile(&latencies, 0.5),
        p90_ms: percentile(&latencies, 0.9),
        answer_chars,
        peak_mib,
    })
}

/// A page of about 1 MiB as sites are made: navigation, scripts and styles, then an
/// article of sections with paragraphs, links, lists and tables, then a footer.
fn page() -> String {
    let mut html = String::from(
        "<!doctype html><html><head><title>Harbour operations handbook</title>\
         <style>body{font-family:sans-serif} .nav{display:flex}</style>\
         <script>window.analytics={track:function(){}};</script></head><body>\
         <header><nav class='nav'>",
    );
    for link in 0..40 {
        html.push_str(&format!("<a href='/section/{link}'>Section {link}</a> "));
    }
    html.push_str("</nav></header><main><article><h1>Harbour operations handbook</h1>");
    let mut section = 0;
    while html.len() < 1024 * 1024 {
        section += 1;
        html.push_str(&format!("<h2>Chapter {section}: berths and tides</h2>"));
        for paragraph in 0..6 {
            html.push_str(&format!(
                "<p>Paragraph {paragraph} of chapter {section}: vessels above <strong>200 metres</strong> \
                 berth on the rising tide only, after the pilot has confirmed the \
                 <a href='/tides/{section}'>tide table</a> and the harbour master has \
                 <em>cleared the channel</em>. Crews log each movement before leaving the quay.</p>"
            ));
        }
        html.push_str("<ul>");
        for item in 0..5 {
            html.push_str(&format!("<li>Checklist item {item}: moorings doubled</li>"));
        }
        html.push_str("</ul><table><tr><th>Berth</th><th>Depth</th></tr>");
        for berth in 0..4 {
            html.push_str(&format!(
                "<tr><td>B{berth}</td><td>{}.5 m</td></tr>",
                10 + berth
            ));
        }
        html.push_str("</table><script>window.analytics.track('chapter');</script>");
    }
    html.push_str(
        "</article></main><footer>Harbour authority, all rights reserved</footer></body></html>",
    );
    html
}

/// Serves `body` as HTML to every request on loopback; returns the address.
async fn serve_page(body: String) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(format!("http://{address}"))
}

/// `count` small text files in folders of 100, and one 64 KiB file.
fn make_tree(root: &Path, count: usize) -> anyhow::Result<()> {
    for index in 0..count {
        let folder = root.join(format!("folder-{:03}", index / 100));
        if index % 100 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        std::fs::write(
            folder.join(format!("note-{index:05}.txt")),
            format!("note {index}\n").repeat(8),
        )?;
    }
    std::fs::write(
        root.join("large.txt"),
        "a line of the large file, 40 chars.\n".repeat(1820),
    )?;
    Ok(())
}

fn tideway(bin: &Path, data: &Path, config: &Path, toolkit: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("--config")
        .arg(config)
        .args(["mcp", "--toolkit", toolkit, "--data-dir"])
        .arg(data)
        .env("TIDEWAY_LOG__LEVEL", "error");
    command
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let tree = work.path().join("tree");
    make_tree(&tree, args.files)?;
    let config = work.path().join("tideway.toml");
    std::fs::write(
        &config,
        format!(
            "[fetch]\nallow = [\"127.0.0.1/32\"]\nobey_robots_txt = false\n\n\
             [files.roots.tree]\npath = \"{}\"\ntenants = [\"*\"]\n",
            tree.display()
        ),
    )?;
    let page = page();
    let page_bytes = page.len();
    let site = serve_page(page).await?;
    let url = format!("{site}/handbook");

    let fetch_arguments = json!({"url": url, "max_length": 999_999});
    let read_tideway = json!({"path": "tree/large.txt"});
    let search_tideway = json!({"path": "tree", "pattern": "**/note-*42.txt"});
    let read_reference = json!({"path": tree.join("large.txt")});
    let search_reference = json!({"path": tree, "pattern": "**/note-*42.txt"});

    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        let data = work.path().join(format!("data-{round}"));
        rows.push(
            measure(
                "fetch 1 MiB page to Markdown",
                "tideway",
                round,
                tideway(&args.bin, &data, &config, "fetch"),
                "fetch_fetch",
                &fetch_arguments,
                args.calls,
            )
            .await?,
        );
        if let Some(server) = &args.fetch_server {
            let mut command = Command::new(server);
            // The page is served on loopback, which it refuses by default (as
            // Tideway's fetch does unless the configuration allows it).
            command.args(["--ignore-robots-txt", "--allow-private-ips"]);
            rows.push(
                measure(
                    "fetch 1 MiB page to Markdown",
                    "mcp-server-fetch",
                    round,
                    command,
                    "fetch",
                    &fetch_arguments,
                    args.calls,
                )
                .await?,
            );
        }
        // Tideway names each tool after its toolkit (`files_read_text_file`) so that
        // toolkits served together cannot collide; the reference servers use bare names.
        for (scenario, tool, ours, theirs) in [
            (
                "read_text_file 64 KiB",
                "read_text_file",
                &read_tideway,
                &read_reference,
            ),
            (
                "search_files in 10,000 files",
                "search_files",
                &search_tideway,
                &search_reference,
            ),
        ] {
            let our_tool = format!("files_{tool}");
            rows.push(
                measure(
                    scenario,
                    "tideway",
                    round,
                    tideway(&args.bin, &data, &config, "files"),
                    &our_tool,
                    ours,
                    args.calls,
                )
                .await?,
            );
            if let (Some(node), Some(script)) = (&args.node, &args.filesystem_server) {
                let mut command = Command::new(node);
                command.arg(script).arg(&tree);
                rows.push(
                    measure(
                        scenario,
                        "server-filesystem",
                        round,
                        command,
                        tool,
                        theirs,
                        args.calls,
                    )
                    .await?,
                );
            }
        }
    }

    println!(
        "page: {page_bytes} bytes of HTML; tree: {} files; {} timed calls per peer and round\n",
        args.files, args.calls
    );
    println!("| scenario | peer | round | median ms | p90 ms | answer chars | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            row.scenario,
            row.peer,
            row.round,
            row.median_ms,
            row.p90_ms,
            row.answer_chars,
            row.peak_mib
                .map(|mib| format!("{mib:.1}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}
