//! JWT bearer tokens: HS256 with a shared secret, or RS256/ES256 (and their stronger
//! siblings) with public keys from a JWKS file or URL, refetched when a token names
//! a key id not seen yet (key rotation) and when the cache grows old. The algorithm a token may use
//! follows from where its key comes from, never from the token alone: an HS256 token
//! is only checked against the shared secret, and JWKS keys only verify asymmetric
//! signatures, so the classic "sign HS256 with the public key" confusion and `alg:
//! none` both fail. Issuer, audience (the resource URL by default), expiry and
//! not-before are checked. The tenant, roles and subject come from configurable
//! claims.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::RwLock,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{Jwk, JwkSet},
};
use serde_json::{Map, Value};
use tideway_core::{Role, TenantId, config::JwtConfig};
use tokio::sync::Mutex;

use super::AuthError;

/// What a verified token says about its bearer.
#[derive(Debug, PartialEq)]
pub struct Identity {
    pub tenant: TenantId,
    pub subject: String,
    pub role: Role,
}

enum JwksSource {
    Url(String),
    File(PathBuf),
}

struct JwksCache {
    keys: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Keys without a `kid`, tried when a token names none.
    anonymous: Vec<(DecodingKey, Option<Algorithm>)>,
    fetched: Option<Instant>,
}

pub struct JwtVerifier {
    secret: Option<DecodingKey>,
    jwks: Option<JwksSource>,
    cache: RwLock<JwksCache>,
    /// Serialises refetches, and remembers when the last one started.
    refetch: Mutex<Option<Instant>>,
    http: reqwest::Client,
    issuer: Option<String>,
    audience: Vec<String>,
    tenant_claim: String,
    roles_claim: String,
    subject_claim: String,
    default_role: Option<Role>,
    leeway: u64,
    cache_for: Duration,
    /// Refetching the JWKS for an unknown key id happens at most this often, so a
    /// flood of tokens with made-up key ids cannot turn into a flood of requests.
    min_refetch: Duration,
}

