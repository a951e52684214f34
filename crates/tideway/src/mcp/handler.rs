// Logging and sampling are deprecated for 2026-07-28 (SEP-2577) but still part of
// 2025-11-25, which Tideway serves; the whole module uses them on purpose.
#![allow(deprecated)]
//! The MCP server handler: rmcp's protocol machinery on one side, the Hub on the
//! other. One handler serves one scope (every toolkit on `/mcp`, one on
//! `/mcp/{toolkit}`, or stdio). A 2025-11-25 session gets its own handler, which
//! holds the session's resource subscriptions and log level and forwards Hub events
//! (catalog changes, resource updates) to the client; 2026-07-28 requests are served
//! statelessly and receive events through `subscriptions/listen`.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use base64::Engine;
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities,
        CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
        GetPromptResponse, GetTaskMethod, GetTaskParams, GetTaskResult, Implementation,
        InputRequiredResult, InputResponses, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
        ServerConfig, SetLevelRequestParams, SubscribeRequestMethod, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestMethod, UnsubscribeRequestParams,
        UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tideway_core::{
    CallContext, Face, Hub, HubEvent, Principal, Scope, TaskSupport, TenantId,
    background::BackgroundCalls, context::LogLevel, mcp::JsonObject,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;

use super::{
    channel::{LogGate, PeerChannel},
    errors::{rpc_error, tool_call_error},
    input::{Binding, InputRound, RequestStates},
};

/// What every handler shares.
pub struct McpShared {
    pub hub: Arc<Hub>,
    /// The caller of stdio, where there is no HTTP request to carry one.
    pub stdio_caller: Caller,
    pub call_timeout: Duration,
    /// The longest a call run as a task may take (`limits.job_timeout_secs`).
    pub task_timeout: Duration,
    pub page_size: usize,
    /// Signs the state a 2026-07-28 call that asks its client for input carries
    /// between rounds.
    pub request_states: RequestStates,
}

/// Per-session state; dropped with the session, which stops its event forwarder.
pub struct SessionState {
    /// The caller that opened the session: later requests must come from the same
    /// principal of the same tenant, and events are filtered by its tenant.
    owner: Mutex<Option<Caller>>,
    /// False for the handler that answers 2026-07-28 requests of every caller
    /// (`direct.rs`): such a request belongs to no session.
    binds_owner: bool,
    subscriptions: Mutex<HashSet<String>>,
    log_level: Mutex<LogLevel>,
    stop: CancellationToken,
}

impl SessionState {
    fn new(binds_owner: bool) -> Self {
        SessionState {
            owner: Mutex::new(None),
            binds_owner,
            subscriptions: Mutex::new(HashSet::new()),
            log_level: Mutex::new(LogLevel::Debug),
            stop: CancellationToken::new(),
        }
    }

    pub fn min_log_level(&self) -> LogLevel {
        *lock(&self.log_level)
    }

    fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }

    fn owner_tenant(&self) -> Option<TenantId> {
        lock(&self.owner).as_ref().map(|owner| owner.tenant.clone())
    }

    /// Binds the session to its first caller; refuses anyone else.
    fn admit(&self, caller: &Caller) -> Result<(), ErrorData> {
        if !self.binds_owner {
            return Ok(());
        }
        let mut owner = lock(&self.owner);
        match owner.as_ref() {
            None => {
                *owner = Some(caller.clone());
                Ok(())
            }
            Some(owner)
                if owner.tenant == caller.tenant && owner.principal.id == caller.principal.id =>
            {
                Ok(())
            }
            // Said as "not found" so a session id reveals nothing to another caller.
            Some(_) => Err(ErrorData::invalid_request(
                "session not found for this caller",
                None,
            )),
        }
    }
}

impl Drop for SessionState {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[derive(Clone)]
pub struct McpHandler {
    shared: Arc<McpShared>,
    scope: Scope,
    session: Arc<SessionState>,
}

impl McpHandler {
    pub fn new(shared: Arc<McpShared>, scope: Scope) -> Self {
        McpHandler {
            shared,
            scope,
            session: Arc::new(SessionState::new(true)),
        }
    }

    /// A handler for 2026-07-28 requests of any caller, shared by all of them:
    /// such requests keep nothing between them, so they need no handler each.
    pub fn stateless(shared: Arc<McpShared>, scope: Scope) -> Self {
        McpHandler {
            shared,
            scope,
            session: Arc::new(SessionState::new(false)),
        }
    }

