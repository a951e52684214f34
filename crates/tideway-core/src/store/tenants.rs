//! Tenants: the root every tenant-owned row hangs from.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError};
use crate::context::TenantId;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

type TenantRow = (String, String, DateTime<Utc>);

fn from_row((id, name, created_at): TenantRow) -> Tenant {
    Tenant {
        id,
        name,
        created_at,
    }
}

impl Store {
    /// Creates the tenant if it does not exist; returns it either way.
    pub async fn ensure_tenant(&self, id: &TenantId, name: &str) -> Result<Tenant, StoreError> {
        let now = Utc::now();
        match self {
            Store::Sqlite(pool) => {
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING")
                    .bind(id.as_str())
                    .bind(name)
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
            Store::Postgres(pool) => {
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                    .bind(id.as_str())
                    .bind(name)
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
        }
        self.tenant(id)
            .await?
            .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = ?")
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(row.map(from_row))
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = "SELECT id, name, created_at FROM tenants ORDER BY id";
        let rows: Vec<TenantRow> = match self {
            Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
            Store::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(from_row).collect())
    }
}
