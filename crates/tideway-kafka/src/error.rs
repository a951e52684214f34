//! What can go wrong talking to a cluster, sorted into kinds a person can act on.
//! librdkafka reports most connection failures only through its error callback
//! (the request itself just times out), so a failure is classified from the
//! request's error code and, for connection trouble, the last reason the client
//! heard (see `context.rs`).

use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};

/// Why a cluster could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A broker's name does not resolve.
    Dns,
    /// Nothing listens at a broker's address, or the connection dropped.
    Refused,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The broker refused the credentials.
    Auth,
    /// The credentials are accepted but lack the permission.
    Permission,
    /// No answer in time.
    Timeout,
    /// The broker answered with an error of its own.
    Broker,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Dns => "dns",
            FailureKind::Refused => "refused",
            FailureKind::Tls => "tls",
            FailureKind::Auth => "auth",
            FailureKind::Permission => "permission",
            FailureKind::Timeout => "timeout",
            FailureKind::Broker => "broker",
        }
    }

    /// What to check, in a sentence.
    pub fn hint(self) -> &'static str {
        match self {
            FailureKind::Dns => "check the bootstrap servers' host names",
            FailureKind::Refused => {
                "check that the brokers run and listen at the bootstrap addresses and ports (and that their advertised listeners are reachable from Tideway)"
            }
            FailureKind::Tls => {
                "check the security protocol (ssl or sasl_ssl against a TLS listener) and the CA certificate"
            }
            FailureKind::Auth => "check the SASL mechanism, user name and password",
            FailureKind::Permission => "the cluster's ACLs do not allow this user the operation",
            FailureKind::Timeout => {
                "the brokers did not answer in time: check the network path and the brokers' load"
            }
            FailureKind::Broker => "the broker refused the request; its message says why",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no topic '{0}'")]
    UnknownTopic(String),
    #[error("topic '{topic}' has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// The request is malformed for the broker (e.g. a replication factor above
    /// the number of brokers); `field` names the argument at fault.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the message is larger than the broker accepts ({0})")]
    TooLarge(String),
    #[error("{}: {detail}", kind.as_str())]
    Failed { kind: FailureKind, detail: String },
}

impl Error {
    pub(crate) fn failed(kind: FailureKind, detail: impl Into<String>) -> Self {
        Error::Failed {
            kind,
            detail: detail.into(),
        }
    }

