//! `db-bench`: one query returning N rows (100,000 by default) from PostgreSQL, three
//! ways side by side in one run: `psql` (the baseline every DBA knows), Tideway's
//! `query_database` over MCP (Streamable HTTP, 2026-07-28 stateless) with the row cap
//! raised to N, and the reference `@modelcontextprotocol/server-postgres` over stdio
//! (its `query` tool). For each: wall time of the whole request, and the peak resident
//! memory of the process that ran it (psql's from /usr/bin/time; the servers' VmHWM,
//! with their resident memory just before the query for comparison).

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use sqlx::Connection;
use tideway_bench::{call_tool, peak_rss_mib, start_server};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

#[derive(Parser, Debug)]
struct Args {
    /// The `tideway` binary to measure (build with `--release`).
    #[arg(long)]
    bin: PathBuf,
    /// A PostgreSQL URL with the right to create databases; a fresh one is made.
    #[arg(long, env = "TIDEWAY_TEST_POSTGRES_URL")]
    postgres_url: String,
    /// Rows the query returns.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Rounds per peer.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// `dist/index.js` of @modelcontextprotocol/server-postgres; its peer is skipped
    /// when not given.
    #[arg(long)]
    server_postgres: Option<PathBuf>,
    /// The node binary that runs it.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    #[arg(long, default_value = "psql")]
    psql: PathBuf,
}

const QUERY: &str = "SELECT id, name, amount, created, tags FROM bench_rows ORDER BY id";

struct Measure {
    peer: &'static str,
    round: usize,
    seconds: f64,
    rows: usize,
    peak_mib: Option<f64>,
    before_mib: Option<f64>,
}

fn current_rss_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

async fn fill(url: &str, rows: usize) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_rows (id int PRIMARY KEY, name text NOT NULL, amount numeric(12, 2), \
         created timestamptz NOT NULL, tags text[])",
    )
    .execute(&mut connection)
    .await?;
    sqlx::query(
        "INSERT INTO bench_rows SELECT g, 'customer ' || g, (g % 100000) / 100.0, \
         '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second', ARRAY['a', 'b' || (g % 7)] \
         FROM generate_series(1, $1) g",
    )
    .bind(rows as i64)
    .execute(&mut connection)
    .await?;
    sqlx::raw_sql("ANALYZE bench_rows")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

async fn psql(args: &Args, url: &str, round: usize) -> anyhow::Result<Measure> {
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&args.psql)
        .args([url, "-X", "-q", "-A", "-t", "-c", QUERY])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running psql under /usr/bin/time")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let rows = output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let peak_kib: Option<f64> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok());
    Ok(Measure {
        peer: "psql",
        round,
        seconds,
        rows,
        peak_mib: peak_kib.map(|kib| kib / 1024.0),
        before_mib: None,
    })
}

async fn tideway(args: &Args, url: &str, round: usize) -> anyhow::Result<Measure> {
    let dir = tempfile::tempdir()?;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let config = dir.path().join("tideway.toml");
    std::fs::write(
        &config,
        format!(
            "[databases]\nmax_rows_limit = {rows}\nmax_result_bytes = 1073741824\n\n\
             [databases.sources.bench]\nkind = \"postgres\"\nhost = \"{host}\"\nport = {port}\n\
             database = \"{database}\"\nuser = \"{user}\"\nssl_mode = \"disable\"\n",
            rows = args.rows.max(1000),
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            user = options.get_username(),
        ),
    )?;
    let config = config.display().to_string();
    let mut server = start_server(
        &args.bin,
        dir.path(),
        &["--config", &config, "--toolkit", "database"],
        &[],
    )
    .await?;
    let endpoint = format!("{}/mcp/database", server.base);
    let http = reqwest::Client::new();
    // One small call first, so the pool and the connection exist before the clock starts.
    call_tool(
        &http,
        &endpoint,
        None,
        "query_database",
        json!({"query": "SELECT 1"}),
    )
    .await?;
    let pid = server.child.id();
    let before = current_rss_mib(pid);
    let started = Instant::now();
    let result = call_tool(
        &http,
        &endpoint,
        None,
        "query_database",
        json!({"query": QUERY, "max_rows": args.rows}),
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = result["row_count"].as_u64().unwrap_or_default() as usize;
    let peak = peak_rss_mib(pid);
    let _ = server.child.kill().await;
    Ok(Measure {
        peer: "tideway query_database",
        round,
        seconds,
        rows,
        peak_mib: peak,
        before_mib: before,
    })
}

async fn server_postgres(
    args: &Args,
    script: &PathBuf,
    url: &str,
    round: usize,
) -> anyhow::Result<Measure> {
    let mut child = Command::new(&args.node)
        .arg(script)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting @modelcontextprotocol/server-postgres")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut send = async |message: Value| -> anyhow::Result<()> {
        stdin.write_all(format!("{message}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "tideway-bench", "version": "1"}}}),
    )
    .await?;
    read_reply(&mut lines, 1).await?;
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "query", "arguments": {"sql": "SELECT 1"}}}))
    .await?;
    read_reply(&mut lines, 2).await?;
    let pid = child.id();
    let before = current_rss_mib(pid);
    let started = Instant::now();
    send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "query", "arguments": {"sql": QUERY}}}))
    .await?;
    let reply = read_reply(&mut lines, 3).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib(pid);
    // Its result is one text block holding the rows as a JSON array.
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("[]");
    let rows = serde_json::from_str::<Vec<Value>>(text)
        .map(|rows| rows.len())
        .unwrap_or_default();
    let _ = child.kill().await;
    Ok(Measure {
        peer: "server-postgres query",
        round,
        seconds,
        rows,
        peak_mib: peak,
        before_mib: before,
    })
}

async fn read_reply(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    id: u64,
) -> anyhow::Result<Value> {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
            .await
            .context("no reply within 300 s")??
            .context("the server closed its output")?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message["id"] == json!(id) {
            if !message["error"].is_null() {
                bail!("error reply: {message}");
            }
            return Ok(message);
        }
    }
}

fn mib(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "-".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = tideway_core::store::testing::fresh_postgres_database(&args.postgres_url).await;
    fill(&url, args.rows).await?;
    let mut measures = Vec::new();
    for round in 1..=args.rounds {
        measures.push(psql(&args, &url, round).await?);
        measures.push(tideway(&args, &url, round).await?);
        if let Some(script) = &args.server_postgres {
            measures.push(server_postgres(&args, script, &url, round).await?);
        }
    }
    println!("query: `{QUERY}` ({} rows)\n", args.rows);
    println!("| peer | round | rows | seconds | peak RSS MiB | RSS before the query MiB |");
    println!("|---|---|---|---|---|---|");
    for m in &measures {
        println!(
            "| {} | {} | {} | {:.3} | {} | {} |",
            m.peer,
            m.round,
            m.rows,
            m.seconds,
            mib(m.peak_mib),
            mib(m.before_mib)
        );
    }
    println!();
    for peer in ["psql", "tideway query_database", "server-postgres query"] {
        let mut times: Vec<f64> = measures
            .iter()
            .filter(|m| m.peer == peer)
            .map(|m| m.seconds)
            .collect();
        if times.is_empty() {
            continue;
        }
        times.sort_by(f64::total_cmp);
        let peak = measures
            .iter()
            .filter(|m| m.peer == peer)
            .filter_map(|m| m.peak_mib)
            .fold(0.0, f64::max);
        println!(
            "{peer}: median {:.3} s, peak RSS {:.1} MiB",
            times[times.len() / 2],
            peak
        );
    }
    Ok(())
}
