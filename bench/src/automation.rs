//! `automation-bench`: the automation toolkit under load. Signed inbound webhook
//! deliveries sent by concurrent workers to one endpoint, each answered 202 only once
//! its run is recorded (requests per second, p50 and p99 to that answer); then
//! one-second schedules firing while the same delivery load goes on, and for each
//! firing the delay from its due time to its run's first step starting (p50, p99,
//! max). Peak resident memory of the server at the end.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tideway::toolkits::automation::signature::outbound_headers;
use tideway_bench::{peak_rss_mib, percentile, start_server};

#[derive(Parser, Debug)]
#[command(about = "Inbound webhooks to recorded runs, and schedule firing accuracy under load")]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// Deliveries in the throughput phase.
    #[arg(long, default_value_t = 2000)]
    deliveries: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// One-second schedules in the accuracy phase.
    #[arg(long, default_value_t = 20)]
    schedules: usize,
    /// Seconds the accuracy phase lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Numbers every delivery of the run, across phases, so none repeats another's id.
static SENT: AtomicUsize = AtomicUsize::new(0);

const NAP: &str = r#"{"name": "Nap", "steps": [{"id": "nap", "kind": "sleep", "seconds": 0}]}"#;

/// Sends signed deliveries from `concurrency` workers until `until` says stop or
/// `count` were sent; the latency of each 202.
async fn deliveries(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    count: usize,
    concurrency: usize,
    stop: Option<Instant>,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, secret, next) = (
            http.clone(),
            url.to_string(),
            secret.to_string(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count || stop.is_some_and(|stop| Instant::now() >= stop) {
                    return Ok::<_, anyhow::Error>(times);
                }
                let delivery = SENT.fetch_add(1, Ordering::Relaxed);
                let body = json!({"order": index, "delivery": delivery}).to_string();
                let now = chrono::Utc::now().timestamp();
                let mut request = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-delivery-id", format!("bench-{delivery}"));
                for (name, value) in outbound_headers(secret.as_bytes(), body.as_bytes(), now) {
                    request = request.header(name, value);
                }
                let started = Instant::now();
                let response = request.body(body).send().await?;
                let status = response.status();
                if status.as_u16() != 202 {
                    bail!(
                        "delivery {index} answered {status}: {}",
                        response.text().await?
                    );
                }
                times.push(started.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for worker in workers {
        times.extend(worker.await??);
    }
    times.sort();
    Ok(times)
}

fn millis(at: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at.as_str()?)
        .ok()
        .map(|time| time.timestamp_millis())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = start_server(
        &args.bin,
        &data,
        &["--toolkit", "workflows", "--toolkit", "automation"],
        &[],
    )
    .await?;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{base}/api/v1/workflows/templates/nap"))
        .header("content-type", "application/json")
        .body(NAP)
        .send()
        .await?;
    if !put.status().is_success() {
        bail!("saving the template: {}", put.text().await?);
    }
    let hook: Value = http
        .post(format!("{base}/api/v1/automation/webhooks"))
        .json(&json!({"name": "bench", "target": {"workflow": "nap"}}))
        .send()
        .await?
        .json()
        .await?;
    let secret = hook["secret"]
        .as_str()
        .context("a webhook secret")?
        .to_string();
    let url = format!("{base}{}", hook["path"].as_str().context("a webhook path")?);

    // Warm up, then the throughput phase.
    deliveries(&http, &url, &secret, 50, 4, None).await?;
    let started = Instant::now();
    let times = deliveries(
        &http,
        &url,
        &secret,
        args.deliveries,
        args.concurrency,
        None,
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!("| phase | requests | req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| inbound webhook to a recorded run ({} senders) | {} | {:.0} | {:.2} | {:.2} |",
        args.concurrency,
        times.len(),
        times.len() as f64 / elapsed,
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );

    // The accuracy phase: one-second schedules while deliveries keep coming.
    for index in 0..args.schedules {
        let made = http
            .post(format!("{base}/api/v1/automation/schedules"))
            .json(&json!({"name": format!("tick-{index}"), "timing": {"every_secs": 1}, "target": {"workflow": "nap"}}))
            .send()
            .await?;
        if made.status().as_u16() != 201 {
            bail!("making a schedule: {}", made.text().await?);
        }
    }
    let stop = Instant::now() + Duration::from_secs(args.seconds);
    let load = deliveries(
        &http,
        &url,
        &secret,
        usize::MAX,
        args.concurrency / 2 + 1,
        Some(stop),
    )
    .await?;
    for index in 0..args.schedules {
        http.post(format!(
            "{base}/api/v1/automation/schedules/tick-{index}/pause"
        ))
        .send()
        .await?;
    }
    let listed: Value = http
        .get(format!("{base}/api/v1/automation/schedules"))
        .send()
        .await?
        .json()
        .await?;
    let mut delays = Vec::new();
    // Due time to the run being recorded: the automation's own part, before the
    // engine's queue.
    let mut fired_after = Vec::new();
    for schedule in listed["schedules"].as_array().context("schedules")? {
        for firing in schedule["last_firings"].as_array().context("firings")? {
            let (Some(due), Some(execution)) =
                (millis(&firing["due_at"]), firing["execution_id"].as_str())
            else {
                continue;
            };
            if let Some(fired) = millis(&firing["started_at"]) {
                fired_after.push(Duration::from_millis(
                    u64::try_from(fired - due).unwrap_or(0),
                ));
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            let started_at = loop {
                let run: Value = http
                    .get(format!("{base}/api/v1/workflows/executions/{execution}"))
                    .send()
                    .await?
                    .json()
                    .await?;
                if let Some(at) = millis(&run["steps"][0]["started_at"]) {
                    break at;
                }
                if Instant::now() > deadline {
                    bail!("run {execution} never started: {run}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            delays.push(Duration::from_millis(
                u64::try_from(started_at - due).unwrap_or(0),
            ));
        }
    }
    delays.sort();
    fired_after.sort();
    println!();
    println!(
        "| schedule firings under load | firings | due to run recorded p50 / p99 ms | due to first step p50 ms | p99 ms | max ms | deliveries meanwhile |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} one-second schedules, {} s | {} | {:.0} / {:.0} | {:.0} | {:.0} | {:.0} | {} |",
        args.schedules,
        args.seconds,
        delays.len(),
        percentile(&fired_after, 0.5),
        percentile(&fired_after, 0.99),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
        load.len()
    );
    if let Some(rss) = peak_rss_mib(server.child.id()) {
        println!("\nServer peak resident memory: {rss:.0} MiB");
    }
    Ok(())
}
