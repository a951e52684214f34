//! One tenant's help desk copied into a standalone SQLite database, so read-only SQL
//! (the database toolkit's built-in `desk` source) can answer questions such as
//! `SELECT COUNT(*) FROM customers`. The copy holds only that tenant's rows, under the
//! desk's own names (`customers`, `tickets`, `ticket_events`, `interactions`,
//! `articles`) and without the `tenant_id` column: a query cannot reach another
//! tenant's data because none is there, whatever its WHERE clause says.
//!
//! A fingerprint of the tenant's rows (counts, highest ids, last updates) tells the
//! caller when its copy is stale; it is cheap next to copying and sees changes made
//! by any replica sharing the store.

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use sqlx::{Row, SqliteConnection, types::Json};
use tideway_core::{HubError, Store, TenantId, on_store};

/// How a column is read from the store and written into the copy.
#[derive(Clone, Copy)]
enum Column {
    Integer(&'static str),
    Text(&'static str),
    /// JSON in the store (JSONB or text), JSON text in the copy.
    Json(&'static str),
    /// A timestamp, written as RFC 3339 text in UTC, which SQLite's date functions read.
    Time(&'static str),
    Boolean(&'static str),
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Integer(name)
            | Column::Text(name)
            | Column::Json(name)
            | Column::Time(name)
            | Column::Boolean(name) => name,
        }
    }

    fn sqlite_type(self) -> &'static str {
        match self {
            Column::Integer(_) | Column::Boolean(_) => "INTEGER",
            Column::Text(_) | Column::Json(_) | Column::Time(_) => "TEXT",
        }
    }
}

/// A desk table: its name in the copy, its name in the store and its columns.
struct Table {
    name: &'static str,
    store_table: &'static str,
    columns: &'static [Column],
    /// Extra indexes, for the joins and filters questions usually make.
    indexes: &'static [&'static str],
    /// Store columns whose changes do not touch `updated_at` yet show in the copy.
    counters: &'static [&'static str],
}

impl Table {
    /// The columns' names, comma-separated, in order.
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|column| column.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use Column::{Boolean, Integer, Json as JsonText, Text, Time};

const TABLES: &[Table] = &[
    Table {
        name: "customers",
        store_table: "support_customers",
        columns: &[
            Integer("id"),
            Text("first_name"),
            Text("last_name"),
            Text("email"),
            Text("phone"),
            Text("company"),
            Text("tier"),
            JsonText("metadata"),
            Integer("ticket_count"),
            Time("last_interaction_at"),
            Integer("version"),
            Time("created_at"),
            Time("updated_at"),
        ],
        indexes: &["tier", "created_at"],
        counters: &[],
    },
    Table {
        name: "tickets",
        store_table: "support_tickets",
        columns: &[
            Integer("id"),
            Integer("customer_id"),
            Text("subject"),
            Text("description"),
            Text("status"),
            Text("priority"),
            Text("category"),
            JsonText("tags"),
            Text("assignee"),
            Text("channel"),
            Time("sla_due_at"),
            Time("first_response_at"),
            Time("resolved_at"),
            Time("closed_at"),
            Integer("version"),
            Time("created_at"),
            Time("updated_at"),
        ],
        indexes: &["customer_id", "status", "created_at"],
        counters: &[],
    },
    Table {
        name: "ticket_events",
        store_table: "support_ticket_events",
        columns: &[
            Integer("id"),
            Integer("ticket_id"),
            Text("kind"),
            Text("actor"),
            JsonText("changes"),
            Text("body"),
            Text("author_type"),
            Boolean("internal"),
            Integer("version"),
            Time("created_at"),
        ],
        indexes: &["ticket_id"],
        counters: &[],
    },
    Table {
        name: "interactions",
        store_table: "support_interactions",
        columns: &[
            Integer("id"),
            Integer("customer_id"),
            Integer("ticket_id"),
            Text("channel"),
            Text("direction"),
            Text("content"),
            Text("agent"),
            Time("occurred_at"),
            Time("created_at"),
        ],
        indexes: &["customer_id", "ticket_id", "occurred_at"],
        counters: &[],
    },
    Table {
        name: "articles",
        store_table: "support_articles",
        columns: &[
            Integer("id"),
            Text("title"),
            Text("body"),
            Text("category"),
            JsonText("tags"),
            Boolean("published"),
            Integer("view_count"),
            Integer("helpful_count"),
            Integer("not_helpful_count"),
            Integer("version"),
            Time("created_at"),
            Time("updated_at"),
        ],
        indexes: &["category"],
        // Reading and rating an article count without a new version.
        counters: &["view_count", "helpful_count", "not_helpful_count"],
    },
];

/// The names of the copy's tables, for descriptions and hints.
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|table| table.name).collect()
}

