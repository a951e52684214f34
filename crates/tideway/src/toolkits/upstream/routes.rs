//! The gateway's REST API: the seed's integration endpoints
//! (`/api/v1/integration/mcp/health[/{server}]`, `/api/v1/integration/mcp/call`,
//! `/api/v1/integration/status`) and `/api/v1/upstreams` to add, change and remove
//! federated servers at runtime. The operator (an admin of the default tenant)
//! manages every upstream, stdio included, since those start processes on the host.
//! A tenant's admin manages only the tenant's own upstreams, over HTTP only, and by
//! default not to loopback, private or link-local addresses.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tideway_core::{Health, HealthStatus, HubError, NameCollision, Role, naming::NamingMode};

use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    breaker::CircuitState,
    settings::{UpstreamSpec, UpstreamStart, UpstreamTransport},
    supervisor::{Origin, Phase, Upstream},
};
use crate::{
    api::{
        problem::{ApiJson, Problem},
        tool_routes::Calls,
        toolkits::{call_and_respond, request_id},
    },
    app::App,
    auth::Caller,
};

pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(mcp_health))
        .routes(routes!(mcp_server_health))
        .routes(routes!(mcp_call))
        .routes(routes!(integration_status))
        .routes(routes!(list_upstreams, create_upstream))
        .routes(routes!(get_upstream, replace_upstream, delete_upstream))
}

/// One upstream's state, as the status and health endpoints report it.
#[derive(Serialize, ToSchema)]
pub struct UpstreamStatus {
    pub name: String,
    #[schema(value_type = String)]
    pub origin: Origin,
    #[schema(value_type = String)]
    pub phase: Phase,
    #[schema(value_type = String)]
    pub status: HealthStatus,
    pub detail: Option<String>,
    pub latency_ms: Option<f64>,
    pub last_check_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(value_type = String)]
    pub circuit: CircuitState,
    pub consecutive_failures: u32,
    pub restarts: u32,
    pub pid: Option<u32>,
    pub protocol_version: Option<String>,
    pub server: Option<String>,
    pub tools: usize,
    pub prompts: usize,
    pub resources: usize,
    pub resource_templates: usize,
    pub calls_in_flight: usize,
    /// Tools left out of the catalog, and why.
    pub problems: Vec<String>,
    /// Tools and prompts left off `/mcp` because their name there is taken.
    #[schema(value_type = Vec<Object>)]
    pub collisions: Vec<NameCollision>,
    /// The last lines the child wrote to stderr before it last exited.
    pub stderr_tail: Vec<String>,
}

fn status_of(app: &App, upstream: &Upstream) -> UpstreamStatus {
    let health = upstream.health();
    let observed = upstream.observed();
    let catalog = upstream.catalog();
    let collisions = app
        .hub
        .entries()
        .iter()
        .find(|entry| entry.name() == upstream.name())
        .map(|entry| entry.collisions.clone())
        .unwrap_or_default();
    UpstreamStatus {
        name: upstream.name().to_string(),
        origin: upstream.origin,
        phase: upstream.phase(),
        status: health.status,
        detail: health.detail,
        latency_ms: observed.latency_ms,
        last_check_at: observed.last_check_at,
        circuit: upstream.breaker.state(Instant::now()),
        consecutive_failures: upstream.breaker.consecutive_failures(),
        restarts: observed.restarts,
        pid: observed.pid,
        protocol_version: observed.protocol_version,
        server: observed.server_name,
        tools: catalog.tools.len(),
        prompts: catalog.listing.prompts.len(),
        resources: catalog.listing.resources.len(),
        resource_templates: catalog.listing.resource_templates.len(),
        calls_in_flight: upstream.in_flight(),
        problems: catalog.problems.clone(),
        collisions,
        stderr_tail: observed.stderr_tail,
    }
}

#[derive(Serialize, ToSchema)]
pub struct McpHealth {
    /// `healthy` when every upstream is, `down` when every one is, else `degraded`.
    #[schema(value_type = String)]
    pub status: HealthStatus,
    pub servers: Vec<UpstreamStatus>,
}

fn overall(servers: &[UpstreamStatus]) -> HealthStatus {
    if servers.iter().all(|s| s.status == HealthStatus::Healthy) {
        HealthStatus::Healthy
    } else if servers.iter().all(|s| s.status == HealthStatus::Down) {
        HealthStatus::Down
    } else {
        HealthStatus::Degraded
    }
}

/// The health of every federated MCP server.
#[utoipa::path(get, path = "/api/v1/integration/mcp/health", tag = "gateway",
    responses((status = 200, body = McpHealth)))]