    /// The caller of a request: the one the HTTP edge verified, or the stdio caller
    /// when there is no HTTP request. An HTTP request without a verified caller is
    /// refused (fail closed).
    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
        let caller = match extensions.get::<http::request::Parts>() {
            Some(parts) => parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ErrorData::invalid_request("this request has no authenticated caller", None)
            })?,
            None => self.shared.stdio_caller.clone(),
        };
        self.session.admit(&caller)?;
        Ok(caller)
    }

    fn context(&self, request: &RequestContext<RoleServer>) -> Result<CallContext, ErrorData> {
        let caller = self.caller(&request.extensions)?;
        Ok(self.context_for(request, caller, None))
    }

    /// The call context of `caller`'s request, with the input round a 2026-07-28
    /// request that may ask its client for input answers from.
    fn context_for(
        &self,
        request: &RequestContext<RoleServer>,
        caller: Caller,
        round: Option<Arc<InputRound>>,
    ) -> CallContext {
        let parts = request.extensions.get::<http::request::Parts>();
        let request_id = parts
            .and_then(|parts| parts.headers.get("x-request-id"))
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let log_gate = if stateless(request) {
            LogGate::Request(request.meta.log_level().map(log_level_of))
        } else {
            LogGate::Session
        };
        let channel = PeerChannel {
            peer: request.peer.clone(),
            progress_token: request.meta.get_progress_token(),
            session: self.session.clone(),
            log_gate,
            round,
        };
        CallContext::new(caller.tenant, caller.principal, request_id)
            .with_face(Face::Mcp)
            .with_timeout(self.shared.call_timeout)
            .with_cancellation(request.ct.clone())
            .with_client(Arc::new(channel))
    }

    /// The input round of a 2026-07-28 `tools/call`, `prompts/get` or
    /// `resources/read`: the answers it brings and the state of earlier rounds. A
    /// 2025-11-25 session has none; it asks its client on its stream.
    #[allow(clippy::too_many_arguments)]
    fn input_round(
        &self,
        request: &RequestContext<RoleServer>,
        caller: &Caller,
        method: &str,
        name: &str,
        arguments: Option<&JsonObject>,
        state: Option<&str>,
        responses: Option<InputResponses>,
    ) -> Result<Option<Arc<InputRound>>, ErrorData> {
        if !stateless(request) {
            return Ok(None);
        }
        let binding = || Binding::new(caller, &self.scope, method, name, arguments);
        let round = InputRound::open(
            &self.shared.request_states,
            binding,
            state,
            responses,
            request.client_capabilities(),
        )?;
        Ok(Some(Arc::new(round)))
    }

    /// What a 2026-07-28 call's round makes of its outcome: the input-required
    /// result when the call asked its client for something not answered yet
    /// (whatever the call made of being refused); the missing-capability error when
    /// the call failed after asking for what the client had not declared; else
    /// nothing, and the outcome stands.
    fn after_round(
        &self,
        round: Option<&Arc<InputRound>>,
        failed: bool,
    ) -> Result<Option<InputRequiredResult>, ErrorData> {
        let Some(round) = round else {
            return Ok(None);
        };
        if let Some(required) = round.input_required(&self.shared.request_states)? {
            return Ok(Some(required));
        }
        match round.missing_capability().filter(|_| failed) {
            Some(capability) => {
                let required = serde_json::from_value(serde_json::json!({ capability: {} }))
                    .unwrap_or_default();
                Err(ErrorData::missing_required_client_capability(required))
            }
            None => Ok(None),
        }
    }

    /// The runner of tasks; without one (the workflows toolkit is off) the task
    /// methods do not exist here.
    fn runner(&self) -> Result<Arc<dyn BackgroundCalls>, ErrorData> {
        self.shared
            .hub
            .background_calls()
            .ok_or_else(ErrorData::method_not_found::<GetTaskMethod>)
    }

    /// Forwards Hub events to a 2025-11-25 session until the session ends.
    fn start_forwarding(&self, peer: Peer<RoleServer>, tenant: Option<TenantId>) {
        let mut events = self.shared.hub.subscribe();
        let session: Weak<SessionState> = Arc::downgrade(&self.session);
        let stop = self.session.stop.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    event = events.recv() => event,
                };
                let event = match event {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                let sent = match event {
                    HubEvent::ToolsChanged => peer.notify_tool_list_changed().await,
                    HubEvent::PromptsChanged => peer.notify_prompt_list_changed().await,
                    HubEvent::ResourcesChanged => peer.notify_resource_list_changed().await,
                    HubEvent::ResourceUpdated { tenant: owner, uri } => {
                        let subscribed = session.upgrade().is_some_and(|s| s.is_subscribed(&uri));
                        let ours = owner.is_none() || tenant.is_some() && tenant == owner;
                        if !subscribed || !ours {
                            continue;
                        }
                        peer.notify_resource_updated(
                            rmcp::model::ResourceUpdatedNotificationParam::new(uri),
                        )
                        .await
                    }
                };
                if sent.is_err() && peer.is_transport_closed() {
                    break;
                }
            }
        });
    }
}

