//! The messaging toolkit's tools, declared once: the seed's names for publishing,
//! consuming and topic metadata, the group and topic tools, and the cluster tools.
//! Each opens the cluster first (the named one, or the tenant's only one), so
//! tenancy and topic restrictions apply before anything reaches a broker.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration, time::Instant};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tideway_core::{
    CallContext, HubError,
    error::excerpt,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use tideway_kafka::{ConsumeRequest, PeekRequest, Record, Start};

use super::{
    MessagingState,
    clusters::{ClusterInput, OpenCluster, missing_topic},
    errors::hub_error,
    render::{self, MessageView},
    views::*,
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const LIST_CLUSTERS: &str = "list_clusters";
    pub const TEST_CLUSTER: &str = "test_cluster";
    pub const SET_CLUSTER: &str = "set_cluster";
    pub const DELETE_CLUSTER: &str = "delete_cluster";
    pub const PUBLISH_MESSAGE: &str = "publish_message";
    pub const CONSUME_MESSAGES: &str = "consume_messages";
    pub const PEEK_MESSAGES: &str = "peek_messages";
    pub const GET_TOPIC_METADATA: &str = "get_topic_metadata";
    pub const LIST_TOPICS: &str = "list_topics";
    pub const CREATE_TOPIC: &str = "create_topic";
    pub const DELETE_TOPIC: &str = "delete_topic";
    pub const LIST_CONSUMER_GROUPS: &str = "list_consumer_groups";
    pub const GET_CONSUMER_GROUP_LAG: &str = "get_consumer_group_lag";
    pub const COMMIT_OFFSETS: &str = "commit_offsets";
}

pub use tideway_core::typed::NoArgs;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterArg {
    /// The cluster (default: the tenant's only one).
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArg {
    pub name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClusterArgs {
    /// The cluster's name in this tenant.
    pub name: String,
    pub cluster: ClusterInput,
}

/// One message to publish.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingMessage {
    /// Any JSON; a string is sent as it is, anything else as its JSON text.
    pub message: Value,
    /// The key (partitions by it): a string.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The partition; by the key's hash (or spread) when absent.
    #[serde(default)]
    pub partition: Option<i32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
    /// Any JSON; a string is sent as it is. Give `message` or `messages`.
    #[serde(default)]
    pub message: Option<Value>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub partition: Option<i32>,
    /// Several messages in one call, each acknowledged on its own.
    #[serde(default)]
    pub messages: Option<Vec<OutgoingMessage>>,
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    Earliest,
    Latest,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
    /// The consumer group; it continues where its last read stopped.
    pub group_id: String,
    /// At most this many messages (default 10).
    #[serde(default)]
    pub max_messages: Option<i64>,
    /// How long to wait for messages, in milliseconds (default 5000; never past the
    /// call's own deadline).
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    /// Where a group that has read nothing yet starts: `earliest` (the default) or
    /// `latest`; or give `start_offset` or `start_time`.
    #[serde(default)]
    pub start: Option<StartAt>,
    /// For a new group: this offset in every partition.
    #[serde(default)]
    pub start_offset: Option<i64>,
    /// For a new group: the first message at or after this time (RFC 3339).
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// Commit what is returned (the default). With `false` nothing is committed and
    /// the answer's `uncommitted` offsets are for `commit_offsets`, once the messages
    /// are dealt with: a reader that stops before then reads them again.
    #[serde(default)]
    pub commit: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitOffsetsArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
    pub group_id: String,
    /// Per partition, the next offset the group reads.
    pub offsets: Vec<CommittedOffset>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeekArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
    /// The partition (default 0).
    #[serde(default)]
    pub partition: Option<i32>,
    /// The first offset; negative counts back from the end (default -10: the last
    /// ten messages).
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub max_messages: Option<i64>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTopicsArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    /// Only topics whose name contains this.
    #[serde(default)]
    pub filter: Option<String>,
    /// Where the previous page stopped (its `next_cursor`).
    #[serde(default)]
    pub cursor: Option<String>,
    /// Topics per page (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub topic: String,
    /// Default 1.
    #[serde(default)]
    pub partitions: Option<i32>,
    /// Default 1.
    #[serde(default)]
    pub replication_factor: Option<i32>,
    /// Topic configuration, e.g. `{"retention.ms": "86400000"}`.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagArgs {
    #[serde(default)]
    pub cluster: Option<String>,
    pub group_id: String,
    pub topic: String,
}

/// A whole number argument within bounds, or the error naming it.
fn bounded(
    field: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, HubError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(HubError::invalid_argument(
            field,
            format!("must be between {min} and {max} (got {value})"),
        ));
    }
    Ok(value)
}

