//! One cluster's long-lived clients (an idempotent producer and an admin client,
//! which also answers metadata, watermarks and group listings) and the calls made
//! on them. librdkafka's synchronous calls block a thread until the broker answers,
//! so they run on tokio's blocking pool.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rdkafka::{
    TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication},
    consumer::{BaseConsumer, Consumer},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
    types::RDKafkaErrorCode,
    util::Timeout,
};

use crate::{
    context::Context,
    error::{Error, FailureKind, classify},
    spec::{ClusterSpec, millis},
};

/// A broker as the cluster's metadata names it.
#[derive(Clone, Debug)]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Clone, Debug)]
pub struct PartitionInfo {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub in_sync_replicas: Vec<i32>,
    /// The broker's error for this partition, if it reports one.
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for a sensitive value, which is never shown.
    pub value: Option<String>,
    pub is_default: bool,
}

#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub name: String,
    pub state: String,
    pub protocol: String,
    pub members: usize,
}

/// A group's position in one partition.
#[derive(Clone, Debug)]
pub struct GroupOffset {
    pub partition: i32,
    /// The next offset the group will read, `None` when it has committed nothing.
    pub committed: Option<i64>,
    pub low: i64,
    pub high: i64,
}

/// One message to publish.
#[derive(Clone, Debug)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: Option<i32>,
}

/// Where the broker put a published message.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
}

/// A cluster's shared clients. Cheap to share; the clients reconnect on their own
/// when a broker comes back.
pub struct Cluster {
    pub(crate) spec: ClusterSpec,
    pub(crate) context: Context,
    producer: FutureProducer<Context>,
    admin: Arc<AdminClient<Context>>,
    /// Topics the brokers named lately, with when: a run of publishes to one topic
    /// asks whether it exists once, not once per call.
    known_topics: Mutex<HashMap<String, Instant>>,
}

/// How long a topic the brokers named is taken to exist without asking again.
/// `delete_topic` on this cluster forgets it at once. A topic another client deletes
/// meanwhile is still not made again by a publish (the producer never asks brokers
/// to create topics): the publish fails when its message times out.
const TOPIC_KNOWN_FOR: Duration = Duration::from_secs(10);

/// The most topics remembered; past it the memory starts over.
const KNOWN_TOPICS_MAX: usize = 10_000;

impl Cluster {
    /// The clients of the cluster `spec` names. Nothing is contacted yet.
    pub fn new(spec: ClusterSpec) -> Result<Self, Error> {
        let context = Context::default();
        let invalid = |error: rdkafka::error::KafkaError| Error::Invalid {
            field: "cluster",
            reason: error.to_string(),
        };
        let mut producer_config = spec.client_config();
        producer_config
            // Acknowledged by every in-sync replica, once, in order.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // Sent at once: a call waits for its acknowledgement, so lingering only
            // adds latency, and a batch call's records, queued together, still go
            // out in few requests (measured: bench/src/messaging.rs).
            .set("linger.ms", "0")
            // A publish to a missing topic must fail, not create it on brokers
            // that create topics on first use.
            .set("allow.auto.create.topics", "false")
            .set("message.timeout.ms", millis(spec.request_timeout * 3));
        let producer = producer_config
            .create_with_context(context.clone())
            .map_err(invalid)?;
        let admin = spec
            .client_config()
            .create_with_context(context.clone())
            .map_err(invalid)?;
        Ok(Cluster {
            spec,
            context,
            producer,
            admin: Arc::new(admin),
            known_topics: Mutex::new(HashMap::new()),
        })
    }

    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    fn timeout(&self) -> Duration {
        self.spec.request_timeout
    }

    pub(crate) fn classify(&self, error: &rdkafka::error::KafkaError) -> Error {
        classify(error, self.context.last_failure())
    }

    /// Runs a blocking call on the admin client's connection.
    async fn blocking<T, F>(&self, call: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&AdminClient<Context>, &Context) -> Result<T, Error> + Send + 'static,
    {
        let admin = self.admin.clone();
        let context = self.context.clone();
        tokio::task::spawn_blocking(move || call(&admin, &context))
            .await
            .map_err(|error| Error::failed(FailureKind::Broker, error.to_string()))?
    }

    /// The brokers, when the cluster answers; otherwise why not, from what was
    /// heard during the check only.
    pub async fn check(&self) -> Result<Vec<Broker>, Error> {
        self.context.forget();
        let timeout = self.timeout();
        self.blocking(move |admin, context| {
            let metadata = admin
                .inner()
                .fetch_metadata(None, timeout)
                .map_err(|error| classify(&error, context.last_failure()))?;
            Ok(metadata
                .brokers()
                .iter()
                .map(|broker| Broker {
                    id: broker.id(),
                    host: broker.host().to_string(),
                    port: broker.port(),
                })
                .collect())
        })
        .await
    }