/// Opaque page cursors: the offset of the next item, base64-encoded.
fn page<T>(
    items: Vec<T>,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match cursor {
        None => 0,
        Some(cursor) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<usize>().ok())
            .filter(|offset| *offset <= items.len())
            .ok_or_else(|| {
                ErrorData::invalid_params("invalid or expired pagination cursor", None)
            })?,
    };
    let end = (start + page_size).min(items.len());
    let next = (end < items.len())
        .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(end.to_string()));
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

fn cursor_of(request: &Option<PaginatedRequestParams>) -> Option<&str> {
    request.as_ref().and_then(|params| params.cursor.as_deref())
}

impl ServerHandler for McpHandler {
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let builder = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_logging()
            .enable_completions();
        // Tasks run on the durable runner the workflows toolkit provides.
        let capabilities = if self.shared.hub.background_calls().is_some() {
            builder.enable_tasks().build()
        } else {
            builder.build()
        };
        let name = match &self.scope {
            Scope::All => "tideway".to_string(),
            Scope::Toolkit(kit) | Scope::View(kit) => format!("tideway-{kit}"),
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")).with_title("Tideway"))
            .with_instructions(
                "Tideway connects a team's data and systems to agents. Tools are grouped by toolkit; \
                 on the combined endpoint each tool name starts with its toolkit's name, and the \
                 list may show only each toolkit's main tools: system_find_tools searches every \
                 tool and any of them can be called by name.",
            )
    }

