//! Event triggers on a Kafka topic, against the real broker the test command
//! starts, on both store backends: a condition on the message picks which messages
//! start runs; messages published before the trigger was made start nothing; the
//! trigger's group commits only after the runs are recorded, and a message read
//! again (its commit lost) starts nothing a second time; a paused trigger catches
//! up when resumed, as the topic kept the messages; bad triggers are refused
//! naming the field.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tideway_core::{CallContext, context::Role, store::testing::test_stores};

use super::{Rig, operator};
use crate::{
    egress::SystemLookup,
    toolkits::{
        messaging::{
            MessagingToolkit,
            tests::{broker, loopback_config, unique},
        },
        testing::ctx,
    },
};

async fn messaging(rig: &Rig, ctx: &CallContext, tool: &str, arguments: Value) -> Value {
    let arguments = serde_json::from_value(arguments).expect("object");
    let result = rig
        .server
        .hub
        .call(ctx, "messaging", tool, Some(arguments))
        .await
        .unwrap_or_else(|error| panic!("{tool}: {error}"));
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    crate::toolkits::testing::structured(&rig.server.hub, "messaging", tool, result)
}

/// A server with the messaging toolkit, acme's cluster stored and a topic made.
async fn with_topic(store: &tideway_core::Store, bootstrap: &str) -> (Rig, String) {
    let rig = Rig::start(store).await;
    let (key, _) = tideway_core::secrets::MasterKey::generate().expect("key");
    rig.server
        .hub
        .register(Arc::new(
            MessagingToolkit::new(
                loopback_config(),
                store.clone(),
                Arc::new(key),
                Arc::new(SystemLookup),
            )
            .expect("messaging"),
        ))
        .expect("messaging registered");
    messaging(
        &rig,
        &ctx("acme", Role::Admin),
        "set_cluster",
        json!({"name": "main", "cluster": {"bootstrap_servers": bootstrap}}),
    )
    .await;
    let topic = unique("orders");
    messaging(
        &rig,
        &operator("acme"),
        "create_topic",
        json!({"topic": topic, "partitions": 2}),
    )
    .await;
    (rig, topic)
}

async fn publish(rig: &Rig, topic: &str, kind: &str, order: i64) {
    messaging(
        rig,
        &operator("acme"),
        "publish_message",
        json!({"topic": topic, "message": {"kind": kind, "order": order}, "key": format!("order-{order}")}),
    )
    .await;
}

async fn lag(rig: &Rig, topic: &str, group: &str) -> i64 {
    let lag = messaging(
        rig,
        &operator("acme"),
        "get_consumer_group_lag",
        json!({"topic": topic, "group_id": group}),
    )
    .await;
    lag["total_lag"].as_i64().expect("total lag")
}

async fn watch(rig: &Rig) -> usize {
    rig.state()
        .watch(super::super::now_ms(), 0)
        .await
        .expect("watch")
}

fn runs_of(rig: &Rig, order: i64) -> usize {
    rig.server
        .probe
        .calls_of(&format!("\"order {order}\""))
        .len()
}

