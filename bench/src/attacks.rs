//! `attack-bench`: the memory attacks of the security review, each against a fresh
//! `tideway serve` so one attack's peak does not hide another's. For each it reports
//! the server's peak resident memory (VmHWM), whether the server still answers
//! afterwards, and what the caller was told:
//! - a stored template rendering `indent` or `format` with a huge width;
//! - the lakehouse's `query_sql` asked for `repeat('x', 1000000000)`,
//!   `repeat('x', 2147483647)`, and a text doubled thirty times through CTEs;
//! - `query_database` reading one 200 MB value, and four such reads at once (needs a
//!   PostgreSQL URL; skipped without one).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use sqlx::Connection;
use tideway_bench::{Server, peak_rss_mib, start_server};

#[derive(Parser, Debug)]
struct Args {
    /// The `tideway` binary to measure (build with `--release`).
    #[arg(long)]
    bin: PathBuf,
    /// A PostgreSQL URL with the right to create databases; the database attacks
    /// are skipped without it.
    #[arg(long, env = "TIDEWAY_TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
}

/// What one attack did to the server.
struct Outcome {
    attack: &'static str,
    answer: String,
    peak_mib: f64,
    alive: bool,
}

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"attack-bench","version":"1"}}"#;

/// One `tools/call`; the error text or a short summary of the result, never the
/// (possibly huge) result itself.
async fn call(
    http: &reqwest::Client,
    base: &str,
    toolkit: &str,
    tool: &str,
    arguments: Value,
) -> String {
    let meta: Value = serde_json::from_str(META).unwrap_or(Value::Null);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta}});
    let sent = http
        .post(format!("{base}/mcp/{toolkit}"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
        .send()
        .await;
    let text = match sent {
        Ok(response) => match response.text().await {
            Ok(text) => text,
            Err(error) => return format!("no answer: {error}"),
        },
        Err(error) => return format!("no answer: {error}"),
    };
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:").map(str::trim))
        .unwrap_or(text.trim());
    let Ok(message) = serde_json::from_str::<Value>(json) else {
        return format!("{} bytes, not JSON-RPC", text.len());
    };
    if let Some(error) = message.get("error") {
        return short(&error["message"].to_string());
    }
    let result = &message["result"];
    if result["isError"] == true {
        return short(&result["content"][0]["text"].to_string());
    }
    let cut = &result["structuredContent"]["cut"];
    format!(
        "answered, {} bytes{}",
        json.len(),
        if cut.as_array().is_some_and(|cells| !cells.is_empty()) {
            format!(", values cut: {cut}")
        } else {
            String::new()
        }
    )
}

fn short(text: &str) -> String {
    let mut end = text.len().min(140);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

async fn alive(http: &reqwest::Client, server: &mut Server) -> bool {
    if matches!(server.child.try_wait(), Ok(Some(_))) {
        return false;
    }
    http.get(format!("{}/health", server.base))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

async fn fresh(bin: &Path) -> anyhow::Result<(tempfile::TempDir, Server)> {
    let data = tempfile::tempdir()?;
    let server = start_server(bin, data.path(), &[], &[]).await?;
    Ok((data, server))
}

async fn template(bin: &Path, attack: &'static str, body: &str) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::new();
    let (_data, mut server) = fresh(bin).await?;
    let created = call(
        &http,
        &server.base,
        "prompts",
        "create_prompt_template",
        json!({"name": "attack", "description": "a template with a huge width", "body": body}),
    )
    .await;
    let rendered = call(
        &http,
        &server.base,
        "prompts",
        "render_prompt",
        json!({"name": "attack", "arguments": {}}),
    )
    .await;
    let pid = server.child.id();
    let peak_mib = peak_rss_mib(pid).unwrap_or(f64::NAN);
    Ok(Outcome {
        attack,
        answer: format!("store: {created}; render: {rendered}"),
        peak_mib,
        alive: alive(&http, &mut server).await,
    })
}

async fn lakehouse(bin: &Path, attack: &'static str, sql: &str) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::new();
    let (_data, mut server) = fresh(bin).await?;
    let answer = call(
        &http,
        &server.base,
        "lakehouse",
        "query_sql",
        json!({"sql": sql}),
    )
    .await;
    let peak_mib = peak_rss_mib(server.child.id()).unwrap_or(f64::NAN);
    Ok(Outcome {
        attack,
        answer,
        peak_mib,
        alive: alive(&http, &mut server).await,
    })
}

/// A throwaway database holding one row with a 200 MB text value.
async fn huge_value_database(admin_url: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS tideway_attack_bench")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("CREATE DATABASE tideway_attack_bench")
        .execute(&mut admin)
        .await?;
    let mut url = reqwest::Url::parse(admin_url)?;
    url.set_path("/tideway_attack_bench");
    let mut db = sqlx::PgConnection::connect(url.as_str()).await?;
    sqlx::raw_sql(
        "CREATE TABLE blobs (id int PRIMARY KEY, body text); \
         INSERT INTO blobs SELECT 1, repeat('x', 200 * 1024 * 1024)",
    )
    .execute(&mut db)
    .await?;
    Ok(url.to_string())
}

async fn database(
    bin: &Path,
    url: &str,
    attack: &'static str,
    parallel: usize,
) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::new();
    let (_data, mut server) = fresh(bin).await?;
    let parsed = reqwest::Url::parse(url)?;
    let connected = call(
        &http,
        &server.base,
        "database",
        "connect_postgres",
        json!({
            "name": "blobs",
            "host": parsed.host_str().context("host")?,
            "port": parsed.port().unwrap_or(5432),
            "database": "tideway_attack_bench",
            "user": parsed.username(),
            "password": parsed.password().unwrap_or(""),
            "ssl_mode": "disable",
            // The test cluster's only role is a superuser; the operator accepts it here.
            "allow_privileged_role": true,
        }),
    )
    .await;
    let reads = (0..parallel).map(|_| {
        call(
            &http,
            &server.base,
            "database",
            "query_database",
            json!({"query": "SELECT id, body FROM blobs", "connection_id": "blobs"}),
        )
    });
    // All in flight together: the point is several reads at once.
    let answers = futures::future::join_all(reads).await;
    let peak_mib = peak_rss_mib(server.child.id()).unwrap_or(f64::NAN);
    Ok(Outcome {
        attack,
        answer: format!(
            "connect: {}; read: {}",
            short(&connected),
            answers.first().cloned().unwrap_or_default()
        ),
        peak_mib,
        alive: alive(&http, &mut server).await,
    })
}

/// A query whose text doubles `steps` times, one CTE per step.
fn doubling(steps: usize) -> String {
    let mut sql = String::from("WITH t0 AS (SELECT 'x' AS s)");
    for step in 1..=steps {
        sql.push_str(&format!(
            ", t{step} AS (SELECT s || s AS s FROM t{})",
            step - 1
        ));
    }
    sql.push_str(&format!(" SELECT length(s) FROM t{steps}"));
    sql
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut outcomes = vec![
        template(
            &args.bin,
            "template indent(100000000000000)",
            "{{ 'a'|indent(100000000000000, true) }}",
        )
        .await?,
        template(
            &args.bin,
            "template '%0200000000d'|format",
            "{{ '%0200000000d'|format(1) }}",
        )
        .await?,
        template(
            &args.bin,
            "template 'a' * 1000000000",
            "{{ 'a' * 1000000000 }}",
        )
        .await?,
        lakehouse(
            &args.bin,
            "lakehouse repeat('x', 1000000000)",
            "SELECT repeat('x', 1000000000)",
        )
        .await?,
        lakehouse(
            &args.bin,
            "lakehouse repeat('x', 2147483647)",
            "SELECT repeat('x', 2147483647)",
        )
        .await?,
        lakehouse(
            &args.bin,
            "lakehouse: 'x' doubled 30 times with `||` (1 GiB)",
            &doubling(30),
        )
        .await?,
    ];
    match &args.postgres_url {
        Some(admin) => {
            let url = huge_value_database(admin)
                .await
                .context("preparing the 200 MB row")?;
            outcomes.push(database(&args.bin, &url, "query_database, one 200 MB value", 1).await?);
            outcomes.push(
                database(
                    &args.bin,
                    &url,
                    "query_database, four 200 MB reads at once",
                    4,
                )
                .await?,
            );
        }
        None => eprintln!("no --postgres-url: the query_database attacks are skipped"),
    }
    println!("| attack | peak RSS MiB | server alive after | what the caller was told |");
    println!("|---|---|---|---|");
    for outcome in &outcomes {
        println!(
            "| {} | {:.0} | {} | {} |",
            outcome.attack.replace('|', "\\|"),
            outcome.peak_mib,
            if outcome.alive { "yes" } else { "no" },
            outcome.answer.replace('|', "\\|")
        );
    }
    Ok(())
}
