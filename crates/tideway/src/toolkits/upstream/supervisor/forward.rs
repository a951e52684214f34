//! An upstream's calls: a tool call under the deadline, the breaker and retries for
//! the tools that allow them, answering an upstream's requests for input
//! (`answers.rs`), cancelled on the upstream when the caller gives up; resource
//! reads, prompts and completions under the same breaker and deadline.

use std::time::{Duration, Instant};

use rmcp::{
    Peer, RoleClient,
    model::{
        CallToolRequest, CallToolRequestParams, CancelledNotificationParam, ClientRequest,
        CompleteRequestParams, GetPromptRequestParams, ReadResourceRequestParams,
        RequestMetaObject, ServerResult,
    },
    service::{PeerRequestOptions, ServiceError},
};
use tideway_core::{
    CallContext, HubError,
    mcp::{CallToolResult, GetPromptResult, JsonObject, ResourceContents},
};

use super::{Upstream, answers};

/// A request's `_meta` asking for every log message. A 2026-07-28 upstream logs only
/// what a request asks for, and the caller's own channel decides what reaches it.
/// (Logging is deprecated for 2026-07-28 but still part of it.)
#[allow(deprecated)]
fn every_log_message() -> RequestMetaObject {
    let mut meta = RequestMetaObject::default();
    meta.set_log_level(rmcp::model::LoggingLevel::Debug);
    meta
}

/// Why a forwarded call failed: the upstream or the way to it, or the caller, which
/// did not give the input the upstream asked for.
enum Forwarding {
    Upstream(ServiceError),
    Caller(HubError),
}

impl From<ServiceError> for Forwarding {
    fn from(error: ServiceError) -> Self {
        Forwarding::Upstream(error)
    }
}

/// Sends `notifications/cancelled` for a request the caller gave up on (cancelled,
/// timed out, or dropped by the Hub's deadline), unless it finished.
struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<rmcp::model::RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let param = CancelledNotificationParam::new(
                    Some(id),
                    Some("the caller cancelled or its deadline passed".into()),
                );
                let _ = peer.notify_cancelled(param).await;
            });
        }
    }
}

impl Upstream {
    /// Calls `tool` (the upstream's name) with the deadline, the breaker and, for
    /// `retryable` tools, retries after a lost connection.
    pub async fn call_tool(
        &self,
        ctx: &CallContext,
        tool: &str,
        arguments: JsonObject,
        retryable: bool,
    ) -> Result<CallToolResult, HubError> {
        let budget = self.call_timeout().min(ctx.remaining());
        let deadline = tokio::time::Instant::now() + budget;
        let retries = if retryable {
            self.spec.retries.unwrap_or(self.settings.retries)
        } else {
            0
        };
        let mut attempt = 0;
        loop {
            self.admit()?;
            let peer = self.connected(deadline).await?;
            let outcome = tokio::time::timeout_at(
                deadline,
                self.send_call(ctx, &peer, tool, arguments.clone()),
            )
            .await;
            match outcome {
                Err(_) => {
                    self.breaker.failure(Instant::now());
                    return Err(HubError::DeadlineExceeded(budget));
                }
                Ok(Ok(result)) => {
                    self.breaker.success();
                    return Ok(result);
                }
                // The upstream asked for input the caller did not give (or gives on
                // its next call): the upstream itself is fine.
                Ok(Err(Forwarding::Caller(error))) => {
                    self.breaker.success();
                    return Err(error);
                }
                Ok(Err(Forwarding::Upstream(ServiceError::McpError(error)))) => {
                    // It answered: the upstream is alive, the request was refused.
                    self.breaker.success();
                    return Err(self.refused(error));
                }
                Ok(Err(Forwarding::Upstream(error))) => {
                    self.breaker.failure(Instant::now());
                    if attempt < retries && tokio::time::Instant::now() < deadline {
                        attempt += 1;
                        tracing::info!(upstream = %self.name(), tool, attempt, %error, "retrying a read-only call");
                        tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                        continue;
                    }
                    return Err(self.unavailable(format!("the call to '{tool}' failed: {error}")));
                }
            }
        }
    }