    /// Every topic (or the one named), internal ones left out.
    pub async fn topics(&self, only: Option<&str>) -> Result<Vec<TopicInfo>, Error> {
        let timeout = self.timeout();
        let only = only.map(str::to_string);
        self.blocking(move |admin, context| {
            let metadata = admin
                .inner()
                .fetch_metadata(only.as_deref(), timeout)
                .map_err(|error| classify(&error, context.last_failure()))?;
            let mut topics = Vec::new();
            for topic in metadata.topics() {
                if let Some(error) = topic.error() {
                    let code = RDKafkaErrorCode::from(error);
                    if code == RDKafkaErrorCode::UnknownTopicOrPartition
                        || code == RDKafkaErrorCode::UnknownTopic
                    {
                        return Err(Error::UnknownTopic(topic.name().to_string()));
                    }
                    return Err(Error::failed(
                        FailureKind::Broker,
                        format!("topic '{}': {code}", topic.name()),
                    ));
                }
                if topic.name().starts_with("__") {
                    continue;
                }
                topics.push(TopicInfo {
                    name: topic.name().to_string(),
                    partitions: topic
                        .partitions()
                        .iter()
                        .map(|partition| PartitionInfo {
                            id: partition.id(),
                            leader: partition.leader(),
                            replicas: partition.replicas().to_vec(),
                            in_sync_replicas: partition.isr().to_vec(),
                            error: partition
                                .error()
                                .map(|error| RDKafkaErrorCode::from(error).to_string()),
                        })
                        .collect(),
                });
            }
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(topics)
        })
        .await
    }

