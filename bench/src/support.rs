//! `support-bench`: measures the support toolkit through a running `tideway serve`
//! (a separate process, as in production), on SQLite and on PostgreSQL:
//!
//! - `search_knowledge_base` latency (p50, p99) over a large knowledge base, for broad
//!   queries (thousands of matching articles) and specific ones (a handful);
//! - `create_ticket` calls per second through MCP over HTTP with many concurrent clients.
//!
//! Every call is a 2026-07-28 stateless MCP `tools/call` on `/mcp/support`, so the
//! figures include HTTP, JSON-RPC, validation and the store. The corpus is written
//! straight into the store before the server starts (seeding is not what is measured).
//! Usage is in BENCHMARKS.md.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use clap::Parser;
use serde_json::json;
use sqlx::types::Json;
use tideway_bench::{call_tool, peak_rss_mib, percentile, start_server};
use tideway_core::{Store, TenantId, on_store, store::testing::fresh_postgres_database};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks the support toolkit through a running tideway binary")]
struct Args {
    /// The tideway binary to measure (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// A PostgreSQL server to measure on too; each run makes a fresh database there.
    #[arg(long, env = "TIDEWAY_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Knowledge articles in the corpus.
    #[arg(long, default_value_t = 100_000)]
    articles: usize,
    /// Searches timed per query kind.
    #[arg(long, default_value_t = 500)]
    searches: usize,
    /// Concurrent clients creating tickets.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long the ticket-creation run lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

const BROAD: &[&str] = &[
    "password reset",
    "vpn drops every hour",
    "invoice vat number",
    "webhook signature",
    "printer offline",
    "refund duplicate payment",
    "sso login loop",
    "export custom fields",
];

/// Writes `count` articles: the demo desk's articles, each made specific to a product
/// and an error code so the corpus has both common and rare words.
async fn seed(store: &Store, tenant: &TenantId, count: usize) -> anyhow::Result<Vec<i64>> {
    let base = tideway::toolkits::support::demo::articles();
    let now = Utc::now();
    let begin = store.begin_write_sql();
    let customers: Vec<i64> = on_store!(store, pool => {
        let mut tx = pool.begin_with(begin).await?;
        for i in 0..count {
            let (title, body, category, tags) = &base[i % base.len()];
            let product = format!("Product {}", i % 997);
            let code = format!("E{:05}", i);
            sqlx::query(
                "INSERT INTO support_articles (tenant_id, title, body, category, tags, published, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)",
            )
            .bind(tenant.as_str())
            .bind(format!("{title}: {product} (error {code})"))
            .bind(format!("{body}\n\nApplies to {product}. Reported with error code {code}."))
            .bind(*category)
            .bind(Json(tags))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Tickets are spread over many customers: each create also counts the
        // ticket on its customer's row, and one hot customer would serialize them.
        let mut customers = Vec::with_capacity(CUSTOMERS);
        for n in 0..CUSTOMERS {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO support_customers (tenant_id, first_name, last_name, email, tier, created_at, updated_at) \
                 VALUES ($1, 'Bench', 'Customer', $2, 'standard', $3, $3) RETURNING id",
            )
            .bind(tenant.as_str())
            .bind(format!("bench{n}@example.com"))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            customers.push(id);
        }
        tx.commit().await?;
        customers
    });
    if let Store::Postgres(pool) = store {
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    Ok(customers)
}

/// Customers the ticket-creation run spreads its tickets over.
const CUSTOMERS: usize = 100;

async fn time_searches(
    http: &reqwest::Client,
    base: &str,
    queries: &[String],
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let mut times = Vec::with_capacity(runs);
    let mut hits = 0usize;
    for i in 0..runs {
        let query = &queries[i % queries.len()];
        let started = Instant::now();
        let result = call_tool(
            http,
            &format!("{base}/mcp/support"),
            None,
            "search_knowledge_base",
            json!({"search_term": query, "limit": 5}),
        )
        .await?;
        times.push(started.elapsed());
        hits += result["results"].as_array().map(Vec::len).unwrap_or(0);
    }
    times.sort();
    Ok((times, hits as f64 / runs as f64))
}

async fn run_backend(args: &Args, name: &str, database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("tideway.db").display()
        )
    });
    let store = Store::open(&url).await?;
    store.migrate(&tideway::toolkits::migrations()).await?;
    let tenant = TenantId::new("default");
    store.ensure_tenant(&tenant, "default").await?;
    let seeding = Instant::now();
    let customers = Arc::new(seed(&store, &tenant, args.articles).await?);
    let seed_secs = seeding.elapsed().as_secs_f64();
    store.close().await;

    let env: Vec<(&str, &str)> = database_url
        .as_deref()
        .map(|url| vec![("TIDEWAY_DATABASE_URL", url)])
        .unwrap_or_default();
    let mut server = start_server(&args.bin, dir.path(), &["--toolkit", "support"], &env).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let broad: Vec<String> = BROAD.iter().map(|q| q.to_string()).collect();
    let specific: Vec<String> = (0..args.searches)
        .map(|i| format!("E{:05}", (i * 7919) % args.articles.max(1)))
        .collect();
    time_searches(&http, &server.base, &broad, 50).await?;
    let (broad_times, broad_hits) =
        time_searches(&http, &server.base, &broad, args.searches).await?;
    let (specific_times, specific_hits) =
        time_searches(&http, &server.base, &specific, args.searches).await?;

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let http = Arc::new(http);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let http = http.clone();
        let base = server.base.clone();
        let customers = customers.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let begun = Instant::now();
                call_tool(
                    &http,
                    &format!("{base}/mcp/support"),
                    None,
                    "create_ticket",
                    json!({
                        "customer_id": customers[(client + n) % customers.len()],
                        "subject": format!("Bench ticket {client}-{n}"),
                        "description": "Created by support-bench.",
                        "priority": "medium",
                    }),
                )
                .await?;
                times.push(begun.elapsed());
                n += 1;
            }
            anyhow::Ok(times)
        }));
    }
    let mut create_times = Vec::new();
    for task in tasks {
        create_times.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    create_times.sort();
    let rss = peak_rss_mib(server.child.id());
    server.child.kill().await.ok();

    println!(
        "| {name} | {} | {seed_secs:.1} s | broad: p50 {:.2} ms, p99 {:.2} ms ({broad_hits:.1} hits) | specific: p50 {:.2} ms, p99 {:.2} ms ({specific_hits:.1} hits) | {:.0}/s (p50 {:.1} ms, p99 {:.1} ms, {} clients) | {} |",
        args.articles,
        percentile(&broad_times, 0.5),
        percentile(&broad_times, 0.99),
        percentile(&specific_times, 0.5),
        percentile(&specific_times, 0.99),
        create_times.len() as f64 / elapsed,
        percentile(&create_times, 0.5),
        percentile(&create_times, 0.99),
        args.clients,
        rss.map(|mib| format!("{mib:.0} MiB"))
            .unwrap_or_else(|| "n/a".into()),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "| store | articles | seeding | search_knowledge_base | create_ticket | server peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    run_backend(&args, "SQLite", None).await?;
    if let Some(url) = &args.postgres {
        let fresh = fresh_postgres_database(url).await;
        run_backend(&args, "PostgreSQL", Some(fresh)).await?;
    }
    Ok(())
}
