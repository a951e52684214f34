//! What the messaging tools answer: the structured results (their JSON Schemas are
//! the tools' output schemas and the REST responses) and the text a model reads.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::typed::ToolText;
use utoipa::ToSchema;

use super::{
    clusters::ClusterView,
    render::{self, MessageView},
};

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<ClusterView>,
}

impl ToolText for ClusterList {
    fn text(&self) -> String {
        if self.clusters.is_empty() {
            return "no Kafka clusters".into();
        }
        self.clusters
            .iter()
            .map(|cluster| {
                format!(
                    "{} ({}, {:?}, {})",
                    cluster.name, cluster.bootstrap_servers, cluster.security, cluster.origin
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Done {
    pub name: String,
    pub done: bool,
}

impl ToolText for Done {
    fn text(&self) -> String {
        format!("{}: done", self.name)
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct BrokerView {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ClusterTest {
    pub cluster: String,
    pub ok: bool,
    pub brokers: Vec<BrokerView>,
    /// On failure: `dns`, `refused`, `tls`, `auth`, `permission`, `timeout` or `broker`.
    pub failure: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub latency_ms: f64,
}

impl ToolText for ClusterTest {
    fn text(&self) -> String {
        if self.ok {
            format!(
                "{}: reachable, {} broker(s) ({:.0} ms)",
                self.cluster,
                self.brokers.len(),
                self.latency_ms
            )
        } else {
            format!(
                "{}: {} — {} ({})",
                self.cluster,
                self.failure.as_deref().unwrap_or("failed"),
                self.detail.as_deref().unwrap_or_default(),
                self.hint.as_deref().unwrap_or_default()
            )
        }
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct PublishedView {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Published {
    pub topic: String,
    /// One per message, in order, each acknowledged by the broker.
    pub messages: Vec<PublishedView>,
    /// For a single message: where it went.
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
}

impl ToolText for Published {
    fn text(&self) -> String {
        match self.messages.as_slice() {
            [one] => format!(
                "published to {} partition {} offset {}",
                self.topic, one.partition, one.offset
            ),
            many => format!("published {} messages to {}", many.len(), self.topic),
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommittedOffset {
    pub partition: i32,
    /// The next offset the group reads in this partition.
    pub offset: i64,
}

/// A group's offsets set by `commit_offsets`.
#[derive(Serialize, JsonSchema, ToSchema)]
pub struct OffsetsCommitted {
    pub topic: String,
    pub group_id: String,
    pub committed: Vec<CommittedOffset>,
}

impl ToolText for OffsetsCommitted {
    fn text(&self) -> String {
        let offsets: Vec<String> = self
            .committed
            .iter()
            .map(|offset| format!("partition {} at {}", offset.partition, offset.offset))
            .collect();
        format!(
            "group {} in {}: {}",
            self.group_id,
            self.topic,
            offsets.join(", ")
        )
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ConsumedView {
    pub topic: String,
    pub group_id: String,
    pub messages: Vec<MessageView>,
    pub count: usize,
    /// What the group committed: exactly the messages returned.
    pub committed: Vec<CommittedOffset>,
    /// With `commit: false`: what to give `commit_offsets` once the messages are
    /// dealt with (nothing was committed); empty otherwise.
    pub uncommitted: Vec<CommittedOffset>,
}

impl ToolText for ConsumedView {
    fn text(&self) -> String {
        format!(
            "{} message(s) from {} for group {}\n{}",
            self.count,
            self.topic,
            self.group_id,
            render::text(&self.messages)
        )
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct PeekedView {
    pub topic: String,
    pub partition: i32,
    pub messages: Vec<MessageView>,
}

impl ToolText for PeekedView {
    fn text(&self) -> String {
        render::text(&self.messages)
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct PartitionView {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub in_sync_replicas: Vec<i32>,
    pub low_watermark: i64,
    pub high_watermark: i64,
    pub error: Option<String>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ConfigView {
    pub name: String,
    /// Absent for a sensitive value.
    pub value: Option<String>,
    pub is_default: bool,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TopicMetadata {
    pub topic: String,
    pub partitions: Vec<PartitionView>,
    /// Messages the topic holds now (high minus low watermark, summed).
    pub messages: i64,
    pub configs: Vec<ConfigView>,
    /// Why the configuration could not be read, when it could not.
    pub configs_error: Option<String>,
}

impl ToolText for TopicMetadata {
    fn text(&self) -> String {
        let mut text = format!(
            "{}: {} partition(s), {} message(s)",
            self.topic,
            self.partitions.len(),
            self.messages
        );
        for partition in &self.partitions {
            text.push_str(&format!(
                "\n  partition {}: leader {}, replicas {:?}, in sync {:?}, offsets {}..{}",
                partition.partition,
                partition.leader,
                partition.replicas,
                partition.in_sync_replicas,
                partition.low_watermark,
                partition.high_watermark
            ));
        }
        text
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: usize,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct TopicList {
    pub topics: Vec<TopicSummary>,
    pub next_cursor: Option<String>,
}

impl ToolText for TopicList {
    fn text(&self) -> String {
        let mut text = self
            .topics
            .iter()
            .map(|topic| format!("{} ({} partitions)", topic.name, topic.partitions))
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            text = "no topics".into();
        }
        if let Some(cursor) = &self.next_cursor {
            text.push_str(&format!("\nmore after cursor {cursor}"));
        }
        text
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GroupView {
    pub group_id: String,
    pub state: String,
    pub protocol: String,
    pub members: usize,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupView>,
}

impl ToolText for GroupList {
    fn text(&self) -> String {
        if self.groups.is_empty() {
            return "no consumer groups".into();
        }
        self.groups
            .iter()
            .map(|group| {
                format!(
                    "{} ({}, {} member(s))",
                    group.group_id, group.state, group.members
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct PartitionLag {
    pub partition: i32,
    /// The next offset the group reads; absent when it has committed nothing here.
    pub committed_offset: Option<i64>,
    /// The partition's end (high watermark).
    pub end_offset: i64,
    /// Messages the group has yet to read.
    pub lag: i64,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct GroupLag {
    pub group_id: String,
    pub topic: String,
    pub partitions: Vec<PartitionLag>,
    pub total_lag: i64,
}

impl ToolText for GroupLag {
    fn text(&self) -> String {
        let mut text = format!(
            "group {} on {}: lag {}",
            self.group_id, self.topic, self.total_lag
        );
        for partition in &self.partitions {
            text.push_str(&format!(
                "\n  partition {}: committed {}, end {}, lag {}",
                partition.partition,
                partition
                    .committed_offset
                    .map_or("none".to_string(), |offset| offset.to_string()),
                partition.end_offset,
                partition.lag
            ));
        }
        text
    }
}
