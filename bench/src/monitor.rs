//! `monitor-bench`: what watching costs and how fast history answers. In this
//! process, a Hub with `--components` toolkits, `--sources` database sources in use
//! (checked as parts each round) and the monitor sampling every `--interval-secs`: the CPU time the monitor's rounds take per second of wall time
//! (against the same process idle for as long, before the monitor starts) and the
//! memory it adds. Then a store filled as a month at that interval leaves it (a day
//! of raw samples, a week of minutes, a month of hours) and `get_performance_trends`
//! over 1 h, 24 h, 7 d and 30 d timed (p50, p99) on SQLite, and on PostgreSQL when
//! `--postgres` names a database.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use async_trait::async_trait;
use clap::Parser;
use serde_json::json;
use tideway::toolkits::{
    database::{DatabaseService, DatabaseToolkit, settings::DatabasesConfig},
    monitor::{MonitorToolkit, settings::MonitorConfig},
};
use tideway_bench::{percentile, process::usage};
use tideway_core::{
    CallContext, Health, Hub, HubError, Principal, Role, Store, TenantId, Toolkit,
    context::Credential,
    mcp::{CallToolResult, JsonObject, Tool},
};

#[derive(Parser, Debug)]
#[command(about = "The monitor's sampling cost and trend queries over a month of history")]
struct Args {
    /// Components besides the store, each a toolkit with a health check.
    #[arg(long, default_value_t = 50)]
    components: usize,
    #[arg(long, default_value_t = 5)]
    interval_secs: u64,
    /// Seconds the sampling cost is measured over (and the idle baseline before it).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Database sources in use besides (SQLite files, each queried once), which each
    /// round checks as parts through their pools.
    #[arg(long, default_value_t = 0)]
    sources: usize,
    /// Queries per window.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// A PostgreSQL database to fill and query as well (it is emptied of monitor rows).
    #[arg(long)]
    postgres: Option<String>,
}

/// A component whose check answers at once, so the figure is the monitor's own work.
struct Idle(String);

#[async_trait]
impl Toolkit for Idle {
    fn name(&self) -> &str {
        &self.0
    }
    fn description(&self) -> &str {
        "a component for the benchmark"
    }
    fn tools(&self) -> Vec<Tool> {
        Vec::new()
    }
    async fn call_tool(
        &self,
        _ctx: &CallContext,
        name: &str,
        _arguments: JsonObject,
    ) -> Result<CallToolResult, HubError> {
        Err(HubError::UnknownTool {
            toolkit: self.0.clone(),
            tool: name.to_string(),
        })
    }
    async fn health(&self) -> Health {
        Health::healthy()
    }
}

async fn open(url: &str) -> anyhow::Result<Store> {
    let store = Store::open(url).await.context("the store")?;
    store
        .migrate(&tideway::toolkits::migrations())
        .await
        .context("migrations")?;
    store
        .ensure_tenant(&TenantId::new("default"), "default")
        .await
        .context("tenant")?;
    Ok(store)
}

fn hub_with(components: usize) -> anyhow::Result<Arc<Hub>> {
    let hub = Arc::new(Hub::new());
    for index in 0..components {
        hub.register(Arc::new(Idle(format!("component{index:02}"))))
            .map_err(|error| anyhow::anyhow!("{error}"))?;
    }
    Ok(hub)
}

/// Registers the database toolkit on `hub` with `count` SQLite sources of the default
/// tenant, each queried once so it is in use; the folder that holds their files.
async fn sources_in_use(
    hub: &Arc<Hub>,
    store: &Store,
    count: usize,
) -> anyhow::Result<tempfile::TempDir> {
    let files = tempfile::tempdir()?;
    let data = files.path().join("data");
    std::fs::create_dir_all(&data)?;
    let key = tideway_core::secrets::MasterKey::generate()
        .map_err(|error| anyhow::anyhow!("{error}"))?
        .0;
    hub.register(Arc::new(DatabaseToolkit::new(Arc::new(
        DatabaseService::new(
            store.clone(),
            Arc::new(key),
            DatabasesConfig::default(),
            "default".into(),
            data,
        ),
    ))))
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    let ctx = CallContext::new(
        TenantId::new("default"),
        Principal::new("bench", Role::Admin, Credential::Local),
        "bench",
    );
    for index in 0..count {
        let name = format!("source{index:02}");
        let path = files.path().join(format!("{name}.db"));
        std::fs::write(&path, b"")?;
        for (tool, arguments) in [
            (
                "connect_source",
                json!({"name": name, "kind": "sqlite", "path": path.display().to_string()}),
            ),
            (
                "query_database",
                json!({"connection_id": name, "query": "SELECT 1"}),
            ),
        ] {
            let arguments: JsonObject = serde_json::from_value(arguments)?;
            let result = hub
                .call(&ctx, "database", tool, Some(arguments))
                .await
                .map_err(|error| anyhow::anyhow!("{tool}: {error}"))?;
            anyhow::ensure!(result.is_error != Some(true), "{tool}: {result:?}");
        }
    }
    Ok(files)
}

