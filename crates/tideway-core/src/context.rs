//! The call context: who is calling, for which tenant, under which request id, until
//! when, and how to reach back to the calling client (progress, log messages, and
//! requests such as sampling or elicitation). Every face builds one; toolkits only
//! read it. The tenant comes from the credential the face verified, never from
//! tool arguments.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use crate::access::{Role, ToolRules};
use crate::{error::HubError, mcp::JsonObject};

/// A tenant's id. Cheap to clone; compared by value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TenantId(Arc<str>);

impl TenantId {
    pub fn new(id: impl AsRef<str>) -> Self {
        TenantId(Arc::from(id.as_ref()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `id` is usable as a tenant id: 1-64 letters, digits, `_` or `-`. Ids
    /// from outside (tokens, the CLI, the configuration) are checked with this.
    pub fn is_valid(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a principal proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    /// The local user: stdio, or loopback HTTP with authentication off.
    Local,
    ApiKey,
    Jwt,
}

/// Who is calling, and what it may call.
#[derive(Clone, Debug, Serialize)]
pub struct Principal {
    /// Stable and safe to log: `local`, `key:{key id}` or `jwt:{subject}`.
    pub id: String,
    pub role: Role,
    pub credential: Credential,
    /// The tenant it acts for; toolkits a tenant owns (its own upstreams) are visible
    /// only to principals of that tenant. Set from the credential, never from input.
    #[serde(skip)]
    pub tenant: Option<TenantId>,
    /// Allow/deny lists that apply (the tenant's, then the credential's); each must permit.
    #[serde(skip)]
    pub rules: Arc<[ToolRules]>,
    /// The credential's own rules (without the tenant's): what any right this
    /// principal delegates (a key it makes, a run it starts) must carry along.
    #[serde(skip)]
    pub credential_rules: Arc<[ToolRules]>,
    /// When the credential stops working, if it does; a delegated right may not
    /// outlive it.
    #[serde(skip)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    pub fn new(id: impl Into<String>, role: Role, credential: Credential) -> Self {
        Principal {
            id: id.into(),
            role,
            credential,
            tenant: None,
            rules: Arc::from(Vec::new()),
            credential_rules: Arc::from(Vec::new()),
            expires_at: None,
        }
    }

    /// The credential's own rules (a key's chain) and expiry, for delegation.
    pub fn with_credential(
        mut self,
        rules: Vec<ToolRules>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        self.credential_rules = Arc::from(
            rules
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>(),
        );
        self.expires_at = expires_at;
        self
    }

    pub fn with_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Whether a toolkit owned by `owner` (none: every tenant's) is visible to it.
    pub fn sees_owner(&self, owner: Option<&TenantId>) -> bool {
        owner.is_none_or(|owner| self.tenant.as_ref() == Some(owner))
    }

    /// The local user of a loopback or stdio server running without authentication.
    pub fn local() -> Self {
        Principal::new("local", Role::Admin, Credential::Local)
    }

    pub fn with_rules(mut self, rules: Vec<ToolRules>) -> Self {
        self.rules = Arc::from(
            rules
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>(),
        );
        self
    }

    pub fn permits_tool(&self, toolkit: &str, tool: &str) -> bool {
        self.rules
            .iter()
            .all(|rules| rules.permits_tool(toolkit, tool))
    }

    pub fn permits_toolkit(&self, toolkit: &str) -> bool {
        self.rules
            .iter()
            .all(|rules| rules.permits_toolkit(toolkit))
    }
}

/// A principal kept in the store to act later: a workflow run, a schedule, a webhook
/// act as the principal that made them, with the rules that applied then and never
/// past its credential's expiry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DelegatedPrincipal {
    pub id: String,
    pub role: Role,
    pub credential: Credential,
    pub rules: Vec<ToolRules>,
    pub credential_rules: Vec<ToolRules>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl DelegatedPrincipal {
    pub fn of(principal: &Principal) -> Self {
        DelegatedPrincipal {
            id: principal.id.clone(),
            role: principal.role,
            credential: principal.credential,
            rules: principal.rules.to_vec(),
            credential_rules: principal.credential_rules.to_vec(),
            expires_at: principal.expires_at,
        }
    }

    pub fn principal(&self) -> Principal {
        Principal::new(self.id.clone(), self.role, self.credential)
            .with_rules(self.rules.clone())
            .with_credential(self.credential_rules.clone(), self.expires_at)
    }
}

/// Which face a call came through; recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    Mcp,
    Rest,
    /// The agent-to-agent protocol (A2A), over which agents are served.
    A2a,
    /// Tideway itself: workflows, agents, the CLI.
    Internal,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Mcp => "mcp",
            Face::Rest => "rest",
            Face::A2a => "a2a",
            Face::Internal => "internal",
        }
    }
}

/// Severity of a log message sent to the client (the MCP logging levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

/// The way back to the client that made the call. A face that cannot reach the
/// client (REST, a workflow step) uses [`NoClient`], which drops progress and log
/// messages and refuses requests with a clear error.
#[async_trait]
pub trait ClientChannel: Send + Sync {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>);
    async fn log(&self, level: LogLevel, logger: &str, data: Value);
    /// Sends a request to the client (e.g. `sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) and returns its result.
    ///
    /// A 2025-11-25 session answers at once. A 2026-07-28 client answers on its next
    /// call, which runs the tool again from the start: the first run ends with
    /// [`HubError::InputRequired`], and in the next one the same request, asked in
    /// the same order, returns the client's answer. So a tool should ask before it
    /// changes anything, or change only what is safe to change twice.
    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError>;