fn check_group(group: &str) -> Result<(), HubError> {
    if group.is_empty()
        || group.len() > 249
        || !group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(HubError::invalid_argument(
            "group_id",
            format!(
                "'{}' must be 1-249 letters, digits, '.', '_' or '-'",
                excerpt(group)
            ),
        ));
    }
    Ok(())
}

/// A topic name as Kafka allows it.
fn check_topic_name(topic: &str) -> Result<(), HubError> {
    if topic.is_empty()
        || topic.len() > 249
        || topic == "."
        || topic == ".."
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(HubError::invalid_argument(
            "topic",
            format!(
                "'{}' is not a topic name (1-249 letters, digits, '.', '_' or '-')",
                excerpt(topic)
            ),
        ));
    }
    Ok(())
}

/// How long a read may wait: what was asked, within the operator's bound and the
/// call's own deadline (less a margin to commit and answer).
fn wait(
    state: &MessagingState,
    ctx: &CallContext,
    timeout_ms: Option<i64>,
) -> Result<Duration, HubError> {
    let max = state.config.max_wait_ms.min(i64::MAX as u64) as i64;
    let asked = bounded("timeout_ms", timeout_ms, 5000.min(max), 0, max)?;
    let margin = Duration::from_millis(500);
    Ok(Duration::from_millis(asked as u64).min(ctx.remaining().saturating_sub(margin)))
}

fn encode(message: &Value) -> Vec<u8> {
    match message {
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

async fn publish(
    state: Arc<MessagingState>,
    cluster: OpenCluster,
    args: PublishArgs,
) -> Result<Published, HubError> {
    check_topic_name(&args.topic)?;
    cluster.check_topic(&args.topic)?;
    let batched = args.messages.is_some();
    let outgoing = match (args.message, args.messages) {
        (Some(message), None) => vec![OutgoingMessage {
            message,
            key: args.key,
            headers: args.headers,
            partition: args.partition,
        }],
        (None, Some(messages)) => {
            if args.key.is_some() || !args.headers.is_empty() || args.partition.is_some() {
                return Err(HubError::invalid_argument(
                    "messages",
                    "with messages, give key, headers and partition on each message",
                ));
            }
            messages
        }
        (Some(_), Some(_)) => {
            return Err(HubError::invalid_argument(
                "messages",
                "give message or messages, not both",
            ));
        }
        (None, None) => {
            return Err(HubError::invalid_argument(
                "message",
                "is required (or messages, for several)",
            ));
        }
    };
    if outgoing.is_empty() || outgoing.len() > state.config.max_batch {
        return Err(HubError::invalid_argument(
            "messages",
            format!("give 1-{} messages", state.config.max_batch),
        ));
    }
    let mut records = Vec::with_capacity(outgoing.len());
    for (index, message) in outgoing.into_iter().enumerate() {
        let at = |field: &str| {
            if batched {
                format!("messages[{index}].{field}")
            } else {
                field.to_string()
            }
        };
        let value = encode(&message.message);
        if value.len() > state.config.max_message_bytes {
            return Err(HubError::invalid_argument(
                at("message"),
                format!(
                    "is {} bytes, more than the {} this server sends in one message",
                    value.len(),
                    state.config.max_message_bytes
                ),
            ));
        }
        if let Some(partition) = message.partition
            && partition < 0
        {
            return Err(HubError::invalid_argument(
                at("partition"),
                "must be 0 or more",
            ));
        }
        records.push(Record {
            key: message.key.map(String::into_bytes),
            value,
            headers: message
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.into_bytes()))
                .collect(),
            partition: message.partition,
        });
    }
    // Publishing to a missing topic must not create it (brokers may auto-create),
    // so it is checked first; a topic just seen is taken to exist for a few seconds.
    cluster
        .client
        .ensure_topic(&args.topic)
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    let outcomes = cluster.client.publish(&args.topic, &records).await;
    let mut messages = Vec::with_capacity(outcomes.len());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(delivered) => messages.push(PublishedView {
                partition: delivered.partition,
                offset: delivered.offset,
                timestamp: delivered
                    .timestamp_ms
                    .and_then(DateTime::<Utc>::from_timestamp_millis),
            }),
            Err(error) => {
                let error = hub_error(&cluster.name, error);
                // Earlier messages are on the broker: say which ones.
                return Err(if index == 0 {
                    error
                } else {
                    HubError::Unavailable {
                        component: format!("Kafka cluster '{}'", cluster.name),
                        reason: format!(
                            "messages 0-{} were published (acknowledged), message {index} failed: {error}",
                            index - 1
                        ),
                    }
                });
            }
        }
    }
    let single = (messages.len() == 1).then(|| &messages[0]);
    Ok(Published {
        partition: single.map(|one| one.partition),
        offset: single.map(|one| one.offset),
        timestamp: single.and_then(|one| one.timestamp),
        topic: args.topic,
        messages,
    })
}

