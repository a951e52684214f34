//! `cloud-bench`: moving objects through Tideway's cloud toolkit (`s3_upload_file` and
//! `s3_download_file` over MCP, Streamable HTTP) beside the same transfers made
//! directly with boto3, against one moto S3 server, in one run. Reports median and p90
//! per transfer, and each side's peak resident memory, so the cost of carrying an
//! object inside JSON-RPC (base64) is seen beside the direct path.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::Engine;
use clap::Parser;
use serde_json::{Value, json};
use tideway_bench::{call_tool, peak_rss_mib, percentile, start_server};
use tokio::process::Command;

#[derive(Parser, Debug)]
#[command(about = "Tideway's cloud toolkit beside boto3 on the same S3 emulator")]
struct Args {
    /// The tideway binary (build it with --release).
    #[arg(long)]
    bin: PathBuf,
    /// A Python with boto3 (moto's own venv has it).
    #[arg(long)]
    python: PathBuf,
    /// moto's `moto_server` executable.
    #[arg(long)]
    moto: PathBuf,
    /// Object sizes in MiB.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 50])]
    sizes: Vec<usize>,
    /// Timed transfers per size, direction and side.
    #[arg(long, default_value_t = 5)]
    calls: usize,
}

const BUCKET: &str = "bench-objects";

/// boto3's side: times `calls` puts and gets of `size` bytes; prints JSON.
const BOTO3: &str = r#"
import json, os, resource, sys, time, boto3
endpoint, bucket, size, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="bench", aws_secret_access_key="bench-secret")
body = bytes((i * 7) % 251 for i in range(size))
s3.put_object(Bucket=bucket, Key="warm", Body=body)
up, down = [], []
for i in range(calls):
    started = time.perf_counter()
    s3.put_object(Bucket=bucket, Key=f"boto3-{size}", Body=body)
    up.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    got = s3.get_object(Bucket=bucket, Key=f"boto3-{size}")["Body"].read()
    down.append((time.perf_counter() - started) * 1000)
    assert len(got) == size
print(json.dumps({"up": up, "down": down,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"#;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn median_p90(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.9))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let port = free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let _moto = Command::new(&args.moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting moto")?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(response) = http.put(format!("{endpoint}/{BUCKET}")).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("moto did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let largest = args.sizes.iter().max().copied().unwrap_or(1) * 1024 * 1024;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("tideway.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_body_bytes = {body}\nmax_argument_bytes = {body}\n\n[cloud]\nmax_upload_bytes = {largest}\nmax_download_bytes = {largest}\n\n\
             [cloud.accounts.bench]\nkind = \"aws\"\ntenants = [\"*\"]\nendpoint = \"{endpoint}\"\n\
             access_key_id = \"bench\"\nsecret_access_key_env = \"BENCH_SECRET\"\n",
            body = largest * 2,
        ),
    )?;
    let data = dir.path().join("data");
    let config_arg = config.display().to_string();
    let server = start_server(
        &args.bin,
        &data,
        &["--config", &config_arg, "--toolkit", "cloud"],
        &[("BENCH_SECRET", "bench-secret")],
    )
    .await?;
    let mcp = format!("{}/mcp/cloud", server.base);
    let idle_rss = peak_rss_mib(server.child.id());

    println!("| transfer | size | Tideway (MCP) p50 / p90 ms | boto3 p50 / p90 ms |");
    println!("|---|---|---|---|");
    let mut boto3_peak: f64 = 0.0;
    for size_mib in &args.sizes {
        let size = size_mib * 1024 * 1024;
        let body: Vec<u8> = (0..size).map(|i| ((i * 7) % 251) as u8).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
        drop(body);
        let key = format!("tideway-{size}");
        let upload = json!({"bucket": BUCKET, "key": key, "content": encoded, "encoding": "base64",
            "content_type": "application/octet-stream"});
        drop(encoded);
        let download = json!({"bucket": BUCKET, "key": key, "max_bytes": size});
        // One of each to warm up, and to check what comes back.
        call_tool(&http, &mcp, None, "s3_upload_file", upload.clone()).await?;
        let back: Value =
            call_tool(&http, &mcp, None, "s3_download_file", download.clone()).await?;
        if back["size"] != json!(size) || back["truncated"] != json!(false) {
            bail!("the download did not come back whole: {}", back["size"]);
        }
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for _ in 0..args.calls {
            // Copies made outside the timed part.
            let (upload, download) = (upload.clone(), download.clone());
            let started = Instant::now();
            call_tool(&http, &mcp, None, "s3_upload_file", upload).await?;
            up.push(started.elapsed());
            let started = Instant::now();
            call_tool(&http, &mcp, None, "s3_download_file", download).await?;
            down.push(started.elapsed());
        }
        let output = Command::new(&args.python)
            .args([
                "-c",
                BOTO3,
                &endpoint,
                BUCKET,
                &size.to_string(),
                &args.calls.to_string(),
            ])
            .output()
            .await
            .context("running boto3")?;
        if !output.status.success() {
            bail!("boto3 failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let boto3: Value = serde_json::from_slice(&output.stdout)?;
        let times = |key: &str| -> Vec<Duration> {
            boto3[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .map(|ms| Duration::from_secs_f64(ms / 1e3))
                .collect()
        };
        boto3_peak = boto3_peak.max(boto3["peak_rss_mib"].as_f64().unwrap_or(0.0));
        for (direction, ours, theirs) in [
            ("upload", up, times("up")),
            ("download", down, times("down")),
        ] {
            let (ours_p50, ours_p90) = median_p90(ours);
            let (theirs_p50, theirs_p90) = median_p90(theirs);
            println!(
                "| {direction} | {size_mib} MiB | {ours_p50:.0} / {ours_p90:.0} | {theirs_p50:.0} / {theirs_p90:.0} |"
            );
        }
    }
    println!();
    println!(
        "Peak resident memory: Tideway {:.0} MiB (idle {:.0} MiB), boto3's process {:.0} MiB (its largest run).",
        peak_rss_mib(server.child.id()).unwrap_or(f64::NAN),
        idle_rss.unwrap_or(f64::NAN),
        boto3_peak
    );
    Ok(())
}
