//! `auth-bench`: what authentication and auditing cost. Starts the same release
//! binary four ways, side by side in one run, and drives one tool over MCP
//! (2026-07-28 stateless `tools/call` on `/mcp`) with the same concurrent load:
//! `system_echo` (`--scenario echo`) or `support_get_ticket_details` on the demo
//! help desk (`--scenario ticket`):
//!
//! - *open*: `--auth none`, audit log off: nothing is checked or written;
//! - *API key*: `--auth api-key` with a key made by the CLI: every call carries a
//!   bearer key that is verified (cached after the first use) and authorized;
//! - *audit*: no authentication, audit log on: every call is recorded in the store;
//! - *secured*: both, as in production.
//!
//! Rate limits are off in all, so what is measured is the work, not a throttle.
//! Rounds alternate (open, API key, audit, secured, open, ...) so drift on a shared
//! machine affects all alike. Usage is in BENCHMARKS.md.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tideway_bench::{call_tool, peak_rss_mib, percentile, start_server};
use tideway_core::{Store, store::AuditQuery};

#[derive(Parser, Debug)]
#[command(about = "Measures the cost of API-key authentication and the audit log")]
struct Args {
    /// The tideway binary to measure (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each measured round lasts (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Rounds per configuration.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// What each call does: `echo` (`system_echo`, the worst case for any per-call
    /// overhead) or `ticket` (`support_get_ticket_details` on the demo help desk, a
    /// store read with joins, closer to real work).
    #[arg(long, default_value = "echo")]
    scenario: Scenario,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Scenario {
    Echo,
    Ticket,
}

impl Scenario {
    fn server_args(self) -> &'static [&'static str] {
        match self {
            Scenario::Echo => &["--toolkit", "system"],
            Scenario::Ticket => &["--toolkit", "support", "--demo"],
        }
    }

    /// The tool and arguments of the `n`th call of a client.
    fn call(self, client: usize, n: usize) -> (&'static str, serde_json::Value) {
        match self {
            Scenario::Echo => (
                "system_echo",
                json!({"message": format!("client {client}")}),
            ),
            // The demo desk has tickets 1 to 3,000 in a fresh store.
            Scenario::Ticket => (
                "support_get_ticket_details",
                json!({"ticket_id": 1 + (client * 97 + n * 31) % 3000}),
            ),
        }
    }
}

struct Round {
    calls_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: Option<f64>,
}

const NO_LIMITS: &[(&str, &str)] = &[
    ("TIDEWAY_LIMITS__KEY_REQUESTS_PER_SECOND", "0"),
    ("TIDEWAY_LIMITS__TENANT_REQUESTS_PER_SECOND", "0"),
    ("TIDEWAY_LIMITS__TENANT_CONCURRENT_CALLS", "0"),
];

async fn load(
    args: &Args,
    endpoint: &str,
    key: Option<&str>,
    seconds: u64,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let http = Arc::new(
        reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients * 2)
            .build()?,
    );
    let key = key.map(str::to_string);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (http, endpoint, key) = (http.clone(), endpoint.to_string(), key.clone());
        let scenario = args.scenario;
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let (tool, arguments) = scenario.call(client, n);
                let begun = Instant::now();
                call_tool(&http, &endpoint, key.as_deref(), tool, arguments).await?;
                times.push(begun.elapsed());
                n += 1;
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    let rate = times.len() as f64 / elapsed;
    Ok((times, rate))
}

/// One configuration under test: its name, whether calls carry an API key, whether
/// the audit log is on.
type Setup = (&'static str, bool, bool);

const SETUPS: &[Setup] = &[
    ("open (no auth, no audit)", false, false),
    ("API key, no audit", true, false),
    ("audit, no auth", false, true),
    ("secured (API key + audit)", true, true),
];

async fn round(
    args: &Args,
    data_dir: &Path,
    (_, with_key, audit): Setup,
    key: &str,
) -> anyhow::Result<Round> {
    let mut env = NO_LIMITS.to_vec();
    env.push((
        "TIDEWAY_AUDIT__ENABLED",
        if audit { "true" } else { "false" },
    ));
    let auth = if with_key { "api-key" } else { "none" };
    let mut server_args = args.scenario.server_args().to_vec();
    server_args.extend(["--auth", auth]);
    let mut server = start_server(&args.bin, data_dir, &server_args, &env).await?;
    let endpoint = format!("{}/mcp", server.base);
    let key = with_key.then_some(key);
    load(args, &endpoint, key, 2).await?;
    let (times, rate) = load(args, &endpoint, key, args.seconds).await?;
    let rss_mib = peak_rss_mib(server.child.id());
    // SIGTERM, so the audit writer flushes before the next round reads the store.
    if let Some(pid) = server.child.id() {
        tokio::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .await?;
    }
    server.child.wait().await?;
    Ok(Round {
        calls_per_second: rate,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
        rss_mib,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let created = tokio::process::Command::new(&args.bin)
        .args(["keys", "--data-dir"])
        .arg(dir.path())
        .args([
            "create",
            "--tenant",
            "default",
            "--role",
            "viewer",
            "--name",
            "auth-bench",
        ])
        .output()
        .await
        .context("creating a key with the CLI")?;
    anyhow::ensure!(
        created.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout)?.trim().to_string();

    let mut results: Vec<Vec<Round>> = SETUPS.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.rounds {
        for (setup, rounds) in SETUPS.iter().zip(results.iter_mut()) {
            rounds.push(round(&args, dir.path(), *setup, &key).await?);
        }
    }
    let store = Store::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tideway.db").display()
    ))
    .await?;
    let audited = store
        .query_audit(&AuditQuery {
            tenant: Some("default".into()),
            limit: 1,
            ..AuditQuery::default()
        })
        .await?;
    store.close().await;
    anyhow::ensure!(
        !audited.is_empty(),
        "the secured rounds wrote no audit records"
    );

    println!("| configuration | round | calls/s | p50 ms | p99 ms | peak RSS MiB |");
    println!("|---|---|---|---|---|---|");
    for ((name, _, _), rounds) in SETUPS.iter().zip(&results) {
        for (i, r) in rounds.iter().enumerate() {
            println!(
                "| {name} | {} | {:.0} | {:.2} | {:.2} | {} |",
                i + 1,
                r.calls_per_second,
                r.p50_ms,
                r.p99_ms,
                r.rss_mib
                    .map(|m| format!("{m:.1}"))
                    .unwrap_or_else(|| "n/a".into())
            );
        }
    }
    let mean = |rounds: &[Round]| {
        rounds.iter().map(|r| r.calls_per_second).sum::<f64>() / rounds.len() as f64
    };
    let open_rate = mean(&results[0]);
    println!();
    for ((name, _, _), rounds) in SETUPS.iter().zip(&results).skip(1) {
        let rate = mean(rounds);
        println!(
            "{name}: mean {rate:.0} calls/s, {:.1}% below open ({open_rate:.0})",
            (1.0 - rate / open_rate) * 100.0
        );
    }
    println!(
        "audit rows written in the audited rounds: {}",
        audited[0].id
    );
    Ok(())
}