    /// [`request`](Self::request) under a name the tool chooses, which a 2026-07-28
    /// client sees as the key of the request and answers under. Requests asked
    /// without a name are numbered in the order they are asked.
    async fn ask(&self, key: &str, method: &str, params: JsonObject) -> Result<Value, HubError> {
        let _ = key;
        self.request(method, params).await
    }

    /// Whether the client declared that it can answer `method`; a tool can then
    /// ask only what will be answered.
    fn can_answer(&self, method: &str) -> bool {
        let _ = method;
        false
    }
}

/// A channel for callers that have no client to talk back to.
pub struct NoClient;

#[async_trait]
impl ClientChannel for NoClient {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        tracing::debug!(progress, ?total, ?message, "progress");
    }
    async fn log(&self, level: LogLevel, logger: &str, data: Value) {
        tracing::debug!(?level, logger, %data, "tool log message");
    }
    async fn request(&self, method: &str, _params: JsonObject) -> Result<Value, HubError> {
        Err(HubError::Unsupported(format!(
            "this caller cannot answer '{method}': it is only available to MCP clients that declare the capability"
        )))
    }
}

/// The step of a durable run that a call is made for, when that step waits for a
/// background call the tool starts (an agent step waits for its agent run). The
/// background call is then recorded as that step's child in the same transaction
/// that creates it, so no moment exists in which the call runs but belongs to no
/// step, and a step that ended meanwhile gets no child at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentStep {
    pub execution_id: String,
    pub step_id: String,
    /// The worker holding the step's lease: a step another server has taken over
    /// is no longer this call's to give a child.
    pub owner: String,
    /// How deep the step's run is nested.
    pub depth: i64,
}

/// Everything a call carries along the one call path.
#[derive(Clone)]
pub struct CallContext {
    pub tenant: TenantId,
    pub principal: Principal,
    pub face: Face,
    pub request_id: String,
    pub deadline: Instant,
    pub cancel: CancellationToken,
    pub client: Arc<dyn ClientChannel>,
    /// The durable run step whose child a background call started by this call
    /// becomes (see [`ParentStep`]).
    pub parent_step: Option<Arc<ParentStep>>,
}

impl CallContext {
    /// The context's tenant is the principal's too, whatever the principal said.
    pub fn new(tenant: TenantId, principal: Principal, request_id: impl Into<String>) -> Self {
        let principal = principal.with_tenant(tenant.clone());
        CallContext {
            tenant,
            principal,
            face: Face::Internal,
            request_id: request_id.into(),
            deadline: Instant::now() + Duration::from_secs(60),
            cancel: CancellationToken::new(),
            client: Arc::new(NoClient),
            parent_step: None,
        }
    }

    pub fn with_face(mut self, face: Face) -> Self {
        self.face = face;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Instant::now() + timeout;
        self
    }

    pub fn with_cancellation(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn with_client(mut self, client: Arc<dyn ClientChannel>) -> Self {
        self.client = client;
        self
    }

    pub fn with_parent_step(mut self, parent: ParentStep) -> Self {
        self.parent_step = Some(Arc::new(parent));
        self
    }

    /// Whether the caller is the operator: the local user of an unauthenticated
    /// loopback or stdio server, or an admin of the default tenant. The operator
    /// manages what no tenant may (stdio upstreams, internal addresses, privileged
    /// database roles).
    pub fn is_operator(&self, default_tenant: &str) -> bool {
        self.principal.credential == Credential::Local
            || (self.principal.role >= Role::Admin && self.tenant.as_str() == default_tenant)
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Reports progress to the client, if it asked for progress.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: impl Into<String>) {
        self.client
            .progress(progress, total, Some(message.into()))
            .await;
    }

    pub async fn log(&self, level: LogLevel, logger: &str, data: impl Into<Value>) {
        self.client.log(level, logger, data.into()).await;
    }
}
