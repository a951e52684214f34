// Logging and sampling are deprecated for 2026-07-28 (SEP-2577) but still part of
// 2025-11-25, which Tideway serves; the whole module uses them on purpose.
#![allow(deprecated)]
//! The way back to an MCP client during a call: progress notifications (when the
//! client sent a progress token), log messages (at or above the level the session
//! set), and requests such as sampling and elicitation, sent on the call's stream.

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

use super::handler::SessionState;

pub struct PeerChannel {
    pub peer: Peer<RoleServer>,
    pub progress_token: Option<ProgressToken>,
    pub session: Arc<SessionState>,
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
        if level < self.session.min_log_level() {
            return;
        }
        let param =
            LoggingMessageNotificationParam::new(to_mcp_level(level), data).with_logger(logger);
        if let Err(error) = self.peer.notify_logging_message(param).await {
            tracing::debug!(%error, "could not send a log message to the client");
        }
    }

    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
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
