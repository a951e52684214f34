//! Consumer groups across calls: what one call returns the next never repeats and
//! nothing is skipped; lag goes down as the group reads; a call that finds nothing
//! (or is cancelled) commits nothing and leaves the group, so the next call is
//! not held up; two members of one group share the topic without overlap; peeking
//! moves nothing.

use std::{collections::BTreeSet, time::Duration};

use serde_json::json;

use super::{Fixture, broker, loopback_config, positions};

/// One message per call, so each is its own batch (tansu counts a batch's
/// records oddly in its high watermark).
async fn publish_one_by_one(fixture: &Fixture, topic: &str, count: usize, partitions: i64) {
    for index in 0..count {
        let answer = fixture
            .call(
                "publish_message",
                json!({
                    "topic": topic,
                    "message": {"query": format!("question {index}"), "n": index},
                    "key": format!("customer-{index}"),
                    "partition": (index as i64) % partitions,
                }),
            )
            .await;
        assert_eq!(answer["partition"], (index as i64) % partitions, "{answer}");
        assert!(answer["offset"].as_i64().is_some(), "{answer}");
    }
}

async fn total_lag(fixture: &Fixture, topic: &str, group: &str) -> i64 {
    let lag = fixture
        .call(
            "get_consumer_group_lag",
            json!({"topic": topic, "group_id": group}),
        )
        .await;
    lag["total_lag"].as_i64().expect("total lag")
}

#[tokio::test]
async fn a_group_reads_on_across_calls_with_no_gap_and_no_repeat() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("customer-queries", 2).await;
    publish_one_by_one(&fixture, &topic, 12, 2).await;
    let meta = fixture
        .call("get_topic_metadata", json!({"topic": topic}))
        .await;
    assert_eq!(
        meta["partitions"].as_array().map(Vec::len),
        Some(2),
        "{meta}"
    );
    assert_eq!(meta["messages"], 12, "{meta}");
    let group = super::unique("agents");
    assert_eq!(total_lag(&fixture, &topic, &group).await, 12);

    let mut seen = BTreeSet::new();
    let mut lags = Vec::new();
    for expected in [5, 5, 2] {
        let answer = fixture
            .call(
                "consume_messages",
                json!({"topic": topic, "group_id": group, "max_messages": 5, "timeout_ms": 8000}),
            )
            .await;
        let got = positions(&answer);
        assert_eq!(got.len(), expected, "{answer}");
        for position in got {
            assert!(seen.insert(position), "{position:?} returned twice");
        }
        let first = &answer["messages"][0];
        assert_eq!(first["encoding"], "json", "{first}");
        assert!(first["value"]["query"].is_string(), "{first}");
        assert!(
            first["key"]
                .as_str()
                .is_some_and(|key| key.starts_with("customer-")),
            "{first}"
        );
        lags.push(total_lag(&fixture, &topic, &group).await);
    }
    assert_eq!(lags, vec![7, 2, 0]);
    let all: BTreeSet<(i64, i64)> = (0..2)
        .flat_map(|partition| (0..6).map(move |offset| (partition, offset)))
        .collect();
    assert_eq!(seen, all, "every message once");

    // Nothing left: the call waits its time, returns nothing and commits nothing.
    let empty = fixture
        .call(
            "consume_messages",
            json!({"topic": topic, "group_id": group, "timeout_ms": 1500}),
        )
        .await;
    assert_eq!(empty["count"], 0, "{empty}");
    assert_eq!(empty["committed"], json!([]), "{empty}");

    // Peeking moves nothing: the lag of a group is what it was.
    let peeked = fixture
        .call(
            "peek_messages",
            json!({"topic": topic, "partition": 1, "offset": -2}),
        )
        .await;
    assert_eq!(positions(&peeked), vec![(1, 4), (1, 5)], "{peeked}");
    assert_eq!(total_lag(&fixture, &topic, &group).await, 0);
}

#[tokio::test]
async fn a_call_that_finds_nothing_or_is_cancelled_commits_nothing_and_leaves() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("responses", 1).await;
    let group = super::unique("idle");
    // Each call waits longer than the broker takes to complete a join (tansu: half
    // the 6-second session; Kafka: group.initial.rebalance.delay.ms, 3 s): tansu
    // wedges a group whose member leaves before its join completes.
    let idle = fixture
        .call(
            "consume_messages",
            json!({"topic": topic, "group_id": group, "timeout_ms": 4500}),
        )
        .await;
    assert_eq!(idle["count"], 0, "{idle}");
    let lag = fixture
        .call(
            "get_consumer_group_lag",
            json!({"topic": topic, "group_id": group}),
        )
        .await;
    assert_eq!(
        lag["partitions"][0]["committed_offset"],
        json!(null),
        "{lag}"
    );

    // A consume cancelled while it waits (its caller went away).
    let hub = fixture.hub.clone();
    let arguments = json!({"topic": topic, "group_id": group, "timeout_ms": 20000});
    let waiting = tokio::spawn(async move {
        let ctx = super::ctx("acme", tideway_core::context::Role::Operator);
        let arguments = serde_json::from_value(arguments).expect("object");
        hub.call(&ctx, "messaging", "consume_messages", Some(arguments))
            .await
    });
    tokio::time::sleep(Duration::from_millis(4500)).await;
    waiting.abort();
    assert!(waiting.await.is_err_and(|error| error.is_cancelled()));

    // Nothing was committed, and the cancelled member left: a new member gets the
    // partition and reads from the start.
    publish_one_by_one(&fixture, &topic, 3, 1).await;
    let read = fixture
        .call(
            "consume_messages",
            json!({"topic": topic, "group_id": group, "max_messages": 3, "timeout_ms": 10000}),
        )
        .await;
    assert_eq!(positions(&read), vec![(0, 0), (0, 1), (0, 2)], "{read}");
    assert_eq!(read["committed"], json!([{"partition": 0, "offset": 3}]));
}