pub async fn mcp_health(State(app): State<Arc<App>>, caller: Caller) -> ApiJson<McpHealth> {
    let servers: Vec<UpstreamStatus> = app
        .gateway
        .list()
        .await
        .iter()
        .filter(|upstream| upstream.shown_to(&caller.principal))
        .map(|upstream| status_of(&app, upstream))
        .collect();
    ApiJson(McpHealth {
        status: overall(&servers),
        servers,
    })
}

/// One federated server's health, checked now.
#[utoipa::path(get, path = "/api/v1/integration/mcp/health/{server}", tag = "gateway",
    params(("server" = String, Path)),
    responses((status = 200, body = UpstreamStatus),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn mcp_server_health(
    State(app): State<Arc<App>>,
    Path(server): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Response {
    match app.gateway.get(&server).await {
        Some(upstream) if upstream.shown_to(&caller.principal) => {
            upstream.check_now().await;
            ApiJson(status_of(&app, &upstream)).into_response()
        }
        _ => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no federated server named '{server}'"),
        )
        .with_request_id(&request_id(&headers))
        .into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCall {
    /// A toolkit or federated server.
    pub server: String,
    pub tool: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Value,
}

/// Calls a tool of any toolkit or federated server.
#[utoipa::path(post, path = "/api/v1/integration/mcp/call", tag = "gateway",
    request_body = McpCall,
    responses((status = 200, body = crate::api::toolkits::ToolCallResult),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn mcp_call(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(call): ApiJson<McpCall>,
) -> Response {
    let request_id = request_id(&headers);
    call_and_respond(
        &Calls::of(&app),
        caller,
        &request_id,
        &call.server,
        &call.tool,
        call.arguments,
    )
    .await
}

#[derive(Serialize, ToSchema)]
pub struct ToolkitStatus {
    pub name: String,
    /// `builtin` or `upstream`.
    pub kind: &'static str,
    #[schema(value_type = Object)]
    pub health: Health,
    pub tools: usize,
    pub prompts: usize,
    pub resource_templates: usize,
    /// For upstreams: connection, circuit, restarts and catalog.
    pub upstream: Option<UpstreamStatus>,
}

/// Every toolkit and federated server with its status, latency, circuit and counts.
#[utoipa::path(get, path = "/api/v1/integration/status", tag = "gateway",
    responses((status = 200, body = Vec<ToolkitStatus>)))]
pub async fn integration_status(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> ApiJson<Vec<ToolkitStatus>> {
    let health = app.hub.health(std::time::Duration::from_secs(5)).await;
    let mut out = Vec::new();
    for entry in app.hub.entries() {
        if !entry.shown_to(&caller.principal) {
            continue;
        }
        let upstream = app.gateway.get(entry.name()).await;
        out.push(ToolkitStatus {
            name: entry.name().to_string(),
            kind: if upstream.is_some() {
                "upstream"
            } else {
                "builtin"
            },
            health: health
                .iter()
                .find(|(name, _)| name == entry.name())
                .map(|(_, health)| health.clone())
                .unwrap_or_else(|| Health::down("no health reported")),
            tools: entry.tools.len(),
            prompts: entry.prompts.len(),
            resource_templates: entry.templates.len(),
            upstream: upstream.map(|upstream| status_of(&app, &upstream)),
        });
    }
    // Upstreams not (yet) in the Hub: still starting, or down before a first catalog.
    for upstream in app.gateway.list().await {
        if !out.iter().any(|status| status.name == upstream.name())
            && upstream.shown_to(&caller.principal)
        {
            out.push(ToolkitStatus {
                name: upstream.name().to_string(),
                kind: "upstream",
                health: upstream.health(),
                tools: 0,
                prompts: 0,
                resource_templates: 0,
                upstream: Some(status_of(&app, &upstream)),
            });
        }
    }
    ApiJson(out)
}

/// An upstream's definition as the API shows it: secret values are never returned,
/// only the names of the variables and headers that have one.
#[derive(Serialize, ToSchema)]
pub struct UpstreamView {
    pub name: String,
    /// The tenant it belongs to; absent when every tenant may use it.
    pub tenant: Option<String>,
    pub transport: UpstreamTransport,
    pub description: Option<String>,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub env_from: std::collections::BTreeMap<String, String>,
    #[schema(value_type = Option<String>)]
    pub cwd: Option<std::path::PathBuf>,
    pub url: Option<String>,
    pub headers: Vec<String>,
    pub has_bearer_token: bool,
    #[schema(value_type = String)]
    pub naming: NamingMode,
    pub start: UpstreamStart,
    pub timeout_secs: Option<u64>,
    pub retries: Option<u32>,
    pub status: UpstreamStatus,
}

fn view(app: &App, upstream: &Upstream) -> UpstreamView {
    let spec = &upstream.spec;
    let secrets = upstream.secret_names();
    UpstreamView {
        name: spec.name.clone(),
        tenant: spec.tenant.clone(),
        transport: spec.transport,
        description: spec.description.clone(),
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: secrets.0,
        env_from: spec.env_from.clone(),
        cwd: spec.cwd.clone(),
        url: spec.url.clone(),
        headers: secrets.1,
        has_bearer_token: secrets.2,
        naming: spec.naming,
        start: spec.start,
        timeout_secs: spec.timeout_secs,
        retries: spec.retries,
        status: status_of(app, upstream),
    }
}

/// Who is managing upstreams: the operator, or one tenant's admin.
enum Manager {
    Operator,
    Tenant(tideway_core::TenantId),
}

impl Manager {
    fn of(app: &App, caller: &Caller) -> Result<Manager, HubError> {
        if caller.principal.role < Role::Admin {
            return Err(HubError::Forbidden(
                "managing upstreams needs the admin role".into(),
            ));
        }
        Ok(if caller.tenant.as_str() == app.config.default_tenant {
            Manager::Operator
        } else {
            Manager::Tenant(caller.tenant.clone())
        })
    }

    fn manages(&self, upstream: &Upstream) -> bool {
        match self {
            Manager::Operator => true,
            Manager::Tenant(tenant) => upstream.owner.as_ref() == Some(tenant),
        }
    }

    /// Checks a definition a tenant's admin sends, and makes it the tenant's.
    async fn admit(&self, app: &App, spec: &mut UpstreamSpec) -> Result<(), HubError> {
        let Manager::Tenant(tenant) = self else {
            return Ok(());
        };
        if spec.tenant.as_deref().is_some_and(|t| t != tenant.as_str()) {
            return Err(HubError::Forbidden(
                "a tenant's admin adds upstreams for its own tenant only".into(),
            ));
        }
        spec.tenant = Some(tenant.to_string());
        if spec.transport != UpstreamTransport::Http {
            return Err(HubError::Forbidden(
                "a tenant's admin may add HTTP upstreams only: a stdio upstream starts a process on the host, which only the operator may do".into(),
            ));
        }
        if !app.gateway.settings().tenant_private_addresses {
            refuse_private(spec.url.as_deref().unwrap_or_default()).await?;
        }
        Ok(())
    }
}

/// Refuses a URL whose host is (or resolves to) a loopback, private, link-local or
/// unspecified address, so a tenant cannot reach the operator's own network.
async fn refuse_private(url: &str) -> Result<(), HubError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| HubError::invalid_argument("url", error.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| HubError::invalid_argument("url", "has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    match tideway_core::net::resolve_external(host, port).await {
        Ok(_) => Ok(()),
        Err(error @ tideway_core::net::AddressError::Unresolved { .. }) => {
            Err(HubError::invalid_argument("url", error.to_string()))
        }
        Err(error) => Err(HubError::Forbidden(format!(
            "{error}, which a tenant's upstream may not use (gateway.tenant_private_addresses)"
        ))),
    }
}

fn refusal(error: HubError, request_id: &str) -> Response {
    Problem::from_hub(error, request_id).into_response()
}

/// The same answer as for a name that does not exist, for one the caller may not manage.
fn not_managed(name: &str) -> HubError {
    HubError::NotFound(format!("no upstream named '{name}'"))
}

fn no_such(name: &str, request_id: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no upstream named '{name}'"),
    )
    .with_request_id(request_id)
    .into_response()
}

/// Every federated server with its definition and status.
#[utoipa::path(get, path = "/api/v1/upstreams", tag = "gateway",
    responses((status = 200, body = Vec<UpstreamView>),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_upstreams(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    caller: Caller,
) -> Response {
    let manager = match Manager::of(&app, &caller) {
        Ok(manager) => manager,
        Err(error) => return refusal(error, &request_id(&headers)),
    };
    let views: Vec<UpstreamView> = app
        .gateway
        .list()
        .await
        .iter()
        .filter(|upstream| manager.manages(upstream))
        .map(|upstream| view(&app, upstream))
        .collect();
    ApiJson(views).into_response()
}

/// Adds a federated server: `{name, transport: "stdio" | "http", command, args, env,
/// cwd, url, headers, bearer_token, naming, start, timeout_secs, retries}`. Answers
/// once its first connection is made (or failed; the status says which).
#[utoipa::path(post, path = "/api/v1/upstreams", tag = "gateway",
    request_body(content = UpstreamSpec, description = "The upstream's definition"),
    responses((status = 201, body = UpstreamView),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_upstream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(mut spec): ApiJson<UpstreamSpec>,
) -> Response {
    let request_id = request_id(&headers);
    let started = Instant::now();
    let name = spec.name.clone();
    let admitted = match Manager::of(&app, &caller) {
        Ok(manager) => manager.admit(&app, &mut spec).await,
        Err(error) => Err(error),
    };
    let added = match admitted {
        Ok(()) => app.gateway.add(spec, &caller.principal.id).await,
        Err(error) => Err(error),
    };
    audit(
        &app,
        &caller,
        &request_id,
        "upstreams.create",
        &name,
        added.as_ref().map(|_| ()),
        started,
    );
    match added {
        Ok(upstream) => (StatusCode::CREATED, ApiJson(view(&app, &upstream))).into_response(),
        Err(error) => refusal(error, &request_id),
    }
}

/// Records a change to the upstreams (which can start processes on the host) in the
/// audit log, refused ones included. Only the name is kept: a definition may carry
/// credentials.
fn audit(
    app: &App,
    caller: &Caller,
    request_id: &str,
    action: &str,
    name: &str,
    outcome: Result<(), &HubError>,
    started: Instant,
) {
    let ctx = crate::api::toolkits::call_context(&Calls::of(app), caller.clone(), request_id);
    let mut arguments = tideway_core::mcp::JsonObject::new();
    // The name is the caller's text until the definition is checked: bounded.
    arguments.insert("name".into(), tideway_core::error::excerpt(name).into());
    app.hub
        .audit_action(&ctx, action, &arguments, outcome, started.elapsed());
}

/// One upstream: its definition without secret values, and its status.
#[utoipa::path(get, path = "/api/v1/upstreams/{name}", tag = "gateway",
    params(("name" = String, Path, description = "The upstream's name")),
    responses((status = 200, body = UpstreamView),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_upstream(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Response {
    let request_id = request_id(&headers);
    let manager = match Manager::of(&app, &caller) {
        Ok(manager) => manager,
        Err(error) => return refusal(error, &request_id),
    };
    match app.gateway.get(&name).await {
        Some(upstream) if manager.manages(&upstream) => {
            ApiJson(view(&app, &upstream)).into_response()
        }
        _ => no_such(&name, &request_id),
    }
}

/// Replaces an upstream added at runtime (its process is restarted).
#[utoipa::path(put, path = "/api/v1/upstreams/{name}", tag = "gateway",
    params(("name" = String, Path, description = "The upstream's name")),
    request_body(content = UpstreamSpec, description = "The new definition"),
    responses((status = 200, body = UpstreamView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn replace_upstream(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(spec): ApiJson<UpstreamSpec>,
) -> Response {
    let request_id = request_id(&headers);
    let started = Instant::now();
    let replaced = replace(&app, &caller, &name, spec).await;
    audit(
        &app,
        &caller,
        &request_id,
        "upstreams.replace",
        &name,
        replaced.as_ref().map(|_| ()),
        started,
    );
    match replaced {
        Ok(upstream) => ApiJson(view(&app, &upstream)).into_response(),
        Err(error) => refusal(error, &request_id),
    }
}

async fn replace(
    app: &App,
    caller: &Caller,
    name: &str,
    mut spec: UpstreamSpec,
) -> Result<Arc<Upstream>, HubError> {
    let manager = Manager::of(app, caller)?;
    if !app
        .gateway
        .get(name)
        .await
        .is_some_and(|upstream| manager.manages(&upstream))
    {
        return Err(not_managed(name));
    }
    manager.admit(app, &mut spec).await?;
    if spec.name.is_empty() {
        spec.name = name.to_string();
    }
    if spec.name != name {
        return Err(HubError::invalid_argument(
            "name",
            "differs from the one in the path",
        ));
    }
    app.gateway.replace(spec, &caller.principal.id).await
}

/// Stops an upstream added at runtime and forgets it.
#[utoipa::path(delete, path = "/api/v1/upstreams/{name}", tag = "gateway",
    params(("name" = String, Path, description = "The upstream's name")),
    responses((status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_upstream(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Response {
    let request_id = request_id(&headers);
    let started = Instant::now();
    let removed = async {
        let manager = Manager::of(&app, &caller)?;
        if !app
            .gateway
            .get(&name)
            .await
            .is_some_and(|upstream| manager.manages(&upstream))
        {
            return Err(not_managed(&name));
        }
        app.gateway.remove(&name).await
    }
    .await;
    audit(
        &app,
        &caller,
        &request_id,
        "upstreams.delete",
        &name,
        removed.as_ref().map(|_| ()),
        started,
    );
    match removed {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refusal(error, &request_id),
    }
}