async fn consume(
    state: Arc<MessagingState>,
    ctx: CallContext,
    cluster: OpenCluster,
    args: ConsumeArgs,
) -> Result<ConsumedView, HubError> {
    check_topic_name(&args.topic)?;
    check_group(&args.group_id)?;
    let max = bounded(
        "max_messages",
        args.max_messages,
        10,
        1,
        state.config.max_messages as i64,
    )? as usize;
    let wait = wait(&state, &ctx, args.timeout_ms)?;
    let start = match (args.start, args.start_offset, args.start_time) {
        (None | Some(StartAt::Earliest), None, None) => Start::Earliest,
        (Some(StartAt::Latest), None, None) => Start::Latest,
        (None, Some(offset), None) => {
            if offset < 0 {
                return Err(HubError::invalid_argument(
                    "start_offset",
                    "must be 0 or more",
                ));
            }
            Start::Offset(offset)
        }
        (None, None, Some(time)) => Start::Timestamp(time.timestamp_millis()),
        _ => {
            return Err(HubError::invalid_argument(
                "start",
                "give one of start, start_offset and start_time",
            ));
        }
    };
    cluster.check_topic(&args.topic)?;
    cluster.check_group(&args.group_id)?;
    let consumed = cluster
        .client
        .consume(ConsumeRequest {
            topic: args.topic.clone(),
            group: args.group_id.clone(),
            max_messages: max,
            wait,
            start,
            commit: args.commit.unwrap_or(true),
        })
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    let offsets = |offsets: BTreeMap<i32, i64>| {
        offsets
            .into_iter()
            .map(|(partition, offset)| CommittedOffset { partition, offset })
            .collect()
    };
    let messages: Vec<MessageView> = consumed
        .messages
        .into_iter()
        .map(|message| render::view(message, state.config.max_value_bytes))
        .collect();
    Ok(ConsumedView {
        count: messages.len(),
        topic: args.topic,
        group_id: args.group_id,
        messages,
        committed: offsets(consumed.committed),
        uncommitted: offsets(consumed.uncommitted),
    })
}

/// The most partitions one `commit_offsets` call names.
const MAX_COMMITTED_PARTITIONS: usize = 10_000;

async fn commit_offsets(
    cluster: OpenCluster,
    args: CommitOffsetsArgs,
) -> Result<OffsetsCommitted, HubError> {
    check_topic_name(&args.topic)?;
    check_group(&args.group_id)?;
    cluster.check_topic(&args.topic)?;
    cluster.check_group(&args.group_id)?;
    if args.offsets.is_empty() || args.offsets.len() > MAX_COMMITTED_PARTITIONS {
        return Err(HubError::invalid_argument(
            "offsets",
            format!("give 1-{MAX_COMMITTED_PARTITIONS} partitions"),
        ));
    }
    let mut offsets = BTreeMap::new();
    for (index, offset) in args.offsets.iter().enumerate() {
        if offset.partition < 0 || offset.offset < 0 {
            return Err(HubError::invalid_argument(
                format!("offsets[{index}]"),
                "partition and offset must be 0 or more",
            ));
        }
        if offsets.insert(offset.partition, offset.offset).is_some() {
            return Err(HubError::invalid_argument(
                format!("offsets[{index}].partition"),
                format!("partition {} is named twice", offset.partition),
            ));
        }
    }
    cluster
        .client
        .commit_offsets(&args.group_id, &args.topic, &offsets)
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    Ok(OffsetsCommitted {
        topic: args.topic,
        group_id: args.group_id,
        committed: args.offsets,
    })
}

