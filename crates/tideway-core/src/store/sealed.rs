//! Every secret the store keeps sealed under the master key, in one place: where
//! each sealed column is, the associated data it is sealed with, and the re-sealing
//! of all of them under a new key in one transaction (`tideway keys rotate-master`).
//! A feature that stores a new kind of secret adds its column here, so a rotation can
//! never leave one behind that the new key cannot open.

use std::fmt;

use super::{Store, StoreError};
use crate::{on_store, secrets::MasterKey};

/// Where a sealed secret lives. Its associated data ([`SealedAt::context`]) binds
/// the ciphertext to that place: copied to another row or tenant, it does not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealedAt {
    /// A database source's password (`sources.secret`).
    Source { tenant: String, name: String },
    /// A federated upstream's env values, headers and token (`upstreams.secret`).
    Upstream { name: String },
    /// A language-model provider's API key (`model_providers.secret`).
    ModelProvider { tenant: String, name: String },
}

impl SealedAt {
    pub fn source(tenant: &str, name: &str) -> Self {
        SealedAt::Source {
            tenant: tenant.to_string(),
            name: name.to_string(),
        }
    }

    pub fn upstream(name: &str) -> Self {
        SealedAt::Upstream {
            name: name.to_string(),
        }
    }

    pub fn model_provider(tenant: &str, name: &str) -> Self {
        SealedAt::ModelProvider {
            tenant: tenant.to_string(),
            name: name.to_string(),
        }
    }

    /// The associated data the secret is sealed with.
    pub fn context(&self) -> String {
        match self {
            SealedAt::Source { tenant, name } => format!("source:{tenant}:{name}"),
            SealedAt::Upstream { name } => format!("upstream:{name}"),
            SealedAt::ModelProvider { tenant, name } => format!("model:{tenant}:{name}"),
        }
    }
}

impl fmt::Display for SealedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedAt::Source { tenant, name } => write!(f, "source '{name}' of tenant '{tenant}'"),
            SealedAt::Upstream { name } => write!(f, "upstream '{name}'"),
            SealedAt::ModelProvider { tenant, name } => {
                write!(f, "model provider '{name}' of tenant '{tenant}'")
            }
        }
    }
}

/// One sealed value and where it is stored.
#[derive(Clone, Debug)]
pub struct SealedSecret {
    pub at: SealedAt,
    pub sealed: String,
}

impl Store {
    /// Every sealed secret in the store, of every tenant and kind.
    pub async fn sealed_secrets(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let sources: Vec<(String, String, String)> = on_store!(self, pool => {
            sqlx::query_as(
                "SELECT tenant_id, name, secret FROM sources WHERE secret IS NOT NULL ORDER BY tenant_id, name",
            )
            .fetch_all(pool)
            .await
        })?;
        let upstreams: Vec<(String, String)> = on_store!(self, pool => {
            sqlx::query_as(
                "SELECT name, secret FROM upstreams WHERE secret IS NOT NULL ORDER BY name",
            )
            .fetch_all(pool)
            .await
        })?;
        let providers: Vec<(String, String, String)> = on_store!(self, pool => {
            sqlx::query_as(
                "SELECT tenant_id, name, secret FROM model_providers WHERE secret IS NOT NULL ORDER BY tenant_id, name",
            )
            .fetch_all(pool)
            .await
        })?;
        let providers = providers
            .into_iter()
            .map(|(tenant, name, sealed)| SealedSecret {
                at: SealedAt::ModelProvider { tenant, name },
                sealed,
            });
        let sources = sources
            .into_iter()
            .map(|(tenant, name, sealed)| SealedSecret {
                at: SealedAt::Source { tenant, name },
                sealed,
            });
        let upstreams = upstreams.into_iter().map(|(name, sealed)| SealedSecret {
            at: SealedAt::Upstream { name },
            sealed,
        });
        Ok(sources.chain(upstreams).chain(providers).collect())
    }

    /// Re-seals every secret under `next`, all or none, and returns how many. Nothing
    /// changes unless every secret opens under `current`; a row that changed since it
    /// was read fails the whole batch.
    pub async fn reseal_all(
        &self,
        current: &MasterKey,
        next: &MasterKey,
    ) -> Result<usize, StoreError> {
        let secrets = self.sealed_secrets().await?;
        let mut updates = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let context = secret.at.context();
            let plain = current.open(&secret.sealed, &context).map_err(|error| {
                StoreError::Invalid(format!("{} cannot be opened: {error}", secret.at))
            })?;
            let resealed = next
                .seal(&plain, &context)
                .map_err(|error| StoreError::Invalid(error.to_string()))?;
            updates.push((secret, resealed));
        }
        self.replace_sealed(&updates).await?;
        Ok(updates.len())
    }

    async fn replace_sealed(&self, updates: &[(SealedSecret, String)]) -> Result<(), StoreError> {
        on_store!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                for (secret, new) in updates {
                    let done = match &secret.at {
                        SealedAt::Source { tenant, name } => sqlx::query(
                            "UPDATE sources SET secret = $1 WHERE tenant_id = $2 AND name = $3 AND secret = $4",
                        )
                        .bind(new)
                        .bind(tenant)
                        .bind(name)
                        .bind(&secret.sealed)
                        .execute(&mut *tx)
                        .await?,
                        SealedAt::Upstream { name } => sqlx::query(
                            "UPDATE upstreams SET secret = $1 WHERE name = $2 AND secret = $3",
                        )
                        .bind(new)
                        .bind(name)
                        .bind(&secret.sealed)
                        .execute(&mut *tx)
                        .await?,
                        SealedAt::ModelProvider { tenant, name } => sqlx::query(
                            "UPDATE model_providers SET secret = $1 WHERE tenant_id = $2 AND name = $3 AND secret = $4",
                        )
                        .bind(new)
                        .bind(tenant)
                        .bind(name)
                        .bind(&secret.sealed)
                        .execute(&mut *tx)
                        .await?,
                    };
                    if done.rows_affected() != 1 {
                        return Err(sqlx::Error::RowNotFound);
                    }
                }
                tx.commit().await
            }
            .await
        })
        .map_err(|error| match error {
            sqlx::Error::RowNotFound => StoreError::Invalid(
                "a secret changed while it was being re-sealed; nothing was changed, run the rotation again".into(),
            ),
            other => StoreError::Query(other),
        })
    }
}
