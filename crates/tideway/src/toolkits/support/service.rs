//! The support service: the typed operations behind every support tool and route,
//! over either store backend. Queries are written once in portable SQL (`$1`
//! parameters, which SQLite also reads) and run through `on_store!`; only full-text
//! search and a few time expressions differ by dialect, and those sit side by side.
//!
//! Every query is scoped by the tenant of the call context. Writes that read first
//! (status moves, version checks) run in one transaction and finish with a
//! conditional `UPDATE ... WHERE version = $n`, so a concurrent change is either
//! retried (when the caller did not name a version) or refused as a conflict.

use std::sync::Weak;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
pub(super) use tideway_core::store::now;
use tideway_core::{CallContext, Hub, HubError, HubEvent, Store, on_store};

use super::model::{
    AuthorType, Channel, Customer, Direction, EventKind, Interaction, Priority, Ticket,
    TicketEvent, TicketStatus, Tier,
};

/// How often a customer or article update that lost a race with another write is
/// retried before the caller is told to try again. (Ticket updates hold the row
/// instead, so they never need to retry.)
pub(super) const WRITE_ATTEMPTS: usize = 8;

/// One row of a table by id in the caller's tenant, read through an executor: a pool,
/// or a connection the caller holds for several reads in a row. The columns are one
/// of the `*_COLUMNS` lists, matching the row type the caller expects. A macro, not a
/// generic function: over sqlx's executor trait the query's future cannot be shown
/// `Send` for every lifetime, which the tools' futures must be.
macro_rules! row_by_id {
    ($executor:expr, $ctx:expr, $table:expr, $columns:expr, $id:expr $(,)?) => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND id = $2",
            $columns, $table
        )))
        .bind($ctx.tenant.as_str())
        .bind($id)
        .fetch_optional($executor)
    };
}
pub(super) use row_by_id;

pub struct SupportService {
    pub(super) store: Store,
    hub: Weak<Hub>,
}

impl SupportService {
    pub fn new(store: Store, hub: Weak<Hub>) -> Self {
        SupportService { store, hub }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One row of `table` by id, in the caller's tenant. `columns` is one of the
    /// `*_COLUMNS` lists below, matching the row type `R`.
    pub(super) async fn find_row<R>(
        &self,
        ctx: &CallContext,
        table: &str,
        columns: &str,
        id: i64,
    ) -> Result<Option<R>, HubError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        on_store!(&self.store, pool => row_by_id!(pool, ctx, table, columns, id).await)
            .map_err(HubError::from)
    }

    /// Tells subscribers of a resource that it changed.
    pub(super) fn changed(&self, ctx: &CallContext, uri: String) {
        if let Some(hub) = self.hub.upgrade() {
            hub.publish(HubEvent::ResourceUpdated {
                tenant: Some(ctx.tenant.clone()),
                uri,
            });
        }
    }
}

pub(super) fn tenant(ctx: &CallContext) -> &str {
    ctx.tenant.as_str()
}

/// The answer for a ticket id the caller's tenant does not have: the same whether it
/// was never there or belongs to another tenant.
pub(super) fn no_ticket(id: i64) -> HubError {
    HubError::NotFound(format!("there is no ticket with id {id}"))
}

/// As [`no_ticket`], for customers.
pub(super) fn no_customer(id: i64) -> HubError {
    HubError::NotFound(format!("there is no customer with id {id}"))
}

// --- Cursors ----------------------------------------------------------------

/// Lists are ordered newest first by id; a cursor is the last id of the previous
/// page, tagged with the list it belongs to so one list's cursor is not taken by
/// another.
pub(super) fn encode_cursor(list: &str, last_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{last_id}"))
}

pub(super) fn decode_cursor(list: &str, cursor: Option<&str>) -> Result<Option<i64>, HubError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        HubError::invalid_argument(
            "cursor",
            "is not a cursor this list gave out; pass next_cursor from the previous page unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let id = text
        .strip_prefix(list)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or_else(invalid)?;
    Ok(Some(id))
}

/// Splits `limit + 1` fetched rows into a page, using the extra row to tell whether
/// more remain.
pub(super) fn into_page<T>(
    list: &str,
    mut items: Vec<T>,
    limit: u32,
    id_of: impl Fn(&T) -> i64,
) -> super::model::Page<T> {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if has_more {
        items.last().map(|item| encode_cursor(list, id_of(item)))
    } else {
        None
    };
    super::model::Page {
        items,
        has_more,
        next_cursor,
    }
}