const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl JwtVerifier {
    pub fn new(config: &JwtConfig, resource_url: &str) -> Result<Self, AuthError> {
        let secret = match (&config.hs256_secret, &config.hs256_secret_file) {
            (Some(secret), _) => Some(secret.as_bytes().to_vec()),
            (None, Some(path)) => Some(
                std::fs::read(path)
                    .map(|mut bytes| {
                        while bytes.last().is_some_and(u8::is_ascii_whitespace) {
                            bytes.pop();
                        }
                        bytes
                    })
                    .map_err(|error| {
                        AuthError::Unavailable(format!(
                            "cannot read auth.jwt.hs256_secret_file {}: {error}",
                            path.display()
                        ))
                    })?,
            ),
            (None, None) => None,
        };
        if secret.as_ref().is_some_and(|secret| secret.len() < 32) {
            return Err(AuthError::Unavailable(
                "the HS256 secret must be at least 32 bytes".into(),
            ));
        }
        let jwks = match (&config.jwks_url, &config.jwks_file) {
            (Some(url), _) => Some(JwksSource::Url(url.clone())),
            (None, Some(path)) => Some(JwksSource::File(path.clone())),
            (None, None) => None,
        };
        let audience = if config.audience.is_empty() {
            vec![resource_url.to_string()]
        } else {
            config.audience.clone()
        };
        let http = crate::http_client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| AuthError::Unavailable(format!("HTTP client: {error}")))?;
        Ok(JwtVerifier {
            secret: secret.map(|secret| DecodingKey::from_secret(&secret)),
            jwks,
            cache: RwLock::new(JwksCache {
                keys: HashMap::new(),
                anonymous: Vec::new(),
                fetched: None,
            }),
            refetch: Mutex::new(None),
            http,
            issuer: config.issuer.clone(),
            audience,
            tenant_claim: config.tenant_claim.clone(),
            roles_claim: config.roles_claim.clone(),
            subject_claim: config.subject_claim.clone(),
            default_role: config.default_role,
            leeway: config.leeway_secs,
            cache_for: Duration::from_secs(config.jwks_cache_secs.max(10)),
            min_refetch: Duration::from_secs(config.jwks_min_refetch_secs),
        })
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_audience(&self.audience);
        let mut required = vec!["exp", "aud"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    /// Checks a token and reads who it names.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = decode_header(token)
            .map_err(|error| AuthError::Invalid(format!("malformed token header: {error}")))?;
        let algorithm = header.alg;
        let claims: Map<String, Value> = if algorithm == Algorithm::HS256 {
            let key = self.secret.as_ref().ok_or_else(|| {
                AuthError::Invalid("HS256 token but no shared secret is configured".into())
            })?;
            decode(token, key, &self.validation(algorithm))
                .map_err(|error| AuthError::Invalid(format!("token rejected: {error}")))?
                .claims
        } else if ASYMMETRIC.contains(&algorithm) {
            let key = self.public_key(header.kid.as_deref(), algorithm).await?;
            decode(token, &key, &self.validation(algorithm))
                .map_err(|error| AuthError::Invalid(format!("token rejected: {error}")))?
                .claims
        } else {
            return Err(AuthError::Invalid(format!(
                "token algorithm {algorithm:?} is not accepted"
            )));
        };
        self.identity(&claims)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let tenant = claims
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .filter(|tenant| TenantId::is_valid(tenant))
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "token has no usable '{}' claim (1-64 letters, digits, '_' or '-')",
                    self.tenant_claim
                ))
            })?;
        let subject = claims
            .get(&self.subject_claim)
            .and_then(Value::as_str)
            .filter(|subject| !subject.is_empty() && subject.len() <= 256)
            .ok_or_else(|| {
                AuthError::Invalid(format!("token has no '{}' claim", self.subject_claim))
            })?;
        let role = roles_in(claims.get(&self.roles_claim))
            .max()
            .or(self.default_role)
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "token has no recognised role in '{}' and auth.jwt.default_role is not set",
                    self.roles_claim
                ))
            })?;
        Ok(Identity {
            tenant: TenantId::new(tenant),
            subject: subject.to_string(),
            role,
        })
    }

    /// The public key for `kid`, refetching the JWKS when the id is unknown or the
    /// cache is old.
    async fn public_key(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<DecodingKey, AuthError> {
        if self.jwks.is_none() {
            return Err(AuthError::Invalid(format!(
                "{algorithm:?} token but no JWKS is configured"
            )));
        }
        if let Some(key) = self.cached_key(kid, algorithm)? {
            return Ok(key);
        }
        self.refetch().await?;
        self.cached_key(kid, algorithm)?.ok_or_else(|| {
            AuthError::Invalid(format!(
                "no JWKS key {} for {algorithm:?}",
                kid.map(|kid| format!("with id '{kid}'"))
                    .unwrap_or_else(|| "without an id".into())
            ))
        })
    }

    fn cached_key(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Option<DecodingKey>, AuthError> {
        let cache = match self.cache.read() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.fetched.is_none_or(|at| at.elapsed() > self.cache_for) {
            return Ok(None);
        }
        let found = match kid {
            Some(kid) => cache.keys.get(kid).cloned(),
            None if cache.anonymous.len() + cache.keys.len() == 1 => cache
                .anonymous
                .first()
                .cloned()
                .or_else(|| cache.keys.values().next().cloned()),
            None => cache.anonymous.first().cloned(),
        };
        match found {
            Some((_, Some(declared))) if declared != algorithm => Err(AuthError::Invalid(format!(
                "token says {algorithm:?} but its key is for {declared:?}"
            ))),
            Some((key, _)) => Ok(Some(key)),
            None => Ok(None),
        }
    }

    async fn refetch(&self) -> Result<(), AuthError> {
        let mut last = self.refetch.lock().await;
        if let Some(at) = *last
            && at.elapsed() < self.min_refetch
        {
            // Another request refetched just now; its result is in the cache (or it failed).
            return Ok(());
        }
        *last = Some(Instant::now());
        let set = self.load_jwks().await?;
        let mut keys = HashMap::new();
        let mut anonymous = Vec::new();
        for jwk in &set.keys {
            let Some(entry) = decoding_key(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.insert(kid.clone(), entry);
                }
                None => anonymous.push(entry),
            }
        }
        tracing::info!(keys = keys.len() + anonymous.len(), "JWKS loaded");
        let mut cache = match self.cache.write() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        *cache = JwksCache {
            keys,
            anonymous,
            fetched: Some(Instant::now()),
        };
        Ok(())
    }

    async fn load_jwks(&self) -> Result<JwkSet, AuthError> {
        match &self.jwks {
            Some(JwksSource::File(path)) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|error| {
                    AuthError::Unavailable(format!("reading JWKS {}: {error}", path.display()))
                })?;
                serde_json::from_str(&text).map_err(|error| {
                    AuthError::Unavailable(format!("JWKS {} is not valid: {error}", path.display()))
                })
            }
            Some(JwksSource::Url(url)) => {
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|error| {
                        AuthError::Unavailable(format!("fetching JWKS {url}: {error}"))
                    })?;
                response.json().await.map_err(|error| {
                    AuthError::Unavailable(format!("JWKS from {url} is not valid: {error}"))
                })
            }
            None => Err(AuthError::Invalid("no JWKS configured".into())),
        }
    }
}

/// A JWKS entry usable for signatures (symmetric `oct` keys in a JWKS are ignored:
/// a published key must never verify HMAC tokens).
fn decoding_key(jwk: &Jwk) -> Option<(DecodingKey, Option<Algorithm>)> {
    use jsonwebtoken::jwk::AlgorithmParameters;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let algorithm = jwk
        .common
        .key_algorithm
        .and_then(|algorithm| algorithm.to_string().parse::<Algorithm>().ok());
    DecodingKey::from_jwk(jwk).ok().map(|key| (key, algorithm))
}

/// Roles named by a claim: a string (space-separated, as OAuth scopes are) or an array
/// of strings; each value may carry a prefix (`tideway:admin`, `tideway.operator`).
fn roles_in(claim: Option<&Value>) -> impl Iterator<Item = Role> {
    let values: Vec<String> = match claim {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    values.into_iter().filter_map(|value| {
        let last = value.rsplit([':', '.', '/']).next().unwrap_or(&value);
        last.parse::<Role>().ok()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_are_read_from_strings_scopes_and_arrays() {
        let max = |value: Value| roles_in(Some(&value)).max();
        assert_eq!(max(json!("viewer")), Some(Role::Viewer));
        assert_eq!(
            max(json!("openid tideway:operator email")),
            Some(Role::Operator)
        );
        assert_eq!(max(json!(["tideway.viewer", "admin"])), Some(Role::Admin));
        assert_eq!(max(json!(["superuser", 3])), None);
        assert_eq!(roles_in(None).max(), None);
    }

    #[test]
    fn tenant_ids_from_tokens_are_checked() {
        assert!(TenantId::is_valid("acme-01"));
        for bad in ["", "a b", "../etc", "x".repeat(65).as_str(), "ü"] {
            assert!(!TenantId::is_valid(bad), "{bad}");
        }
    }
}
