//! `lakehouse-bench`: a PostgreSQL table of N rows (1,000,000 by default) and ten
//! columns, side by side in one run:
//! - copied out: `psql -c "\copy (SELECT …) TO file CSV"` (the baseline), and
//!   Tideway's `sync_table_to_bronze` into a Bronze Delta table over MCP; rows per
//!   second and peak resident memory of the process that did it;
//! - queried: one aggregate over that table, Tideway's `query_sql` (DataFusion over
//!   the Delta table) and DuckDB reading the same Parquet files (PyPI's `duckdb`,
//!   timed inside Python so its start-up does not count).

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use sqlx::Connection;
use tideway_bench::{call_tool, peak_rss_mib, start_server};
use tokio::process::Command;

#[derive(Parser, Debug)]
struct Args {
    /// The `tideway` binary to measure (build with `--release`).
    #[arg(long)]
    bin: PathBuf,
    /// A PostgreSQL URL with the right to create databases; a fresh one is made.
    #[arg(long, env = "TIDEWAY_TEST_POSTGRES_URL")]
    postgres_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value = "psql")]
    psql: PathBuf,
    /// A Python with `duckdb` installed; DuckDB is skipped when not given.
    #[arg(long)]
    duckdb_python: Option<PathBuf>,
}

const TABLE: &str = "bench_orders";
const AGGREGATE: &str = "SELECT customer, count(*) AS orders, sum(amount) AS amount, avg(price) AS price \
     FROM bronze.bench_orders GROUP BY customer ORDER BY amount DESC LIMIT 10";

async fn fill(url: &str, rows: usize) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_orders (id bigint PRIMARY KEY, customer text NOT NULL, \
         amount numeric(12,2), qty integer, price double precision, paid boolean, \
         ordered_on date, updated_at timestamptz NOT NULL, note varchar(40), ref uuid)",
    )
    .execute(&mut connection)
    .await?;
    sqlx::query(
        "INSERT INTO bench_orders SELECT g, 'customer ' || (g % 5000), (g % 100000) / 100.0, g % 17, \
         g / 7.0, g % 2 = 0, DATE '2024-01-01' + (g % 700)::int, \
         TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second', \
         CASE WHEN g % 9 = 0 THEN NULL ELSE 'note ' || g END, md5(g::text)::uuid \
         FROM generate_series(1, $1) g",
    )
    .bind(rows as i64)
    .execute(&mut connection)
    .await?;
    sqlx::raw_sql("ANALYZE bench_orders")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

struct Copy {
    peer: &'static str,
    round: usize,
    seconds: f64,
    rows: u64,
    peak_mib: Option<f64>,
}

async fn psql_copy(args: &Args, url: &str, round: usize) -> anyhow::Result<Copy> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("out.csv");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&args.psql)
        .args([url, "-X", "-q", "-c"])
        .arg(format!(
            "\\copy (SELECT * FROM {TABLE}) TO '{}' CSV",
            file.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running psql under /usr/bin/time")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let peak_kib: Option<f64> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok());
    Ok(Copy {
        peer: "psql \\copy to CSV",
        round,
        seconds,
        rows: args.rows as u64,
        peak_mib: peak_kib.map(|kib| kib / 1024.0),
    })
}

struct Tideway {
    copy: Copy,
    query_seconds: Vec<f64>,
    table_dir: PathBuf,
    _data: tempfile::TempDir,
}

async fn tideway(args: &Args, url: &str, round: usize) -> anyhow::Result<Tideway> {
    let dir = tempfile::tempdir()?;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let config = dir.path().join("tideway.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\ncall_timeout_secs = 3600\n\n[lakehouse]\nquery_timeout_secs = 600\n\n\
             [databases.sources.bench]\nkind = \"postgres\"\nhost = \"{host}\"\nport = {port}\n\
             database = \"{database}\"\nuser = \"{user}\"\nssl_mode = \"disable\"\n",
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
        &[
            "--config",
            &config,
            "--toolkit",
            "database",
            "--toolkit",
            "lakehouse",
        ],
        &[],
    )
    .await?;
    let endpoint = format!("{}/mcp/lakehouse", server.base);
    let http = reqwest::Client::new();
    let pid = server.child.id();
    let started = Instant::now();
    let synced = call_tool(
        &http,
        &endpoint,
        None,
        "sync_table_to_bronze",
        json!({"connection_id": "bench", "table_name": TABLE}),
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib(pid);
    let mut query_seconds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        call_tool(
            &http,
            &endpoint,
            None,
            "query_sql",
            json!({"sql": AGGREGATE}),
        )
        .await?;
        query_seconds.push(started.elapsed().as_secs_f64());
    }
    let _ = server.child.kill().await;
    Ok(Tideway {
        copy: Copy {
            peer: "tideway sync_table_to_bronze",
            round,
            seconds,
            rows: synced["rows_read"].as_u64().unwrap_or_default(),
            peak_mib: peak,
        },
        query_seconds,
        table_dir: dir
            .path()
            .join(format!("lake/tenant_default/bronze/{TABLE}")),
        _data: dir,
    })
}

/// DuckDB over the Parquet files of the Delta table (one version, so every file is
/// live), three runs in one process; the seconds of each.
async fn duckdb(python: &PathBuf, table_dir: &std::path::Path) -> anyhow::Result<Vec<f64>> {
    let sql = AGGREGATE.replace(
        "bronze.bench_orders",
        &format!("read_parquet('{}/*.parquet')", table_dir.display()),
    );
    let script = format!(
        "import duckdb, time\ncon = duckdb.connect()\nfor _ in range(3):\n    t = time.perf_counter()\n    con.sql({sql:?}).fetchall()\n    print(time.perf_counter() - t)\n"
    );
    let output = Command::new(python)
        .args(["-c", &script])
        .output()
        .await
        .context("running duckdb")?;
    if !output.status.success() {
        bail!("duckdb failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = tideway_core::store::testing::fresh_postgres_database(&args.postgres_url).await;
    fill(&url, args.rows).await?;
    let mut copies = Vec::new();
    let mut queries = Vec::new();
    for round in 1..=args.rounds {
        copies.push(psql_copy(&args, &url, round).await?);
        let run = tideway(&args, &url, round).await?;
        queries.push((
            "tideway query_sql (DataFusion, Delta)",
            round,
            median(&run.query_seconds),
        ));
        if let Some(python) = &args.duckdb_python {
            let times = duckdb(python, &run.table_dir).await?;
            queries.push(("DuckDB read_parquet (same files)", round, median(&times)));
        }
        copies.push(run.copy);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("table: `{TABLE}`, {} rows, 10 columns\n", args.rows);
    println!("| peer | round | rows | seconds | rows/s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    for c in &copies {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {} |",
            c.peer,
            c.round,
            c.rows,
            c.seconds,
            c.rows as f64 / c.seconds,
            c.peak_mib
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!("\nquery: `{AGGREGATE}` (median of 3 runs per round)\n");
    println!("| engine | round | seconds |");
    println!("|---|---|---|");
    for (engine, round, seconds) in &queries {
        println!("| {engine} | {round} | {seconds:.3} |");
    }
    Ok(())
}
