//! Alerts end to end under the test's clock, on both store backends: a component
//! down fires its rule once after `for`, resolves once when it is back, and the
//! channel's receiver gets exactly one signed notification per change; a person's
//! resolve keeps a still-breaching alert quiet; silences keep receivers quiet; two
//! servers evaluating the same rule open one alert; tenants see only their own;
//! availability drops by the time the component was down.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tideway_core::{HubError, context::Role, store::testing::test_stores};

use super::{Rig, Switch, SwitchToolkit, quiet};
use crate::toolkits::{
    automation::{
        now_ms,
        signature::{Signing, verify},
        tests::notifications::{Received, receiver},
    },
    monitor::{MonitorToolkit, settings::MonitorConfig},
    testing::ctx,
};

const SECOND: i64 = 1000;

/// A rule on the switchable component told to channel `ops`.
fn billing_rule() -> Value {
    json!({
        "name": "billing_down",
        "metric": "component.up",
        "subject": "billing",
        "comparison": "<",
        "threshold": 0.5,
        "for_secs": 30,
        "severity": "critical",
        "channels": ["ops"],
    })
}

/// Makes channel `ops` to a local receiver and the billing rule; the channel's secret.
async fn with_channel_and_rule(rig: &Rig, received_by: std::net::SocketAddr) -> String {
    let admin = ctx("acme", Role::Admin);
    let channel = rig
        .automation
        .call(
            &admin,
            "create_channel",
            json!({"name": "ops", "kind": "webhook", "url": format!("http://{received_by}/hook")}),
        )
        .await
        .expect("channel");
    rig.call(&admin, "create_alert_rule", billing_rule())
        .await
        .expect("rule");
    channel["signing_secret"]
        .as_str()
        .expect("a secret")
        .to_string()
}

