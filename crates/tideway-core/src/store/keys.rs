//! API keys. A key is `tw_{prefix}_{secret}`: the prefix (12 characters) is the lookup
//! handle and may appear in logs and listings; the secret (43 characters, 256 bits)
//! is shown once at creation and only its SHA-256 is kept. Verification looks the
//! row up by prefix and compares digests in constant time. A plain hash suffices
//! because the secret is random and long; a slow password hash would only slow every
//! request.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::{
    access::{Role, ToolRules},
    context::TenantId,
    on_store,
};

const KEY_PREFIX: &str = "tw_";
const PREFIX_CHARS: usize = 12;
const SECRET_BYTES: usize = 32;

/// A stored key, without its secret.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub role: Role,
    /// The public part, as shown in `tw_{prefix}_…`.
    pub prefix: String,
    pub rules: ToolRules,
    /// The rules of the key that made this one (and of its maker, and so on): each
    /// must permit a call too, so a key never calls more than its maker could.
    pub inherited_rules: Vec<ToolRules>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key may be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// What creating a key needs.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub tenant: TenantId,
    pub name: String,
    pub role: Role,
    pub rules: ToolRules,
    /// The maker's own rules chain, when a key makes the key.
    pub inherited_rules: Vec<ToolRules>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
}

/// A key as presented by a client, split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub prefix: &'a str,
    pub secret: &'a str,
}

/// Splits `tw_{prefix}_{secret}`; anything else is not one of our keys.
pub fn parse_key(text: &str) -> Option<PresentedKey<'_>> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_at_checked(PREFIX_CHARS)?;
    let secret = secret.strip_prefix('_')?;
    let base64ish = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (base64ish(prefix) && !secret.is_empty() && secret.len() <= 128 && base64ish(secret))
        .then_some(PresentedKey { prefix, secret })
}

fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random_text(bytes: usize) -> Result<String, StoreError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|error| StoreError::Invalid(format!("no randomness available: {error}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer))
}

type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

const KEY_COLUMNS: &str = "id, tenant_id, name, role, prefix, secret_sha256, CAST(rules AS TEXT), \
     CAST(inherited_rules AS TEXT), created_by, created_at, expires_at, revoked_at, last_used_at";

fn key_from_row(row: KeyRow) -> Result<(ApiKey, Vec<u8>), StoreError> {
    let (
        id,
        tenant,
        name,
        role,
        prefix,
        digest,
        rules,
        inherited_rules,
        created_by,
        created_at,
        expires_at,
        revoked_at,
        last_used_at,
    ) = row;
    let role = role
        .parse::<Role>()
        .map_err(|error| StoreError::Invalid(format!("key {id}: {error}")))?;
    let rules: ToolRules = serde_json::from_str(&rules)
        .map_err(|error| StoreError::Invalid(format!("key {id}: rules: {error}")))?;
    let inherited_rules: Vec<ToolRules> = serde_json::from_str(&inherited_rules)
        .map_err(|error| StoreError::Invalid(format!("key {id}: inherited rules: {error}")))?;
    Ok((
        ApiKey {
            id,
            tenant,
            name,
            role,
            prefix,
            rules,
            inherited_rules,
            created_by,
            created_at,
            expires_at,
            revoked_at,
            last_used_at,
        },
        digest,
    ))
}

impl Store {
    /// Creates a key and returns it with its full text, which is never available again.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<(ApiKey, String), StoreError> {
        let name = new.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::Invalid(
                "a key needs a name of 1 to 200 characters".into(),
            ));
        }
        new.rules.validate().map_err(StoreError::Invalid)?;
        if self.tenant(&new.tenant).await?.is_none() {
            return Err(StoreError::Invalid(format!(
                "tenant '{}' does not exist",
                new.tenant
            )));
        }
        let id = uuid::Uuid::now_v7().to_string();
        // The prefix is random too, so listing keys reveals nothing about their secrets.
        let prefix: String = random_text(12)?.chars().take(PREFIX_CHARS).collect();
        let secret = random_text(SECRET_BYTES)?;
        let now = super::now();
        let rules = serde_json::to_string(&new.rules)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let inherited: Vec<&ToolRules> = new
            .inherited_rules
            .iter()
            .filter(|rules| !rules.is_empty())
            .collect();
        let inherited_text = serde_json::to_string(&inherited)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let sql = match self {
            Store::Sqlite(_) => {
                "INSERT INTO api_keys (id, tenant_id, name, role, prefix, secret_sha256, rules, created_by, created_at, expires_at, inherited_rules) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            }
            Store::Postgres(_) => {
                "INSERT INTO api_keys (id, tenant_id, name, role, prefix, secret_sha256, rules, created_by, created_at, expires_at, inherited_rules) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11::jsonb)"
            }
        };
        on_store!(self, pool => {
            sqlx::query(sql)
                .bind(&id)
                .bind(new.tenant.as_str())
                .bind(name)
                .bind(new.role.as_str())
                .bind(&prefix)
                .bind(secret_digest(&secret))
                .bind(&rules)
                .bind(&new.created_by)
                .bind(now)
                .bind(new.expires_at)
                .bind(&inherited_text)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        let key = ApiKey {
            id,
            tenant: new.tenant.to_string(),
            name: name.to_string(),
            role: new.role,
            prefix: prefix.clone(),
            rules: new.rules,
            inherited_rules: inherited.into_iter().cloned().collect(),
            created_by: new.created_by,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        Ok((key, format!("{KEY_PREFIX}{prefix}_{secret}")))
    }

    /// The key a client presented, if it exists and its secret matches (whether it is
    /// still active is the caller's check, so it can say "revoked" or "expired").
    pub async fn verify_api_key(
        &self,
        presented: &PresentedKey<'_>,
    ) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1");
        let row: Option<KeyRow> = on_store!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(presented.prefix).fetch_optional(pool).await
        })?;
        let Some(row) = row else {
            // Spend the same work as a match, so timing does not tell whether a prefix exists.
            let _ = constant_time_eq(&secret_digest(presented.secret), &[0u8; 32]);
            return Ok(None);
        };
        let (key, stored) = key_from_row(row)?;
        Ok(constant_time_eq(&secret_digest(presented.secret), &stored).then_some(key))
    }

    /// Keys of one tenant (or of every tenant), newest first, secrets never included.
    pub async fn list_api_keys(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let filter = match self {
            Store::Sqlite(_) => "$1 IS NULL OR tenant_id = $1",
            // PostgreSQL must know the parameter's type even when it is NULL.
            Store::Postgres(_) => "$1::text IS NULL OR tenant_id = $1",
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {filter} ORDER BY tenant_id, created_at DESC, id DESC"
        );
        let tenant = tenant.map(TenantId::as_str);
        let rows: Vec<KeyRow> = on_store!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|row| key_from_row(row).map(|(key, _)| key))
            .collect()
    }

    /// Revokes a key by id or prefix. With a tenant, only that tenant's keys can be
    /// revoked (a key of another tenant is "not found"). Returns the key as revoked,
    /// or `None` when there is no such key.
    pub async fn revoke_api_key(
        &self,
        tenant: Option<&TenantId>,
        id_or_prefix: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let now = super::now();
        let tenant = tenant.map(TenantId::as_str);
        let sql = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
                   WHERE (id = $2 OR prefix = $2) AND ($3 IS NULL OR tenant_id = $3)";
        let sql = match self {
            Store::Sqlite(_) => sql.to_string(),
            Store::Postgres(_) => sql.replace("$3 IS NULL", "$3::text IS NULL"),
        };
        let updated = on_store!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(id_or_prefix).bind(tenant).execute(pool).await.map(|done| done.rows_affected())
        })?;
        if updated == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 OR prefix = $1");
        let row: Option<KeyRow> = on_store!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id_or_prefix).fetch_optional(pool).await
        })?;
        row.map(|row| key_from_row(row).map(|(key, _)| key))
            .transpose()
    }

    /// Notes that a key was used (called at most once a minute per key by the verifier).
    pub async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        on_store!(self, pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(at).bind(id).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    left.len() == right.len() && bool::from(left.ct_eq(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_only_in_their_own_shape() {
        let key = parse_key("tw_abcdefghijkl_c2VjcmV0LXNlY3JldA").expect("parses");
        assert_eq!(key.prefix, "abcdefghijkl");
        assert_eq!(key.secret, "c2VjcmV0LXNlY3JldA");
        for bad in [
            "",
            "tw_",
            "tw_short",
            "tw_abcdefghijkl",
            "tw_abcdefghijkl_",
            "tw_abcdefghijklXsecret",
            "xx_abcdefghijkl_secret",
            "tw_abcdef ghijkl_secret",
            "tw_abcdefghijkl_sec ret",
            "tw_ä€€€€€€_secret",
        ] {
            assert!(parse_key(bad).is_none(), "{bad:?}");
        }
    }
}
