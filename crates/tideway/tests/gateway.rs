//! The gateway against real MCP servers over stdio: Tideway's own binary (`tideway mcp`
//! with the conformance toolkit, which starts in milliseconds) as the upstream. Adding
//! over REST, calls with progress passed back, prompts and resources, a collision
//! with a built-in name, a child killed mid-call and restarted, an upstream that
//! exits at start (backoff, then down), and no process left after 100 start/stop
//! cycles.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Collector, key, local, mcp, start, tool_names, wait_for};
use serde_json::{Value, json};
use tideway::toolkits::upstream::settings::UpstreamSpec;
use tideway_core::{Principal, Role};

const BIN: &str = env!("CARGO_BIN_EXE_tideway");

/// A stdio upstream: Tideway serving the conformance toolkit, marked so its
/// processes can be found in /proc.
fn peer_spec(name: &str, data_dir: &std::path::Path) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        command: Some(BIN.into()),
        args: vec![
            "mcp".into(),
            "--toolkit".into(),
            "conformance".into(),
            "--toolkit".into(),
            "system".into(),
            "--data-dir".into(),
            data_dir.to_string_lossy().into_owned(),
        ],
        env: [("RUST_LOG".to_string(), "warn".to_string())].into(),
        ..UpstreamSpec::default()
    }
}

/// Processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn an_upstream_added_over_rest_is_served_and_removed_cleanly() {
    let server = start(|_| {}).await;
    let http = reqwest::Client::new();
    let spec = peer_spec("peer", &server.dir.path().join("peer-data"));
    let created = http
        .post(format!("{}/api/v1/upstreams", server.base))
        .json(&spec)
        .send()
        .await
        .expect("send");
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["status"]["phase"], "running", "{created}");
    assert_eq!(
        created["env"],
        json!(["RUST_LOG"]),
        "values are never shown"
    );
    let pid = created["status"]["pid"].as_u64().expect("pid") as u32;
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // Its tools are on /mcp with the prefix, and callable through the seed's endpoint.
    let call: Value = http
        .post(format!("{}/api/v1/integration/mcp/call", server.base))
        .json(&json!({"server": "peer", "tool": "conformance_test_simple_text"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(call["content"][0]["text"].as_str().is_some(), "{call}");
    let tools = server
        .app
        .hub
        .list_tools(&tideway_core::Scope::All, &Principal::local());
    assert!(
        tools
            .iter()
            .any(|tool| tool.name == "peer_conformance_test_simple_text")
    );

    // Progress comes back to the caller; prompts and resources pass through.
    let collector = Arc::new(Collector::default());
    let ctx = local().with_client(collector.clone());
    let result = server
        .app
        .hub
        .call(&ctx, "peer", "conformance_test_tool_with_progress", None)
        .await
        .expect("call");
    assert_ne!(result.is_error, Some(true));
    assert!(
        collector.progress.lock().expect("lock").len() >= 2,
        "progress notifications were relayed"
    );
    let logged = server
        .app
        .hub
        .call(&ctx, "peer", "conformance_test_tool_with_logging", None)
        .await
        .expect("call");
    assert_ne!(logged.is_error, Some(true));
    let logs = collector.logs.lock().expect("lock").clone();
    assert!(!logs.is_empty(), "the upstream's log messages were relayed");
    let prompt = server
        .app
        .hub
        .get_prompt(
            &local(),
            &tideway_core::Scope::Toolkit("peer".into()),
            "conformance_test_prompt_with_arguments",
            Some(serde_json::from_value(json!({"arg1": "x", "arg2": "y"})).expect("args")),
        )
        .await
        .expect("prompt");
    assert!(!prompt.messages.is_empty());
    let resources = server
        .app
        .hub
        .list_resources(&local(), &tideway_core::Scope::Toolkit("peer".into()))
        .await
        .expect("resources");
    let first = resources.first().expect("the peer lists resources");
    let contents = server
        .app
        .hub
        .read_resource(&local(), &tideway_core::Scope::All, &first.uri)
        .await
        .expect("read through /mcp routing");
    assert!(!contents.is_empty());

    // Health and status report it.
    let health: Value = http
        .get(format!(
            "{}/api/v1/integration/mcp/health/peer",
            server.base
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "healthy", "{health}");
    assert!(health["latency_ms"].as_f64().is_some());
    let status: Value = http
        .get(format!("{}/api/v1/integration/status", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let peer = status
        .as_array()
        .expect("list")
        .iter()
        .find(|entry| entry["name"] == "peer")
        .expect("peer listed");
    assert_eq!(peer["kind"], "upstream");
    assert_eq!(peer["upstream"]["circuit"], "closed");
    assert!(peer["tools"].as_u64().expect("count") > 5);
    let system = status
        .as_array()
        .expect("list")
        .iter()
        .find(|entry| entry["name"] == "system")
        .expect("built-in listed");
    assert_eq!(system["kind"], "builtin");

    // A second one with the same name is refused; deleting stops the child.
    let again = http
        .post(format!("{}/api/v1/upstreams", server.base))
        .json(&spec)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status().as_u16(), 409);
    let deleted = http
        .delete(format!("{}/api/v1/upstreams/peer", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(!server.app.hub.has_toolkit("peer"));
    wait_for("the child to be gone", async || {
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.is_empty())
    })
    .await;
    let stored = tideway::toolkits::upstream::records::list(&server.app.store)
        .await
        .expect("list");
    assert!(stored.is_empty());

    // Each change (they start and stop processes) is in the audit log, the refused
    // duplicate too, with who made it.
    let changes = async || {
        server
            .app
            .store
            .query_audit(&tideway_core::store::AuditQuery {
                toolkit: Some("admin".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|entry| entry.record)
            .filter(|record| record.tool.starts_with("upstreams."))
            .map(|record| format!("{} {} {}", record.tool, record.outcome, record.principal))
            .collect::<Vec<_>>()
    };
    wait_for("the upstream changes to be audited", async || {
        changes().await.len() >= 3
    })
    .await;
    let mut seen = changes().await;
    seen.sort();
    assert_eq!(
        seen,
        [
            "upstreams.create error local",
            "upstreams.create ok local",
            "upstreams.delete ok local",
        ]
    );
}

#[tokio::test]
async fn a_child_sees_only_a_safe_environment_and_its_own_variables() {
    // SAFETY: no other thread of this test reads or writes the environment.
    unsafe { std::env::set_var("TIDEWAY_MASTER_KEY_FOR_TEST", "must-not-leak") };
    let spec = UpstreamSpec {
        name: "envprobe".into(),
        command: Some("sh".into()),
        args: vec![
            "-c".into(),
            "echo \"probe-done GIVEN=$GIVEN PATH_SET=${PATH:+yes} LEAK=$TIDEWAY_MASTER_KEY_FOR_TEST.\" >&2; exit 1"
                .into(),
        ],
        env: [("GIVEN".to_string(), "given-value".to_string())].into(),
        ..UpstreamSpec::default()
    };
    let server = start(move |config| {
        common::gateway(config, |gateway| gateway.restart_max_attempts = 0);
        common::add_upstream(config, spec);
    })
    .await;
    let gateway = server.app.gateway.clone();
    wait_for("the probe to finish", async || {
        gateway
            .get("envprobe")
            .await
            .is_some_and(|u| u.phase() == tideway::toolkits::upstream::supervisor::Phase::Down)
    })
    .await;
    let detail = gateway
        .get("envprobe")
        .await
        .and_then(|u| u.observed().detail)
        .expect("detail");
    assert!(detail.contains("probe-done"), "{detail}");
    assert!(detail.contains("GIVEN=given-value"), "{detail}");
    assert!(detail.contains("PATH_SET=yes"), "{detail}");
    assert!(detail.contains("LEAK=."), "{detail}");
    assert!(!detail.contains("must-not-leak"), "{detail}");
}

#[tokio::test]
async fn a_bad_definition_is_refused_with_the_field_named() {
    let server = start(|_| {}).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/upstreams", server.base))
        .json(&json!({"name": "web", "transport": "http", "command": "node"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["detail"].as_str().expect("detail").contains("url"),
        "{body}"
    );
}

#[tokio::test]
async fn a_never_prefixed_upstream_that_collides_with_a_built_in_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = peer_spec("twin", &dir.path().join("twin-data"));
    spec.naming = tideway_core::naming::NamingMode::Never;
    let server = start(move |config| common::add_upstream(config, spec)).await;
    let app = server.app.clone();
    wait_for("the upstream to register", async || {
        app.hub.has_toolkit("twin")
    })
    .await;
    let entry = app
        .hub
        .entries()
        .into_iter()
        .find(|entry| entry.name() == "twin")
        .expect("entry");
    // The upstream's own `system` toolkit is named `system_echo` on its /mcp, which
    // is also the built-in system toolkit's echo here: kept off /mcp, reported.
    let collision = entry
        .collisions
        .iter()
        .find(|c| c.name == "system_echo")
        .expect("the collision is reported");
    assert_eq!(collision.taken_by_toolkit, "system");
    let tools = app
        .hub
        .list_tools(&tideway_core::Scope::All, &Principal::local());
    let echoes: Vec<_> = tools.iter().filter(|t| t.name == "system_echo").collect();
    assert_eq!(
        echoes.len(),
        1,
        "never shadowed: the built-in keeps its name"
    );
    assert!(
        tools
            .iter()
            .any(|t| t.name == "conformance_test_simple_text")
    );
    // Still served under its own endpoint.
    assert!(
        app.hub
            .resolve_tool(&tideway_core::Scope::Toolkit("twin".into()), "system_echo")
            .is_ok()
    );
}

#[tokio::test]
async fn a_child_killed_mid_call_fails_the_call_then_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = peer_spec("victim", &dir.path().join("victim-data"));
    let server = start(move |config| common::add_upstream(config, spec)).await;
    let app = server.app.clone();
    let gateway = app.gateway.clone();
    wait_for("the upstream to run", async || {
        app.hub.has_toolkit("victim")
            && gateway
                .get("victim")
                .await
                .is_some_and(|u| u.observed().pid.is_some())
    })
    .await;
    let upstream = gateway.get("victim").await.expect("upstream");
    let pid = upstream.observed().pid.expect("pid");
    let call = {
        let app = app.clone();
        // Not read-only, so it is not retried: the failure reaches the caller.
        tokio::spawn(async move {
            app.hub
                .call(
                    &local(),
                    "victim",
                    "conformance_test_tool_with_progress",
                    None,
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let outcome = call.await.expect("join");
    let error = outcome.expect_err("the call fails cleanly");
    assert_eq!(error.kind(), "unavailable", "{error}");

    wait_for("the restart", async || {
        upstream.observed().restarts >= 1 && upstream.observed().pid.is_some_and(|p| p != pid)
    })
    .await;
    let result = app
        .hub
        .call(&local(), "victim", "conformance_test_simple_text", None)
        .await
        .expect("later calls succeed");
    assert_ne!(result.is_error, Some(true));
}

#[tokio::test]
async fn an_upstream_that_exits_at_start_backs_off_then_is_reported_down() {
    let spec = UpstreamSpec {
        name: "broken".into(),
        command: Some("sh".into()),
        args: vec!["-c".into(), "echo cannot-open-config >&2; exit 3".into()],
        ..UpstreamSpec::default()
    };
    let server = start(move |config| {
        common::gateway(config, |gateway| gateway.restart_max_attempts = 2);
        common::add_upstream(config, spec);
    })
    .await;
    let gateway = server.app.gateway.clone();
    wait_for("the upstream to be given up", async || {
        gateway
            .get("broken")
            .await
            .is_some_and(|u| u.phase() == tideway::toolkits::upstream::supervisor::Phase::Down)
    })
    .await;
    let upstream = gateway.get("broken").await.expect("upstream");
    assert_eq!(upstream.observed().restarts, 2);
    let health: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/integration/mcp/health", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "down", "{health}");
    let detail = health["servers"][0]["detail"].as_str().expect("detail");
    assert!(detail.contains("given up after 3 attempts"), "{detail}");
    assert!(
        detail.contains("cannot-open-config"),
        "stderr is reported: {detail}"
    );
    // The built-in toolkits are unaffected.
    let echo = server
        .app
        .hub
        .call(
            &local(),
            "system",
            "echo",
            Some(serde_json::from_value(json!({"message": "still here"})).expect("args")),
        )
        .await
        .expect("built-ins still answer");
    assert_ne!(echo.is_error, Some(true));
}

#[tokio::test]
async fn no_process_is_left_after_100_start_stop_cycles() {
    let server = start(|_| {}).await;
    let marker = server.dir.path().join("cycle-marker");
    let marker_text = marker.to_string_lossy().into_owned();
    for cycle in 0..100 {
        let spec = peer_spec("cycler", &marker);
        let upstream = server.app.gateway.add(spec, "test").await.expect("add");
        assert!(
            upstream.observed().pid.is_some(),
            "cycle {cycle}: started ({:?})",
            upstream.observed().detail
        );
        server.app.gateway.remove("cycler").await.expect("remove");
    }
    let left = processes_with(&marker_text);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[tokio::test]
async fn a_tenants_upstream_is_seen_and_managed_by_that_tenant_only() {
    // The upstream: another Tideway's system toolkit over Streamable HTTP.
    let target = start(|_| {}).await;
    let url = format!("{}/mcp/system", target.base);
    let server = start(|config| {
        config.auth.modes = vec![tideway_core::config::AuthMode::ApiKey];
        common::gateway(config, |gateway| gateway.tenant_private_addresses = true);
    })
    .await;
    let app = &server.app;
    let operator = key(app, "default", Role::Admin).await;
    let acme = key(app, "acme", Role::Admin).await;
    let acme_viewer = key(app, "acme", Role::Viewer).await;
    let globex = key(app, "globex", Role::Admin).await;
    let http = reqwest::Client::new();
    let post = |credential: &str, body: Value| {
        http.post(format!("{}/api/v1/upstreams", server.base))
            .bearer_auth(credential)
            .json(&body)
            .send()
    };

    // A tenant's admin may not start processes, nor add for another tenant.
    let stdio = post(&acme, json!({"name": "shell", "command": "sh"}))
        .await
        .expect("send");
    assert_eq!(stdio.status().as_u16(), 403);
    let body: Value = stdio.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("HTTP upstreams only")
    );
    let other = post(
        &acme,
        json!({"name": "x", "transport": "http", "url": url, "tenant": "globex"}),
    )
    .await
    .expect("send");
    assert_eq!(other.status().as_u16(), 403);
    let viewer = post(
        &acme_viewer,
        json!({"name": "x", "transport": "http", "url": url}),
    )
    .await
    .expect("send");
    assert_eq!(viewer.status().as_u16(), 403);

    let created = post(
        &acme,
        json!({"name": "acme-tools", "transport": "http", "url": url}),
    )
    .await
    .expect("send");
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["status"]["phase"], "running", "{created}");

    // Acme's principals see and call it; globex's do not, not even by name.
    let combined = format!("{}/mcp", server.base);
    let listed = tool_names(&mcp(&combined, Some(&acme_viewer), "tools/list", json!({})).await);
    assert!(
        listed.contains(&"acme-tools_echo".to_string()),
        "{listed:?}"
    );
    let listed = tool_names(&mcp(&combined, Some(&globex), "tools/list", json!({})).await);
    assert!(
        !listed.iter().any(|name| name.starts_with("acme-tools")),
        "{listed:?}"
    );
    let called = mcp(
        &combined,
        Some(&acme_viewer),
        "tools/call",
        json!({"name": "acme-tools_echo", "arguments": {"message": "ours"}}),
    )
    .await;
    assert_eq!(
        called["result"]["structuredContent"]["message"], "ours",
        "{called}"
    );
    let stranger = mcp(
        &combined,
        Some(&globex),
        "tools/call",
        json!({"name": "acme-tools_echo", "arguments": {"message": "theirs"}}),
    )
    .await;
    assert!(stranger["error"].is_object(), "{stranger}");
    let direct = http
        .post(format!("{}/api/v1/integration/mcp/call", server.base))
        .bearer_auth(&globex)
        .json(&json!({"server": "acme-tools", "tool": "echo", "arguments": {"message": "x"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(direct.status().as_u16(), 404);
    for (credential, visible) in [(&acme, true), (&globex, false)] {
        let status: Value = http
            .get(format!("{}/api/v1/integration/status", server.base))
            .bearer_auth(credential)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let listed = status
            .as_array()
            .expect("list")
            .iter()
            .any(|entry| entry["name"] == "acme-tools");
        assert_eq!(listed, visible);
        let upstreams: Value = http
            .get(format!("{}/api/v1/upstreams", server.base))
            .bearer_auth(credential)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(
            upstreams.as_array().expect("list").len(),
            usize::from(visible)
        );
    }
    let removed = http
        .delete(format!("{}/api/v1/upstreams/acme-tools", server.base))
        .bearer_auth(&globex)
        .send()
        .await
        .expect("send");
    assert_eq!(
        removed.status().as_u16(),
        404,
        "another tenant's is not found"
    );
    let all: Value = http
        .get(format!("{}/api/v1/upstreams", server.base))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(all[0]["tenant"], "acme", "the operator sees every upstream");
    let removed = http
        .delete(format!("{}/api/v1/upstreams/acme-tools", server.base))
        .bearer_auth(&acme)
        .send()
        .await
        .expect("send");
    assert_eq!(removed.status().as_u16(), 204);
}

#[tokio::test]
async fn a_tenant_cannot_point_an_upstream_at_internal_addresses() {
    let server = start(|config| {
        config.auth.modes = vec![tideway_core::config::AuthMode::ApiKey];
    })
    .await;
    let acme = key(&server.app, "acme", Role::Admin).await;
    for url in [
        "http://127.0.0.1:9/mcp",
        "http://localhost:9/mcp",
        "http://10.1.2.3/mcp",
        "http://169.254.169.254/latest",
        "http://[::1]:9/mcp",
        "http://[fd00::1]/mcp",
        "http://100.64.0.1/mcp",
    ] {
        let refused = reqwest::Client::new()
            .post(format!("{}/api/v1/upstreams", server.base))
            .bearer_auth(&acme)
            .json(&json!({"name": "probe", "transport": "http", "url": url}))
            .send()
            .await
            .expect("send");
        assert_eq!(refused.status().as_u16(), 403, "{url}");
    }
    assert!(server.app.gateway.list().await.is_empty());
}

fn cli(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("upstreams")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the CLI runs")
}

#[tokio::test]
async fn upstreams_added_and_removed_by_the_cli_are_applied_by_a_running_server() {
    let server =
        start(|config| common::gateway(config, |gateway| gateway.reconcile_secs = 1)).await;
    let data_dir = server.dir.path().join("hub");
    let child_data = server.dir.path().join("cli-peer-data");
    let added = cli(
        &data_dir,
        &[
            "add",
            "cli-peer",
            "--command",
            BIN,
            "--arg",
            "mcp",
            "--arg",
            "--toolkit",
            "--arg",
            "system",
            "--arg",
            "--data-dir",
            "--arg",
            child_data.to_str().expect("utf-8"),
            "--env",
            "PEER_TOKEN=sealed-value-4711",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let app = server.app.clone();
    wait_for("the running server to start it", async || {
        app.hub.has_toolkit("cli-peer")
    })
    .await;
    let echo = app
        .hub
        .call(
            &local(),
            "cli-peer",
            "system_echo",
            common::args(json!({"message": "via the cli"})),
        )
        .await
        .expect("callable");
    assert_eq!(common::text_of(&echo), "via the cli");
    // The env value is sealed: it is nowhere in the store's files.
    for entry in std::fs::read_dir(&data_dir).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("sealed-value-4711"),
            "{} holds the secret in the clear",
            entry.path().display()
        );
    }
    let listed = cli(&data_dir, &["list", "--json"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("\"name\":\"cli-peer\""), "{listed}");
    let again = cli(&data_dir, &["add", "cli-peer", "--command", "sh"]);
    assert!(
        !again.status.success(),
        "a second add without --replace is refused"
    );

    let removed = cli(&data_dir, &["remove", "cli-peer"]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    wait_for("the running server to stop it", async || {
        !app.hub.has_toolkit("cli-peer")
    })
    .await;
    assert!(app.gateway.get("cli-peer").await.is_none());
}

#[tokio::test]
async fn the_reconcile_loop_leaves_an_unchanged_upstream_running_on_either_store() {
    let mut urls = vec![None];
    if let Ok(url) = std::env::var("TIDEWAY_TEST_POSTGRES_URL") {
        urls.push(Some(
            tideway_core::store::testing::fresh_postgres_database(&url).await,
        ));
    }
    for url in urls {
        let server = start(|config| {
            common::gateway(config, |gateway| gateway.reconcile_secs = 1);
            config.database_url = url.clone();
        })
        .await;
        let spec = peer_spec("steady", &server.dir.path().join("steady-data"));
        let upstream = server.app.gateway.add(spec, "test").await.expect("add");
        let pid = upstream.observed().pid.expect("running");
        // Three reconcile rounds: the stored revision matches, nothing restarts.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let now = server.app.gateway.get("steady").await.expect("still there");
        assert!(
            Arc::ptr_eq(&now, &upstream),
            "{:?}: the upstream was replaced",
            url.as_deref().map(|_| "postgres").unwrap_or("sqlite")
        );
        assert_eq!(now.observed().pid, Some(pid));
        server.app.gateway.remove("steady").await.expect("remove");
    }
}