/// Sends due notifications until the receiver has `count` requests (or 10 s pass).
async fn delivered(rig: &Rig, received: &Received, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        rig.automation
            .state()
            .deliver_due(now_ms())
            .await
            .expect("delivered");
        let requests = received.requests.lock().expect("lock").clone();
        if requests.len() >= count || Instant::now() > deadline {
            return requests
                .iter()
                .map(|(_, body)| serde_json::from_slice(body).expect("JSON"))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_component_down_fires_once_after_its_for_resolves_once_and_each_change_is_notified_signed()
 {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let (address, received) = receiver(0).await;
        let secret = with_channel_and_rule(&rig, address).await;
        let monitor = rig.state();
        let t0 = now_ms() - 600 * SECOND;

        assert!(monitor.tick(t0).await.expect("tick").fired.is_empty());
        rig.switch.set(2);
        let round = monitor.tick(t0 + 15 * SECOND).await.expect("tick");
        assert!(round.fired.is_empty(), "pending until it held for 30 s");
        let round = monitor.tick(t0 + 30 * SECOND).await.expect("tick");
        assert!(round.fired.is_empty());
        let round = monitor.tick(t0 + 45 * SECOND).await.expect("tick");
        assert_eq!(round.fired.len(), 1, "{round:?}");
        let alert = &round.fired[0];
        assert_eq!(
            (alert.rule.as_str(), alert.subject.as_str()),
            ("billing_down", "billing")
        );
        assert_eq!(alert.severity, "critical");
        assert_eq!(
            alert.started_at.map(|at| at.timestamp_millis()),
            Some(t0 + 15 * SECOND),
            "the alert started when the condition began"
        );
        let id = alert.id.clone();
        for step in 4..8 {
            let round = monitor.tick(t0 + step * 15 * SECOND).await.expect("tick");
            assert!(
                round.fired.is_empty() && round.resolved.is_empty(),
                "still firing: nothing new"
            );
        }
        rig.switch.set(0);
        let round = monitor.tick(t0 + 120 * SECOND).await.expect("tick");
        assert_eq!(round.resolved.len(), 1);
        assert_eq!(round.resolved[0].id, id);
        assert!(
            monitor
                .tick(t0 + 135 * SECOND)
                .await
                .expect("tick")
                .resolved
                .is_empty()
        );

        let bodies = delivered(&rig, &received, 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.automation
            .state()
            .deliver_due(now_ms())
            .await
            .expect("delivered");
        let requests = received.requests.lock().expect("lock").clone();
        assert_eq!(
            requests.len(),
            2,
            "one notification per change: {bodies:#?}"
        );
        for (headers, body) in &requests {
            verify(
                Signing::Tideway,
                secret.as_bytes(),
                headers,
                body,
                now_ms() / 1000,
                300,
            )
            .expect("signed with the channel's secret");
        }
        // Deliveries go out concurrently, so the receiver may hear them in any order.
        let mut subjects: Vec<&str> = bodies
            .iter()
            .map(|body| body["subject"].as_str().unwrap_or_default())
            .collect();
        subjects.sort();
        assert_eq!(
            subjects,
            [
                "[FIRING] critical billing_down on billing",
                "[RESOLVED] critical billing_down on billing"
            ]
        );
        assert!(
            bodies
                .iter()
                .all(|body| body["data"]["alert"]["id"] == id.as_str())
        );

        let admin = ctx("acme", Role::Admin);
        let detail = rig
            .call(&admin, "get_alert", json!({"id": id}))
            .await
            .expect("alert");
        assert_eq!(detail["status"], "resolved");
        assert_eq!(detail["resolved_by"], "monitor");
        let events: Vec<&str> = detail["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| event["event"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(events, ["fired", "notified", "resolved", "notified"]);

        // Another tenant sees none of it.
        let globex = ctx("globex", Role::Admin);
        let listed = rig
            .call(&globex, "list_alerts", json!({}))
            .await
            .expect("listed");
        assert_eq!(listed["alerts"], json!([]));
        let error = rig
            .call(&globex, "get_alert", json!({"id": id}))
            .await
            .expect_err("not globex's");
        assert!(matches!(error, HubError::NotFound(_)), "{error}");
        let error = rig
            .call(&globex, "resolve_alert", json!({"id": id}))
            .await
            .expect_err("not globex's");
        assert!(matches!(error, HubError::NotFound(_)), "{error}");
        let rules = rig
            .call(&globex, "list_alert_rules", json!({}))
            .await
            .expect("rules");
        assert_eq!(rules["rules"], json!([]));
    }
}

#[tokio::test]
async fn an_alert_resolved_by_hand_stays_quiet_while_breaching_and_silences_keep_receivers_quiet() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let (address, received) = receiver(0).await;
        with_channel_and_rule(&rig, address).await;
        let monitor = rig.state();
        let operator = ctx("acme", Role::Operator);
        let t0 = now_ms() - 600 * SECOND;
        rig.switch.set(2);
        monitor.tick(t0).await.expect("tick");
        let fired = monitor.tick(t0 + 30 * SECOND).await.expect("tick").fired;
        let id = fired[0].id.clone();

        let acknowledged = rig
            .call(&operator, "acknowledge_alert", json!({"id": id}))
            .await
            .expect("acknowledged");
        assert_eq!(acknowledged["acknowledged_by"], "acme-operator");
        let resolved = rig
            .call(&operator, "resolve_alert", json!({"id": id}))
            .await
            .expect("resolved");
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["resolved_by"], "acme-operator");
        // Still down: the person's word holds until the component recovers.
        for step in 3..6 {
            let round = monitor.tick(t0 + step * 15 * SECOND).await.expect("tick");
            assert!(
                round.fired.is_empty() && round.resolved.is_empty(),
                "{round:?}"
            );
        }
        // Back, then down again: a new alert after `for`.
        rig.switch.set(0);
        monitor.tick(t0 + 90 * SECOND).await.expect("tick");
        rig.switch.set(2);
        monitor.tick(t0 + 105 * SECOND).await.expect("tick");

        // A silence over the rule: the next alert fires and is kept, told to no one.
        let admin = ctx("acme", Role::Admin);
        let silence = rig
            .call(
                &admin,
                "create_silence",
                json!({"rule": "billing_down", "duration_secs": 3600, "comment": "maintenance"}),
            )
            .await
            .expect("silenced");
        let fired = monitor.tick(t0 + 135 * SECOND).await.expect("tick").fired;
        assert_eq!(fired.len(), 1);
        assert_ne!(fired[0].id, id);
        let detail = rig
            .call(&admin, "get_alert", json!({"id": fired[0].id}))
            .await
            .expect("alert");
        let notified = detail["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|event| event["event"] == "notified")
            .cloned()
            .expect("the notification's record");
        assert!(
            notified["notified"]
                .as_str()
                .unwrap_or_default()
                .starts_with("silenced"),
            "{notified}"
        );

        // The fire and the hand resolve were told; the silenced fire was not.
        let bodies = delivered(&rig, &received, 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.automation
            .state()
            .deliver_due(now_ms())
            .await
            .expect("delivered");
        assert_eq!(
            received.requests.lock().expect("lock").len(),
            2,
            "{bodies:#?}"
        );

        let silences = rig
            .call(&admin, "list_silences", json!({}))
            .await
            .expect("listed");
        assert_eq!(silences["silences"][0]["id"], silence["id"]);
        assert_eq!(silences["silences"][0]["comment"], "maintenance");
        rig.call(&admin, "delete_silence", json!({"id": silence["id"]}))
            .await
            .expect("ended");
        // Only admins manage silences and rules.
        let error = rig
            .call(&operator, "create_silence", json!({"duration_secs": 60}))
            .await
            .expect_err("operators may not");
        assert!(matches!(error, HubError::Forbidden(_)), "{error}");
    }
}

#[tokio::test]
async fn two_servers_evaluating_the_same_rule_open_and_notify_one_alert() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let (address, received) = receiver(0).await;
        with_channel_and_rule(&rig, address).await;
        let other = Arc::new(MonitorToolkit::new(
            MonitorConfig {
                replica: Some("test-b".into()),
                ..quiet()
            },
            &rig.automation.server.hub,
            test.store.clone(),
            tideway_core::TenantId::new("acme"),
        ));
        other.state().start().await.expect("starts");
        let t0 = now_ms() - 600 * SECOND;
        rig.switch.set(2);
        for (step, at) in [t0, t0 + 15 * SECOND, t0 + 30 * SECOND]
            .into_iter()
            .enumerate()
        {
            let (a, b) = tokio::join!(rig.state().tick(at), other.state().tick(at + step as i64));
            let fired = a.expect("a").fired.len() + b.expect("b").fired.len();
            assert_eq!(fired, usize::from(step == 2), "step {step}");
        }
        rig.switch.set(0);
        let (a, b) = tokio::join!(
            rig.state().tick(t0 + 45 * SECOND),
            other.state().tick(t0 + 46 * SECOND)
        );
        assert_eq!(
            a.expect("a").resolved.len() + b.expect("b").resolved.len(),
            1
        );
        delivered(&rig, &received, 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.automation
            .state()
            .deliver_due(now_ms())
            .await
            .expect("delivered");
        assert_eq!(received.requests.lock().expect("lock").len(), 2);
    }
}

#[tokio::test]
async fn a_component_down_shows_at_the_next_check_and_its_availability_drops_by_the_time_down() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let monitor = rig.state();
        let viewer = ctx("acme", Role::Viewer);
        let now = now_ms();
        monitor.tick(now - 1200 * SECOND).await.expect("tick");
        rig.switch.set(2);
        monitor.tick(now - 900 * SECOND).await.expect("tick");
        let report = rig
            .call(&viewer, "get_health_report", json!({}))
            .await
            .expect("report");
        let billing = report["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|component| component["name"] == "billing")
            .cloned()
            .expect("billing is a component");
        assert_eq!(billing["status"], "down");
        assert_eq!(billing["last_error"], "billing API refused the connection");
        assert_eq!(report["status"], "down");
        // Degraded counts as up.
        rig.switch.set(1);
        monitor.tick(now - 600 * SECOND).await.expect("tick");
        rig.switch.set(0);
        monitor.tick(now - 300 * SECOND).await.expect("tick");

        let availability = rig
            .call(
                &viewer,
                "get_availability",
                json!({"component": "billing", "window": "1h"}),
            )
            .await
            .expect("availability");
        let day = &availability["components"][0]["windows"]["24h"];
        // Observed from the first check (1,200 s ago), down for 300 s of it.
        let observed = day["observed_seconds"].as_i64().expect("observed");
        assert!((1200..1210).contains(&observed), "{day}");
        assert_eq!(day["up_seconds"].as_i64().expect("up"), observed - 300);
        assert_eq!(day["outages"], 1);
        assert_eq!(day["met"], false);
        let percent = day["percent"].as_f64().expect("percent");
        assert!((percent - 75.0).abs() < 0.5, "{percent}");
        assert!(availability["components"][0]["windows"]["1h"].is_object());

        let error = rig
            .call(&viewer, "get_availability", json!({"component": "nothing"}))
            .await
            .expect_err("no such component");
        assert!(matches!(error, HubError::NotFound(_)), "{error}");
    }
}

