//! Administration over REST, for the admin role of a tenant: API keys (list, create,
//! revoke) and the audit log. An admin manages its own tenant only; the tenant comes
//! from its credential. Every mutation here is itself audited.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tideway_core::{
    HubError, Role, ToolRules,
    store::{ApiKey, AuditEntry, AuditQuery, NewApiKey, StoreError},
};
use utoipa::{IntoParams, ToSchema};

use super::{
    problem::{ApiJson, Problem},
    tool_routes::Calls,
    toolkits::{call_context, request_id},
};
use crate::{app::App, auth::Caller};

/// The refusal for a caller that is not an admin; `None` lets it through.
fn refuse_unless_admin(caller: &Caller, request_id: &str) -> Option<Response> {
    if caller.principal.role < Role::Admin {
        return Some(
            Problem::from_hub(
                HubError::Forbidden(format!(
                    "this needs the admin role; this credential is a {}",
                    caller.principal.role
                )),
                request_id,
            )
            .into_response(),
        );
    }
    None
}

/// A store error as the Hub error it means here: invalid input, or a store failure.
fn hub_error(error: StoreError) -> HubError {
    match error {
        StoreError::Invalid(message) => HubError::InvalidArguments {
            field: "body".into(),
            message,
        },
        error => HubError::Store(error),
    }
}

fn store_problem(error: StoreError, request_id: &str) -> Response {
    Problem::from_hub(hub_error(error), request_id).into_response()
}

/// A key as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// The public part: keys look like `tw_{prefix}_…`.
    pub prefix: String,
    #[schema(value_type = Object)]
    pub rules: ToolRules,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyInfo {
    fn from(key: ApiKey) -> Self {
        KeyInfo {
            id: key.id,
            name: key.name,
            role: key.role,
            prefix: key.prefix,
            rules: key.rules,
            created_by: key.created_by,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// The tenant's API keys, newest first.
#[utoipa::path(get, path = "/api/v1/keys", tag = "admin",
    responses((status = 200, body = Vec<KeyInfo>), (status = 403, body = Problem)))]
pub async fn list_keys(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let request_id = request_id(&headers);
    if let Some(response) = refuse_unless_admin(&caller, &request_id) {
        return response;
    }
    match app.store.list_api_keys(Some(&caller.tenant)).await {
        Ok(keys) => {
            ApiJson(keys.into_iter().map(KeyInfo::from).collect::<Vec<_>>()).into_response()
        }
        Err(error) => store_problem(error, &request_id),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The whole key. It is shown this once; only its digest is kept.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// Creates a key for the caller's tenant. A key never exceeds its maker: its role is
/// no higher, it carries the maker's rules (so it calls nothing the maker could not),
/// and it expires no later than the maker's own key.
#[utoipa::path(post, path = "/api/v1/keys", tag = "admin", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateKey>,
) -> Response {
    let request_id = request_id(&headers);
    if let Some(response) = refuse_unless_admin(&caller, &request_id) {
        return response;
    }
    let started = Instant::now();
    let ctx = call_context(&Calls::of(&app), caller.clone(), &request_id);
    let arguments =
        json!({"name": body.name, "role": body.role, "allow": body.allow, "deny": body.deny});
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let created = match delegated_expiry(&caller, body.expires_at, body.role) {
        Ok(expires_at) => app
            .store
            .create_api_key(NewApiKey {
                tenant: caller.tenant.clone(),
                name: body.name,
                role: body.role,
                rules: ToolRules {
                    allow: body.allow,
                    deny: body.deny,
                },
                inherited_rules: caller.principal.credential_rules.to_vec(),
                expires_at,
                created_by: caller.principal.id.clone(),
            })
            .await
            .map_err(hub_error),
        Err(error) => Err(error),
    };
    app.hub.audit_action(
        &ctx,
        "keys.create",
        &arguments,
        created.as_ref().map(|_| ()),
        started.elapsed(),
    );
    match created {
        Ok((key, text)) => {
            tracing::info!(key = %key.prefix, role = %key.role, tenant = %key.tenant, "API key created");
            (
                StatusCode::CREATED,
                ApiJson(CreatedKey {
                    key: text,
                    info: key.into(),
                }),
            )
                .into_response()
        }
        Err(error) => Problem::from_hub(error, &request_id).into_response(),
    }
}

/// Revokes a key of the caller's tenant, by id or prefix. Takes effect at once on
/// this server.
#[utoipa::path(delete, path = "/api/v1/keys/{key}", tag = "admin",
    params(("key" = String, Path, description = "The key's id or prefix")),
    responses((status = 200, body = KeyInfo), (status = 404, body = Problem)))]
