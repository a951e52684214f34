//! Tideway's Kafka client over librdkafka: what the messaging toolkit asks of a
//! cluster (publish with the broker's acknowledgement, consume in a real consumer
//! group committing only what was returned, read without a group, metadata,
//! topic administration and group lag), with failures sorted into kinds a person
//! can act on. Kept in its own crate so librdkafka's C build is paid once and only
//! by builds that want it.

mod cluster;
mod consume;
mod context;
mod error;
mod spec;

pub use cluster::{
    Broker, Cluster, ConfigEntry, Delivered, GroupInfo, GroupOffset, PartitionInfo, Record,
    TopicInfo,
};
pub use consume::{ConsumeRequest, Consumed, Message, PeekRequest, Start};
pub use error::{Error, FailureKind};
pub use spec::{ClusterSpec, SaslMechanism, Security};
