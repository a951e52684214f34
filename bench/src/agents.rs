//! `agents-bench`: what an agent run costs beside its model. The model is a local
//! server speaking OpenAI's chat completions API with no latency of its own: it asks
//! for `system_echo` once, then answers, so every run is two model turns and one
//! tool call and everything measured is orchestration. Tideway's runs are measured
//! one after another (end to end through `POST /api/v1/agents/{name}/runs` with
//! `Prefer: wait`, and inside the loop from the run's own record: start to end, and
//! per turn) and from several workers at once (runs per second, server CPU per run);
//! then, side by side on the same model server, the same loop written with the
//! OpenAI Agents SDK (`bench/peers/agents/openai_agents_loop.py`), which keeps its run
//! in memory where Tideway records every step before the next.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Json, Router, extract::State, routing::post};
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{percentile, process::Sampler, start_server};

#[derive(Parser, Debug)]
#[command(
    about = "Agent runs over a zero-latency model: orchestration per turn and runs per second, beside the OpenAI Agents SDK"
)]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// Python with `openai-agents` installed, for the peer; left out when absent.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The peer's script.
    #[arg(long, default_value = "bench/peers/agents/openai_agents_loop.py")]
    peer: PathBuf,
    /// Runs one after another, and again from the workers.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Workers starting runs at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

/// Asks for `system_echo` until the conversation has its result, then answers.
async fn model(State(turns): State<Arc<AtomicUsize>>, Json(body): Json<Value>) -> Json<Value> {
    turns.fetch_add(1, Ordering::Relaxed);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let result = messages.iter().rev().find(|m| m["role"] == "tool");
    let (message, finish) = match result {
        None => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "system_echo", "arguments": "{\"message\":\"ping\"}"}}]}),
            "tool_calls",
        ),
        Some(result) => (
            json!({"role": "assistant", "content": format!("answer after {}",
                result["content"].as_str().unwrap_or_default().len())}),
            "stop",
        ),
    };
    Json(
        json!({"id": "c", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
    )
}

async fn model_server() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let turns = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/v1/chat/completions", post(model))
        .with_state(turns.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((format!("http://{addr}/v1"), turns))
}

/// One run through the REST API; its time end to end, and the run as answered.
async fn run(http: &reqwest::Client, base: &str) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let view: Value = http
        .post(format!("{base}/api/v1/agents/pinger/runs"))
        .header("prefer", "wait=60")
        .json(&json!({"task": "Ping the hub."}))
        .send()
        .await?
        .json()
        .await?;
    let elapsed = started.elapsed();
    if view["run"]["status"] != "succeeded" {
        bail!("a run did not succeed: {view}");
    }
    Ok((elapsed, view["run"].clone()))
}

fn ms(run: &Value, field: &str) -> f64 {
    run[field].as_f64().unwrap_or_default()
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label:<44} p50 {:>8.2} ms   p99 {:>8.2} ms",
        percentile(&times, 0.50),
        percentile(&times, 0.99)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (model_url, turns) = model_server().await?;
    let dir = tempfile::tempdir()?;
    let toolkits = ["system", "workflows", "models", "agents"];
    let mut server_args = Vec::new();
    for toolkit in toolkits {
        server_args.extend(["--toolkit", toolkit]);
    }
    let server = start_server(&args.bin, dir.path(), &server_args, &[]).await?;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/api/v1/models/providers/main",
            json!({"kind": "openai", "base_url": model_url, "model": "scripted", "api_key": "sk-bench", "default": true}),
        ),
        (
            "/api/v1/agents/pinger",
            json!({"description": "Checks that things answer.", "instructions": "Echo, then report.",
                "tools": ["system.echo"], "max_concurrent_runs": 1000}),
        ),
    ] {
        let response = http.put(format!("{base}{path}")).json(&body).send().await?;
        if !response.status().is_success() {
            bail!("{path}: {}", response.text().await?);
        }
    }
    let sampler = Sampler::start(server.child.id(), Duration::from_millis(50));

    // One after another.
    let mut end_to_end = Vec::new();
    let mut in_loop = Vec::new();
    let mut per_turn = Vec::new();
    let sequential_from = Instant::now();
    for _ in 0..args.runs {
        let (elapsed, run) = run(&http, &base).await?;
        end_to_end.push(elapsed);
        let loop_ms = ms(&run, "finished_at_ms") - ms(&run, "started_at_ms");
        in_loop.push(Duration::from_secs_f64(loop_ms.max(0.0) / 1e3));
        let steps = run["steps"].as_f64().unwrap_or(2.0).max(1.0);
        per_turn.push(Duration::from_secs_f64(loop_ms.max(0.0) / 1e3 / steps));
    }
    let sequential_cpu = sampler.cpu_between(sequential_from, Instant::now());

    // From several workers at once.
    let next = Arc::new(AtomicUsize::new(0));
    let concurrent_from = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, base, next, runs) = (http.clone(), base.clone(), next.clone(), args.runs);
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < runs {
                run(&http, &base).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let concurrent = concurrent_from.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let concurrent_cpu = sampler.cpu_between(concurrent_from, Instant::now());
    let peak = sampler.peak_kib();
    let tideway_turns = turns.swap(0, Ordering::Relaxed);
    if tideway_turns != args.runs * 4 {
        bail!(
            "the model was asked {tideway_turns} times for {} runs of two turns",
            args.runs * 2
        );
    }

    println!(
        "agents-bench: {} runs (2 model turns, 1 tool call each), {} workers",
        args.runs, args.concurrency
    );
    println!("\nTideway (durable: every step recorded before the next)");
    summary("  run, end to end (REST, Prefer: wait)", end_to_end);
    summary("  run, inside the loop (start to end)", in_loop);
    summary("  per model turn, inside the loop", per_turn);
    println!(
        "  {:<42} {:>8.1} runs/s   server CPU {:.2} ms/run (one after another {:.2} ms/run)",
        "runs from the workers",
        args.runs as f64 / concurrent.as_secs_f64(),
        concurrent_cpu.as_secs_f64() * 1e3 / args.runs as f64,
        sequential_cpu.as_secs_f64() * 1e3 / args.runs as f64,
    );
    println!(
        "  server peak resident memory {:.1} MiB",
        peak as f64 / 1024.0
    );
    drop(server);

    let Some(python) = &args.python else {
        println!("\n(no --python: the OpenAI Agents SDK peer is left out)");
        return Ok(());
    };
    let output = tokio::process::Command::new(python)
        .arg(&args.peer)
        .arg(&model_url)
        .arg(args.runs.to_string())
        .arg(args.concurrency.to_string())
        .output()
        .await
        .context("running the OpenAI Agents SDK peer")?;
    if !output.status.success() {
        bail!(
            "the peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(&output.stdout).context("the peer's figures")?;
    let peer_turns = turns.load(Ordering::Relaxed);
    if peer_turns != args.runs * 4 {
        bail!(
            "the model was asked {peer_turns} times by the peer for {} runs of two turns",
            args.runs * 2
        );
    }
    let sequential: Vec<Duration> = peer["sequential_secs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(Duration::from_secs_f64)
        .collect();
    let per_turn: Vec<Duration> = sequential.iter().map(|d| *d / 2).collect();
    println!("\nOpenAI Agents SDK (in memory, one Python process)");
    summary("  run (start to end)", sequential);
    summary("  per model turn", per_turn);
    println!(
        "  {:<42} {:>8.1} runs/s",
        "runs from the workers",
        args.runs as f64 / peer["concurrent_secs"].as_f64().unwrap_or(f64::INFINITY)
    );
    Ok(())
}
