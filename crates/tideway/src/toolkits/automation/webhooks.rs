//! Inbound webhook endpoints in the store: a tenant's named endpoints, each reached
//! at `/hooks/{tenant}/{name}` or at an unguessable `/hooks/{token}`, with what it
//! starts, how deliveries are signed, and the signing secret sealed under the master
//! key (shown once, when made or rotated).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Store, TenantId, context::DelegatedPrincipal, on_store,
    secrets::MasterKey, store::SealedColumn,
};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{
    now_ms,
    schedules::check_name,
    signature::{Signing, new_secret},
    target::Target,
};

/// Where an endpoint's signing secret is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "webhook signing secret",
    table: "automation_webhooks",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "automation-webhook",
};

/// An endpoint as the tenant's admin gives it.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// 1-64 lower-case letters, digits, '_' or '-'.
    pub name: String,
    pub target: Target,
    /// `tideway` (default: `X-Signature` over `X-Timestamp` and the body), `github`
    /// (`X-Hub-Signature-256`), or `none`: anyone who knows the URL may start the
    /// target, so only when asked for by name.
    #[serde(default)]
    pub signing: Signing,
    #[serde(default)]
    pub description: Option<String>,
}

/// An endpoint as shown (never its secret).
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct WebhookView {
    pub name: String,
    /// The path by name, `/hooks/{tenant}/{name}`.
    pub path: String,
    /// The same endpoint at an unguessable path, for senders that should not learn
    /// the tenant's id.
    pub secret_path: String,
    pub target: Target,
    pub signing: Signing,
    pub description: Option<String>,
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// A new or rotated endpoint, with its secret: the only time it is shown.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret; keep it, it is not shown again. Absent when unsigned.
    pub secret: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub tenant_id: String,
    pub name: String,
    pub token: String,
    pub target: String,
    pub signing: String,
    pub secret: Option<String>,
    pub principal: String,
    pub description: Option<String>,
    pub created_by: String,
    pub created_ms: i64,
}

impl WebhookRow {
    pub fn signing(&self) -> Signing {
        // An unreadable value is taken as the strictest scheme, never as unsigned.
        Signing::parse(&self.signing).unwrap_or_default()
    }

    pub fn target(&self) -> Result<Target, HubError> {
        serde_json::from_str(&self.target).map_err(HubError::internal)
    }

    pub fn principal(&self) -> Result<DelegatedPrincipal, HubError> {
        serde_json::from_str(&self.principal).map_err(HubError::internal)
    }

    pub fn view(&self) -> Result<WebhookView, HubError> {
        Ok(WebhookView {
            path: format!("/hooks/{}/{}", self.tenant_id, self.name),
            secret_path: format!("/hooks/{}", self.token),
            name: self.name.clone(),
            target: self.target()?,
            signing: self.signing(),
            description: self.description.clone(),
            created_by: self.created_by.clone(),
            created_at: DateTime::from_timestamp_millis(self.created_ms),
        })
    }

    /// The start key of a delivery: by the sender's delivery id, or the signature.
    pub fn key(&self, delivery: &str) -> String {
        format!("webhook:{}:{}:{delivery}", self.name, self.created_ms)
    }
}

macro_rules! columns {
    () => {
        "tenant_id, name, token, target, signing, secret, principal, description, created_by, created_ms"
    };
}

fn missing(name: &str) -> HubError {
    HubError::NotFound(format!(
        "no webhook '{}'",
        tideway_core::error::excerpt(name)
    ))
}

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    key: Arc<MasterKey>,
}

impl Webhooks {
    pub fn new(store: Store, key: Arc<MasterKey>) -> Self {
        Webhooks { store, key }
    }

    fn seal(&self, tenant: &str, name: &str, secret: &str) -> Result<String, HubError> {
        self.key
            .seal(secret, &SEALED.at([tenant, name]).context())
            .map_err(HubError::internal)
    }

    /// Opens an endpoint's secret to check a delivery.
    pub fn secret(&self, row: &WebhookRow) -> Result<Option<Zeroizing<String>>, HubError> {
        match &row.secret {
            None => Ok(None),
            Some(sealed) => self
                .key
                .open(
                    sealed,
                    &SEALED
                        .at([row.tenant_id.as_str(), row.name.as_str()])
                        .context(),
                )
                .map(Some)
                .map_err(HubError::internal),
        }
    }

    /// Records an endpoint acting as `ctx`'s principal; the secret comes back once.
    pub async fn create(
        &self,
        ctx: &CallContext,
        input: &WebhookInput,
    ) -> Result<WebhookWithSecret, HubError> {
        check_name(&input.name)?;
        let secret = match input.signing {
            Signing::None => None,
            _ => Some(Zeroizing::new(new_secret().map_err(HubError::Internal)?)),
        };
        let sealed = match &secret {
            Some(secret) => Some(self.seal(ctx.tenant.as_str(), &input.name, secret)?),
            None => None,
        };
        let token = new_token()?;
        let principal = serde_json::to_string(&DelegatedPrincipal::of(&ctx.principal))
            .map_err(HubError::internal)?;
        let target = serde_json::to_string(&input.target).map_err(HubError::internal)?;
        let now = now_ms();
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_webhooks (tenant_id, name, token, target, signing, secret, principal, description, created_by, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.tenant.as_str())
            .bind(&input.name)
            .bind(&token)
            .bind(&target)
            .bind(input.signing.as_str())
            .bind(&sealed)
            .bind(&principal)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 0 {
            return Err(HubError::Conflict(format!(
                "a webhook named '{}' exists; delete it first or choose another name",
                input.name
            )));
        }
        let row = self.get(&ctx.tenant, &input.name).await?;
        Ok(WebhookWithSecret {
            webhook: row.view()?,
            secret: secret.map(|secret| secret.to_string()),
        })
    }

    /// A new secret for a signed endpoint; the old one stops working at once.
    pub async fn rotate(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<WebhookWithSecret, HubError> {
        let row = self.get(tenant, name).await?;
        if row.signing() == Signing::None {
            return Err(HubError::invalid_argument(
                "name",
                "this webhook is unsigned and has no secret; delete it and make a signed one",
            ));
        }
        let secret = Zeroizing::new(new_secret().map_err(HubError::Internal)?);
        let sealed = self.seal(tenant.as_str(), name, &secret)?;
        on_store!(&self.store, pool => {
            sqlx::query("UPDATE automation_webhooks SET secret = $3, updated_ms = $4 WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .bind(&sealed)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(WebhookWithSecret {
            webhook: row.view()?,
            secret: Some(secret.to_string()),
        })
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<WebhookRow>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_webhooks WHERE tenant_id = $1 ORDER BY name"))
                .bind(tenant.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<WebhookRow, HubError> {
        self.find(tenant.as_str(), name)
            .await?
            .ok_or_else(|| missing(name))
    }

    /// The endpoint at `/hooks/{tenant}/{name}`, if there is one.
    pub async fn find(&self, tenant: &str, name: &str) -> Result<Option<WebhookRow>, HubError> {
        let row = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_webhooks WHERE tenant_id = $1 AND name = $2"))
                .bind(tenant)
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row)
    }

    /// The endpoint at `/hooks/{token}`, if there is one.
    pub async fn find_by_token(&self, token: &str) -> Result<Option<WebhookRow>, HubError> {
        let row = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_webhooks WHERE token = $1"))
                .bind(token)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row)
    }

    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_webhooks WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(missing(name));
        }
        Ok(())
    }
}

/// An unguessable path segment: 24 random bytes, URL-safe base64 (32 characters).
fn new_token() -> Result<String, HubError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| HubError::Internal("no randomness available".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