#[tokio::test]
async fn a_component_one_tenant_owns_is_seen_and_alerted_on_by_that_tenant_alone() {
    for test in test_stores().await {
        let rig = Rig::start(&test.store).await;
        let private = Arc::new(Switch::default());
        rig.automation
            .server
            .hub
            .register(Arc::new(SwitchToolkit {
                switch: private.clone(),
                name: "globex-crm",
                owner: Some(tideway_core::TenantId::new("globex")),
            }))
            .expect("registered");
        // Both tenants watch every component.
        for tenant in ["acme", "globex"] {
            rig.call(
                &ctx(tenant, Role::Admin),
                "create_alert_rule",
                json!({"name": "any_down", "metric": "component.up", "comparison": "<", "threshold": 0.5}),
            )
            .await
            .expect("rule");
        }
        private.set(2);
        let fired = rig.state().tick(now_ms()).await.expect("tick").fired;
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].subject, "globex-crm");
        let acme = ctx("acme", Role::Viewer);
        let globex = ctx("globex", Role::Viewer);
        assert_eq!(
            rig.call(&acme, "list_alerts", json!({}))
                .await
                .expect("listed")["alerts"],
            json!([])
        );
        assert_eq!(
            rig.call(&globex, "list_alerts", json!({}))
                .await
                .expect("listed")["alerts"][0]["subject"],
            "globex-crm"
        );
        let names = |report: &Value| -> Vec<String> {
            report["components"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .filter_map(|c| c["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let acme_report = rig
            .call(&acme, "get_health_report", json!({}))
            .await
            .expect("report");
        assert!(!names(&acme_report).contains(&"globex-crm".to_string()));
        assert!(
            names(
                &rig.call(&globex, "get_health_report", json!({}))
                    .await
                    .expect("report")
            )
            .contains(&"globex-crm".to_string())
        );
        let latest = rig
            .call(&acme, "get_metric", json!({"metric": "component.up"}))
            .await
            .expect("latest");
        assert!(!latest.to_string().contains("globex-crm"), "{latest}");
        let trends = rig
            .call(
                &acme,
                "get_performance_trends",
                json!({"metrics": ["component.up"], "window": "15m"}),
            )
            .await
            .expect("trends");
        assert!(!trends.to_string().contains("globex-crm"), "{trends}");
        assert!(trends.to_string().contains("billing"), "{trends}");
    }
}
