//! Tool calls that outlive their request: the contract between the faces that start
//! them (REST's `Prefer: respond-async`) and the engine that runs them durably, so a
//! call started before a restart is carried on after it. The workflows toolkit
//! provides the engine and registers it on the Hub; without it, the faces keep such
//! calls in memory.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{context::CallContext, error::HubError, mcp::JsonObject};

/// Where a background call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackgroundStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The server running it stopped mid-call and the tool changes data, so it was
    /// not run again: someone must decide (cancel it, or retry it knowingly).
    Unknown,
    /// The tool asked its caller for input (an MCP task's sampling, elicitation or
    /// roots); it runs again once every request is answered.
    #[serde(rename = "input_required")]
    InputRequired,
}

/// A background call as its starter sees it.
#[derive(Clone, Debug)]
pub struct BackgroundCall {
    pub id: String,
    pub toolkit: String,
    pub tool: String,
    pub status: BackgroundStatus,
    /// The last progress the call reported: (progress, total, message).
    pub progress: Option<(f64, Option<f64>, Option<String>)>,
    /// The tool's structured result, once it succeeded.
    pub result: Option<Value>,
    /// What went wrong, as a problem (RFC 9457) when the failure was the Hub's or the
    /// tool's error, or as text otherwise.
    pub error: Option<Value>,
    /// While the call waits for input: the requests not answered yet, by key, each
    /// `{"method", "params"}`.
    pub input_requests: Option<JsonObject>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// How long the call is kept once it ended; `None` when it is kept for good.
    pub kept_for: Option<Duration>,
}

/// Runs tool calls in the background, durably.
#[async_trait]
pub trait BackgroundCalls: Send + Sync {
    /// Starts `toolkit.tool` as `ctx`'s principal, bounded by `timeout`.
    async fn start(
        &self,
        ctx: &CallContext,
        target: (&str, &str),
        arguments: JsonObject,
        timeout: Duration,
    ) -> Result<BackgroundCall, HubError> {
        self.start_keyed(ctx, target, arguments, timeout, None)
            .await
    }

    /// [`BackgroundCalls::start`], unless the tenant started a call with the same
    /// `key` before: then that call is answered, so a start retried after a crash or
    /// a delivery made twice runs the tool once.
    async fn start_keyed(
        &self,
        ctx: &CallContext,
        target: (&str, &str),
        arguments: JsonObject,
        timeout: Duration,
        key: Option<&str>,
    ) -> Result<BackgroundCall, HubError>;

    /// A call of `ctx`'s tenant; another tenant's answers as missing.
    async fn get(&self, ctx: &CallContext, id: &str) -> Result<BackgroundCall, HubError>;

    /// Cancels a call of `ctx`'s tenant (a call in flight is cancelled through its
    /// call context); the call as it then is.
    async fn cancel(&self, ctx: &CallContext, id: &str) -> Result<BackgroundCall, HubError>;

    /// Answers input a call of `ctx`'s tenant waits for, by the keys it asked under;
    /// other keys are ignored. Once every request is answered the call runs again
    /// with the answers. The call as it then is.
    async fn answer(
        &self,
        ctx: &CallContext,
        id: &str,
        answers: JsonObject,
    ) -> Result<BackgroundCall, HubError> {
        let _ = answers;
        let call = self.get(ctx, id).await?;
        Err(HubError::Conflict(format!(
            "call {} asked for no input",
            crate::error::excerpt(&call.id)
        )))
    }
}
