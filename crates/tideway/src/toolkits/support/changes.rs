//! The desk's changes as one feed, for automations that start on them: each
//! recorded ticket event (created, updated, commented) in the order it was recorded,
//! and each ticket whose SLA due time passed while it was still unresolved, in the
//! order the times passed. A cursor marks where a reader is in both; a reader that
//! keeps its cursor sees every change once, and one that starts at the head sees
//! only what happens after.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use tideway_core::{CallContext, HubError, error::excerpt, on_store, typed::ToolText};
use utoipa::ToSchema;

use super::service::{SupportService, now, tenant};

/// Where a reader is: the last recorded event seen, and the last breach seen (its
/// due time and ticket, since several tickets may fall due at the same instant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    event_id: i64,
    breach_at: DateTime<Utc>,
    breach_ticket: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.event_id,
            self.breach_at.timestamp_micros(),
            self.breach_ticket
        )
    }

    fn decode(text: &str) -> Result<Cursor, HubError> {
        let refused = || {
            HubError::invalid_argument(
                "cursor",
                format!(
                    "'{}' is not a cursor from get_ticket_changes",
                    excerpt(text)
                ),
            )
        };
        let mut parts = text.split('.').map(str::parse::<i64>);
        let (Some(Ok(event_id)), Some(Ok(micros)), Some(Ok(breach_ticket)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused());
        };
        Ok(Cursor {
            event_id,
            breach_at: DateTime::from_timestamp_micros(micros).ok_or_else(refused)?,
            breach_ticket,
        })
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    TicketCreated,
    TicketUpdated,
    TicketCommented,
    /// The ticket's SLA due time passed while it was unresolved.
    SlaBreached,
}

/// The ticket a change is about, as it is now (not as it was at the change).
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema, sqlx::FromRow)]
pub struct ChangedTicket {
    pub id: i64,
    pub customer_id: i64,
    /// The customer's tier: `free`, `standard`, `premium` or `enterprise`.
    pub customer_tier: String,
    /// Untrusted: written by the customer.
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub category: Option<String>,
    pub assignee: Option<String>,
    pub sla_due_at: DateTime<Utc>,
}

/// One change to the desk.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct DeskChange {
    /// Unique among the tenant's changes (`event:<id>` or `sla:<ticket id>`), so an
    /// automation can start once per change.
    pub key: String,
    pub kind: ChangeKind,
    pub at: DateTime<Utc>,
    /// Who made it (absent for a breach, which nobody makes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// For updates: each changed field with its `from` and `to` values.
    #[serde(skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub changes: Map<String, Value>,
    pub ticket: ChangedTicket,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct DeskChanges {
    pub changes: Vec<DeskChange>,
    /// Pass it back as `cursor` to read on from here.
    pub next_cursor: String,
}

