//! Registered database sources as the store keeps them, per tenant: the settings as
//! JSON and the password already sealed by the service (`tideway_core::secrets`), so
//! no plaintext credential ever reaches a row. The table is this toolkit's
//! (`migrations/*/0004_sources.sql`).

use chrono::{DateTime, Utc};
// Every dynamic statement here is assembled from constants in this file.
use sqlx::AssertSqlSafe;

use tideway_core::{
    Store,
    store::{SealedColumn, StoreError},
};
use tideway_core::{TenantId, on_store};

/// Where a source's password is kept sealed.
pub static SEALED: SealedColumn = SealedColumn {
    what: "database source",
    table: "sources",
    keys: &["tenant_id", "name"],
    column: "secret",
    context: "source",
};

/// One source as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRecord {
    pub tenant: String,
    pub name: String,
    pub kind: String,
    /// Connection settings without the password (host, port, database, user, …).
    pub settings: serde_json::Value,
    /// The password, sealed; `None` when the source needs none (SQLite).
    pub secret: Option<String>,
    pub read_write: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

type SourceRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    bool,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
);

const SOURCE_COLUMNS: &str =
    "tenant_id, name, kind, settings, secret, read_write, created_by, created_at, updated_at";

fn source_from_row(row: SourceRow) -> Result<SourceRecord, StoreError> {
    let (tenant, name, kind, settings, secret, read_write, created_by, created_at, updated_at) =
        row;
    let settings = serde_json::from_str(&settings)
        .map_err(|error| StoreError::Invalid(format!("source {name}: settings: {error}")))?;
    Ok(SourceRecord {
        tenant,
        name,
        kind,
        settings,
        secret,
        read_write,
        created_by,
        created_at,
        updated_at,
    })
}

/// Stores a source. With `replace`, an existing source of the same name is
/// overwritten (its creation time kept); without, it is left alone and `false`
/// is returned.
pub async fn put(store: &Store, record: &SourceRecord, replace: bool) -> Result<bool, StoreError> {
    let settings = serde_json::to_string(&record.settings)
        .map_err(|error| StoreError::Invalid(error.to_string()))?;
    let on_conflict = if replace {
        "ON CONFLICT (tenant_id, name) DO UPDATE SET kind = excluded.kind, settings = excluded.settings, \
         secret = excluded.secret, read_write = excluded.read_write, updated_at = excluded.updated_at"
    } else {
        "ON CONFLICT (tenant_id, name) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO sources ({SOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {on_conflict}"
    );
    let written = on_store!(store, pool => {
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(&record.tenant)
            .bind(&record.name)
            .bind(&record.kind)
            .bind(&settings)
            .bind(&record.secret)
            .bind(record.read_write)
            .bind(&record.created_by)
            .bind(record.created_at)
            .bind(record.updated_at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(written > 0)
}

pub async fn get(
    store: &Store,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<SourceRecord>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE tenant_id = $1 AND name = $2");
    let row: Option<SourceRow> = on_store!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant.as_str()).bind(name).fetch_optional(pool).await
    })?;
    row.map(source_from_row).transpose()
}

/// A tenant's sources by name.
pub async fn list(store: &Store, tenant: &TenantId) -> Result<Vec<SourceRecord>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE tenant_id = $1 ORDER BY name");
    let rows: Vec<SourceRow> = on_store!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant.as_str()).fetch_all(pool).await
    })?;
    rows.into_iter().map(source_from_row).collect()
}

/// Removes a source; `false` when the tenant has none of that name.
pub async fn delete(store: &Store, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
    let deleted = on_store!(store, pool => {
        sqlx::query("DELETE FROM sources WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(deleted > 0)
}
