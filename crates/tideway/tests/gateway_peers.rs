//! The gateway against MCP servers from the package registries, as users federate
//! them: `@modelcontextprotocol/server-everything` and `server-filesystem` (npm) over
//! stdio and Streamable HTTP, and a server on the official Python SDK (PyPI `mcp`,
//! `tests/peers/python_peer.py`) that speaks 2026-07-28 as well. The test command
//! installs them and names them in `TIDEWAY_TEST_MCP_PEERS`, `TIDEWAY_TEST_NODE` and
//! `TIDEWAY_TEST_PYTHON`; without them these tests are skipped, unless
//! `TIDEWAY_REQUIRE_MCP_PEERS=1` makes that a failure.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use common::{Collector, args, local, start, text_of, wait_for};
use serde_json::json;
use tideway::toolkits::upstream::{
    breaker::CircuitState,
    settings::{UpstreamSpec, UpstreamTransport},
    supervisor::Upstream,
};
use tideway_core::{
    HubEvent, Scope,
    mcp::{ArgumentInfo, Reference},
};
use tokio_util::sync::CancellationToken;

/// Where the registry peers are, or `None` to skip.
struct Peers {
    node: String,
    python: String,
    modules: PathBuf,
}

fn peers() -> Option<Peers> {
    let found = (
        std::env::var("TIDEWAY_TEST_NODE"),
        std::env::var("TIDEWAY_TEST_PYTHON"),
        std::env::var("TIDEWAY_TEST_MCP_PEERS"),
    );
    match found {
        (Ok(node), Ok(python), Ok(modules)) => Some(Peers {
            node,
            python,
            modules: PathBuf::from(modules),
        }),
        _ => {
            assert!(
                std::env::var("TIDEWAY_REQUIRE_MCP_PEERS").is_err(),
                "TIDEWAY_REQUIRE_MCP_PEERS is set but the peers are not named"
            );
            eprintln!("skipped: the registry MCP peers are not installed (run scripts/test)");
            None
        }
    }
}

fn python_peer_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers/python_peer.py")
        .to_string_lossy()
        .into_owned()
}

impl Peers {
    fn everything(&self, name: &str) -> UpstreamSpec {
        UpstreamSpec {
            name: name.into(),
            command: Some(self.node.clone()),
            args: vec![
                self.script("server-everything/dist/index.js"),
                "stdio".into(),
            ],
            ..UpstreamSpec::default()
        }
    }

    fn filesystem(&self, name: &str, root: &Path) -> UpstreamSpec {
        UpstreamSpec {
            name: name.into(),
            command: Some(self.node.clone()),
            args: vec![
                self.script("server-filesystem/dist/index.js"),
                root.to_string_lossy().into_owned(),
            ],
            ..UpstreamSpec::default()
        }
    }

    /// The Python SDK peer over stdio, recording what happens to it in `events`.
    fn python(&self, name: &str, events: &Path) -> UpstreamSpec {
        UpstreamSpec {
            name: name.into(),
            command: Some(self.python.clone()),
            args: vec![python_peer_script()],
            env: [(
                "PEER_EVENTS".to_string(),
                events.to_string_lossy().into_owned(),
            )]
            .into(),
            ..UpstreamSpec::default()
        }
    }

    fn script(&self, relative: &str) -> String {
        self.modules.join(relative).to_string_lossy().into_owned()
    }
}

/// A peer serving Streamable HTTP on a free loopback port, stopped on drop.
struct HttpPeer {
    child: tokio::process::Child,
    url: String,
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

async fn http_peer(program: &str, args: &[String], envs: &[(&str, String)], port: u16) -> HttpPeer {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().expect("the peer starts");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return HttpPeer {
                child,
                url: format!("http://127.0.0.1:{port}/mcp"),
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{program} did not listen on port {port}");
}

fn http_spec(name: &str, url: &str) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        transport: UpstreamTransport::Http,
        url: Some(url.into()),
        ..UpstreamSpec::default()
    }
}