impl ToolText for DeskChanges {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .changes
            .iter()
            .map(|change| {
                format!(
                    "{} {:?} ticket #{} ({} {}, {} customer)",
                    change.at.to_rfc3339(),
                    change.kind,
                    change.ticket.id,
                    change.ticket.priority,
                    change.ticket.status,
                    change.ticket.customer_tier
                )
            })
            .collect();
        lines.push(format!("next_cursor: {}", self.next_cursor));
        lines.join("\n")
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListChangesArgs {
    /// `next_cursor` from the last read; absent: from the first change kept.
    pub cursor: Option<String>,
    /// Changes to return at most: default 100, at most 500. 0 reads nothing and
    /// answers the cursor of the head (to follow only what happens from now).
    #[schemars(range(min = 0, max = 500))]
    pub limit: Option<u32>,
}

const TICKET_FIELDS: &str = "t.id, t.customer_id, c.tier AS customer_tier, t.subject, t.status, \
     t.priority, t.category, t.assignee, t.sla_due_at";

#[derive(sqlx::FromRow)]
struct EventChangeRow {
    event_id: i64,
    event_kind: String,
    actor: String,
    changes: Json<Map<String, Value>>,
    at: DateTime<Utc>,
    #[sqlx(flatten)]
    ticket: ChangedTicket,
}

impl SupportService {
    pub async fn ticket_changes(
        &self,
        ctx: &CallContext,
        args: ListChangesArgs,
    ) -> Result<DeskChanges, HubError> {
        let limit = args.limit.unwrap_or(100);
        if limit > 500 {
            return Err(HubError::invalid_argument("limit", "must be from 0 to 500"));
        }
        let now = now();
        if limit == 0 {
            let head: Option<i64> = on_store!(&self.store, pool => {
                sqlx::query_scalar("SELECT MAX(id) FROM support_ticket_events WHERE tenant_id = $1")
                    .bind(tenant(ctx))
                    .fetch_one(pool)
                    .await
            })?;
            let cursor = Cursor {
                event_id: head.unwrap_or(0),
                breach_at: now,
                breach_ticket: i64::MAX,
            };
            return Ok(DeskChanges {
                changes: Vec::new(),
                next_cursor: cursor.encode(),
            });
        }
        let mut cursor = match args.cursor.as_deref() {
            Some(text) => Cursor::decode(text)?,
            None => Cursor {
                event_id: 0,
                breach_at: DateTime::<Utc>::UNIX_EPOCH,
                breach_ticket: 0,
            },
        };
        let limit = i64::from(limit);
        let events_sql = format!(
            "SELECT e.id AS event_id, e.kind AS event_kind, e.actor, e.changes, e.created_at AS at, {TICKET_FIELDS} \
             FROM support_ticket_events e JOIN support_tickets t ON t.id = e.ticket_id \
             JOIN support_customers c ON c.id = t.customer_id \
             WHERE e.tenant_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3"
        );
        // Still unresolved when due: resolved or closed (if ever) only after it.
        let breaches_sql = format!(
            "SELECT {TICKET_FIELDS} FROM support_tickets t JOIN support_customers c ON c.id = t.customer_id \
             WHERE t.tenant_id = $1 AND t.sla_due_at <= $2 \
             AND (t.sla_due_at > $3 OR (t.sla_due_at = $3 AND t.id > $4)) \
             AND (t.resolved_at IS NULL OR t.resolved_at > t.sla_due_at) \
             AND (t.closed_at IS NULL OR t.closed_at > t.sla_due_at) \
             ORDER BY t.sla_due_at, t.id LIMIT $5"
        );
        let (events, breaches): (Vec<EventChangeRow>, Vec<ChangedTicket>) = on_store!(&self.store, pool => {
            let events = sqlx::query_as(sqlx::AssertSqlSafe(events_sql))
                .bind(tenant(ctx))
                .bind(cursor.event_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let breaches = sqlx::query_as(sqlx::AssertSqlSafe(breaches_sql))
                .bind(tenant(ctx))
                .bind(now)
                .bind(cursor.breach_at)
                .bind(cursor.breach_ticket)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            (events, breaches)
        });
        let mut changes = Vec::with_capacity(events.len() + breaches.len());
        for row in events {
            cursor.event_id = row.event_id;
            let kind = match row.event_kind.as_str() {
                "created" => ChangeKind::TicketCreated,
                "comment" => ChangeKind::TicketCommented,
                _ => ChangeKind::TicketUpdated,
            };
            changes.push(DeskChange {
                key: format!("event:{}", row.event_id),
                kind,
                at: row.at,
                actor: Some(row.actor),
                changes: row.changes.0,
                ticket: row.ticket,
            });
        }
        for ticket in breaches {
            cursor.breach_at = ticket.sla_due_at;
            cursor.breach_ticket = ticket.id;
            changes.push(DeskChange {
                key: format!("sla:{}", ticket.id),
                kind: ChangeKind::SlaBreached,
                at: ticket.sla_due_at,
                actor: None,
                changes: Map::new(),
                ticket,
            });
        }
        Ok(DeskChanges {
            changes,
            next_cursor: cursor.encode(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written_and_anything_else_is_refused() {
        let cursor = Cursor {
            event_id: 42,
            breach_at: DateTime::from_timestamp_micros(1_765_000_000_123_456).expect("time"),
            breach_ticket: 7,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1.99999999999999999999.3"] {
            let error = Cursor::decode(bad).expect_err(bad);
            assert!(
                matches!(&error, HubError::InvalidArguments { field, .. } if field == "cursor"),
                "{error:?}"
            );
        }
    }
}