pub async fn revoke_key(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let request_id = request_id(&headers);
    if let Some(response) = refuse_unless_admin(&caller, &request_id) {
        return response;
    }
    let started = Instant::now();
    let ctx = call_context(&Calls::of(&app), caller.clone(), &request_id);
    let revoked = app.store.revoke_api_key(Some(&caller.tenant), &key).await;
    let arguments = json!({"key": key}).as_object().cloned().unwrap_or_default();
    let outcome = match &revoked {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(HubError::NotFound(format!(
            "no API key '{key}' in this tenant"
        ))),
        Err(error) => Err(HubError::internal(error)),
    };
    app.hub.audit_action(
        &ctx,
        "keys.revoke",
        &arguments,
        outcome.as_ref().map(|_| ()),
        started.elapsed(),
    );
    match revoked {
        Ok(Some(revoked)) => {
            if let Some(keys) = app.auth.keys() {
                keys.forget(&revoked.prefix);
            }
            tracing::info!(key = %revoked.prefix, tenant = %revoked.tenant, "API key revoked");
            ApiJson(KeyInfo::from(revoked)).into_response()
        }
        Ok(None) => Problem::from_hub(
            HubError::NotFound(format!("no API key '{key}' in this tenant")),
            &request_id,
        )
        .into_response(),
        Err(error) => store_problem(error, &request_id),
    }
}

/// The expiry a new key gets: what was asked, never later than the maker's own
/// credential (a maker that expires passes its expiry on when none is asked).
fn delegated_expiry(
    caller: &Caller,
    asked: Option<DateTime<Utc>>,
    role: Role,
) -> Result<Option<DateTime<Utc>>, HubError> {
    if role > caller.principal.role {
        return Err(HubError::Forbidden(format!(
            "a {} cannot make a key with the {role} role",
            caller.principal.role
        )));
    }
    if asked.is_some_and(|at| at <= Utc::now()) {
        return Err(HubError::invalid_argument("expires_at", "is in the past"));
    }
    match (asked, caller.principal.expires_at) {
        (Some(asked), Some(limit)) if asked > limit => Err(HubError::Forbidden(format!(
            "expires_at is after {}, when the key making it expires; a key cannot outlive its maker",
            limit.to_rfc3339()
        ))),
        (None, Some(limit)) => Ok(Some(limit)),
        (asked, _) => Ok(asked),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditFilters {
    /// `key:{prefix}`, `jwt:{subject}` or `local`.
    pub principal: Option<String>,
    pub toolkit: Option<String>,
    pub tool: Option<String>,
    /// `ok`, `tool_error` or `error`.
    pub outcome: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; entries before.
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the `next` cursor of the previous page).
    pub before: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<i64>,
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditFilters),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem)))]
pub async fn audit(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    filters: Result<Query<AuditFilters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let request_id = request_id(&headers);
    if let Some(response) = refuse_unless_admin(&caller, &request_id) {
        return response;
    }
    let Query(filters) = match filters {
        Ok(filters) => filters,
        Err(rejection) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                rejection.body_text(),
            )
            .with_request_id(&request_id)
            .into_response();
        }
    };
    let limit = filters.limit.unwrap_or(100).clamp(1, 1000);
    let query = AuditQuery {
        tenant: Some(caller.tenant.to_string()),
        principal: filters.principal,
        toolkit: filters.toolkit,
        tool: filters.tool,
        outcome: filters.outcome,
        since: filters.since,
        until: filters.until,
        before_id: filters.before,
        after_id: None,
        limit,
    };
    match app.store.query_audit(&query).await {
        Ok(entries) => {
            let next = (entries.len() == limit as usize)
                .then(|| entries.last().map(|entry| entry.id))
                .flatten();
            ApiJson(AuditPage { entries, next }).into_response()
        }
        Err(error) => store_problem(error, &request_id),
    }
}