async fn added(server: &common::Running, spec: UpstreamSpec) -> Arc<Upstream> {
    let name = spec.name.clone();
    let upstream = server.app.gateway.add(spec, "test").await.expect("added");
    assert!(
        server.app.hub.has_toolkit(&name),
        "{name} is served once added: {:?}",
        upstream.observed().detail
    );
    upstream
}

fn events_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn server_everything_over_stdio_passes_calls_prompts_resources_and_requests_through() {
    let Some(peers) = peers() else { return };
    let server = start(|_| {}).await;
    let upstream = added(&server, peers.everything("everything")).await;
    let observed = upstream.observed();
    // The TypeScript SDK does not know 2026-07-28: the client fell back.
    assert_eq!(observed.protocol_version.as_deref(), Some("2025-11-25"));
    assert!(
        observed
            .server_name
            .as_deref()
            .is_some_and(|name| name.contains("everything")),
        "{observed:?}"
    );
    let hub = &server.app.hub;

    let echo = hub
        .call(
            &local(),
            "everything",
            "echo",
            args(json!({"message": "ahoy"})),
        )
        .await
        .expect("echo");
    assert_eq!(text_of(&echo), "Echo: ahoy");
    let sum = hub
        .call(
            &local(),
            "everything",
            "get-sum",
            args(json!({"a": 2, "b": 40})),
        )
        .await
        .expect("sum");
    assert!(text_of(&sum).contains("42"), "{}", text_of(&sum));
    // Invalid arguments are refused by Tideway against the upstream's own schema.
    let refused = hub
        .call(&local(), "everything", "get-sum", args(json!({"a": "two"})))
        .await
        .expect_err("a string is not a number");
    assert_eq!(refused.kind(), "invalid-arguments", "{refused}");

    // Progress comes back to the caller, one notification per step.
    let collector = Arc::new(Collector::default());
    let ctx = local().with_client(collector.clone());
    hub.call(
        &ctx,
        "everything",
        "trigger-long-running-operation",
        args(json!({"duration": 0.4, "steps": 4})),
    )
    .await
    .expect("long operation");
    assert_eq!(
        *collector.progress.lock().expect("lock"),
        vec![1.0, 2.0, 3.0, 4.0]
    );

    // Sampling and elicitation from the upstream reach the calling client and back.
    let sampled = hub
        .call(
            &ctx,
            "everything",
            "trigger-sampling-request",
            args(json!({"prompt": "tides"})),
        )
        .await
        .expect("sampling");
    assert!(
        text_of(&sampled).contains("sampled: Resource trigger-sampling-request context: tides"),
        "{}",
        text_of(&sampled)
    );
    let elicited = hub
        .call(&ctx, "everything", "trigger-elicitation-request", None)
        .await
        .expect("elicitation");
    assert!(text_of(&elicited).contains("Ada"), "{}", text_of(&elicited));
    // A caller that cannot answer (REST, a workflow) gets a clear refusal.
    let no_client = hub
        .call(
            &local(),
            "everything",
            "trigger-sampling-request",
            args(json!({"prompt": "x"})),
        )
        .await;
    let refusal = match no_client {
        Ok(result) => text_of(&result),
        Err(error) => error.to_string(),
    };
    assert!(refusal.contains("sampling/createMessage"), "{refusal}");

    // Prompts with arguments, and completion of an argument.
    let scope = Scope::Toolkit("everything".into());
    let prompt = hub
        .get_prompt(
            &local(),
            &Scope::All,
            "everything_completable-prompt",
            args(json!({"department": "Support", "name": "Kim"})),
        )
        .await
        .expect("prompt through /mcp naming");
    let rendered = serde_json::to_string(&prompt.messages).expect("json");
    assert!(
        rendered.contains("Please promote Kim to the head of the Support team"),
        "{rendered}"
    );
    let completed = hub
        .complete(
            &local(),
            &scope,
            &Reference::for_prompt("completable-prompt"),
            &ArgumentInfo::new("department", "S"),
        )
        .await
        .expect("completion");
    assert_eq!(completed, vec!["Sales".to_string(), "Support".to_string()]);

    // Resources: listed ones and a templated one, read through /mcp routing.
    let resources = hub.list_resources(&local(), &scope).await.expect("listed");
    let listed = resources.first().expect("static documents are listed");
    let contents = hub
        .read_resource(&local(), &Scope::All, &listed.uri)
        .await
        .expect("read");
    assert!(!contents.is_empty());
    let templated = hub
        .read_resource(&local(), &Scope::All, "demo://resource/dynamic/text/7")
        .await
        .expect("a templated resource");
    assert!(
        serde_json::to_string(&templated)
            .expect("json")
            .contains('7')
    );
}