#[tokio::test]
async fn matching_messages_start_one_run_each_and_are_committed_after() {
    let Some(bootstrap) = broker() else {
        return;
    };
    for test in test_stores().await {
        let backend = test.store.backend();
        let (rig, topic) = with_topic(&test.store, &bootstrap).await;
        let acme = operator("acme");
        rig.save_echo(&acme, "refund").await;
        // Published before the trigger: not followed.
        publish(&rig, &topic, "refund", 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;

        let made = rig
            .call(&acme, "create_event_trigger", json!({
                "name": "refunds",
                "on": "kafka_message",
                "kafka": {"topic": topic},
                "if": "message.value.kind == 'refund' and message.headers.source != 'test-suite'",
                "target": {"workflow": "refund", "input": {"label": "order {{ message.value.order }}"}}
            }))
            .await
            .expect("trigger made");
        assert_eq!(made["on"], "kafka_message");
        assert_eq!(made["kafka"]["topic"], json!(topic));
        let group = made["group_id"].as_str().expect("group").to_string();

        publish(&rig, &topic, "refund", 7).await;
        publish(&rig, &topic, "shipping", 8).await;
        publish(&rig, &topic, "refund", 9).await;
        messaging(
            &rig,
            &acme,
            "publish_message",
            json!({"topic": topic, "message": {"kind": "refund", "order": 10}, "headers": {"source": "test-suite"}}),
        )
        .await;
        assert_eq!(watch(&rig).await, 2, "{backend}");
        rig.server.wait_for_call("\"order 7\"").await;
        rig.server.wait_for_call("\"order 9\"").await;
        assert_eq!(
            runs_of(&rig, 1),
            0,
            "{backend}: published before the trigger"
        );
        assert_eq!(runs_of(&rig, 8), 0, "{backend}: not a refund");
        assert_eq!(runs_of(&rig, 10), 0, "{backend}: its header says skip");
        // All four read were committed, after their runs were recorded.
        assert_eq!(lag(&rig, &topic, &group).await, 0, "{backend}");
        assert_eq!(watch(&rig).await, 0, "{backend}: nothing new");

        // A server that recorded the runs but died before committing: the group is
        // put back, the messages are read again, and nothing starts twice.
        publish(&rig, &topic, "refund", 11).await;
        let before = messaging(
            &rig,
            &acme,
            "get_consumer_group_lag",
            json!({"topic": topic, "group_id": group}),
        )
        .await;
        assert_eq!(watch(&rig).await, 1, "{backend}");
        rig.server.wait_for_call("\"order 11\"").await;
        let put_back: Vec<Value> = before["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .filter_map(|partition| {
                Some(json!({"partition": partition["partition"], "offset": partition["committed_offset"].as_i64()?}))
            })
            .collect();
        messaging(
            &rig,
            &acme,
            "commit_offsets",
            json!({"topic": topic, "group_id": group, "offsets": put_back}),
        )
        .await;
        assert_eq!(lag(&rig, &topic, &group).await, 1, "{backend}");
        assert_eq!(watch(&rig).await, 0, "{backend}: read again, started once");
        assert_eq!(runs_of(&rig, 11), 1, "{backend}");
        assert_eq!(lag(&rig, &topic, &group).await, 0, "{backend}");

        // Paused, it reads nothing; resumed, it catches up on what it missed.
        rig.call(&acme, "pause_event_trigger", json!({"name": "refunds"}))
            .await
            .expect("paused");
        publish(&rig, &topic, "refund", 12).await;
        assert_eq!(watch(&rig).await, 0, "{backend}: paused");
        rig.call(&acme, "resume_event_trigger", json!({"name": "refunds"}))
            .await
            .expect("resumed");
        assert_eq!(watch(&rig).await, 1, "{backend}: caught up");
        rig.server.wait_for_call("\"order 12\"").await;

        let listed = rig
            .call(&acme, "list_event_triggers", json!({}))
            .await
            .expect("list");
        let trigger = &listed["event_triggers"][0];
        assert_eq!(trigger["last_error"], Value::Null, "{trigger}");
        assert_eq!(
            trigger["last_firings"].as_array().map(Vec::len),
            Some(4),
            "{trigger}"
        );
    }
}

#[tokio::test]
async fn a_kafka_trigger_without_its_topic_is_refused_naming_the_field() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = tideway_core::Store::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("automation.db").display()
    ))
    .await
    .expect("store");
    let (rig, topic) = with_topic(&store, &bootstrap).await;
    let acme = operator("acme");
    rig.save_echo(&acme, "refund").await;
    let target = json!({"workflow": "refund", "input": {"label": "x"}});
    let cases = [
        (
            json!({"name": "a", "on": "kafka_message", "target": target}),
            "kafka",
        ),
        (
            json!({"name": "b", "on": "kafka_message", "kafka": {"topic": "no-such-topic"}, "target": target}),
            "kafka.topic",
        ),
        (
            json!({"name": "c", "on": "ticket_created", "kafka": {"topic": topic}, "target": target}),
            "kafka",
        ),
        (
            json!({"name": "d", "on": "kafka_message", "kafka": {"topic": topic}, "if": "message.value ==", "target": target}),
            "if",
        ),
    ];
    for (trigger, field) in cases {
        let error = rig
            .call(&acme, "create_event_trigger", trigger.clone())
            .await
            .expect_err("refused");
        assert!(
            error.to_string().contains(field),
            "{trigger}: {error} should name {field}"
        );
    }
    // Another tenant has no cluster of acme's to read.
    rig.save_echo(&operator("globex"), "refund").await;
    let error = rig
        .call(
            &operator("globex"),
            "create_event_trigger",
            json!({"name": "theirs", "on": "kafka_message", "kafka": {"topic": topic}, "target": target}),
        )
        .await
        .expect_err("globex has no cluster");
    assert!(!error.to_string().contains(&bootstrap), "{error}");
}