async fn peek(
    state: Arc<MessagingState>,
    ctx: CallContext,
    cluster: OpenCluster,
    args: PeekArgs,
) -> Result<PeekedView, HubError> {
    check_topic_name(&args.topic)?;
    cluster.check_topic(&args.topic)?;
    let max = bounded(
        "max_messages",
        args.max_messages,
        10,
        1,
        state.config.max_messages as i64,
    )? as usize;
    let partition = args.partition.unwrap_or(0);
    if partition < 0 {
        return Err(HubError::invalid_argument("partition", "must be 0 or more"));
    }
    let wait = wait(&state, &ctx, args.timeout_ms)?;
    let messages = cluster
        .client
        .peek(PeekRequest {
            topic: args.topic.clone(),
            partition,
            offset: args.offset.unwrap_or(-10),
            max_messages: max,
            wait,
        })
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    Ok(PeekedView {
        topic: args.topic,
        partition,
        messages: messages
            .into_iter()
            .map(|message| render::view(message, state.config.max_value_bytes))
            .collect(),
    })
}

pub async fn topic_metadata(cluster: &OpenCluster, topic: &str) -> Result<TopicMetadata, HubError> {
    check_topic_name(topic)?;
    cluster.check_topic(topic)?;
    let fail = |error| hub_error(&cluster.name, error);
    let info = cluster.client.topic(topic).await.map_err(fail)?;
    let marks = cluster
        .client
        .watermarks(topic, info.partitions.iter().map(|p| p.id).collect())
        .await
        .map_err(fail)?;
    let (configs, configs_error) = match cluster.client.topic_configs(topic).await {
        Ok(entries) => (
            entries
                .into_iter()
                .map(|entry| ConfigView {
                    name: entry.name,
                    value: entry.value,
                    is_default: entry.is_default,
                })
                .collect(),
            None,
        ),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    let mut partitions: Vec<PartitionView> = info
        .partitions
        .into_iter()
        .map(|partition| {
            let (low, high) = marks
                .iter()
                .find(|(id, _, _)| *id == partition.id)
                .map_or((0, 0), |(_, low, high)| (*low, *high));
            PartitionView {
                partition: partition.id,
                leader: partition.leader,
                replicas: partition.replicas,
                in_sync_replicas: partition.in_sync_replicas,
                low_watermark: low,
                high_watermark: high,
                error: partition.error,
            }
        })
        .collect();
    partitions.sort_by_key(|partition| partition.partition);
    Ok(TopicMetadata {
        topic: topic.to_string(),
        messages: partitions
            .iter()
            .map(|p| (p.high_watermark - p.low_watermark).max(0))
            .sum(),
        partitions,
        configs,
        configs_error,
    })
}

pub async fn list_topics(
    cluster: &OpenCluster,
    args: ListTopicsArgs,
) -> Result<TopicList, HubError> {
    let limit = bounded("limit", args.limit, 100, 1, 1000)? as usize;
    let topics = cluster
        .client
        .topics(None)
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    let mut served = topics
        .into_iter()
        .filter(|topic| cluster.serves(&topic.name))
        .filter(|topic| {
            args.filter
                .as_deref()
                .is_none_or(|filter| topic.name.contains(filter))
        })
        .filter(|topic| {
            args.cursor
                .as_deref()
                .is_none_or(|cursor| topic.name.as_str() > cursor)
        });
    let page: Vec<TopicSummary> = served
        .by_ref()
        .take(limit)
        .map(|topic| TopicSummary {
            partitions: topic.partitions.len(),
            name: topic.name,
        })
        .collect();
    let next_cursor = if served.next().is_some() {
        page.last().map(|topic| topic.name.clone())
    } else {
        None
    };
    Ok(TopicList {
        topics: page,
        next_cursor,
    })
}

pub async fn groups(cluster: &OpenCluster) -> Result<GroupList, HubError> {
    let groups = cluster
        .client
        .groups()
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    Ok(GroupList {
        groups: groups
            .into_iter()
            .filter(|group| cluster.serves_group(&group.name))
            .map(|group| GroupView {
                group_id: group.name,
                state: group.state,
                protocol: group.protocol,
                members: group.members,
            })
            .collect(),
    })
}

async fn lag(cluster: &OpenCluster, args: LagArgs) -> Result<GroupLag, HubError> {
    check_topic_name(&args.topic)?;
    check_group(&args.group_id)?;
    cluster.check_topic(&args.topic)?;
    cluster.check_group(&args.group_id)?;
    let offsets = cluster
        .client
        .group_offsets(&args.group_id, &args.topic)
        .await
        .map_err(|error| hub_error(&cluster.name, error))?;
    let partitions: Vec<PartitionLag> = offsets
        .into_iter()
        .map(|offset| PartitionLag {
            partition: offset.partition,
            committed_offset: offset.committed,
            end_offset: offset.high,
            // A group that has committed nothing would read from the start.
            lag: (offset.high - offset.committed.unwrap_or(offset.low)).max(0),
        })
        .collect();
    Ok(GroupLag {
        total_lag: partitions.iter().map(|p| p.lag).sum(),
        group_id: args.group_id,
        topic: args.topic,
        partitions,
    })
}

/// Registers a tool whose arguments name a cluster: the cluster is opened for the
/// caller's tenant before the handler runs.
fn with_cluster<A, O, F, Fut>(
    tools: ToolSet<MessagingState>,
    spec: ToolSpec,
    cluster_of: fn(&A) -> Option<&str>,
    handler: F,
) -> ToolSet<MessagingState>
where
    A: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
    O: ToolText + JsonSchema + Send + 'static,
    F: Fn(Arc<MessagingState>, CallContext, OpenCluster, A) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<O, HubError>> + Send + 'static,
{
    tools.add(
        spec,
        move |state: Arc<MessagingState>, ctx: CallContext, args: A| async move {
            let cluster = state.clusters.open(&ctx, cluster_of(&args)).await?;
            let (name, client) = (cluster.name.clone(), cluster.client.clone());
            let outcome = handler(state.clone(), ctx.clone(), cluster, args).await;
            // The cluster could not be reached: the next call makes fresh clients,
            // since after the brokers failed to acknowledge, an idempotent
            // producer's sequence state may no longer match theirs (a broker that
            // lost its log, say), and a new one starts clean.
            if matches!(outcome, Err(HubError::Unavailable { .. })) {
                state.clusters.discard(&ctx, &name);
            }
            super::clusters::retire(client);
            outcome
        },
    )
}

pub fn tool_set() -> ToolSet<MessagingState> {
    let tools = ToolSet::new()
        .add(
            ToolSpec {
                name: names::LIST_CLUSTERS,
                title: "List Kafka clusters",
                description: "This tenant's Kafka clusters: bootstrap servers, security and topic restrictions, never passwords.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<MessagingState>, ctx, _args: NoArgs| async move {
                Ok(ClusterList {
                    clusters: state.clusters.list(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::SET_CLUSTER,
                title: "Store a Kafka cluster",
                description: "Stores (or replaces) a Kafka cluster for this tenant: bootstrap servers, security (plaintext, ssl, sasl_plaintext, sasl_ssl with PLAIN or SCRAM), the password sealed at rest and never shown again, and optional topic name patterns it is restricted to.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<MessagingState>, ctx, args: SetClusterArgs| async move {
                state.clusters.put(&ctx, &args.name, args.cluster).await?;
                Ok(Done {
                    name: args.name,
                    done: true,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_CLUSTER,
                title: "Delete a Kafka cluster",
                description: "Deletes a cluster this tenant stored (not its topics).",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<MessagingState>, ctx, args: NameArg| async move {
                if !state.clusters.delete(&ctx, &args.name).await? {
                    return Err(HubError::NotFound(format!(
                        "no stored Kafka cluster '{}'",
                        excerpt(&args.name)
                    )));
                }
                Ok(Done {
                    name: args.name,
                    done: true,
                })
            },
        );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::TEST_CLUSTER,
            title: "Test a Kafka cluster",
            description: "Reaches the cluster with its credentials and lists its brokers, or says precisely why not (dns, refused, tls, auth, timeout) with a hint.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &ClusterArg| args.cluster.as_deref(),
        |_state, _ctx, cluster, _args| async move {
            let started = Instant::now();
            let outcome = cluster.client.check().await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            Ok(match outcome {
                Ok(brokers) => ClusterTest {
                    cluster: cluster.name,
                    ok: true,
                    brokers: brokers
                        .into_iter()
                        .map(|broker| BrokerView {
                            id: broker.id,
                            host: broker.host,
                            port: broker.port,
                        })
                        .collect(),
                    failure: None,
                    detail: None,
                    hint: None,
                    latency_ms,
                },
                Err(error) => {
                    let kind = error
                        .failure_kind()
                        .unwrap_or(tideway_kafka::FailureKind::Broker);
                    ClusterTest {
                        cluster: cluster.name,
                        ok: false,
                        brokers: Vec::new(),
                        failure: Some(kind.as_str().to_string()),
                        detail: Some(error.to_string()),
                        hint: Some(kind.hint().to_string()),
                        latency_ms,
                    }
                }
            })
        },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::PUBLISH_MESSAGE,
            title: "Publish a message",
            description: "Publishes a message (any JSON; a string is sent as it is) to a topic, with an optional key, headers and partition, or several with `messages`. Answers with the partition, offset and timestamp once the broker has acknowledged it (all in-sync replicas).",
            effect: Effect::Additive,
            open_world: true,
        },
        |args: &PublishArgs| args.cluster.as_deref(),
        |state, _ctx, cluster, args| async move { publish(state, cluster, args).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::CONSUME_MESSAGES,
            title: "Consume messages",
            description: "Reads up to max_messages from a topic as a member of a consumer group and commits exactly what it returns, so the next call continues where this one stopped (or, with commit false, commits nothing and says what to give commit_offsets later). Waits at most timeout_ms, and answers sooner once it has messages and has read to the end of the topic. A new group starts at the earliest message unless told otherwise.",
            effect: Effect::Additive,
            open_world: true,
        },
        |args: &ConsumeArgs| args.cluster.as_deref(),
        |state, ctx, cluster, args| async move { consume(state, ctx, cluster, args).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::PEEK_MESSAGES,
            title: "Peek at messages",
            description: "Reads messages from one partition at an offset (negative: from the end) without any consumer group; moves nothing.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &PeekArgs| args.cluster.as_deref(),
        |state, ctx, cluster, args| async move { peek(state, ctx, cluster, args).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::GET_TOPIC_METADATA,
            title: "Describe a topic",
            description: "A topic's partitions with leaders, replicas, in-sync replicas and low/high watermarks, and its configuration.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &TopicArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move { topic_metadata(&cluster, &args.topic).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::LIST_TOPICS,
            title: "List topics",
            description: "The cluster's topics this tenant may use, by name, a page at a time (filter by a part of the name).",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &ListTopicsArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move { list_topics(&cluster, args).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::CREATE_TOPIC,
            title: "Create a topic",
            description: "Creates a topic with a number of partitions, a replication factor and configuration.",
            effect: Effect::Additive,
            open_world: true,
        },
        |args: &CreateTopicArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move {
            check_topic_name(&args.topic)?;
            cluster.check_topic(&args.topic)?;
            let partitions =
                bounded("partitions", args.partitions.map(i64::from), 1, 1, 10_000)? as i32;
            let replication = bounded(
                "replication_factor",
                args.replication_factor.map(i64::from),
                1,
                1,
                32,
            )? as i32;
            cluster
                .client
                .create_topic(&args.topic, partitions, replication, &args.configs)
                .await
                .map_err(|error| hub_error(&cluster.name, error))?;
            Ok(Done {
                name: args.topic,
                done: true,
            })
        },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::DELETE_TOPIC,
            title: "Delete a topic",
            description: "Deletes a topic and every message in it.",
            effect: Effect::Destructive,
            open_world: true,
        },
        |args: &TopicArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move {
            check_topic_name(&args.topic)?;
            if !cluster.serves(&args.topic) {
                return Err(missing_topic(&args.topic, &cluster.name));
            }
            cluster
                .client
                .delete_topic(&args.topic)
                .await
                .map_err(|error| hub_error(&cluster.name, error))?;
            Ok(Done {
                name: args.topic,
                done: true,
            })
        },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::LIST_CONSUMER_GROUPS,
            title: "List consumer groups",
            description: "The cluster's consumer groups with their state and number of members.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &ClusterArg| args.cluster.as_deref(),
        |_state, _ctx, cluster, _args| async move { groups(&cluster).await },
    );
    let tools = with_cluster(
        tools,
        ToolSpec {
            name: names::COMMIT_OFFSETS,
            title: "Commit a group's offsets",
            description: "Sets where a consumer group reads next in a topic, per partition: for a reader that consumed with commit false and has dealt with the messages. The broker accepts it only while no member of the group is reading.",
            effect: Effect::Idempotent,
            open_world: true,
        },
        |args: &CommitOffsetsArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move { commit_offsets(cluster, args).await },
    );
    with_cluster(
        tools,
        ToolSpec {
            name: names::GET_CONSUMER_GROUP_LAG,
            title: "Consumer group lag",
            description: "How far a consumer group is behind in a topic: per partition, its committed offset, the end offset and the lag, with the total.",
            effect: Effect::ReadOnly,
            open_world: true,
        },
        |args: &LagArgs| args.cluster.as_deref(),
        |_state, _ctx, cluster, args| async move { lag(&cluster, args).await },
    )
}
