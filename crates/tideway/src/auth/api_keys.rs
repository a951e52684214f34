//! API key verification with a short cache. A verified key is remembered for
//! `auth.key_cache_secs` with the digest of its secret, so a busy client costs one
//! hash and one map lookup per request rather than a store round trip. A key revoked
//! through this server is dropped from the cache at once; one revoked by another
//! process (the CLI, another replica) stops working when its cache entry expires.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tideway_core::{
    Store,
    store::{ApiKey, keys::parse_key},
};

use super::{AuthError, Caller};

/// Whether a credential has the shape of one of our keys (rather than a JWT).
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with("tw_")
}

/// A verified key as the caller it makes, so a cache hit costs a clone of a few
/// reference-counted fields rather than rebuilding the principal.
struct Cached {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
    secret_sha256: [u8; 32],
    fetched: Instant,
}

pub struct KeyVerifier {
    store: Store,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl KeyVerifier {
    pub fn new(store: Store, ttl_secs: u64) -> Self {
        KeyVerifier {
            store,
            ttl: Duration::from_secs(ttl_secs),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        match self.cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The caller the active key `credential` names (made by `make_caller` from the
    /// stored key on a cache miss), or why not.
    pub async fn verify(
        &self,
        credential: &str,
        make_caller: impl FnOnce(&ApiKey) -> Caller,
    ) -> Result<Caller, AuthError> {
        let presented =
            parse_key(credential).ok_or_else(|| AuthError::Invalid("malformed API key".into()))?;
        let presented_digest = digest(presented.secret);
        let now = Utc::now();
        {
            let cache = self.cache();
            if let Some(cached) = cache.get(presented.prefix)
                && cached.fetched.elapsed() < self.ttl
            {
                use subtle::ConstantTimeEq;
                if !bool::from(cached.secret_sha256.ct_eq(&presented_digest)) {
                    return Err(AuthError::Invalid(format!(
                        "API key {}: wrong secret",
                        presented.prefix
                    )));
                }
                if cached.expires_at.is_some_and(|expires| expires <= now) {
                    return Err(AuthError::Invalid(format!(
                        "API key {} has expired",
                        presented.prefix
                    )));
                }
                return Ok(cached.caller.clone());
            }
        }
        let key = self
            .store
            .verify_api_key(&presented)
            .await
            .map_err(|error| AuthError::Unavailable(format!("looking up an API key: {error}")))?
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "API key {}: unknown prefix or wrong secret",
                    presented.prefix
                ))
            })?;
        check_active(&key, now)?;
        // Recorded once per cache period per key, off the request's path.
        let store = self.store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(&id, now).await {
                tracing::warn!(%error, key = %id, "could not record the key's last use");
            }
        });
        let caller = make_caller(&key);
        self.cache().insert(
            key.prefix.clone(),
            Cached {
                caller: caller.clone(),
                expires_at: key.expires_at,
                secret_sha256: presented_digest,
                fetched: Instant::now(),
            },
        );
        Ok(caller)
    }

    /// Forgets a key at once (after it is revoked here).
    pub fn forget(&self, prefix: &str) {
        self.cache().remove(prefix);
    }
}

fn check_active(key: &ApiKey, now: chrono::DateTime<Utc>) -> Result<ApiKey, AuthError> {
    if key.revoked_at.is_some() {
        return Err(AuthError::Invalid(format!(
            "API key {} is revoked",
            key.prefix
        )));
    }
    if !key.is_active(now) {
        return Err(AuthError::Invalid(format!(
            "API key {} has expired",
            key.prefix
        )));
    }
    Ok(key.clone())
}
