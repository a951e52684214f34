//! Federated MCP servers added at runtime, and the catalog cache of every upstream,
//! as the store keeps them: the definition without secret values, and those values
//! already sealed by the gateway (`tideway_core::secrets`). The tables are this
//! toolkit's (`migrations/*/0005_upstreams.sql`, `0006_upstream_tenants.sql`).

use chrono::{DateTime, Utc};

use tideway_core::on_store;
use tideway_core::{
    Store,
    store::{SealedColumn, StoreError},
};

/// Where an upstream's env values, headers and token are kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "upstream",
    table: "upstreams",
    keys: &["name"],
    column: "secret",
    context: "upstream",
};

/// One upstream as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamRecord {
    pub name: String,
    /// The tenant it belongs to; `None`: every tenant may use it.
    pub tenant: Option<String>,
    /// The definition as JSON, with env, header and token values removed.
    pub spec: serde_json::Value,
    /// The removed values, sealed; `None` when there were none.
    pub secret: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

type UpstreamRow = (
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn upstream_from_row(row: UpstreamRow) -> Result<UpstreamRecord, StoreError> {
    let (name, tenant, spec, secret, created_by, created_at, updated_at) = row;
    let spec = serde_json::from_str(&spec)
        .map_err(|error| StoreError::Invalid(format!("upstream {name}: spec: {error}")))?;
    Ok(UpstreamRecord {
        name,
        tenant,
        spec,
        secret,
        created_by,
        created_at,
        updated_at,
    })
}

/// Stores an upstream, replacing one of the same name (its creation time kept).
pub async fn put(store: &Store, record: &UpstreamRecord) -> Result<(), StoreError> {
    let spec = serde_json::to_string(&record.spec)
        .map_err(|error| StoreError::Invalid(error.to_string()))?;
    on_store!(store, pool => {
        sqlx::query(
            "INSERT INTO upstreams (name, tenant_id, spec, secret, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET \
             tenant_id = excluded.tenant_id, spec = excluded.spec, secret = excluded.secret, \
             updated_at = excluded.updated_at",
        )
        .bind(&record.name)
        .bind(&record.tenant)
        .bind(&spec)
        .bind(&record.secret)
        .bind(&record.created_by)
        .bind(record.created_at)
        .bind(record.updated_at)
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<UpstreamRecord>, StoreError> {
    let rows: Vec<UpstreamRow> = on_store!(store, pool => {
        sqlx::query_as(
            "SELECT name, tenant_id, spec, secret, created_by, created_at, updated_at FROM upstreams ORDER BY name",
        )
        .fetch_all(pool)
        .await
    })?;
    rows.into_iter().map(upstream_from_row).collect()
}

/// Removes an upstream and its cached catalog; `false` when there was none.
pub async fn delete(store: &Store, name: &str) -> Result<bool, StoreError> {
    let deleted = on_store!(store, pool => {
        async {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM upstreams WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM upstream_catalogs WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<u64, sqlx::Error>(done.rows_affected())
        }
        .await
    })?;
    Ok(deleted > 0)
}

/// Remembers the catalog an upstream served.
pub async fn put_catalog(
    store: &Store,
    name: &str,
    catalog: &serde_json::Value,
) -> Result<(), StoreError> {
    let catalog =
        serde_json::to_string(catalog).map_err(|error| StoreError::Invalid(error.to_string()))?;
    on_store!(store, pool => {
        sqlx::query(
            "INSERT INTO upstream_catalogs (name, catalog, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET catalog = excluded.catalog, fetched_at = excluded.fetched_at",
        )
        .bind(name)
        .bind(&catalog)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

pub async fn catalog(store: &Store, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let row: Option<(String,)> = on_store!(store, pool => {
        sqlx::query_as("SELECT catalog FROM upstream_catalogs WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
    })?;
    row.map(|(catalog,)| {
        serde_json::from_str(&catalog)
            .map_err(|error| StoreError::Invalid(format!("upstream {name}: catalog: {error}")))
    })
    .transpose()
}
