//! A broker that stops and comes back: calls fail meanwhile with a clear error
//! (what failed and what to check), and work again once it is back, with no
//! restart of Tideway. This test runs its own broker (the binary the test command
//! names in `TIDEWAY_TEST_KAFKA_BROKER`) on a port of its own, so stopping it
//! disturbs no other test.

use std::time::Duration;

use serde_json::json;
use tideway_core::HubError;

use super::{Broker, Fixture, broker_binary, free_port, loopback_config};

async fn until_reachable(fixture: &Fixture) {
    for _ in 0..50 {
        if fixture.call("test_cluster", json!({})).await["ok"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the broker did not come up");
}

/// A broker of this test's own on a free port, and acme's cluster `main` on it.
async fn own_broker(binary: &str) -> (u16, Broker, Fixture) {
    let port = free_port();
    let broker = Broker::start(binary, port, false);
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&format!("127.0.0.1:{port}"), json!({}))
        .await;
    (port, broker, fixture)
}

#[tokio::test]
async fn calls_fail_clearly_while_the_broker_is_down_and_work_again_after() {
    let Some(binary) = broker_binary() else {
        return;
    };
    let (port, broker, fixture) = own_broker(&binary).await;
    until_reachable(&fixture).await;
    fixture
        .call("create_topic", json!({"topic": "escalations"}))
        .await;
    let first = fixture
        .call(
            "publish_message",
            json!({"topic": "escalations", "message": "before"}),
        )
        .await;
    assert_eq!(first["offset"], 0, "{first}");

    broker.stop();
    let down = fixture
        .refused(
            "publish_message",
            json!({"topic": "escalations", "message": "while down"}),
        )
        .await;
    match &down {
        HubError::Unavailable { component, reason } => {
            assert!(component.contains("'main'"), "{down}");
            assert!(
                reason.starts_with("refused") || reason.starts_with("timeout"),
                "{down}"
            );
            assert!(reason.contains("check"), "a hint: {down}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    let test = fixture.call("test_cluster", json!({})).await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(
        test["hint"].as_str().is_some_and(|hint| !hint.is_empty()),
        "{test}"
    );

    // Back on the same port (an in-memory broker: it starts empty).
    let _broker = Broker::start(&binary, port, false);
    until_reachable(&fixture).await;
    fixture
        .call("create_topic", json!({"topic": "escalations"}))
        .await;
    let after = fixture
        .call(
            "publish_message",
            json!({"topic": "escalations", "message": "after"}),
        )
        .await;
    assert_eq!(after["offset"], 0, "{after}");
    let read = fixture
        .call(
            "consume_messages",
            json!({"topic": "escalations", "group_id": "after-restart", "timeout_ms": 8000}),
        )
        .await;
    assert_eq!(read["messages"][0]["value"], "after", "{read}");
    assert_eq!(read["messages"][0]["encoding"], "text", "{read}");
}

/// The messaging toolkit's parts: the clusters it holds clients for.
async fn cluster_parts(fixture: &Fixture) -> Vec<tideway_core::PartHealth> {
    fixture
        .hub
        .parts(Duration::from_secs(5))
        .await
        .into_iter()
        .find(|(toolkit, _)| toolkit == "messaging")
        .map(|(_, parts)| parts)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_cluster_in_use_is_a_part_down_while_its_broker_is_and_up_again_after() {
    let Some(binary) = broker_binary() else {
        return;
    };
    let (port, broker, fixture) = own_broker(&binary).await;
    assert!(
        cluster_parts(&fixture).await.is_empty(),
        "a stored cluster no call opened is not probed"
    );
    until_reachable(&fixture).await;
    let parts = cluster_parts(&fixture).await;
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        (
            parts[0].kind,
            parts[0].tenant.as_str(),
            parts[0].name.as_str()
        ),
        ("cluster", "acme", "main")
    );
    assert_eq!(parts[0].health.status, tideway_core::HealthStatus::Healthy);
    assert!(parts[0].health.latency_ms.is_some());

    broker.stop();
    let parts = cluster_parts(&fixture).await;
    assert_eq!(
        parts[0].health.status,
        tideway_core::HealthStatus::Down,
        "{parts:?}"
    );
    assert!(parts[0].health.detail.is_some());

    let _broker = Broker::start(&binary, port, false);
    until_reachable(&fixture).await;
    assert_eq!(
        cluster_parts(&fixture).await[0].health.status,
        tideway_core::HealthStatus::Healthy
    );
}
