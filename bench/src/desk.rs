//! `desk-bench`: read-only SQL over the built-in `desk` source beside the same rows
//! read from a plain SQLite file source, through one running `tideway serve --demo`
//! (the sample desk: 300 customers, 3,000 tickets with their history), over MCP
//! (2026-07-28, stateless) on `/mcp/database`:
//!
//! - `desk`, unchanged: each call reads the store's fingerprint of the tenant's desk
//!   and runs the query on the tenant's in-memory copy;
//! - `desk`, after a change: a customer is created before each timed call, so each
//!   call also rebuilds the copy (the cost of freshness);
//! - the SQLite file: a `VACUUM INTO` snapshot of the store registered as a source,
//!   queried with the tenant filter the desk makes unnecessary (the floor: no
//!   fingerprint, no copy).
//!
//! Also the server's peak resident memory before and after the first desk copy.
//! Usage is in BENCHMARKS.md.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Parser;
use serde_json::{Value, json};
use sqlx::Connection;
use tideway_bench::{call_tool, peak_rss_mib, percentile, start_server};

#[derive(Parser, Debug)]
#[command(about = "SQL over the built-in desk source beside a SQLite file of the same rows")]
struct Args {
    /// The tideway binary to measure (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// Timed calls on an unchanged desk and on the file.
    #[arg(long, default_value_t = 300)]
    calls: usize,
    /// Timed calls each after a change to the desk.
    #[arg(long, default_value_t = 30)]
    changes: usize,
}

const DESK_SQL: &str = "SELECT t.status, COUNT(*), AVG(c.ticket_count) FROM tickets t JOIN customers c ON c.id = t.customer_id \
     GROUP BY t.status ORDER BY t.status";
const FILE_SQL: &str = "SELECT t.status, COUNT(*), AVG(c.ticket_count) FROM support_tickets t JOIN support_customers c ON c.id = t.customer_id \
     WHERE t.tenant_id = $1 AND c.tenant_id = $1 GROUP BY t.status ORDER BY t.status";

struct Timed {
    label: &'static str,
    latencies: Vec<Duration>,
    rows: Value,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = tempfile::tempdir()?;
    let elsewhere = tempfile::tempdir()?;
    let server = start_server(&args.bin, data.path(), &["--demo"], &[]).await?;
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let database = format!("{}/mcp/database", server.base);
    let support = format!("{}/mcp/support", server.base);
    let query = |sql: &'static str, source: &'static str, params: Value| {
        let (http, database) = (&http, &database);
        async move {
            call_tool(
                http,
                database,
                None,
                "query_database",
                json!({"query": sql, "connection_id": source, "params": params}),
            )
            .await
        }
    };

    // The same rows as a file: a consistent snapshot of the store, made while it runs.
    let file = elsewhere.path().join("desk.db");
    let mut store = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        data.path().join("tideway.db").display()
    ))
    .await?;
    sqlx::query("VACUUM INTO ?")
        .bind(file.display().to_string())
        .execute(&mut store)
        .await?;
    let (tenant,): (String,) = sqlx::query_as("SELECT tenant_id FROM support_tickets LIMIT 1")
        .fetch_one(&mut store)
        .await?;
    store.close().await?;
    call_tool(
        &http,
        &database,
        None,
        "connect_source",
        json!({"name": "desk_file", "kind": "sqlite", "path": file}),
    )
    .await?;

    let before_copy = peak_rss_mib(pid);
    let first = Instant::now();
    query(DESK_SQL, "desk", json!([])).await?;
    let first_copy = first.elapsed();
    let after_copy = peak_rss_mib(pid);

    let mut results = Vec::new();
    for (label, sql, source, params) in [
        ("`desk`, unchanged", DESK_SQL, "desk", json!([])),
        ("SQLite file source", FILE_SQL, "desk_file", json!([tenant])),
    ] {
        // One untimed call warms the pool.
        query(sql, source, params.clone()).await?;
        let mut latencies = Vec::with_capacity(args.calls);
        let mut rows = Value::Null;
        for _ in 0..args.calls {
            let started = Instant::now();
            let result = query(sql, source, params.clone()).await?;
            latencies.push(started.elapsed());
            rows = result["rows"].clone();
        }
        results.push(Timed {
            label,
            latencies,
            rows,
        });
    }
    let mut latencies = Vec::with_capacity(args.changes);
    let mut rows = Value::Null;
    for round in 0..args.changes {
        call_tool(
            &http,
            &support,
            None,
            "create_customer",
            json!({"first_name": "Bench", "last_name": format!("Round {round}"),
                   "email": format!("bench-{round}@example.com")}),
        )
        .await?;
        let started = Instant::now();
        let result = query(DESK_SQL, "desk", json!([])).await?;
        latencies.push(started.elapsed());
        rows = result["rows"].clone();
    }
    results.push(Timed {
        label: "`desk`, after a change (copy rebuilt)",
        latencies,
        rows,
    });

    if results[0].rows != results[1].rows {
        anyhow::bail!(
            "the desk and the file disagree: {} against {}",
            results[0].rows,
            results[1].rows
        );
    }
    println!("| query | calls | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for timed in &mut results {
        timed.latencies.sort();
        println!(
            "| {} | {} | {:.2} | {:.2} |",
            timed.label,
            timed.latencies.len(),
            percentile(&timed.latencies, 0.50),
            percentile(&timed.latencies, 0.99)
        );
    }
    println!();
    println!(
        "First desk query (copy built): {:.1} ms; server peak RSS {:.1} MiB before it, {:.1} MiB after.",
        first_copy.as_secs_f64() * 1000.0,
        before_copy.unwrap_or_default(),
        after_copy.unwrap_or_default()
    );
    Ok(())
}