/// Changes whenever any of `tenant`'s desk rows is added, changed or removed.
pub async fn fingerprint(store: &Store, tenant: &TenantId) -> Result<String, HubError> {
    let parts: Vec<String> = TABLES
        .iter()
        .enumerate()
        .map(|(position, table)| {
            let mut part = String::from(
                "CAST(count(*) AS TEXT) || '/' || CAST(coalesce(max(id), 0) AS TEXT)",
            );
            if table.columns.iter().any(|column| column.name() == "updated_at") {
                part.push_str(" || '/' || coalesce(CAST(max(updated_at) AS TEXT), '')");
            }
            if !table.counters.is_empty() {
                part.push_str(&format!(
                    " || '/' || coalesce(CAST(sum({}) AS TEXT), '')",
                    table.counters.join(" + ")
                ));
            }
            format!(
                "SELECT CAST({position} AS BIGINT) AS position, {part} AS part FROM {} WHERE tenant_id = $1",
                table.store_table
            )
        })
        .collect();
    let sql = format!("{} ORDER BY position", parts.join(" UNION ALL "));
    let rows: Vec<(i64, Option<String>)> = on_store!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
    })
    .map_err(HubError::from)?;
    Ok(rows
        .into_iter()
        .map(|(_, part)| part.unwrap_or_default())
        .collect::<Vec<_>>()
        .join(";"))
}

/// One value on its way from the store to the copy.
enum Cell {
    Integer(Option<i64>),
    Text(Option<String>),
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads one column of a store row, whichever backend it came from.
macro_rules! read_cell {
    ($row:expr, $index:expr, $column:expr) => {
        match $column {
            Column::Integer(_) => Cell::Integer($row.try_get::<Option<i64>, _>($index)?),
            Column::Boolean(_) => {
                Cell::Integer($row.try_get::<Option<bool>, _>($index)?.map(i64::from))
            }
            Column::Text(_) => Cell::Text($row.try_get::<Option<String>, _>($index)?),
            Column::Json(_) => Cell::Text(
                $row.try_get::<Option<Json<serde_json::Value>>, _>($index)?
                    .map(|Json(value)| value.to_string()),
            ),
            Column::Time(_) => Cell::Text(
                $row.try_get::<Option<DateTime<Utc>>, _>($index)?
                    .map(time_text),
            ),
        }
    };
}

fn too_large(max_rows: u64) -> HubError {
    HubError::Unavailable {
        component: "source 'desk'".into(),
        reason: format!(
            "this tenant's desk holds more than {max_rows} rows, the most it is copied with (databases.desk_max_rows); an operator may raise it"
        ),
    }
}

/// Rows per INSERT statement: well under SQLite's bound on parameters for the
/// widest table.
const BATCH_ROWS: usize = 200;

/// Writes the rows whose cells `batch` holds into `table` of the copy, in one
/// statement, and empties it. Answers the number of rows written.
async fn insert_batch(
    into: &mut SqliteConnection,
    table: &Table,
    batch: &mut Vec<Cell>,
) -> Result<u64, sqlx::Error> {
    let width = table.columns.len();
    let rows = batch.len() / width;
    if rows == 0 {
        return Ok(0);
    }
    let row = format!("({})", vec!["?"; width].join(", "));
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        table.column_list(),
        vec![row.as_str(); rows].join(", ")
    );
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for cell in batch.drain(..) {
        statement = match cell {
            Cell::Integer(value) => statement.bind(value),
            Cell::Text(value) => statement.bind(value),
        };
    }
    statement.execute(into).await?;
    Ok(rows as u64)
}

/// Creates the desk's tables in `into` (an empty database) and copies `tenant`'s rows
/// into them in one transaction, at most `max_rows` in all. Answers the number of
/// rows copied.
pub async fn copy(
    store: &Store,
    tenant: &TenantId,
    into: &mut SqliteConnection,
    max_rows: u64,
) -> Result<u64, HubError> {
    let mut copied = 0u64;
    sqlx::query("BEGIN")
        .execute(&mut *into)
        .await
        .map_err(HubError::internal)?;
    for table in TABLES {
        let definitions: Vec<String> = table
            .columns
            .iter()
            .map(|column| match column.name() {
                "id" => "id INTEGER PRIMARY KEY".to_string(),
                name => format!("{name} {}", column.sqlite_type()),
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {} ({})",
            table.name,
            definitions.join(", ")
        )))
        .execute(&mut *into)
        .await
        .map_err(HubError::internal)?;
        let select = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 ORDER BY id",
            table.column_list(),
            table.store_table
        );
        // Rows stream from the store into the copy, a batch per statement (one
        // statement per row costs more in round trips than the copy itself); a
        // large desk is never held twice.
        let count = on_store!(store, pool => {
            async {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                    .bind(tenant.as_str())
                    .fetch(pool);
                let mut batch = Vec::with_capacity(BATCH_ROWS * table.columns.len());
                let mut count = 0u64;
                while let Some(row) = rows.try_next().await? {
                    if copied + count + (batch.len() / table.columns.len()) as u64 >= max_rows {
                        return Ok(Err(too_large(max_rows)));
                    }
                    for (index, column) in table.columns.iter().enumerate() {
                        batch.push(read_cell!(row, index, *column));
                    }
                    if batch.len() == BATCH_ROWS * table.columns.len() {
                        count += insert_batch(&mut *into, table, &mut batch).await?;
                    }
                }
                count += insert_batch(&mut *into, table, &mut batch).await?;
                Ok::<Result<u64, HubError>, sqlx::Error>(Ok(count))
            }
            .await
        })
        .map_err(HubError::from)??;
        copied += count;
        // Indexed once filled: cheaper than keeping the indexes up to date row by row.
        for column in table.indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE INDEX {table}_{column} ON {table} ({column})",
                table = table.name
            )))
            .execute(&mut *into)
            .await
            .map_err(HubError::internal)?;
        }
    }
    sqlx::query("COMMIT")
        .execute(&mut *into)
        .await
        .map_err(HubError::internal)?;
    Ok(copied)
}