#[tokio::test]
async fn two_members_of_one_group_share_a_topic_without_overlap() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("shared", 2).await;
    publish_one_by_one(&fixture, &topic, 20, 2).await;
    let group = super::unique("pair");
    let mut seen: Vec<(i64, i64)> = Vec::new();
    // Rounds of two members at once, until the group has read everything. Each
    // asks for more than there is, so both stay until their deadline, after the
    // group has settled (tansu wedges a group a member leaves mid-rebalance).
    for _ in 0..4 {
        let arguments =
            json!({"topic": topic, "group_id": group, "max_messages": 40, "timeout_ms": 9000});
        let (one, two) = tokio::join!(
            fixture.call("consume_messages", arguments.clone()),
            fixture.call("consume_messages", arguments)
        );
        seen.extend(positions(&one));
        seen.extend(positions(&two));
        if seen.len() >= 20 {
            break;
        }
    }
    let unique: BTreeSet<(i64, i64)> = seen.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a message was read twice: {seen:?}"
    );
    assert_eq!(unique.len(), 20, "every message read: {seen:?}");
}

#[tokio::test]
async fn a_new_group_can_start_at_the_end_or_at_an_offset() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    let topic = fixture.topic("positions", 1).await;
    publish_one_by_one(&fixture, &topic, 5, 1).await;
    let from_offset = fixture
        .call(
            "consume_messages",
            json!({"topic": topic, "group_id": super::unique("offset"), "start_offset": 3, "timeout_ms": 8000}),
        )
        .await;
    assert_eq!(
        positions(&from_offset),
        vec![(0, 3), (0, 4)],
        "{from_offset}"
    );
    let latest = fixture
        .call(
            "consume_messages",
            json!({"topic": topic, "group_id": super::unique("latest"), "start": "latest", "timeout_ms": 2000}),
        )
        .await;
    assert_eq!(latest["count"], 0, "{latest}");
}

#[tokio::test]
async fn a_read_that_does_not_commit_is_read_again_until_its_offsets_are_committed() {
    let Some(bootstrap) = broker() else {
        return;
    };
    let fixture = Fixture::new(loopback_config())
        .await
        .with_cluster(&bootstrap, json!({}))
        .await;
    // One partition, so which four messages come first is certain.
    let topic = fixture.topic("orders", 1).await;
    publish_one_by_one(&fixture, &topic, 6, 1).await;
    let group = super::unique("trigger");
    let read = json!({"topic": topic, "group_id": group, "max_messages": 4, "timeout_ms": 8000, "commit": false});

    let first = fixture.call("consume_messages", read.clone()).await;
    let first_positions = positions(&first);
    assert_eq!(first_positions.len(), 4, "{first}");
    assert_eq!(first["committed"], json!([]), "{first}");
    assert_eq!(total_lag(&fixture, &topic, &group).await, 6);
    // Not committed: the next read returns the same messages.
    let again = fixture.call("consume_messages", read.clone()).await;
    assert_eq!(positions(&again), first_positions, "{again}");

    let uncommitted = again["uncommitted"].clone();
    let committed = fixture
        .call(
            "commit_offsets",
            json!({"topic": topic, "group_id": group, "offsets": uncommitted}),
        )
        .await;
    assert_eq!(committed["committed"], uncommitted, "{committed}");
    assert_eq!(total_lag(&fixture, &topic, &group).await, 2);
    let rest = fixture.call("consume_messages", read).await;
    let rest_positions = positions(&rest);
    assert_eq!(rest_positions.len(), 2, "{rest}");
    assert!(
        rest_positions
            .iter()
            .all(|position| !first_positions.contains(position)),
        "{rest}"
    );

    // Bad offsets are refused naming the field, before any broker is asked.
    let refused = fixture
        .try_call(
            &super::ctx("acme", tideway_core::context::Role::Operator),
            "commit_offsets",
            json!({"topic": topic, "group_id": group, "offsets": [{"partition": 0, "offset": -1}]}),
        )
        .await
        .expect_err("a negative offset");
    assert!(refused.to_string().contains("offsets[0]"), "{refused}");
    let refused = fixture
        .try_call(
            &super::ctx("acme", tideway_core::context::Role::Operator),
            "commit_offsets",
            json!({"topic": topic, "group_id": group, "offsets": [{"partition": 7, "offset": 1}]}),
        )
        .await
        .expect_err("a partition the topic lacks");
    assert!(refused.to_string().contains('7'), "{refused}");
}
