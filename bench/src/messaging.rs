//! `messaging-bench`: publishing and consuming through Tideway's messaging toolkit
//! (`publish_message` one at a time and in batches, `consume_messages` in a group,
//! over MCP, Streamable HTTP) beside the same work done directly with librdkafka's
//! Python client (confluent-kafka, acks=all, idempotent), against one tansu broker,
//! in one run. Reports per-message latency (p50/p99) for single publishes, messages
//! per second for batches and for consuming, and Tideway's added latency per call.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{call_tool, percentile, start_server};
use tokio::process::Command;

#[derive(Parser, Debug)]
#[command(about = "Tideway's messaging toolkit beside confluent-kafka on the same broker")]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// A Python with confluent-kafka.
    #[arg(long)]
    python: PathBuf,
    /// The tansu broker binary.
    #[arg(long)]
    broker: PathBuf,
    /// Single publishes timed, per side.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Messages per batch call.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Batch calls timed, per side.
    #[arg(long, default_value_t = 20)]
    batches: usize,
}

/// confluent-kafka's side: single publishes each awaited, batches flushed, and a
/// group reading everything back; prints JSON.
const PEER: &str = r#"
import json, sys, time, uuid
from confluent_kafka import Consumer, Producer
bootstrap, topic, singles, batch, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 2})
value = json.dumps({"ticket": 7, "text": "the app crashes on login"}).encode()
# Warm the connection and the producer id, as Tideway's first call does.
producer.produce(topic, value=value)
producer.flush(30)
single = []
for i in range(singles):
    started = time.perf_counter()
    producer.produce(topic, value=value, key=b"customer-%d" % i)
    producer.flush(30)
    single.append((time.perf_counter() - started) * 1000)
started = time.perf_counter()
for _ in range(batches):
    for i in range(batch):
        producer.produce(topic, value=value)
    producer.flush(30)
batch_seconds = time.perf_counter() - started
total = 1 + singles + batch * batches
started = time.perf_counter()
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "peer-" + uuid.uuid4().hex[:6],
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000})
consumer.subscribe([topic])
read = 0
while read < total:
    messages = consumer.consume(min(500, total - read), 10.0)
    if not messages:
        break
    read += sum(1 for message in messages if message.error() is None)
    consumer.commit(asynchronous=False)
consume_seconds = time.perf_counter() - started
consumer.close()
print(json.dumps({"single": single, "batch_per_s": batch * batches / batch_seconds,
                  "read": read, "consume_per_s": read / consume_seconds if consume_seconds else 0}))
"#;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn sorted_ms(values: &[Value]) -> Vec<Duration> {
    let mut times: Vec<Duration> = values
        .iter()
        .filter_map(Value::as_f64)
        .map(|ms| Duration::from_secs_f64(ms / 1e3))
        .collect();
    times.sort();
    times
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let port = free_port()?;
    let bootstrap = format!("127.0.0.1:{port}");
    let address = format!("tcp://{bootstrap}");
    let mut broker = Command::new(&args.broker)
        .args([
            "broker",
            "--listener-url",
            &address,
            "--advertised-listener-url",
            &address,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the broker")?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(&bootstrap).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the broker did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("tideway.toml");
    std::fs::write(
        &config,
        format!(
            "[messaging]\nsession_timeout_ms = 6000\n\n[messaging.clusters.bench]\ntenants = [\"*\"]\nbootstrap_servers = \"{bootstrap}\"\n"
        ),
    )?;
    let data = dir.path().join("data");
    let config_arg = config.display().to_string();
    let server = start_server(
        &args.bin,
        &data,
        &["--config", &config_arg, "--toolkit", "messaging"],
        &[],
    )
    .await?;
    let mcp = format!("{}/mcp/messaging", server.base);
    let http = reqwest::Client::new();
    let ours = "bench-tideway";
    let theirs = "bench-direct";
    for topic in [ours, theirs] {
        call_tool(&http, &mcp, None, "create_topic", json!({"topic": topic})).await?;
    }
    let message = json!({"ticket": 7, "text": "the app crashes on login"});
    // Warm the producer's connection.
    call_tool(
        &http,
        &mcp,
        None,
        "publish_message",
        json!({"topic": ours, "message": message}),
    )
    .await?;

    let mut single = Vec::with_capacity(args.messages);
    for index in 0..args.messages {
        let arguments =
            json!({"topic": ours, "message": message, "key": format!("customer-{index}")});
        let started = Instant::now();
        call_tool(&http, &mcp, None, "publish_message", arguments).await?;
        single.push(started.elapsed());
    }
    single.sort();
    let batch_arguments = json!({"topic": ours, "messages": (0..args.batch).map(|_| json!({"message": message})).collect::<Vec<_>>()});
    let started = Instant::now();
    for _ in 0..args.batches {
        let answer = call_tool(
            &http,
            &mcp,
            None,
            "publish_message",
            batch_arguments.clone(),
        )
        .await?;
        if answer["messages"].as_array().map(Vec::len) != Some(args.batch) {
            bail!("a batch was not acknowledged whole: {answer}");
        }
    }
    let batch_per_s = (args.batch * args.batches) as f64 / started.elapsed().as_secs_f64();
    let total = 1 + args.messages + args.batch * args.batches;
    // From the first call's start: each side joins its group once, and a join
    // waits on the broker (tansu: half the session timeout).
    let mut read = 0;
    let consume_started = Instant::now();
    while read < total {
        let answer = call_tool(
            &http,
            &mcp,
            None,
            "consume_messages",
            // Never more than is left, so no call waits out its timeout.
            json!({"topic": ours, "group_id": "bench", "max_messages": (total - read).min(500), "timeout_ms": 10000}),
        )
        .await?;
        let count = answer["count"].as_u64().unwrap_or(0) as usize;
        if count == 0 {
            break;
        }
        read += count;
    }
    let consume_per_s = read as f64 / consume_started.elapsed().as_secs_f64();
    if read != total {
        bail!("Tideway's group read {read} of {total} messages");
    }

    let output = Command::new(&args.python)
        .args([
            "-c",
            PEER,
            &bootstrap,
            theirs,
            &args.messages.to_string(),
            &args.batch.to_string(),
            &args.batches.to_string(),
        ])
        .output()
        .await
        .context("running confluent-kafka")?;
    if !output.status.success() {
        bail!(
            "confluent-kafka failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(&output.stdout)?;
    if peer["read"].as_u64() != Some(total as u64) {
        bail!(
            "confluent-kafka's group read {} of {total} messages",
            peer["read"]
        );
    }
    let peer_single = sorted_ms(peer["single"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    let ours_p50 = percentile(&single, 0.5);
    let theirs_p50 = percentile(&peer_single, 0.5);
    println!("| measure | Tideway (MCP) | confluent-kafka (direct) |");
    println!("|---|---|---|");
    println!(
        "| single publish, acknowledged, p50 / p99 ms | {:.2} / {:.2} | {:.2} / {:.2} |",
        ours_p50,
        percentile(&single, 0.99),
        theirs_p50,
        percentile(&peer_single, 0.99)
    );
    println!(
        "| batch publish ({} per call), messages/s | {:.0} | {:.0} |",
        args.batch,
        batch_per_s,
        peer["batch_per_s"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "| consume everything in a new group (up to 500 per call, join included), messages/s | {:.0} | {:.0} |",
        consume_per_s,
        peer["consume_per_s"].as_f64().unwrap_or(f64::NAN)
    );
    println!();
    println!(
        "Tideway's added latency per single publish (p50): {:.2} ms.",
        ours_p50 - theirs_p50
    );
    let _ = broker.kill().await;
    Ok(())
}
