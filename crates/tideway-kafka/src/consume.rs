//! Reading messages: in a consumer group (joined for the call, left when it ends
//! however it ends, committing exactly the messages returned) or from a partition
//! and offset without any group.
//!
//! Why commits happen where they do: a message counts as consumed once the call
//! returns it, so its offset + 1 is committed at the end of the call; if the group
//! takes a partition away during the call (another member joined), the offsets
//! already read from it are committed before it goes, so the new owner continues
//! after them rather than reading them again.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    ClientContext, Message as _, Offset, TopicPartitionList,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::KafkaError,
    message::{BorrowedMessage, Headers},
};
use tokio::time::Instant;

use crate::{
    cluster::Cluster,
    context::Context,
    error::{Error, FailureKind, classify},
};

/// Where a group with no committed offsets starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// This offset in every partition (clamped to what the partition holds).
    Offset(i64),
    /// The first message at or after this time (milliseconds since the epoch).
    Timestamp(i64),
}

pub struct ConsumeRequest {
    pub topic: String,
    pub group: String,
    pub max_messages: usize,
    /// How long to wait for messages in all.
    pub wait: Duration,
    pub start: Start,
    /// Commit what the call returns (the usual); when `false` nothing is committed
    /// and the caller commits later with [`Cluster::commit_offsets`], once it has
    /// done what the messages asked (so a crash before that reads them again).
    pub commit: bool,
}

pub struct PeekRequest {
    pub topic: String,
    pub partition: i32,
    /// The first offset; negative counts back from the end (-1: the last message).
    pub offset: i64,
    pub max_messages: usize,
    pub wait: Duration,
}

/// A message read.
#[derive(Clone, Debug)]
pub struct Message {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp_ms: Option<i64>,
    pub value: Option<Vec<u8>>,
}

/// What a group read returned and committed.
#[derive(Debug, Default)]
pub struct Consumed {
    pub messages: Vec<Message>,
    /// The offsets committed, per partition: the next one the group reads.
    pub committed: BTreeMap<i32, i64>,
    /// For a read that commits nothing: per partition, the offset to commit once
    /// the messages returned are dealt with (the last one's + 1).
    pub uncommitted: BTreeMap<i32, i64>,
}

/// A group member's context: the cluster's, plus the offsets read but not yet
/// committed, so a revoked partition's can be committed before it goes.
struct MemberContext {
    shared: Context,
    topic: String,
    /// Whether this member commits at all (see [`ConsumeRequest::commit`]).
    commits: bool,
    pending: Mutex<BTreeMap<i32, i64>>,
    committed: Mutex<BTreeMap<i32, i64>>,
}

impl MemberContext {
    fn commit<C: Consumer<MemberContext>>(&self, consumer: &C, only: Option<&TopicPartitionList>) {
        if !self.commits {
            return;
        }
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let mut list = TopicPartitionList::new();
        let partitions: Vec<i32> = pending
            .keys()
            .copied()
            .filter(|partition| {
                only.is_none_or(|only| {
                    only.elements()
                        .iter()
                        .any(|element| element.partition() == *partition)
                })
            })
            .collect();
        for partition in &partitions {
            if let Some(next) = pending.get(partition)
                && list
                    .add_partition_offset(&self.topic, *partition, Offset::Offset(*next))
                    .is_err()
            {
                return;
            }
        }
        if list.count() == 0 {
            return;
        }
        match consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => {
                if let Ok(mut committed) = self.committed.lock() {
                    for partition in partitions {
                        if let Some(next) = pending.remove(&partition) {
                            committed.insert(partition, next);
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "kafka: committing offsets failed"),
        }
    }
}

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        self.shared.log(level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.error(error, reason);
    }

    fn stats(&self, _statistics: rdkafka::Statistics) {}
}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            self.commit(consumer, Some(revoked));
        }
    }
}

fn owned(message: &BorrowedMessage<'_>) -> Message {
    Message {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis(),
        value: message.payload().map(<[u8]>::to_vec),
    }
}

/// Whether every partition assigned to `consumer` is in `at_end`.
fn read_to_end<C: Consumer<MemberContext>>(consumer: &C, at_end: &BTreeSet<i32>) -> bool {
    consumer.assignment().is_ok_and(|assigned| {
        assigned.count() > 0
            && assigned
                .elements()
                .iter()
                .all(|element| at_end.contains(&element.partition()))
    })
}