#[tokio::test]
async fn server_filesystem_reads_inside_its_root_and_refuses_outside() {
    let Some(peers) = peers() else { return };
    let server = start(|_| {}).await;
    let root = server.dir.path().join("shared");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::write(root.join("notes.txt"), "high water at 06:12").expect("file");
    let root = root.canonicalize().expect("canonical");
    added(&server, peers.filesystem("files", &root)).await;
    let hub = &server.app.hub;

    let read = hub
        .call_in_scope(
            &local(),
            &Scope::All,
            "files_read_text_file",
            args(json!({"path": root.join("notes.txt")})),
        )
        .await
        .expect("read");
    assert_eq!(text_of(&read), "high water at 06:12");
    let outside = hub
        .call(
            &local(),
            "files",
            "read_text_file",
            args(json!({"path": "/etc/hostname"})),
        )
        .await
        .expect("the upstream answers with a tool error");
    assert_eq!(outside.is_error, Some(true));
    assert!(
        text_of(&outside).to_lowercase().contains("denied"),
        "{}",
        text_of(&outside)
    );
    let listing = hub
        .call(
            &local(),
            "files",
            "list_directory",
            args(json!({"path": root})),
        )
        .await
        .expect("list");
    assert!(text_of(&listing).contains("notes.txt"));
}