    /// One topic's partitions; an unknown topic is [`Error::UnknownTopic`].
    pub async fn topic(&self, name: &str) -> Result<TopicInfo, Error> {
        self.topics(Some(name))
            .await?
            .into_iter()
            .find(|topic| topic.name == name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))
    }

    /// Whether the topic exists, asking the brokers only when they have not named
    /// it within the last few seconds; an unknown topic is [`Error::UnknownTopic`].
    pub async fn ensure_topic(&self, name: &str) -> Result<(), Error> {
        let seen = self
            .known_topics
            .lock()
            .ok()
            .and_then(|known| known.get(name).copied());
        if seen.is_some_and(|at| at.elapsed() < TOPIC_KNOWN_FOR) {
            return Ok(());
        }
        self.topic(name).await?;
        if let Ok(mut known) = self.known_topics.lock() {
            if known.len() >= KNOWN_TOPICS_MAX {
                known.clear();
            }
            known.insert(name.to_string(), Instant::now());
        }
        Ok(())
    }

    fn forget_topic(&self, name: &str) {
        if let Ok(mut known) = self.known_topics.lock() {
            known.remove(name);
        }
    }

    /// The low and high watermarks of each partition.
    pub async fn watermarks(
        &self,
        topic: &str,
        partitions: Vec<i32>,
    ) -> Result<Vec<(i32, i64, i64)>, Error> {
        let timeout = self.timeout();
        let topic = topic.to_string();
        self.blocking(move |admin, context| {
            partitions
                .into_iter()
                .map(|partition| {
                    admin
                        .inner()
                        .fetch_watermarks(&topic, partition, timeout)
                        .map(|(low, high)| (partition, low, high))
                        .map_err(|error| classify(&error, context.last_failure()))
                })
                .collect()
        })
        .await
    }

    /// A topic's configuration; sensitive values are left out.
    pub async fn topic_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>, Error> {
        let options = AdminOptions::new().request_timeout(Some(Timeout::After(self.timeout())));
        let results = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
            .await
            .map_err(|error| self.classify(&error))?;
        let mut entries = Vec::new();
        for result in results {
            let resource = result.map_err(|code| match code {
                RDKafkaErrorCode::UnknownTopicOrPartition => Error::UnknownTopic(topic.into()),
                code => Error::failed(FailureKind::Broker, code.to_string()),
            })?;
            entries.extend(resource.entries.into_iter().map(|entry| ConfigEntry {
                value: if entry.is_sensitive {
                    None
                } else {
                    entry.value
                },
                name: entry.name,
                is_default: entry.is_default,
            }));
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
        for (key, value) in configs {
            topic = topic.set(key, value);
        }
        let options = AdminOptions::new()
            .request_timeout(Some(Timeout::After(self.timeout())))
            .operation_timeout(Some(Timeout::After(self.timeout())));
        let results = self
            .admin
            .create_topics([&topic], &options)
            .await
            .map_err(|error| self.classify(&error))?;
        for result in results {
            result.map_err(|(name, code)| match code {
                RDKafkaErrorCode::TopicAlreadyExists => Error::TopicExists(name),
                RDKafkaErrorCode::InvalidReplicationFactor
                | RDKafkaErrorCode::InvalidReplicaAssignment => Error::Invalid {
                    field: "replication_factor",
                    reason: code.to_string(),
                },
                RDKafkaErrorCode::InvalidPartitions => Error::Invalid {
                    field: "partitions",
                    reason: code.to_string(),
                },
                RDKafkaErrorCode::InvalidConfig => Error::Invalid {
                    field: "configs",
                    reason: code.to_string(),
                },
                RDKafkaErrorCode::InvalidTopic => Error::Invalid {
                    field: "topic",
                    reason: code.to_string(),
                },
                code => crate::error::kind_of_code(code)
                    .map(|kind| Error::failed(kind, code.to_string()))
                    .unwrap_or_else(|| Error::failed(FailureKind::Broker, code.to_string())),
            })?;
        }
        Ok(())
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), Error> {
        self.forget_topic(name);
        let options = AdminOptions::new()
            .request_timeout(Some(Timeout::After(self.timeout())))
            .operation_timeout(Some(Timeout::After(self.timeout())));
        let results = self
            .admin
            .delete_topics(&[name], &options)
            .await
            .map_err(|error| self.classify(&error))?;
        for result in results {
            result.map_err(|(name, code)| match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    Error::UnknownTopic(name)
                }
                code => crate::error::kind_of_code(code)
                    .map(|kind| Error::failed(kind, code.to_string()))
                    .unwrap_or_else(|| Error::failed(FailureKind::Broker, code.to_string())),
            })?;
        }
        Ok(())
    }

    /// The consumer groups the cluster knows.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, Error> {
        let timeout = self.timeout();
        self.blocking(move |admin, context| {
            let list = admin
                .inner()
                .fetch_group_list(None, timeout)
                .map_err(|error| classify(&error, context.last_failure()))?;
            let mut groups: Vec<GroupInfo> = list
                .groups()
                .iter()
                .map(|group| GroupInfo {
                    name: group.name().to_string(),
                    state: group.state().to_string(),
                    protocol: group.protocol().to_string(),
                    members: group.members().len(),
                })
                .collect();
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(groups)
        })
        .await
    }

    /// A group's committed offsets in a topic, beside each partition's watermarks:
    /// what lag is made of. Reading them does not join the group.
    pub async fn group_offsets(&self, group: &str, topic: &str) -> Result<Vec<GroupOffset>, Error> {
        let info = self.topic(topic).await?;
        let partitions: Vec<i32> = info.partitions.iter().map(|p| p.id).collect();
        let marks = self.watermarks(topic, partitions.clone()).await?;
        let mut config = self.spec.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        let context = self.context.clone();
        let consumer: BaseConsumer<Context> = config
            .create_with_context(context.clone())
            .map_err(|error| self.classify(&error))?;
        let timeout = self.timeout();
        let topic = topic.to_string();
        let committed = tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            for partition in &partitions {
                wanted.add_partition(&topic, *partition);
            }
            consumer
                .committed_offsets(wanted, timeout)
                .map_err(|error| classify(&error, context.last_failure()))
        })
        .await
        .map_err(|error| Error::failed(FailureKind::Broker, error.to_string()))??;
        Ok(marks
            .into_iter()
            .map(|(partition, low, high)| GroupOffset {
                partition,
                committed: committed
                    .elements()
                    .iter()
                    .find(|element| element.partition() == partition)
                    .and_then(|element| element.offset().to_raw())
                    .filter(|offset| *offset >= 0),
                low,
                high,
            })
            .collect())
    }

    /// Publishes the records, answering only once the broker acknowledged each
    /// (acks=all): in the records' order, each with its own outcome.
    pub async fn publish(&self, topic: &str, records: &[Record]) -> Vec<Result<Delivered, Error>> {
        let sends = records.iter().map(|record| {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (name, value) in &record.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value),
                });
            }
            let mut future = FutureRecord::to(topic)
                .payload(&record.value)
                .headers(headers);
            if let Some(key) = &record.key {
                future = future.key(key);
            }
            if let Some(partition) = record.partition {
                future = future.partition(partition);
            }
            let sent = self.producer.send(future, Timeout::After(self.timeout()));
            async move {
                sent.await
                    .map(|delivery| Delivered {
                        partition: delivery.partition,
                        offset: delivery.offset,
                        timestamp_ms: delivery.timestamp.to_millis(),
                    })
                    .map_err(|(error, _)| match error.rdkafka_error_code() {
                        Some(RDKafkaErrorCode::UnknownPartition) => Error::UnknownPartition {
                            topic: topic.to_string(),
                            partition: record.partition.unwrap_or(-1),
                        },
                        Some(
                            RDKafkaErrorCode::UnknownTopic
                            | RDKafkaErrorCode::UnknownTopicOrPartition,
                        ) => Error::UnknownTopic(topic.to_string()),
                        _ => self.classify(&error),
                    })
            }
        });
        // Polled together, so every record is queued at once and the producer
        // batches them.
        futures::future::join_all(sends).await
    }

    /// Waits for messages still queued in the producer (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}
