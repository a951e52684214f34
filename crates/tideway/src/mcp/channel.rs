// Logging and sampling are deprecated for 2026-07-28 (SEP-2577) but still part of
// 2025-11-25, which Tideway serves; the whole module uses them on purpose.
#![allow(deprecated)]
//! The way back to an MCP client during a call: progress notifications (when the
//! client sent a progress token), log messages (at or above the level the session
//! set, or the 2026-07-28 request asked), and requests such as sampling and
//! elicitation: sent on the call's stream in a 2025-11-25 session, answered from
//! the call's input round in 2026-07-28 (`input.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use rmcp::{
    Peer, RoleServer,
    model::{
        ClientResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
        ProgressToken, ServerRequest,
    },
};
use serde_json::{Value, json};
use tideway_core::{ClientChannel, HubError, context::LogLevel, mcp::JsonObject};

use super::{
    handler::SessionState,
    input::{InputRound, answerable},
};

/// Which log messages go to the client.
pub enum LogGate {
    /// A 2025-11-25 session's: at or above the level `logging/setLevel` last set.
    Session,
    /// A 2026-07-28 request's: at or above the level its `_meta` asks; none when it
    /// asks none.
    Request(Option<LogLevel>),
}

pub struct PeerChannel {
    pub peer: Peer<RoleServer>,
    pub progress_token: Option<ProgressToken>,
    pub session: Arc<SessionState>,
    pub log_gate: LogGate,
    /// A 2026-07-28 request that may ask for input: its answers and questions.
    pub round: Option<Arc<InputRound>>,
}

#[allow(deprecated)]
fn to_mcp_level(level: LogLevel) -> LoggingLevel {
    match level {
        LogLevel::Debug => LoggingLevel::Debug,
        LogLevel::Info => LoggingLevel::Info,
        LogLevel::Notice => LoggingLevel::Notice,
        LogLevel::Warning => LoggingLevel::Warning,
        LogLevel::Error => LoggingLevel::Error,
        LogLevel::Critical => LoggingLevel::Critical,
        LogLevel::Alert => LoggingLevel::Alert,
        LogLevel::Emergency => LoggingLevel::Emergency,
    }
}

#[async_trait]
impl ClientChannel for PeerChannel {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let Some(token) = self.progress_token.clone() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        param.total = total;
        param.message = message;
        if let Err(error) = self.peer.notify_progress(param).await {
            tracing::debug!(%error, "could not send progress to the client");
        }
    }

    #[allow(deprecated)]
    async fn log(&self, level: LogLevel, logger: &str, data: Value) {
        let least = match self.log_gate {
            LogGate::Session => Some(self.session.min_log_level()),
            LogGate::Request(least) => least,
        };
        if least.is_none_or(|least| level < least) {
            return;
        }
        let param =
            LoggingMessageNotificationParam::new(to_mcp_level(level), data).with_logger(logger);
        if let Err(error) = self.peer.notify_logging_message(param).await {
            tracing::debug!(%error, "could not send a log message to the client");
        }
    }

    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        match &self.round {
            Some(round) => round.ask(None, method, params),
            None => self.send(method, params).await,
        }
    }

    async fn ask(&self, key: &str, method: &str, params: JsonObject) -> Result<Value, HubError> {
        match &self.round {
            Some(round) => round.ask(Some(key), method, params),
            None => self.send(method, params).await,
        }
    }

    fn can_answer(&self, method: &str) -> bool {
        if let Some(round) = &self.round {
            return round.can_answer(method);
        }
        if self.stateless() {
            return false;
        }
        let Some(info) = self.peer.peer_info() else {
            return false;
        };
        answerable(Some(&info.capabilities)).allows(method)
    }
}

impl PeerChannel {
    /// Whether this is a 2026-07-28 request's channel.
    fn stateless(&self) -> bool {
        matches!(self.log_gate, LogGate::Request(_))
    }

    /// Asks a 2025-11-25 session's client on its stream. A 2026-07-28 request
    /// without an input round (a listing) cannot ask at all: its client could not
    /// answer on the request's stream, and the call would wait for nothing.
    async fn send(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        if self.stateless() {
            return Err(HubError::Unsupported(format!(
                "a 2026-07-28 client is asked for '{method}' only during tools/call, prompts/get or resources/read"
            )));
        }
        let request: ServerRequest = serde_json::from_value(
            json!({ "method": method, "params": params }),
        )
        .map_err(|error| {
            HubError::Unsupported(format!(
                "'{method}' is not a request a server can send: {error}"
            ))
        })?;
        let result: ClientResult =
            self.peer
                .send_request(request)
                .await
                .map_err(|error| HubError::Unavailable {
                    component: "the MCP client".into(),
                    reason: format!("'{method}' failed: {error}"),
                })?;
        serde_json::to_value(result).map_err(HubError::internal)
    }
}
