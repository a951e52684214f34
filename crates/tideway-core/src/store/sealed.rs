//! Secrets the store keeps sealed under the master key, wherever a toolkit keeps
//! them: each toolkit names its sealed columns ([`SealedColumn`], in its descriptor)
//! and this file reads all of them and re-seals them under a new key in one
//! transaction (`tideway keys rotate-master`). A toolkit that stores a new kind of
//! secret declares its column, so a rotation can never leave one behind that the new
//! key cannot open.

use std::fmt;

use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use crate::{on_store, secrets::MasterKey};

/// A column holding sealed values, and how its rows are named.
#[derive(Debug, PartialEq, Eq)]
pub struct SealedColumn {
    /// What one secret there is, for messages: "database source".
    pub what: &'static str,
    pub table: &'static str,
    /// The text columns that name a row, most significant first.
    pub keys: &'static [&'static str],
    pub column: &'static str,
    /// The first part of the associated data; the key values follow, joined by ':'.
    pub context: &'static str,
}

impl SealedColumn {
    /// Where the secret of the row named by `keys` lives.
    pub fn at<I, S>(&'static self, keys: I) -> SealedAt
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SealedAt {
            column: self,
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Table and column names go into SQL text: only plain lower-case identifiers are
    /// accepted, and the declarations are constants in the toolkits' code.
    fn checked(&self) -> Result<(), StoreError> {
        let plain = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if plain(self.table) && plain(self.column) && self.keys.iter().all(|key| plain(key)) {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "sealed column {}.{} is not a plain identifier",
                self.table, self.column
            )))
        }
    }
}

/// Where a sealed secret lives. Its associated data ([`SealedAt::context`]) binds
/// the ciphertext to that place: copied to another row or tenant, it does not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedAt {
    pub column: &'static SealedColumn,
    /// The values of the column's `keys`, in order.
    pub keys: Vec<String>,
}

impl SealedAt {
    /// The associated data the secret is sealed with, `context:key:key`.
    pub fn context(&self) -> String {
        std::iter::once(self.column.context)
            .chain(self.keys.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl fmt::Display for SealedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.column.what, self.keys.join("/"))
    }
}

/// One sealed value and where it is stored.
#[derive(Clone, Debug)]
pub struct SealedSecret {
    pub at: SealedAt,
    pub sealed: String,
}

impl Store {
    /// Every sealed secret in the given columns, of every tenant.
    pub async fn sealed_secrets(
        &self,
        columns: &[&'static SealedColumn],
    ) -> Result<Vec<SealedSecret>, StoreError> {
        let mut secrets = Vec::new();
        for &column in columns {
            column.checked()?;
            let keys = column.keys.join(", ");
            let sql = format!(
                "SELECT {keys}, {value} FROM {table} WHERE {value} IS NOT NULL ORDER BY {keys}",
                value = column.column,
                table = column.table,
            );
            let width = column.keys.len();
            let rows: Vec<Vec<String>> = on_store!(self, pool => {
                async {
                    let rows = sqlx::query(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?;
                    rows.iter()
                        .map(|row| {
                            (0..=width)
                                .map(|index| row.try_get::<String, _>(index))
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                }
                .await
            })?;
            for mut row in rows {
                let sealed = row.pop().unwrap_or_default();
                secrets.push(SealedSecret {
                    at: column.at(row),
                    sealed,
                });
            }
        }
        Ok(secrets)
    }

    /// Re-seals every secret in the given columns under `next`, all or none, and
    /// returns how many. Nothing changes unless every secret opens under `current`;
    /// a row that changed since it was read fails the whole batch.
    pub async fn reseal_all(
        &self,
        columns: &[&'static SealedColumn],
        current: &MasterKey,
        next: &MasterKey,
    ) -> Result<usize, StoreError> {
        let secrets = self.sealed_secrets(columns).await?;
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
        let statements: Vec<String> = updates
            .iter()
            .map(|(secret, _)| {
                let column = secret.at.column;
                let matches: Vec<String> = column
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(index, key)| format!("{key} = ${}", index + 2))
                    .collect();
                format!(
                    "UPDATE {table} SET {value} = $1 WHERE {matches} AND {value} = ${last}",
                    table = column.table,
                    value = column.column,
                    matches = matches.join(" AND "),
                    last = column.keys.len() + 2,
                )
            })
            .collect();
        on_store!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                for ((secret, new), sql) in updates.iter().zip(&statements) {
                    let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(new);
                    for key in &secret.at.keys {
                        query = query.bind(key);
                    }
                    let done = query.bind(&secret.sealed).execute(&mut *tx).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    static ACCOUNTS: SealedColumn = SealedColumn {
        what: "cloud account",
        table: "cloud_accounts",
        keys: &["tenant_id", "name"],
        column: "secret",
        context: "cloud",
    };

    #[test]
    fn the_associated_data_names_the_kind_and_the_row() {
        let at = ACCOUNTS.at(["acme", "main"]);
        assert_eq!(at.context(), "cloud:acme:main");
        assert_eq!(at.to_string(), "cloud account 'acme/main'");
        assert_ne!(at.context(), ACCOUNTS.at(["globex", "main"]).context());
    }

    #[test]
    fn only_plain_identifiers_reach_sql() {
        assert!(ACCOUNTS.checked().is_ok());
        let hostile = SealedColumn {
            table: "accounts; DROP TABLE tenants",
            ..ACCOUNTS
        };
        assert!(hostile.checked().is_err());
    }
}
