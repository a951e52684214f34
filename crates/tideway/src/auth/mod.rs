//! Authentication at the edge: turns the credential on a request (an API key, a JWT,
//! or none for the local user on loopback) into a [`Caller`]: tenant and principal,
//! with the tenant's and the key's tool rules attached. The tenant always comes from
//! the verified credential; no header or argument a client sets can change it.
//!
//! Failures say only "missing" or "invalid" to the client (with the
//! `WWW-Authenticate` challenge MCP clients use to discover the authorization
//! server); the precise reason goes to the log, never the credential itself.

pub mod api_keys;
pub mod edge;
pub mod jwt;
pub mod oauth;
pub mod rate;

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::http::{HeaderMap, header};
use tideway_core::{
    Config, Principal, Store, TenantId, ToolRules,
    config::{AuthMode, TenantConfig},
};

use self::{api_keys::KeyVerifier, jwt::JwtVerifier};

/// Who the edge decided is calling; placed in the request's extensions and read by
/// the MCP and REST faces.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub principal: Principal,
}

/// REST handlers take the caller as an argument. The edge layer always sets it on
/// routes that are not public; a route reached without it refuses rather than
/// falling back to anyone (fail closed).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = crate::api::problem::Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            crate::api::problem::Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this route needs an authenticated caller",
            )
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this endpoint needs a credential: an API key or a bearer token")]
    Missing,
    /// The credential was refused; the reason is for the log only.
    #[error("the credential is not valid")]
    Invalid(String),
    /// The credential could not be checked (the JWKS endpoint is down, the store fails).
    #[error("the credential cannot be checked right now; try again shortly")]
    Unavailable(String),
}

impl AuthError {
    /// Why, for the log (never includes the credential).
    pub fn reason(&self) -> &str {
        match self {
            AuthError::Missing => "no credential",
            AuthError::Invalid(reason) | AuthError::Unavailable(reason) => reason,
        }
    }
}

/// Verifies credentials according to the configured modes.
pub struct Authenticator {
    modes: Vec<AuthMode>,
    keys: Option<KeyVerifier>,
    jwt: Option<JwtVerifier>,
    store: Store,
    local: Caller,
    tenant_rules: BTreeMap<String, ToolRules>,
    /// Tenants known to exist in the store (token tenants are created on first sight).
    known_tenants: Mutex<HashSet<String>>,
}

impl Authenticator {
    pub fn new(config: &Config, store: Store, local: Caller) -> Result<Self, AuthError> {
        let modes = config.auth.modes.clone();
        let keys = modes
            .contains(&AuthMode::ApiKey)
            .then(|| KeyVerifier::new(store.clone(), config.auth.key_cache_secs));
        let jwt = if modes.contains(&AuthMode::Jwt) {
            Some(JwtVerifier::new(&config.auth.jwt, &config.resource_url())?)
        } else {
            None
        };
        Ok(Authenticator {
            modes,
            keys,
            jwt,
            store,
            local,
            tenant_rules: config
                .tenants
                .iter()
                .map(|(id, tenant): (&String, &TenantConfig)| (id.clone(), tenant.rules()))
                .collect(),
            known_tenants: Mutex::new(HashSet::new()),
        })
    }

    pub fn allows_anonymous(&self) -> bool {
        self.modes.contains(&AuthMode::None)
    }

    pub fn uses_jwt(&self) -> bool {
        self.jwt.is_some()
    }

    pub fn keys(&self) -> Option<&KeyVerifier> {
        self.keys.as_ref()
    }