impl Cluster {
    /// Reads up to `max_messages` as a member of `group` (returning early once it
    /// has some and has read every partition it holds to its end), then commits
    /// what it returns (unless told not to) and leaves the group. A call that finds
    /// nothing commits nothing.
    pub async fn consume(&self, request: ConsumeRequest) -> Result<Consumed, Error> {
        let info = self.topic(&request.topic).await?;
        if matches!(request.start, Start::Offset(_) | Start::Timestamp(_)) {
            self.place_new_group(&request, info.partitions.iter().map(|p| p.id).collect())
                .await?;
        }
        let mut config = self.spec.client_config();
        config
            .set("group.id", &request.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Says when a partition is read to its end, so a call that has
            // messages need not wait out its time for more.
            .set("enable.partition.eof", "true")
            .set(
                "auto.offset.reset",
                if request.start == Start::Latest {
                    "latest"
                } else {
                    "earliest"
                },
            )
            .set(
                "session.timeout.ms",
                crate::spec::millis(self.spec.session_timeout),
            )
            // Bounds what one call buffers ahead of what it returns.
            .set("queued.max.messages.kbytes", "8192");
        let member = MemberContext {
            shared: self.context.clone(),
            topic: request.topic.clone(),
            commits: request.commit,
            pending: Mutex::new(BTreeMap::new()),
            committed: Mutex::new(BTreeMap::new()),
        };
        let consumer: StreamConsumer<MemberContext> = config
            .create_with_context(member)
            .map_err(|error| self.classify(&error))?;
        consumer
            .subscribe(&[&request.topic])
            .map_err(|error| self.classify(&error))?;
        // However the call ends (returned, timed out, cancelled), the member leaves
        // its group on a blocking thread: closing waits for the broker.
        let leave = LeaveOnDrop(Some(Arc::new(consumer)));
        let consumer = leave.get();
        let deadline = Instant::now() + request.wait;
        let mut messages = Vec::new();
        let mut trouble = None;
        // Partitions read to their end since their last message.
        let mut at_end = BTreeSet::new();
        while messages.len() < request.max_messages {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                received = consumer.recv() => match received {
                    Ok(message) => {
                        let message = owned(&message);
                        at_end.remove(&message.partition);
                        if let Ok(mut pending) = consumer.context().pending.lock() {
                            pending.insert(message.partition, message.offset + 1);
                        }
                        messages.push(message);
                    }
                    Err(KafkaError::PartitionEOF(partition)) => {
                        at_end.insert(partition);
                        // Something to return, and nothing more in any partition
                        // this member holds: waiting longer would find nothing.
                        if !messages.is_empty() && read_to_end(consumer.as_ref(), &at_end) {
                            break;
                        }
                    }
                    Err(error) => trouble = Some(error),
                },
            }
        }
        if messages.is_empty()
            && let Some(error) = trouble
        {
            return Err(self.classify(&error));
        }
        if !request.commit {
            let uncommitted = consumer
                .context()
                .pending
                .lock()
                .map(|pending| pending.clone())
                .unwrap_or_default();
            return Ok(Consumed {
                messages,
                committed: BTreeMap::new(),
                uncommitted,
            });
        }
        let committing = Arc::clone(consumer);
        tokio::task::spawn_blocking(move || {
            let context = committing.context().clone();
            context.commit(committing.as_ref(), None);
        })
        .await
        .map_err(|error| Error::failed(FailureKind::Broker, error.to_string()))?;
        let committed = consumer
            .context()
            .committed
            .lock()
            .map(|committed| committed.clone())
            .unwrap_or_default();
        let uncommitted = consumer
            .context()
            .pending
            .lock()
            .map(|pending| !pending.is_empty())
            .unwrap_or(true);
        if uncommitted {
            return Err(Error::failed(
                FailureKind::Broker,
                "the messages were read but their offsets could not be committed; the group will read them again",
            ));
        }
        Ok(Consumed {
            messages,
            committed,
            uncommitted: BTreeMap::new(),
        })
    }