#[tokio::test]
async fn http_upstreams_are_served_in_the_era_each_speaks() {
    let Some(peers) = peers() else { return };
    let server = start(|_| {}).await;

    let port = free_port();
    let everything = http_peer(
        &peers.node,
        &[
            peers.script("server-everything/dist/index.js"),
            "streamableHttp".into(),
        ],
        &[("PORT", port.to_string())],
        port,
    )
    .await;
    let port = free_port();
    let python = http_peer(
        &peers.python,
        &[python_peer_script(), "http".into(), port.to_string()],
        &[],
        port,
    )
    .await;

    let legacy = added(&server, http_spec("remote", &everything.url)).await;
    assert_eq!(
        legacy.observed().protocol_version.as_deref(),
        Some("2025-11-25")
    );
    let modern = added(&server, http_spec("pyremote", &python.url)).await;
    assert_eq!(
        modern.observed().protocol_version.as_deref(),
        Some("2026-07-28")
    );

    let hub = &server.app.hub;
    let echo = hub
        .call_in_scope(
            &local(),
            &Scope::All,
            "remote_echo",
            args(json!({"message": "over http"})),
        )
        .await
        .expect("echo");
    assert_eq!(text_of(&echo), "Echo: over http");
    let collector = Arc::new(Collector::default());
    hub.call(
        &local().with_client(collector.clone()),
        "remote",
        "trigger-long-running-operation",
        args(json!({"duration": 0.3, "steps": 3})),
    )
    .await
    .expect("progress over HTTP");
    assert_eq!(
        *collector.progress.lock().expect("lock"),
        vec![1.0, 2.0, 3.0]
    );
    let waited = hub
        .call(&local(), "pyremote", "wait", args(json!({"seconds": 0.05})))
        .await
        .expect("wait");
    assert_eq!(text_of(&waited), "waited 0.05 s");
    let counter = hub
        .read_resource(&local(), &Scope::All, "counter://value")
        .await
        .expect("resource over 2026-07-28");
    assert!(
        serde_json::to_string(&counter)
            .expect("json")
            .contains("\"0\"")
    );

    // The 2026-07-28 upstream asks for a name with an input-required result: the
    // gateway asks its own caller, then calls again with the answer.
    let asked = Arc::new(Collector::default());
    let greeted = hub
        .call(
            &local().with_client(asked.clone()),
            "pyremote",
            "greet_asking",
            args(json!({})),
        )
        .await
        .expect("greet");
    assert_eq!(text_of(&greeted), "Hello, Ada!", "{greeted:?}");
    assert_eq!(
        *asked.requests.lock().expect("lock"),
        vec!["elicitation/create"]
    );
    // A caller that cannot answer gets the tool's refusal, not a hang.
    let refused = hub
        .call(&local(), "pyremote", "greet_asking", args(json!({})))
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn a_cancelled_or_timed_out_call_is_cancelled_on_the_upstream() {
    let Some(peers) = peers() else { return };
    let server = start(|_| {}).await;
    let events = server.dir.path().join("peer-events");
    added(&server, peers.python("py", &events)).await;
    let hub = server.app.hub.clone();

    // The caller cancels (a client's notifications/cancelled, a closed request).
    let cancel = CancellationToken::new();
    let ctx = local().with_cancellation(cancel.clone());
    let call = tokio::spawn({
        let hub = hub.clone();
        async move {
            hub.call(&ctx, "py", "wait", args(json!({"seconds": 30})))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel.cancel();
    let error = call.await.expect("join").expect_err("cancelled");
    assert_eq!(error.kind(), "cancelled", "{error}");
    wait_for("the upstream to hear of the cancellation", async || {
        events_in(&events) == ["cancelled"]
    })
    .await;

    // The call's deadline passes.
    let ctx = local().with_timeout(Duration::from_millis(600));
    let error = hub
        .call(&ctx, "py", "wait", args(json!({"seconds": 30})))
        .await
        .expect_err("deadline");
    assert_eq!(error.kind(), "deadline-exceeded", "{error}");
    wait_for("the second cancellation", async || {
        events_in(&events) == ["cancelled", "cancelled"]
    })
    .await;

    // The connection is fine afterwards.
    let waited = hub
        .call(&local(), "py", "wait", args(json!({"seconds": 0.01})))
        .await
        .expect("later calls work");
    assert_eq!(text_of(&waited), "waited 0.01 s");
    let upstream = server.app.gateway.get("py").await.expect("upstream");
    assert_eq!(upstream.in_flight(), 0);
}

/// Sends `signal` to the process group an upstream child leads.
fn signal_group(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pid}")])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} -{pid}");
}

#[tokio::test]
async fn a_hung_upstream_times_out_opens_its_circuit_and_spares_the_others() {
    let Some(peers) = peers() else { return };
    let server = start(|config| {
        common::gateway(config, |gateway| {
            gateway.breaker_failures = 2;
            gateway.breaker_open_secs = 2;
            gateway.health_interval_secs = 3600;
        });
    })
    .await;
    let mut spec = peers.everything("frozen");
    spec.timeout_secs = Some(1);
    let frozen = added(&server, spec).await;
    added(&server, peers.everything("lively")).await;
    let hub = &server.app.hub;
    let pid = frozen.observed().pid.expect("pid");

    // Stopped, not dead: the connection stays open and nothing answers.
    signal_group(pid, "STOP");
    for _ in 0..2 {
        let error = hub
            .call(
                &local(),
                "frozen",
                "echo",
                args(json!({"message": "hello?"})),
            )
            .await
            .expect_err("no answer");
        assert_eq!(error.kind(), "deadline-exceeded", "{error}");
    }
    assert_eq!(
        frozen.breaker.state(std::time::Instant::now()),
        CircuitState::Open
    );
    let fast = hub
        .call(
            &local(),
            "frozen",
            "echo",
            args(json!({"message": "hello?"})),
        )
        .await
        .expect_err("the open circuit fails fast");
    assert_eq!(fast.kind(), "unavailable", "{fast}");
    assert!(fast.to_string().contains("circuit is open"), "{fast}");
    assert_eq!(frozen.health().status, tideway_core::HealthStatus::Degraded);

    // The other upstream and the built-ins answer meanwhile.
    let other = hub
        .call(&local(), "lively", "echo", args(json!({"message": "fine"})))
        .await
        .expect("another upstream is unaffected");
    assert_eq!(text_of(&other), "Echo: fine");
    hub.call(&local(), "system", "echo", args(json!({"message": "fine"})))
        .await
        .expect("built-ins are unaffected");

    // Once it answers again, the half-open probe closes the circuit.
    signal_group(pid, "CONT");
    wait_for("the circuit to let a probe through", async || {
        frozen.breaker.state(std::time::Instant::now()) != CircuitState::Open
    })
    .await;
    let back = hub
        .call(&local(), "frozen", "echo", args(json!({"message": "back"})))
        .await
        .expect("the probe succeeds");
    assert_eq!(text_of(&back), "Echo: back");
    assert_eq!(
        frozen.breaker.state(std::time::Instant::now()),
        CircuitState::Closed
    );
}

#[tokio::test]
async fn an_upstream_catalog_change_reaches_the_hub_and_its_clients() {
    let Some(peers) = peers() else { return };
    let server = start(|_| {}).await;
    let events = server.dir.path().join("peer-events");
    let upstream = added(&server, peers.python("py", &events)).await;
    // Over stdio the Python SDK negotiates the newer era.
    assert_eq!(
        upstream.observed().protocol_version.as_deref(),
        Some("2026-07-28")
    );
    let hub = server.app.hub.clone();
    let mut changes = hub.subscribe();
    hub.call(&local(), "py", "add_tool", args(json!({"name": "fresh"})))
        .await
        .expect("add_tool");
    wait_for("the new tool to be served", async || {
        hub.resolve_tool(&Scope::All, "py_fresh").is_ok()
    })
    .await;
    let fresh = hub
        .call(&local(), "py", "fresh", None)
        .await
        .expect("the new tool answers");
    assert_eq!(text_of(&fresh), "fresh");
    let mut heard = false;
    while let Ok(event) = changes.try_recv() {
        heard |= event == HubEvent::ToolsChanged;
    }
    assert!(heard, "connected clients are told the tools changed");
}

#[tokio::test]
async fn resource_updates_from_an_upstream_reach_subscribers_in_both_eras() {
    let Some(peers) = peers() else { return };
    let port = free_port();
    let python = http_peer(
        &peers.python,
        &[python_peer_script(), "http".into(), port.to_string()],
        &[],
        port,
    )
    .await;
    // The Python peer speaks 2026-07-28 (listen streams); server-everything speaks
    // 2025-11-25 (resources/subscribe).
    let server = start(|_| {}).await;
    added(&server, http_spec("remote", &python.url)).await;
    added(&server, peers.everything("everything")).await;
    let hub = server.app.hub.clone();

    let mut updates = hub.subscribe();
    hub.subscribe_resource(&local(), &Scope::All, "counter://value")
        .await
        .expect("subscribed");
    hub.call(&local(), "remote", "bump", None)
        .await
        .expect("bump");
    hub.call(&local(), "remote", "bump", None)
        .await
        .expect("bump");
    let heard = |uri: &'static str| {
        let mut updates = hub.subscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(15), async {
                loop {
                    match updates.recv().await {
                        Ok(HubEvent::ResourceUpdated { uri: got, tenant }) if got == uri => {
                            return tenant;
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => panic!("the Hub closed"),
                    }
                }
            })
            .await
        }
    };
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(HubEvent::ResourceUpdated { uri, tenant }) = updates.recv().await
                && uri == "counter://value"
            {
                return tenant;
            }
        }
    })
    .await
    .expect("the 2026-07-28 update was passed on");
    assert_eq!(first, None, "an upstream's resource is every tenant's");

    // server-everything updates a subscribed resource every few seconds by itself.
    let uri = "demo://resource/dynamic/text/1";
    let waiting = heard(uri);
    hub.subscribe_resource(&local(), &Scope::All, uri)
        .await
        .expect("subscribed");
    hub.call(&local(), "everything", "toggle-subscriber-updates", None)
        .await
        .expect("updates on");
    assert!(waiting.await.is_ok(), "the 2025-11-25 update was passed on");
    let unknown = hub
        .subscribe_resource(&local(), &Scope::All, "nowhere://at-all")
        .await
        .expect_err("unknown URIs are not found");
    assert_eq!(unknown.kind(), "resource-not-found");
}