/// The monitor's CPU share of one core and the memory it adds, sampling for `seconds`.
async fn sampling_cost(args: &Args, url: &str) -> anyhow::Result<(f64, f64, i64)> {
    let store = open(url).await?;
    let hub = hub_with(args.components)?;
    let _files = sources_in_use(&hub, &store, args.sources).await?;
    let idle_start = usage(None).context("/proc")?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let idle_end = usage(None).context("/proc")?;
    let monitor = Arc::new(MonitorToolkit::new(
        MonitorConfig {
            interval_secs: args.interval_secs,
            replica: Some("bench".into()),
            ..MonitorConfig::default()
        },
        &hub,
        store.clone(),
        TenantId::new("default"),
    ));
    hub.register(monitor.clone())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    // The first round (at once) takes the baselines; measure from after it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = usage(None).context("/proc")?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let end = usage(None).context("/proc")?;
    monitor.shutdown().await;
    let idle = (idle_end.cpu - idle_start.cpu).as_secs_f64();
    let busy = (end.cpu - start.cpu).as_secs_f64();
    let share = (busy - idle).max(0.0) * 100.0 / args.seconds as f64;
    let added_mib = (end.rss_kib as f64 - idle_end.rss_kib as f64) / 1024.0;
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            match &store {
                Store::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
                Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await,
            }
        }
    };
    let rows = count("SELECT COUNT(*) FROM monitor_samples").await?;
    let parts_up = count(
        "SELECT COUNT(DISTINCT subject) FROM monitor_samples \
         WHERE metric = 'component.up' AND subject LIKE 'database/default/source%' AND value = 1",
    )
    .await?;
    anyhow::ensure!(
        parts_up == args.sources as i64,
        "{parts_up} of {} sources were sampled as healthy parts",
        args.sources
    );
    Ok((share, added_mib, rows))
}

/// The metrics a month at `interval` leaves for one server: what the default trends
/// report reads, and the rest of the host's figures beside them.
const METRICS: &[(&str, &str)] = &[
    ("tool.calls_per_s", "all"),
    ("tool.error_ratio", "all"),
    ("tool.latency_p50_ms", "all"),
    ("tool.latency_p95_ms", "all"),
    ("tool.latency_p99_ms", "all"),
    ("host.cpu_percent", "bench"),
    ("host.memory_percent", "bench"),
    ("host.memory_used_bytes", "bench"),
    ("host.disk_percent", "bench:/"),
    ("host.net_rx_bytes_per_s", "bench"),
    ("host.net_tx_bytes_per_s", "bench"),
    ("process.cpu_percent", "bench"),
    ("process.rss_bytes", "bench"),
    ("process.tasks", "bench"),
];