    /// The caller a request's headers prove, or why not.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let credential = credential(headers)?;
        let Some(credential) = credential else {
            return if self.allows_anonymous() {
                Ok(self.local.clone())
            } else {
                Err(AuthError::Missing)
            };
        };
        if api_keys::looks_like_key(credential) {
            let verifier = self.keys.as_ref().ok_or_else(|| {
                AuthError::Invalid("API keys are not enabled (auth.modes)".into())
            })?;
            return verifier
                .verify(credential, |key| {
                    // A key's rules are its maker's chain and then its own.
                    let mut chain = key.inherited_rules.clone();
                    chain.push(key.rules.clone());
                    let principal = Principal::new(
                        format!("key:{}", key.prefix),
                        key.role,
                        tideway_core::Credential::ApiKey,
                    )
                    .with_credential(chain.clone(), key.expires_at);
                    self.caller(TenantId::new(&key.tenant), principal, chain)
                })
                .await;
        }
        let verifier = self.jwt.as_ref().ok_or_else(|| {
            AuthError::Invalid("bearer tokens are not enabled (auth.modes)".into())
        })?;
        let identity = verifier.verify(credential).await?;
        self.ensure_tenant(&identity.tenant).await?;
        let principal = Principal::new(
            format!("jwt:{}", identity.subject),
            identity.role,
            tideway_core::Credential::Jwt,
        );
        Ok(self.caller(identity.tenant, principal, Vec::new()))
    }

    /// A caller with the tenant's rules (if configured) and the credential's own.
    fn caller(
        &self,
        tenant: TenantId,
        principal: Principal,
        credential_rules: Vec<ToolRules>,
    ) -> Caller {
        let mut rules = Vec::new();
        if let Some(tenant_rules) = self.tenant_rules.get(tenant.as_str()) {
            rules.push(tenant_rules.clone());
        }
        rules.extend(credential_rules);
        Caller {
            principal: principal.with_rules(rules).with_tenant(tenant.clone()),
            tenant,
        }
    }

    async fn ensure_tenant(&self, tenant: &TenantId) -> Result<(), AuthError> {
        if self.known_tenants().contains(tenant.as_str()) {
            return Ok(());
        }
        self.store
            .ensure_tenant(tenant, tenant.as_str())
            .await
            .map_err(|error| AuthError::Unavailable(format!("creating tenant: {error}")))?;
        self.known_tenants().insert(tenant.to_string());
        Ok(())
    }

    fn known_tenants(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        match self.known_tenants.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The credential on a request: `Authorization: Bearer …` or `X-API-Key`. A header
/// that is present but unusable is an error, not "no credential": a client that
/// meant to authenticate must not silently become the local user.
fn credential(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| AuthError::Invalid("Authorization header is not ASCII".into()))?;
        let (scheme, token) = value
            .split_once(' ')
            .ok_or_else(|| AuthError::Invalid("Authorization header has no scheme".into()))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Invalid(format!(
                "Authorization scheme '{}' is not supported; use Bearer",
                scheme.chars().take(16).collect::<String>()
            )));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > 8192 {
            return Err(AuthError::Invalid(
                "bearer token is empty or too long".into(),
            ));
        }
        return Ok(Some(token));
    }
    if let Some(value) = headers.get("x-api-key") {
        let value = value
            .to_str()
            .map_err(|_| AuthError::Invalid("X-API-Key header is not ASCII".into()))?
            .trim();
        if value.is_empty() || value.len() > 512 {
            return Err(AuthError::Invalid("X-API-Key is empty or too long".into()));
        }
        return Ok(Some(value));
    }
    Ok(None)
}

/// Builds the authenticator shared by the HTTP edge.
pub fn authenticator(
    config: &Config,
    store: &Store,
    local: Caller,
) -> Result<Arc<Authenticator>, AuthError> {
    Authenticator::new(config, store.clone(), local).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn credentials_are_read_from_bearer_or_api_key_headers() {
        assert_eq!(credential(&HeaderMap::new()).ok().flatten(), None);
        assert_eq!(
            credential(&headers("authorization", "Bearer abc.def.ghi"))
                .ok()
                .flatten(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            credential(&headers("authorization", "bearer tw_x"))
                .ok()
                .flatten(),
            Some("tw_x")
        );
        assert_eq!(
            credential(&headers("x-api-key", "tw_key")).ok().flatten(),
            Some("tw_key")
        );
    }

    #[test]
    fn unusable_authorization_headers_are_errors_not_anonymous() {
        for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "token"] {
            assert!(
                credential(&headers("authorization", value)).is_err(),
                "{value}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(9000));
        assert!(credential(&headers("authorization", &long)).is_err());
    }
}
