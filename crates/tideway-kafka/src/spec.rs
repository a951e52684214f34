//! How to reach a cluster, and its translation into librdkafka's settings. The
//! password lives only here and in librdkafka's own memory; `Debug` never shows it.

use std::{fmt, time::Duration};

use rdkafka::ClientConfig;

/// The SASL mechanisms Tideway offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_kafka(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// How the connection to the brokers is secured.
#[derive(Clone)]
pub enum Security {
    Plaintext,
    /// TLS, trusting `ca_pem` (PEM certificates) or the system's roots.
    Ssl {
        ca_pem: Option<String>,
    },
    /// SASL, over TLS when `tls` is set.
    Sasl {
        mechanism: SaslMechanism,
        username: String,
        password: String,
        tls: bool,
        ca_pem: Option<String>,
    },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Plaintext => f.write_str("Plaintext"),
            Security::Ssl { ca_pem } => f
                .debug_struct("Ssl")
                .field("ca", &ca_pem.is_some())
                .finish(),
            Security::Sasl {
                mechanism,
                username,
                tls,
                ..
            } => f
                .debug_struct("Sasl")
                .field("mechanism", mechanism)
                .field("username", username)
                .field("tls", tls)
                .finish_non_exhaustive(),
        }
    }
}

/// One cluster as Tideway reaches it.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// `host:port` pairs, comma-separated.
    pub bootstrap: String,
    pub client_id: String,
    pub security: Security,
    /// How long a consumer may stay silent before its group gives its partitions
    /// to another member.
    pub session_timeout: Duration,
    /// How long one request to the brokers may take.
    pub request_timeout: Duration,
}

impl ClusterSpec {
    /// The settings every client of this cluster shares.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.client_id)
            .set("socket.timeout.ms", millis(self.request_timeout))
            // Fail fast on an unreachable broker rather than retrying for minutes;
            // the caller's deadline is what bounds a call.
            .set(
                "socket.connection.setup.timeout.ms",
                millis(self.request_timeout),
            )
            .set("reconnect.backoff.max.ms", "2000")
            // A topic is made by `create_topic` only, never as a side effect of
            // asking about it or publishing to it.
            .set("allow.auto.create.topics", "false")
            .set("log.connection.close", "false");
        match &self.security {
            Security::Plaintext => {
                config.set("security.protocol", "plaintext");
            }
            Security::Ssl { ca_pem } => {
                config.set("security.protocol", "ssl");
                if let Some(ca) = ca_pem {
                    config.set("ssl.ca.pem", ca);
                }
            }
            Security::Sasl {
                mechanism,
                username,
                password,
                tls,
                ca_pem,
            } => {
                config
                    .set(
                        "security.protocol",
                        if *tls { "sasl_ssl" } else { "sasl_plaintext" },
                    )
                    .set("sasl.mechanism", mechanism.as_kafka())
                    .set("sasl.username", username)
                    .set("sasl.password", password);
                if let Some(ca) = ca_pem {
                    config.set("ssl.ca.pem", ca);
                }
            }
        }
        config
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    duration.as_millis().clamp(1, i32::MAX as u128).to_string()
}
