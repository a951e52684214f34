//! The Kafka client's errors as the Hub's: a missing topic is not found (in the
//! same words as a topic the cluster does not serve), a malformed request names its
//! field, and trouble reaching the cluster is unavailability with its kind and hint.

use tideway_core::HubError;
use tideway_kafka::Error;

use super::clusters::missing_topic;

pub fn hub_error(cluster: &str, error: Error) -> HubError {
    match error {
        Error::UnknownTopic(topic) => missing_topic(&topic, cluster),
        Error::UnknownPartition { topic, partition } => HubError::invalid_argument(
            "partition",
            format!("topic '{topic}' has no partition {partition}"),
        ),
        Error::TopicExists(topic) => HubError::Conflict(format!("topic '{topic}' already exists")),
        Error::Invalid { field, reason } => HubError::invalid_argument(field, reason),
        Error::TooLarge(reason) => HubError::invalid_argument(
            "message",
            format!("is larger than the broker accepts ({reason})"),
        ),
        Error::Failed { kind, detail } => HubError::Unavailable {
            component: format!("Kafka cluster '{cluster}'"),
            reason: format!("{} — {detail} ({})", kind.as_str(), kind.hint()),
        },
    }
}