    /// Sends the call, answering an upstream of 2026-07-28 that asks for input
    /// (`answers.rs`) until it gives a result.
    async fn send_call(
        &self,
        ctx: &CallContext,
        peer: &Peer<RoleClient>,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, Forwarding> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = Some(arguments);
        params.meta = Some(every_log_message());
        for round in 0..=answers::MAX_ROUNDS {
            let request = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
            match self.send_round(ctx, peer, request).await? {
                ServerResult::CallToolResult(result) => return Ok(result),
                ServerResult::InputRequiredResult(required) if round < answers::MAX_ROUNDS => {
                    let answered = answers::answer(ctx, self.name(), &required)
                        .await
                        .map_err(Forwarding::Caller)?;
                    params.input_responses = Some(answered);
                    params.request_state = required.request_state;
                }
                ServerResult::InputRequiredResult(_) => {
                    return Err(Forwarding::Caller(self.unavailable(format!(
                        "'{tool}' still asked for input after {} rounds",
                        answers::MAX_ROUNDS
                    ))));
                }
                _ => return Err(Forwarding::Upstream(ServiceError::UnexpectedResponse)),
            }
        }
        Err(Forwarding::Upstream(ServiceError::UnexpectedResponse))
    }

    /// One request of a call, cancelled on the upstream when the caller gives up.
    async fn send_round(
        &self,
        ctx: &CallContext,
        peer: &Peer<RoleClient>,
        request: ClientRequest,
    ) -> Result<ServerResult, ServiceError> {
        let handle = peer
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await?;
        let _registration = self.calls.register(
            handle.id.clone(),
            handle.progress_token.clone(),
            ctx.client.clone(),
        );
        let mut guard = CancelOnDrop {
            peer: peer.clone(),
            id: Some(handle.id.clone()),
        };
        let response = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return Err(ServiceError::Cancelled { reason: Some("cancelled by the caller".into()) }),
            response = handle.await_response() => response,
        };
        guard.id = None;
        response
    }

    fn refused(&self, error: rmcp::ErrorData) -> HubError {
        use rmcp::model::ErrorCode;
        match error.code {
            ErrorCode::INVALID_PARAMS => HubError::invalid_argument(
                "arguments",
                format!("upstream '{}' refused them: {}", self.name(), error.message),
            ),
            ErrorCode::METHOD_NOT_FOUND => HubError::Unsupported(format!(
                "upstream '{}' does not support this: {}",
                self.name(),
                error.message
            )),
            ErrorCode::RESOURCE_NOT_FOUND => HubError::ResourceNotFound(error.message.to_string()),
            _ => self.unavailable(format!(
                "it answered with error {}: {}",
                error.code.0, error.message
            )),
        }
    }

    /// Runs a request that is not a tool call (resource read, prompt, completion)
    /// under the breaker and the deadline.
    async fn request<T>(
        &self,
        ctx: &CallContext,
        run: impl AsyncFnOnce(Peer<RoleClient>) -> Result<T, ServiceError>,
    ) -> Result<T, HubError> {
        let budget = self.call_timeout().min(ctx.remaining());
        let deadline = tokio::time::Instant::now() + budget;
        self.admit()?;
        let peer = self.connected(deadline).await?;
        match tokio::time::timeout_at(deadline, run(peer)).await {
            Err(_) => {
                self.breaker.failure(Instant::now());
                Err(HubError::DeadlineExceeded(budget))
            }
            Ok(Ok(value)) => {
                self.breaker.success();
                Ok(value)
            }
            Ok(Err(ServiceError::McpError(error))) => {
                self.breaker.success();
                Err(self.refused(error))
            }
            Ok(Err(error)) => {
                self.breaker.failure(Instant::now());
                Err(self.unavailable(error.to_string()))
            }
        }
    }

    pub async fn read_resource(
        &self,
        ctx: &CallContext,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, HubError> {
        let params = ReadResourceRequestParams::new(uri.to_string());
        self.request(ctx, async move |peer| peer.read_resource(params).await)
            .await
            .map(|result| result.contents)
    }

    pub async fn get_prompt(
        &self,
        ctx: &CallContext,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, HubError> {
        let mut params = GetPromptRequestParams::new(name.to_string());
        params.arguments = Some(arguments);
        self.request(ctx, async move |peer| peer.get_prompt(params).await)
            .await
    }

    pub async fn complete(
        &self,
        ctx: &CallContext,
        params: CompleteRequestParams,
    ) -> Result<Vec<String>, HubError> {
        self.request(ctx, async move |peer| peer.complete(params).await)
            .await
            .map(|result| result.completion.values)
    }
}
