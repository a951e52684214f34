//! The guard every Hub verb passes through once its target is known and visible to
//! the caller: the tenant's in-flight bound, the deadline and cancellation, a
//! tracing span, the call metrics and an audit record. Tool calls check their
//! arguments first (inside the guard, so a refusal is measured and audited too);
//! reading a resource and getting a prompt use it as they are, so no verb reaches a
//! toolkit by a path with fewer checks.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use tracing::Instrument;

use super::Hub;
use crate::{context::CallContext, error::HubError};

/// The verbs the guard measures, as their metric and audit labels. Each holds a
/// `/`, which no tool name may, so they never collide with a tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb<'a> {
    Tool(&'a str),
    ReadResource,
    GetPrompt,
}

impl Verb<'_> {
    pub fn label(&self) -> &str {
        match self {
            Verb::Tool(tool) => tool,
            Verb::ReadResource => "resources/read",
            Verb::GetPrompt => "prompts/get",
        }
    }
}

/// What the guard records about the outcome, beyond success or the error's kind.
pub trait Outcome {
    /// A result that is an error reported to the model rather than a failure.
    fn is_tool_error(&self) -> bool {
        false
    }
}

impl Outcome for Vec<crate::mcp::ResourceContents> {}
impl Outcome for crate::mcp::GetPromptResult {}
impl Outcome for crate::mcp::CallToolResult {
    fn is_tool_error(&self) -> bool {
        self.is_error == Some(true)
    }
}

impl Hub {
    /// Runs `work` for `ctx` on `toolkit` under every check shared by all verbs.
    /// `digest` is the redacted arguments for the audit record (`None` when no audit
    /// sink is set).
    pub(super) async fn guarded<T, F>(
        &self,
        ctx: &CallContext,
        toolkit: &str,
        verb: Verb<'_>,
        digest: Option<(String, String)>,
        work: F,
    ) -> Result<T, HubError>
    where
        T: Outcome,
        F: Future<Output = Result<T, HubError>>,
    {
        let label = verb.label();
        let span = tracing::info_span!(
            "hub_call",
            request_id = %ctx.request_id,
            tenant = %ctx.tenant,
            principal = %ctx.principal.id,
            toolkit,
            verb = label,
        );
        let started = Instant::now();
        let result = async {
            let _permit = self.admit(&ctx.tenant)?;
            let budget = ctx.remaining();
            if budget.is_zero() {
                return Err(HubError::DeadlineExceeded(Duration::ZERO));
            }
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => Err(HubError::Cancelled),
                outcome = tokio::time::timeout(budget, work) => {
                    outcome.unwrap_or(Err(HubError::DeadlineExceeded(budget)))
                }
            }
        }
        .instrument(span.clone())
        .await;
        let elapsed = started.elapsed();
        let (outcome, audited) = match &result {
            Ok(output) if output.is_tool_error() => ("tool_error", ("tool_error", None)),
            Ok(_) => ("ok", ("ok", None)),
            Err(error) => (error.kind(), ("error", Some(error.kind()))),
        };
        // Unknown names are neither measured nor audited: a client could otherwise
        // grow the label set (and the log) without bound with made-up names.
        let known = !matches!(
            result,
            Err(HubError::UnknownTool { .. } | HubError::UnknownToolkit(_))
        );
        if known {
            self.metrics
                .record_call(toolkit, label, outcome, elapsed.as_secs_f64());
            if let Some(digest) = digest {
                self.audit(ctx, toolkit, label, digest, audited, elapsed);
            }
        }
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(
                outcome,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "hub call finished"
            ),
            Err(error) if error.is_safe_to_show() => {
                tracing::info!(outcome, %error, "hub call failed")
            }
            Err(error) => tracing::error!(outcome, %error, "hub call failed"),
        });
        result
    }
}