    /// The kind of a connection-level failure, if this is one.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            Error::Failed { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// The kind of a librdkafka error code, `None` when it is not about reaching the
/// cluster.
pub(crate) fn kind_of_code(code: RDKafkaErrorCode) -> Option<FailureKind> {
    use RDKafkaErrorCode as Code;
    Some(match code {
        Code::Resolve => FailureKind::Dns,
        Code::BrokerTransportFailure | Code::AllBrokersDown | Code::NetworkException => {
            FailureKind::Refused
        }
        Code::SSL => FailureKind::Tls,
        Code::Authentication
        | Code::SaslAuthenticationFailed
        | Code::UnsupportedSASLMechanism
        | Code::IllegalSASLState => FailureKind::Auth,
        Code::TopicAuthorizationFailed
        | Code::GroupAuthorizationFailed
        | Code::ClusterAuthorizationFailed
        | Code::TransactionalIdAuthorizationFailed => FailureKind::Permission,
        Code::OperationTimedOut
        | Code::MessageTimedOut
        | Code::RequestTimedOut
        | Code::TimedOutQueue => FailureKind::Timeout,
        _ => return None,
    })
}

/// The reason librdkafka gave in its error callback, sorted by its words (the
/// callback's code is often only "transport" whatever went wrong).
pub(crate) fn kind_of_reason(reason: &str) -> Option<FailureKind> {
    // The reason starts with the broker's name (`sasl_ssl://host:9093/bootstrap: `),
    // whose protocol must not be read as the failure.
    let message = match reason.split_once(": ") {
        Some((broker, rest)) if broker.contains('/') => rest,
        _ => reason,
    };
    let lower = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    // SASL first: its messages speak of handshakes too ("SASL PLAIN mechanism
    // handshake failed"), and with the broker's name gone none speaks of SASL
    // but SASL's own.
    if has(&["failed to resolve", "name or service not known", "resolve"]) {
        Some(FailureKind::Dns)
    } else if has(&["sasl", "authentication"]) {
        Some(FailureKind::Auth)
    } else if has(&["ssl", "tls", "certificate", "handshake"]) {
        Some(FailureKind::Tls)
    } else if has(&[
        "connection refused",
        "connect to",
        "disconnected",
        "all broker",
        "timed out",
    ]) {
        Some(FailureKind::Refused)
    } else {
        None
    }
}

/// A request's error, sorted; `last_reason` is what the client last heard about
/// its connections, used when the request only says it failed or timed out.
pub(crate) fn classify(error: &KafkaError, last_reason: Option<(FailureKind, String)>) -> Error {
    let code = error.rdkafka_error_code();
    if matches!(code, Some(RDKafkaErrorCode::MessageSizeTooLarge)) {
        return Error::TooLarge(error.to_string());
    }
    let kind = code.and_then(kind_of_code);
    match (kind, last_reason) {
        // A timeout or transport failure is explained by the connection trouble
        // behind it, when there is one.
        (Some(FailureKind::Timeout | FailureKind::Refused) | None, Some((heard, reason))) => {
            Error::failed(heard, reason)
        }
        (Some(kind), _) => Error::failed(kind, error.to_string()),
        (None, None) => Error::failed(FailureKind::Broker, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;

    use super::*;

    #[test]
    fn reasons_from_the_error_callback_are_sorted_into_kinds() {
        for (reason, kind) in [
            (
                "kafka.example.invalid:9092/bootstrap: Failed to resolve 'kafka.example.invalid:9092': Name or service not known",
                FailureKind::Dns,
            ),
            (
                "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)",
                FailureKind::Refused,
            ),
            (
                "ssl://broker:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
                FailureKind::Tls,
            ),
            (
                "sasl_ssl://broker:9093/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256",
                FailureKind::Auth,
            ),
            (
                "sasl_ssl://broker:9093/bootstrap: SSL handshake failed: Disconnected: connecting to a PLAINTEXT broker listener?",
                FailureKind::Tls,
            ),
            (
                "sasl_plaintext://127.0.0.1:9092/bootstrap: SASL PLAIN mechanism handshake failed: Local: Broker transport failure: broker's supported mechanisms: (n/a)",
                FailureKind::Auth,
            ),
        ] {
            assert_eq!(kind_of_reason(reason), Some(kind), "{reason}");
        }
        assert_eq!(kind_of_reason("Broker: Unknown topic or partition"), None);
    }

    #[test]
    fn a_timeout_is_explained_by_the_connection_trouble_behind_it() {
        let timed_out = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        let heard = Some((FailureKind::Dns, "Failed to resolve 'x:9092'".to_string()));
        match classify(&timed_out, heard) {
            Error::Failed { kind, detail } => {
                assert_eq!(kind, FailureKind::Dns);
                assert!(detail.contains("resolve"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        match classify(&timed_out, None) {
            Error::Failed { kind, .. } => assert_eq!(kind, FailureKind::Timeout),
            other => panic!("{other:?}"),
        }
        // An authorization failure is itself precise: what was heard does not replace it.
        let denied = KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed);
        let heard = Some((FailureKind::Refused, "Connection refused".to_string()));
        match classify(&denied, heard) {
            Error::Failed { kind, .. } => assert_eq!(kind, FailureKind::Permission),
            other => panic!("{other:?}"),
        }
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(classify(&too_large, None), Error::TooLarge(_)));
    }
}