/// Fills the store as a month of sampling leaves it; answers the rows written.
async fn fill(
    store: &Store,
    components: usize,
    interval_secs: u64,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let mut series: Vec<(String, String)> = METRICS
        .iter()
        .map(|(metric, subject)| (metric.to_string(), subject.to_string()))
        .collect();
    for index in 0..components {
        series.push(("component.up".into(), format!("component{index:02}")));
        series.push((
            "component.latency_ms".into(),
            format!("component{index:02}"),
        ));
    }
    let step = interval_secs as i64 * 1000;
    let plan = [
        (0i64, now_ms - 86_400_000, step),
        (60, now_ms - 7 * 86_400_000, 60_000),
        (3600, now_ms - 30 * 86_400_000, 3_600_000),
    ];
    let mut rows = Vec::new();
    for (resolution, from, every) in plan {
        let mut at = (from / every) * every;
        while at < now_ms {
            for (index, (metric, subject)) in series.iter().enumerate() {
                let value = ((at / every + index as i64) % 100) as f64;
                rows.push((metric.clone(), subject.clone(), resolution, at, value));
            }
            at += every;
        }
    }
    // One statement per 500 rows; the same for both stores but for the driver type.
    macro_rules! insert_chunk {
        ($db:ty, $pool:expr, $chunk:expr) => {{
            let mut insert = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO monitor_samples (replica, metric, subject, resolution, at_ms, value, min_value, max_value, count) ",
            );
            insert.push_values($chunk, |mut row, (metric, subject, resolution, at, value)| {
                let count = if *resolution == 0 { 1 } else { *resolution / interval_secs as i64 };
                row.push_bind("bench")
                    .push_bind(metric.clone())
                    .push_bind(subject.clone())
                    .push_bind(*resolution)
                    .push_bind(*at)
                    .push_bind(*value)
                    .push_bind(*value)
                    .push_bind(*value)
                    .push_bind(count.max(1));
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute($pool).await?;
        }};
    }
    for chunk in rows.chunks(500) {
        match store {
            Store::Sqlite(pool) => insert_chunk!(sqlx::Sqlite, pool, chunk),
            Store::Postgres(pool) => insert_chunk!(sqlx::Postgres, pool, chunk),
        }
    }
    Ok(rows.len())
}

/// p50 and p99 of `get_performance_trends` for each window, in milliseconds.
async fn trend_queries(args: &Args, url: &str, label: &str) -> anyhow::Result<()> {
    let store = open(url).await?;
    match &store {
        Store::Sqlite(pool) => {
            sqlx::query("DELETE FROM monitor_samples")
                .execute(pool)
                .await?;
        }
        Store::Postgres(pool) => {
            sqlx::query("DELETE FROM monitor_samples")
                .execute(pool)
                .await?;
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let filled = Instant::now();
    let rows = fill(&store, args.components, args.interval_secs, now).await?;
    let fill_time = filled.elapsed();
    // PostgreSQL's autovacuum gathers a table's statistics soon after a bulk write,
    // as it would have many times over a month of sampling; the figures are of that
    // state, not of the minute before it. (SQLite is left as Tideway leaves it.)
    if let Store::Postgres(pool) = &store {
        sqlx::query("ANALYZE monitor_samples").execute(pool).await?;
    }
    let hub = hub_with(0)?;
    let monitor = Arc::new(MonitorToolkit::new(
        MonitorConfig {
            run_background: false,
            replica: Some("bench".into()),
            ..MonitorConfig::default()
        },
        &hub,
        store.clone(),
        TenantId::new("default"),
    ));
    hub.register(monitor)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let ctx = CallContext::new(
        TenantId::new("default"),
        Principal::new("bench", Role::Viewer, Credential::ApiKey),
        "bench",
    );
    println!(
        "{label}: {rows} rows ({:.1} s to write)",
        fill_time.as_secs_f64()
    );
    println!("| store | window | rows read at | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for window in ["1h", "24h", "7d", "30d"] {
        let mut times = Vec::with_capacity(args.queries);
        let mut resolution = json!(null);
        for _ in 0..args.queries {
            let mut arguments = JsonObject::new();
            arguments.insert("window".into(), json!(window));
            let started = Instant::now();
            let result = hub
                .call(&ctx, "monitor", "get_performance_trends", Some(arguments))
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            times.push(started.elapsed());
            let body = result.structured_content.unwrap_or_default();
            anyhow::ensure!(
                body["trends"]
                    .as_array()
                    .is_some_and(|trends| !trends.is_empty()),
                "no trends for {window}: {body}"
            );
            resolution = body["window"]["resolution_secs"].clone();
        }
        times.sort();
        println!(
            "| {label} | {window} | {resolution} s | {:.2} | {:.2} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("cost.db").display());
    let (share, added_mib, rows) = sampling_cost(&args, &sqlite).await?;
    println!(
        "sampling: {} components and {} sources in use every {} s for {} s: {share:.3}% of one core, {added_mib:+.1} MiB resident, {rows} samples written",
        args.components, args.sources, args.interval_secs, args.seconds
    );
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("month.db").display()
    );
    trend_queries(&args, &sqlite, "SQLite").await?;
    if let Some(url) = &args.postgres {
        trend_queries(&args, url, "PostgreSQL").await?;
    }
    Ok(())
}