    /// A tool whose arguments are mirrored in `Mcp-Param-*` headers (`x-mcp-header`
    /// in its input schema), for rmcp to check the headers against the body before
    /// the call. It asks without the caller, so the tool is found by name alone; the
    /// call itself is then authorized as every call is. Other tools answer `None`:
    /// there is nothing to check.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        let (toolkit, tool) = self.shared.hub.resolve_tool(&self.scope, name).ok()?;
        let schema = self.shared.hub.tool_schema(&toolkit, &tool)?;
        mirrors_headers(&schema).then(|| Tool::new(name.to_string(), "", schema))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let tenant = match self.caller(&context.extensions) {
            Ok(caller) => Some(caller.tenant),
            Err(_) => self.session.owner_tenant(),
        };
        self.start_forwarding(context.peer, tenant);
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let tools = self.shared.hub.listed_tools(&self.scope, &caller.principal);
        let (tools, next) = page(tools, cursor_of(&request), self.shared.page_size)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let round = self.input_round(
            &context,
            &caller,
            "tools/call",
            &request.name,
            request.arguments.as_ref(),
            request.request_state.as_deref(),
            request.input_responses.take(),
        )?;
        let ctx = self.context_for(&context, caller, round.clone());
        let (toolkit, tool) = self
            .shared
            .hub
            .resolve_tool_for(&self.scope, &request.name, &ctx.principal)
            .map_err(|error| rpc_error(error, &ctx.request_id))?;
        let takes_tasks = context
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.supports_tasks());
        match (self.shared.hub.task_support(&toolkit, &tool), takes_tasks) {
            (TaskSupport::Forbidden, _) | (TaskSupport::Optional, false) => {}
            (TaskSupport::Required, false) => {
                return Err(ErrorData::missing_required_client_capability(
                    ClientCapabilities::builder().enable_tasks().build(),
                ));
            }
            (TaskSupport::Optional | TaskSupport::Required, true) => {
                let Some(runner) = self.shared.hub.background_calls() else {
                    return Err(ErrorData::invalid_request(
                        "this tool runs as a task, and this server runs no tasks (the workflows toolkit is off)",
                        None,
                    ));
                };
                // The toolkit's questions come first, in this request: the task
                // exists only once they are answered.
                let asked = self
                    .shared
                    .hub
                    .before_task(&ctx, &toolkit, &tool, request.arguments.unwrap_or_default())
                    .await;
                let arguments = match asked {
                    Ok(arguments) => arguments,
                    Err(error) => {
                        if let Some(required) = self.after_round(round.as_ref(), true)? {
                            return Ok(CallToolResponse::InputRequired(required));
                        }
                        return tool_call_error(error, &ctx.request_id).map(|mut refused| {
                            complete(&mut refused.result_type);
                            refused.into()
                        });
                    }
                };
                let started = super::tasks::start(
                    &*runner,
                    &ctx,
                    (&toolkit, &tool),
                    arguments,
                    self.shared.task_timeout,
                )
                .await;
                return match started {
                    Ok(created) => Ok(CallToolResponse::Task(created)),
                    Err(error) => tool_call_error(error, &ctx.request_id).map(|mut refused| {
                        complete(&mut refused.result_type);
                        refused.into()
                    }),
                };
            }
        }
        let outcome = self
            .shared
            .hub
            .call(&ctx, &toolkit, &tool, request.arguments)
            .await;
        let failed = outcome
            .as_ref()
            .map_or(true, |result| result.is_error == Some(true));
        if let Some(required) = self.after_round(round.as_ref(), failed)? {
            return Ok(CallToolResponse::InputRequired(required));
        }
        match outcome {
            Ok(mut result) => {
                complete(&mut result.result_type);
                Ok(result.into())
            }
            Err(error) => tool_call_error(error, &ctx.request_id).map(Into::into),
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let ctx = self.context(&context)?;
        super::tasks::get(&*self.runner()?, &ctx, &request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let ctx = self.context(&context)?;
        super::tasks::cancel(&*self.runner()?, &ctx, &request.task_id).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let ctx = self.context(&context)?;
        super::tasks::update(
            &*self.runner()?,
            &ctx,
            &request.task_id,
            &request.input_responses,
        )
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let ctx = self.context(&context)?;
        let resources = self
            .shared
            .hub
            .list_resources(&ctx, &self.scope)
            .await
            .map_err(|error| rpc_error(error, &ctx.request_id))?;
        let (resources, next) = page(resources, cursor_of(&request), self.shared.page_size)?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let templates = self
            .shared
            .hub
            .list_resource_templates(&self.scope, &caller.principal);
        let (templates, next) = page(templates, cursor_of(&request), self.shared.page_size)?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        mut request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let round = self.input_round(
            &context,
            &caller,
            "resources/read",
            &request.uri,
            None,
            request.request_state.as_deref(),
            request.input_responses.take(),
        )?;
        let ctx = self.context_for(&context, caller, round.clone());
        let outcome = self
            .shared
            .hub
            .read_resource(&ctx, &self.scope, &request.uri)
            .await;
        if let Some(required) = self.after_round(round.as_ref(), outcome.is_err())? {
            return Ok(ReadResourceResponse::InputRequired(required));
        }
        let contents = outcome.map_err(|error| rpc_error(error, &ctx.request_id))?;
        Ok(ReadResourceResult::new(contents).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // 2026-07-28 has no subscribe: a client listens (`subscriptions/listen`).
        if stateless(&context) {
            return Err(ErrorData::method_not_found::<SubscribeRequestMethod>());
        }
        let ctx = self.context(&context)?;
        self.shared
            .hub
            .subscribe_resource(&ctx, &self.scope, &request.uri)
            .await
            .map_err(|error| rpc_error(error, &ctx.request_id))?;
        lock(&self.session.subscriptions).insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if stateless(&context) {
            return Err(ErrorData::method_not_found::<UnsubscribeRequestMethod>());
        }
        self.caller(&context.extensions)?;
        lock(&self.session.subscriptions).remove(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = requested.clone();
        if let Some(uris) = &requested.resource_subscriptions {
            accepted.resource_subscriptions = Some(
                // The caller is not known here; `listen` checks it before each notification.
                uris.iter()
                    .filter(|uri| {
                        self.shared
                            .hub
                            .serves_uri(&self.scope, uri, &Principal::local())
                    })
                    .cloned()
                    .collect(),
            );
        }
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let ctx = self.context(context.request_context())?;
        let caller = self.caller(&context.request_context().extensions)?;
        let mut events = self.shared.hub.subscribe();
        let sink = context.sink();
        let uris = sink
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        for uri in uris {
            // A URI this caller may not see is simply never notified below.
            let _ = self
                .shared
                .hub
                .subscribe_resource(&ctx, &self.scope, &uri)
                .await;
        }
        loop {
            let event = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            let accepted = sink.accepted();
            let outcome = match event {
                HubEvent::ToolsChanged if accepted.tools_list_changed == Some(true) => {
                    sink.notify_tool_list_changed().await
                }
                HubEvent::PromptsChanged if accepted.prompts_list_changed == Some(true) => {
                    sink.notify_prompt_list_changed().await
                }
                HubEvent::ResourcesChanged if accepted.resources_list_changed == Some(true) => {
                    sink.notify_resource_list_changed().await
                }
                HubEvent::ResourceUpdated { tenant, uri }
                    if tenant.as_ref().is_none_or(|owner| *owner == caller.tenant)
                        && accepted
                            .resource_subscriptions
                            .as_ref()
                            .is_some_and(|uris| uris.contains(&uri))
                        && self
                            .shared
                            .hub
                            .serves_uri(&self.scope, &uri, &caller.principal) =>
                {
                    sink.notify_resource_updated(uri).await
                }
                _ => Ok(()),
            };
            if outcome.is_err() {
                return Ok(());
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let ctx = self.context(&context)?;
        let prompts = self
            .shared
            .hub
            .list_prompts(&ctx, &self.scope)
            .await
            .map_err(|error| rpc_error(error, &ctx.request_id))?;
        let (prompts, next) = page(prompts, cursor_of(&request), self.shared.page_size)?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let round = self.input_round(
            &context,
            &caller,
            "prompts/get",
            &request.name,
            request.arguments.as_ref(),
            request.request_state.as_deref(),
            request.input_responses.take(),
        )?;
        let ctx = self.context_for(&context, caller, round.clone());
        let outcome = self
            .shared
            .hub
            .get_prompt(&ctx, &self.scope, &request.name, request.arguments)
            .await;
        if let Some(required) = self.after_round(round.as_ref(), outcome.is_err())? {
            return Ok(GetPromptResponse::InputRequired(required));
        }
        outcome
            .map(|mut result| {
                complete(&mut result.result_type);
                result.into()
            })
            .map_err(|error| rpc_error(error, &ctx.request_id))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let ctx = self.context(&context)?;
        let values = self
            .shared
            .hub
            .complete(&ctx, &self.scope, &request.r#ref, &request.argument)
            .await
            .map_err(|error| rpc_error(error, &ctx.request_id))?;
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|value| value.starts_with(&request.argument.value))
            .collect();
        let total = values.len();
        values.truncate(CompletionInfo::MAX_VALUES);
        let has_more = total > values.len();
        let info = CompletionInfo::with_pagination(values, Some(total as u32), has_more)
            .map_err(|error| ErrorData::internal_error(error, None))?;
        Ok(CompleteResult::new(info))
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.caller(&context.extensions)?;
        *lock(&self.session.log_level) = log_level_of(request.level);
        Ok(())
    }
}

/// Whether a request is of the 2026-07-28 era: stateless, its client's
/// capabilities and log level in its own `_meta`.
fn stateless(request: &RequestContext<RoleServer>) -> bool {
    request
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

#[allow(deprecated)]
fn log_level_of(level: rmcp::model::LoggingLevel) -> LogLevel {
    use rmcp::model::LoggingLevel as L;
    match level {
        L::Debug => LogLevel::Debug,
        L::Info => LogLevel::Info,
        L::Notice => LogLevel::Notice,
        L::Warning => LogLevel::Warning,
        L::Error => LogLevel::Error,
        L::Critical => LogLevel::Critical,
        L::Alert => LogLevel::Alert,
        L::Emergency => LogLevel::Emergency,
    }
}

/// Whether a tool's input schema mirrors an argument in an `Mcp-Param-*` header.
fn mirrors_headers(schema: &JsonObject) -> bool {
    schema
        .get("properties")
        .and_then(|properties| properties.as_object())
        .is_some_and(|properties| {
            properties
                .values()
                .any(|property| property.get("x-mcp-header").is_some())
        })
}

/// Marks a result as complete when it came without a `resultType`: a result relayed
/// from a 2025-era upstream has none, and a 2026-07-28 client requires it. rmcp
/// removes it again for clients of the older era.
fn complete(result_type: &mut Option<rmcp::model::ResultType>) {
    if result_type.is_none() {
        *result_type = Some(rmcp::model::ResultType::COMPLETE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..25).collect();
        let (first, next) = page(items.clone(), None, 10).expect("page 1");
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        let (second, next) = page(items.clone(), next.as_deref(), 10).expect("page 2");
        assert_eq!(second, (10..20).collect::<Vec<_>>());
        let (third, next) = page(items.clone(), next.as_deref(), 10).expect("page 3");
        assert_eq!(third, (20..25).collect::<Vec<_>>());
        assert!(next.is_none());
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        let items: Vec<u32> = (0..5).collect();
        assert!(page(items.clone(), Some("not-base64!"), 10).is_err());
        let beyond = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("99");
        assert!(page(items, Some(&beyond), 10).is_err());
    }
}