    /// Commits `offsets` (per partition, the next offset to read) for `group` in
    /// `topic` from outside the group: for a reader that consumed without
    /// committing and has now dealt with what it read. The broker accepts this
    /// only while the group has no members, which holds between reads.
    pub async fn commit_offsets(
        &self,
        group: &str,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), Error> {
        let info = self.topic(topic).await?;
        if let Some(partition) = offsets
            .keys()
            .find(|partition| !info.partitions.iter().any(|p| p.id == **partition))
        {
            return Err(Error::UnknownPartition {
                topic: topic.to_string(),
                partition: *partition,
            });
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|error| classify(&error, None))?;
        }
        self.commit_as_outsider(group, list).await
    }

    /// Commits `list` for `group` with a consumer that never joins it.
    async fn commit_as_outsider(&self, group: &str, list: TopicPartitionList) -> Result<(), Error> {
        if list.count() == 0 {
            return Ok(());
        }
        let mut config = self.spec.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        let context = self.context.clone();
        let consumer: BaseConsumer<Context> = config
            .create_with_context(context.clone())
            .map_err(|error| self.classify(&error))?;
        tokio::task::spawn_blocking(move || {
            consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|error| classify(&error, context.last_failure()))
        })
        .await
        .map_err(|error| Error::failed(FailureKind::Broker, error.to_string()))?
    }

    /// Gives a group that has committed nothing in the topic its starting offsets
    /// (an offset, or the first at a time), so its first read starts there.
    async fn place_new_group(
        &self,
        request: &ConsumeRequest,
        partitions: Vec<i32>,
    ) -> Result<(), Error> {
        let offsets = self.group_offsets(&request.group, &request.topic).await?;
        if offsets.iter().any(|offset| offset.committed.is_some()) {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for partition in &partitions {
            let Some(bounds) = offsets.iter().find(|o| o.partition == *partition) else {
                continue;
            };
            let offset = match request.start {
                Start::Offset(offset) => Offset::Offset(offset.clamp(bounds.low, bounds.high)),
                Start::Timestamp(at) => Offset::Offset(at),
                Start::Earliest | Start::Latest => return Ok(()),
            };
            list.add_partition_offset(&request.topic, *partition, offset)
                .map_err(|error| classify(&error, None))?;
        }
        if let Start::Timestamp(_) = request.start {
            let mut config = self.spec.client_config();
            config
                .set("group.id", &request.group)
                .set("enable.auto.commit", "false");
            let context = self.context.clone();
            let consumer: BaseConsumer<Context> = config
                .create_with_context(context.clone())
                .map_err(|error| self.classify(&error))?;
            let timeout = self.spec.request_timeout;
            let topic = request.topic.clone();
            list = tokio::task::spawn_blocking(move || {
                let found = consumer
                    .offsets_for_times(list, timeout)
                    .map_err(|error| classify(&error, context.last_failure()))?;
                // A time after the last message finds no offset: start at the end.
                let mut placed = TopicPartitionList::new();
                for element in found.elements() {
                    let offset = match element.offset() {
                        Offset::Offset(offset) => offset,
                        _ => offsets
                            .iter()
                            .find(|o| o.partition == element.partition())
                            .map_or(0, |o| o.high),
                    };
                    placed
                        .add_partition_offset(&topic, element.partition(), Offset::Offset(offset))
                        .map_err(|error| classify(&error, None))?;
                }
                Ok::<_, Error>(placed)
            })
            .await
            .map_err(|error| Error::failed(FailureKind::Broker, error.to_string()))??;
        }
        self.commit_as_outsider(&request.group, list).await
    }

    /// Reads from one partition at an offset, in no group: nothing is committed.
    pub async fn peek(&self, request: PeekRequest) -> Result<Vec<Message>, Error> {
        let info = self.topic(&request.topic).await?;
        if !info.partitions.iter().any(|p| p.id == request.partition) {
            return Err(Error::UnknownPartition {
                topic: request.topic,
                partition: request.partition,
            });
        }
        let (_, low, high) = self
            .watermarks(&request.topic, vec![request.partition])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownPartition {
                topic: request.topic.clone(),
                partition: request.partition,
            })?;
        let first = if request.offset < 0 {
            (high + request.offset).max(low)
        } else {
            request.offset.max(low)
        };
        if first >= high {
            return Ok(Vec::new());
        }
        let mut config = self.spec.client_config();
        config
            .set("group.id", "tideway-peek")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("queued.max.messages.kbytes", "8192");
        let consumer: StreamConsumer<Context> = config
            .create_with_context(self.context.clone())
            .map_err(|error| self.classify(&error))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&request.topic, request.partition, Offset::Offset(first))
            .map_err(|error| self.classify(&error))?;
        consumer
            .assign(&list)
            .map_err(|error| self.classify(&error))?;
        let leave = LeaveOnDrop(Some(Arc::new(consumer)));
        let consumer = leave.get();
        let wanted = request
            .max_messages
            .min(usize::try_from(high - first).unwrap_or(usize::MAX));
        let deadline = Instant::now() + request.wait;
        let mut messages = Vec::new();
        let mut trouble = None;
        while messages.len() < wanted {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                received = consumer.recv() => match received {
                    Ok(message) => messages.push(owned(&message)),
                    Err(error) => trouble = Some(error),
                },
            }
        }
        if messages.is_empty()
            && let Some(error) = trouble
        {
            return Err(self.classify(&error));
        }
        Ok(messages)
    }
}

/// Closes a consumer on a blocking thread when the last handle goes: closing
/// leaves the group and waits for the broker, which must not stall a runtime
/// thread.
struct LeaveOnDrop<C: Send + Sync + 'static>(Option<Arc<C>>);

impl<C: Send + Sync + 'static> LeaveOnDrop<C> {
    fn get(&self) -> &Arc<C> {
        // Set at construction and taken only by drop.
        self.0.as_ref().expect("held until dropped")
    }
}

impl<C: Send + Sync + 'static> Drop for LeaveOnDrop<C> {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(consumer));
                }
                Err(_) => drop(consumer),
            }
        }
    }
}
