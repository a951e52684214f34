//! The context every client of a cluster shares: librdkafka's log lines go to
//! `tracing` (never to stdout), and the last connection failure it reported is
//! kept, because a request that fails on an unreachable broker only says
//! "timed out" while the callback said why.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientContext, config::RDKafkaLogLevel, consumer::ConsumerContext, error::KafkaError,
    types::RDKafkaErrorCode,
};

use crate::error::{FailureKind, kind_of_code, kind_of_reason};

/// How long a heard failure explains a later error.
const FRESH: Duration = Duration::from_secs(30);

/// Cheap to clone: the clients of one cluster share what was heard.
#[derive(Clone, Default)]
pub struct Context {
    last: Arc<Mutex<Option<(Instant, FailureKind, String)>>>,
}

impl Context {
    /// The connection failure heard in the last half minute, if any.
    pub fn last_failure(&self) -> Option<(FailureKind, String)> {
        let last = self.last.lock().ok()?;
        last.as_ref()
            .filter(|(at, _, _)| at.elapsed() < FRESH)
            .map(|(_, kind, reason)| (*kind, reason.clone()))
    }

    /// Forgets what was heard, so a check reports only what happens during it.
    pub fn forget(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }

    fn heard(&self, kind: FailureKind, reason: &str, generic: bool) {
        if let Ok(mut last) = self.last.lock() {
            // "All brokers are down" follows the failure that brought them down;
            // it must not hide that failure's reason.
            if generic && last.as_ref().is_some_and(|(at, _, _)| at.elapsed() < FRESH) {
                return;
            }
            *last = Some((Instant::now(), kind, reason.to_string()));
        }
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::warn!(facility, "kafka: {line}"),
            RDKafkaLogLevel::Warning | RDKafkaLogLevel::Notice => {
                tracing::info!(facility, "kafka: {line}")
            }
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                tracing::debug!(facility, "kafka: {line}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind =
            kind_of_reason(reason).or_else(|| error.rdkafka_error_code().and_then(kind_of_code));
        if let Some(kind) = kind {
            let generic = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
            self.heard(kind, reason, generic);
        }
        tracing::debug!(%error, "kafka client: {reason}");
    }

    fn stats(&self, _statistics: rdkafka::Statistics) {}
}

impl ConsumerContext for Context {}
