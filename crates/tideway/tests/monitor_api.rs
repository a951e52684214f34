//! The monitor's REST shapes on a running server sampling every second: the seed's
//! system and integration paths, alert rules and silences with their status codes,
//! and bad input answered with problem documents that name the field.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tideway::toolkits::monitor::settings::MonitorConfig;

use common::{start, wait_for};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send(
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client().request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_seed_paths_answer_with_samples_taken_in_the_background() {
    let server = start(|config| {
        config.toolkits = vec!["system".into(), "monitor".into()];
        config
            .update_section("monitor", |monitor: &mut MonitorConfig| {
                monitor.interval_secs = 1;
                monitor.replica = Some("api-test".into());
            })
            .expect("monitor settings");
    })
    .await;
    let base = server.base.as_str();
    // A tool call, so the call figures have something to count.
    let (status, _) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/tools/system/echo",
        Some(json!({"message": "hi"})),
    )
    .await;
    assert_eq!(status, 200);
    wait_for("two rounds of samples", async || {
        let (_, report) = get(base, "/api/v1/system/health-report").await;
        report["system"]["cpu_percent"].is_number() && report["system"]["calls_per_s"].is_number()
    })
    .await;

    let (status, report) = get(base, "/api/v1/system/health-report").await;
    assert_eq!(status, 200);
    assert_eq!(report["replica"], "api-test");
    // `degraded` if a default rule fires on this machine (a disk over 90%, say).
    assert_ne!(report["status"], "down", "{report:#}");
    let names: Vec<&str> = report["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|component| component["name"].as_str().unwrap_or_default())
        .collect();
    assert!(
        names.contains(&"store") && names.contains(&"system") && names.contains(&"monitor"),
        "{names:?}"
    );
    let memory = report["system"]["memory_percent"].as_f64().expect("memory");
    assert!(memory > 0.0 && memory <= 100.0);
    assert!(report["system"]["process_rss_bytes"].as_f64().expect("rss") > 1e6);
    assert!(
        report["system"]["disks"]
            .as_array()
            .is_some_and(|disks| !disks.is_empty())
    );

    // The default tenant got the default rules.
    let (status, rules) = get(base, "/api/v1/system/alert-rules").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| rule["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "disk_full",
            "high_cpu",
            "high_memory",
            "service_unavailable",
            "slow_responses"
        ]
    );

    let (status, trends) = get(
        base,
        "/api/v1/system/performance-trends?window=15m&metrics=host.memory_percent,tool.calls_per_s",
    )
    .await;
    assert_eq!(status, 200, "{trends}");
    assert_eq!(trends["window"]["seconds"], 900);
    assert_eq!(trends["window"]["resolution_secs"], 0);
    let metrics: Vec<&str> = trends["trends"]
        .as_array()
        .expect("trends")
        .iter()
        .map(|trend| trend["metric"].as_str().unwrap_or_default())
        .collect();
    assert!(
        metrics.contains(&"host.memory_percent") && metrics.contains(&"tool.calls_per_s"),
        "{trends:#}"
    );

    let (status, availability) = get(base, "/api/v1/system/availability").await;
    assert_eq!(status, 200);
    assert_eq!(availability["target_percent"], 99.9);
    let store = availability["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|component| component["component"] == "store")
        .cloned()
        .expect("the store");
    assert_eq!(store["windows"]["24h"]["percent"], 100.0);
    assert_eq!(store["windows"]["30d"]["met"], true);

    let (status, alerts) = get(base, "/api/v1/system/alerts?status=firing").await;
    assert_eq!(status, 200);
    assert!(alerts["alerts"].is_array());

    let (status, status_document) = get(base, "/api/v1/system/status").await;
    assert_eq!(status, 200);
    let system = status_document["toolkits"]
        .as_array()
        .expect("toolkits")
        .iter()
        .find(|toolkit| toolkit["name"] == "system")
        .cloned()
        .expect("system");
    assert_eq!(system["status"], "healthy");
    assert!(system["tools"].as_u64().expect("tools") > 0);
    assert!(status_document["system"]["memory_percent"].is_number());

    let (status, one) = get(base, "/api/v1/system/components/system").await;
    assert_eq!((status, one["status"].as_str()), (200, Some("healthy")));
    let (status, missing) = get(base, "/api/v1/system/components/nowhere").await;
    assert_eq!(status, 404, "{missing}");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("nowhere")
    );

    let (status, analytics) = get(
        base,
        "/api/v1/integration/mcp/analytics/host.memory_percent?window=15m&steps=15",
    )
    .await;
    assert_eq!(status, 200, "{analytics}");
    assert_eq!(analytics["step_seconds"], 60);
    let series = analytics["subjects"][0]["series"]
        .as_array()
        .expect("a series");
    assert!(!series.is_empty() && series.len() <= 15, "{analytics:#}");
    assert!(series[0]["mean"].is_number());
    let (status, problem) = get(base, "/api/v1/integration/mcp/analytics/host.nothing").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("metric")
    );
    let (status, problem) = get(base, "/api/v1/system/performance-trends?window=fortnight").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("window")
    );

    // `/metrics` carries the monitor's gauges.
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("tideway_host_memory_percent"), "{metrics}");
    assert!(
        metrics.contains("tideway_component_up{component=\"store\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rules_silences_and_alerts_have_their_rest_lifecycle_and_bad_input_names_the_field() {
    let server = start(|config| {
        config.toolkits = vec!["system".into(), "monitor".into()];
        config
            .update_section("monitor", |monitor: &mut MonitorConfig| {
                monitor.run_background = false;
            })
            .expect("monitor settings");
    })
    .await;
    let base = server.base.as_str();
    let rule = json!({"name": "slow_echo", "metric": "tool.latency_p95_ms", "subject": "system/echo",
                      "comparison": ">", "threshold": 250, "resolve_threshold": 200, "for_secs": 60});
    let (status, created) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/alert-rules",
        Some(rule.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["severity"], "warning");
    let (status, _) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/alert-rules",
        Some(rule.clone()),
    )
    .await;
    assert_eq!(status, 409);
    let mut changed = rule.clone();
    changed["threshold"] = json!(500);
    changed["name"] = json!("ignored");
    let (status, updated) = send(
        reqwest::Method::PUT,
        base,
        "/api/v1/system/alert-rules/slow_echo",
        Some(changed),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    let (status, read) = get(base, "/api/v1/system/alert-rules/slow_echo").await;
    assert_eq!((status, read["threshold"].as_f64()), (200, Some(500.0)));

    let mut bad = rule.clone();
    bad["name"] = json!("bad_resolve");
    bad["resolve_threshold"] = json!(900);
    let (status, problem) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/alert-rules",
        Some(bad),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("resolve_threshold"),
        "{problem}"
    );
    let mut bad = rule.clone();
    bad["comparison"] = json!("~");
    let (status, problem) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/alert-rules",
        Some(bad),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("comparison"), "{problem}");

    let (status, silence) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/silences",
        Some(json!({"rule": "slow_echo", "duration_secs": 600})),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    let id = silence["id"].as_str().expect("an id").to_string();
    let (_, silences) = get(base, "/api/v1/system/silences").await;
    assert_eq!(silences["silences"][0]["id"], id.as_str());
    let (status, _) = send(
        reqwest::Method::DELETE,
        base,
        &format!("/api/v1/system/silences/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        reqwest::Method::DELETE,
        base,
        &format!("/api/v1/system/silences/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, problem) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/system/alerts/no-such-alert/resolve",
        None,
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["status"], 404);
    let (status, _) = send(
        reqwest::Method::DELETE,
        base,
        "/api/v1/system/alert-rules/slow_echo",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = get(base, "/api/v1/system/alert-rules/slow_echo").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_source_in_use_is_a_component_reached_by_its_percent_encoded_name() {
    let server = start(|config| {
        config.toolkits = vec!["database".into(), "monitor".into()];
        config
            .update_section("monitor", |monitor: &mut MonitorConfig| {
                monitor.interval_secs = 1;
                monitor.replica = Some("api-parts".into());
            })
            .expect("monitor settings");
    })
    .await;
    let base = server.base.as_str();
    let data = tempfile::tempdir().expect("dir");
    let path = data.path().join("orders.db");
    std::fs::write(&path, b"").expect("an empty SQLite database");
    let (status, created) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/sources",
        Some(json!({"name": "orders", "kind": "sqlite", "path": path.display().to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, answer) = send(
        reqwest::Method::POST,
        base,
        "/api/v1/integration/mcp/database/query",
        Some(json!({"connection_id": "orders", "query": "SELECT 1 AS one"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let encoded = "/api/v1/system/components/database%2Fdefault%2Forders";
    wait_for("the source checked as a part", async || {
        get(base, encoded).await.0 == 200
    })
    .await;
    let (_, part) = get(base, encoded).await;
    assert_eq!(part["name"], "database/default/orders", "{part}");
    assert_eq!(part["kind"], "source");
    assert_eq!(part["status"], "healthy");
    let (_, status_document) = get(base, "/api/v1/system/status").await;
    let kinds: Vec<(&str, &str)> = status_document["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|component| Some((component["name"].as_str()?, component["kind"].as_str()?)))
        .collect();
    assert!(kinds.contains(&("store", "store")), "{kinds:?}");
    assert!(kinds.contains(&("database", "toolkit")), "{kinds:?}");
    assert!(
        kinds.contains(&("database/default/orders", "source")),
        "{kinds:?}"
    );
}