// --- Rows -------------------------------------------------------------------

pub(super) const CUSTOMER_COLUMNS: &str = "id, first_name, last_name, email, phone, company, tier, metadata, ticket_count, last_interaction_at, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(super) struct CustomerRow {
    id: i64,
    first_name: String,
    last_name: String,
    email: String,
    phone: Option<String>,
    company: Option<String>,
    tier: String,
    metadata: Json<Map<String, Value>>,
    ticket_count: i64,
    last_interaction_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CustomerRow {
    pub(super) fn into_customer(self) -> Result<Customer, HubError> {
        Ok(Customer {
            id: self.id,
            name: format!("{} {}", self.first_name, self.last_name),
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            company: self.company,
            tier: Tier::from_store(&self.tier)?,
            metadata: self.metadata.0,
            ticket_count: self.ticket_count,
            last_interaction_at: self.last_interaction_at,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(super) const TICKET_COLUMNS: &str = "id, customer_id, subject, description, status, priority, category, tags, assignee, channel, sla_due_at, first_response_at, resolved_at, closed_at, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    pub(super) id: i64,
    pub(super) customer_id: i64,
    subject: String,
    description: String,
    status: String,
    priority: String,
    category: Option<String>,
    tags: Json<Vec<String>>,
    assignee: Option<String>,
    channel: String,
    sla_due_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    pub(super) version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TicketRow {
    pub(super) fn into_ticket(self) -> Result<Ticket, HubError> {
        let status = TicketStatus::from_store(&self.status)?;
        let sla_breached = match self.resolved_at {
            Some(resolved) => resolved > self.sla_due_at,
            None => status.is_active() && Utc::now() > self.sla_due_at,
        };
        Ok(Ticket {
            id: self.id,
            customer_id: self.customer_id,
            title: self.subject.clone(),
            subject: self.subject,
            description: self.description,
            status,
            priority: Priority::from_store(&self.priority)?,
            category: self.category,
            tags: self.tags.0,
            assignee: self.assignee,
            channel: Channel::from_store(&self.channel)?,
            sla_due_at: self.sla_due_at,
            sla_breached,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(super) const EVENT_COLUMNS: &str =
    "id, kind, actor, changes, body, author_type, internal, version, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: i64,
    kind: String,
    actor: String,
    changes: Json<Map<String, Value>>,
    body: Option<String>,
    author_type: Option<String>,
    internal: bool,
    version: i64,
    created_at: DateTime<Utc>,
}

impl EventRow {
    pub(super) fn into_event(self) -> Result<TicketEvent, HubError> {
        Ok(TicketEvent {
            id: self.id,
            kind: EventKind::from_store(&self.kind)?,
            actor: self.actor,
            changes: self.changes.0,
            body: self.body,
            author_type: self
                .author_type
                .as_deref()
                .map(AuthorType::from_store)
                .transpose()?,
            internal: self.internal,
            version: self.version,
            created_at: self.created_at,
        })
    }
}

pub(super) const INTERACTION_COLUMNS: &str =
    "id, customer_id, ticket_id, channel, direction, content, agent, occurred_at";

#[derive(sqlx::FromRow)]
pub(super) struct InteractionRow {
    id: i64,
    customer_id: i64,
    ticket_id: Option<i64>,
    channel: String,
    direction: String,
    content: String,
    agent: Option<String>,
    occurred_at: DateTime<Utc>,
}

impl InteractionRow {
    pub(super) fn into_interaction(self) -> Result<Interaction, HubError> {
        Ok(Interaction {
            id: self.id,
            customer_id: self.customer_id,
            ticket_id: self.ticket_id,
            channel: Channel::from_store(&self.channel)?,
            direction: Direction::from_store(&self.direction)?,
            content: self.content,
            agent: self.agent,
            occurred_at: self.occurred_at,
        })
    }
}

pub(super) fn convert_all<R, T>(
    rows: Vec<R>,
    convert: impl Fn(R) -> Result<T, HubError>,
) -> Result<Vec<T>, HubError> {
    rows.into_iter().map(convert).collect()
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let cursor = encode_cursor("tickets", 42);
        assert_eq!(decode_cursor("tickets", Some(&cursor)).ok(), Some(Some(42)));
        assert!(decode_cursor("customers", Some(&cursor)).is_err());
        assert!(decode_cursor("tickets", Some("not-a-cursor!")).is_err());
        assert_eq!(decode_cursor("tickets", None).ok(), Some(None));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
