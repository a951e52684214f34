//! Tickets: creation (which counts towards the customer's tickets and sets the SLA due
//! time), listing with filters, details with history, comments, and updates that
//! follow the status rules and record who changed what.

use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, types::Json};
use tideway_core::{CallContext, HubError, Store, on_store};

use super::{
    customers::{customer_uri, stale},
    model::{
        AuthorType, Channel, CustomerSummary, EventKind, NewComment, NewTicket, Page, Priority,
        Ticket, TicketChanges, TicketDetails, TicketEvent, TicketFilter, TicketStatus, Tier,
        limits, normalize_tags, optional_text, required_text, sla_target,
    },
    service::{
        CUSTOMER_COLUMNS, CustomerRow, EVENT_COLUMNS, EventRow, INTERACTION_COLUMNS,
        InteractionRow, SupportService, TICKET_COLUMNS, TicketRow, convert_all, decode_cursor,
        into_page, no_customer, no_ticket, now, row_by_id, tenant,
    },
};

pub fn ticket_uri(id: i64) -> String {
    format!("db://tickets/{id}")
}

/// Inserts one history entry inside the caller's transaction and returns it.
macro_rules! insert_event {
    ($tx:expr, $ctx:expr, $ticket:expr, $kind:expr, $changes:expr, $body:expr, $author:expr, $internal:expr, $version:expr, $at:expr) => {
        sqlx::query_as::<_, EventRow>(
            "INSERT INTO support_ticket_events (tenant_id, ticket_id, kind, actor, changes, body, author_type, internal, version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING id, kind, actor, changes, body, author_type, internal, version, created_at",
        )
        .bind(tenant($ctx))
        .bind($ticket)
        .bind($kind.as_str())
        .bind(&$ctx.principal.id)
        .bind(Json($changes))
        .bind($body)
        .bind($author)
        .bind($internal)
        .bind($version)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await
    };
}

fn change(from: impl Into<Value>, to: impl Into<Value>) -> Value {
    json!({"from": from.into(), "to": to.into()})
}

impl SupportService {
    pub async fn create_ticket(
        &self,
        ctx: &CallContext,
        input: NewTicket,
    ) -> Result<Ticket, HubError> {
        let subject = required_text("subject", &input.subject, limits::SUBJECT)?;
        let description = required_text("description", &input.description, limits::TEXT)?;
        let category = optional_text("category", input.category.as_deref(), limits::LABEL)?
            .map(|c| c.to_lowercase());
        let assignee = optional_text("assignee", input.assignee.as_deref(), limits::NAME)?;
        let tags = normalize_tags(input.tags.as_deref())?;
        let priority = input.priority.unwrap_or(Priority::Medium);
        let channel = input.channel.unwrap_or(Channel::Web);
        let customer_id = input.customer_id;
        let at = now();
        let no_changes = Map::new();
        let sql = format!(
            "INSERT INTO support_tickets (tenant_id, customer_id, subject, description, status, priority, category, tags, assignee, channel, sla_due_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {TICKET_COLUMNS}"
        );
        let begin = self.store.begin_write_sql();
        let row: TicketRow = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            // Counting in the same transaction keeps ticket_count exact under
            // concurrent creates; the UPDATE also proves the customer exists here.
            let tier: Option<String> = sqlx::query_scalar(
                "UPDATE support_customers SET ticket_count = ticket_count + 1 \
                 WHERE tenant_id = $1 AND id = $2 RETURNING tier",
            )
            .bind(tenant(ctx))
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await
            ?;
            let tier = match tier {
                Some(tier) => Tier::from_store(&tier)?,
                None => {
                    return Err(HubError::invalid_argument(
                        "customer_id",
                        format!("there is no customer with id {customer_id}"),
                    ));
                }
            };
            let sla_due_at = at + sla_target(priority, tier);
            let row: TicketRow = sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(customer_id)
                .bind(&subject)
                .bind(&description)
                .bind(priority.as_str())
                .bind(&category)
                .bind(Json(&tags))
                .bind(&assignee)
                .bind(channel.as_str())
                .bind(sla_due_at)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                ?;
            insert_event!(tx, ctx, row.id, EventKind::Created, &no_changes, None::<String>, None::<String>, false, 1_i64, at)
                ?;
            tx.commit().await?;
            row
        });
        self.changed(ctx, customer_uri(customer_id));
        row.into_ticket()
    }

    pub async fn find_ticket(
        &self,
        ctx: &CallContext,
        id: i64,
    ) -> Result<Option<Ticket>, HubError> {
        let row: Option<TicketRow> = self
            .find_row(ctx, "support_tickets", TICKET_COLUMNS, id)
            .await?;
        row.map(TicketRow::into_ticket).transpose()
    }

    pub async fn get_ticket(&self, ctx: &CallContext, id: i64) -> Result<Ticket, HubError> {
        self.find_ticket(ctx, id)
            .await?
            .ok_or_else(|| no_ticket(id))
    }

    pub async fn list_tickets(
        &self,
        ctx: &CallContext,
        filter: &TicketFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Ticket>, HubError> {
        let before = decode_cursor("tickets", cursor)?;
        let category = filter.category.as_deref().map(|c| c.trim().to_lowercase());
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM support_tickets \
             WHERE tenant_id = $1 \
               AND ($2 IS NULL OR status = $2) \
               AND ($3 IS NULL OR priority = $3) \
               AND ($4 IS NULL OR customer_id = $4) \
               AND ($5 IS NULL OR assignee = $5) \
               AND ($6 IS NULL OR category = $6) \
               AND ($7 IS NULL OR created_at >= $7) \
               AND ($8 IS NULL OR created_at < $8) \
               AND ($9 IS NULL OR id < $9) \
             ORDER BY id DESC LIMIT $10"
        );
        let rows: Vec<TicketRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(filter.status.map(TicketStatus::as_str))
                .bind(filter.priority.map(Priority::as_str))
                .bind(filter.customer_id)
                .bind(filter.assignee.as_deref().map(str::trim))
                .bind(&category)
                .bind(filter.created_after)
                .bind(filter.created_before)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let tickets = convert_all(rows, TicketRow::into_ticket)?;
        Ok(into_page("tickets", tickets, limit, |t| t.id))
    }

    /// Tickets of one customer, newest first: still-active ones or finished ones.
    pub(super) async fn customer_tickets(
        &self,
        ctx: &CallContext,
        customer_id: i64,
        active: bool,
        limit: i64,
    ) -> Result<Vec<Ticket>, HubError> {
        let condition = if active {
            "status IN ('open', 'in_progress', 'pending')"
        } else {
            "status IN ('resolved', 'closed')"
        };
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM support_tickets \
             WHERE tenant_id = $1 AND customer_id = $2 AND {condition} ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<TicketRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(customer_id)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        convert_all(rows, TicketRow::into_ticket)
    }

    pub async fn ticket_details(
        &self,
        ctx: &CallContext,
        id: i64,
    ) -> Result<TicketDetails, HubError> {
        let events_sql = format!(
            "SELECT {EVENT_COLUMNS} FROM support_ticket_events WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY id"
        );
        let interactions_sql = format!(
            "SELECT {INTERACTION_COLUMNS} FROM support_interactions \
             WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 50"
        );
        // The four reads share one connection: taking one from the pool per read
        // costs more than the reads themselves on SQLite, where each connection is a
        // thread the call hops to and back.
        type Rows = (
            TicketRow,
            Option<CustomerRow>,
            Vec<EventRow>,
            Vec<InteractionRow>,
        );
        let (ticket, customer, events, interactions): Rows = on_store!(&self.store, pool => {
            let mut connection = pool.acquire().await?;
            let ticket: Option<TicketRow> =
                row_by_id!(&mut *connection, ctx, "support_tickets", TICKET_COLUMNS, id).await?;
            let Some(ticket) = ticket else {
                return Err(no_ticket(id));
            };
            let customer = row_by_id!(
                &mut *connection,
                ctx,
                "support_customers",
                CUSTOMER_COLUMNS,
                ticket.customer_id,
            )
            .await?;
            let events = sqlx::query_as(AssertSqlSafe(events_sql))
                .bind(tenant(ctx))
                .bind(id)
                .fetch_all(&mut *connection)
                .await?;
            let interactions = sqlx::query_as(AssertSqlSafe(interactions_sql))
                .bind(tenant(ctx))
                .bind(id)
                .fetch_all(&mut *connection)
                .await?;
            (ticket, customer, events, interactions)
        });
        let ticket = ticket.into_ticket()?;
        let customer = customer
            .ok_or_else(|| no_customer(ticket.customer_id))?
            .into_customer()?;
        let events = convert_all(events, EventRow::into_event)?;
        let (comments, history): (Vec<TicketEvent>, Vec<TicketEvent>) = events
            .into_iter()
            .partition(|event| event.kind == EventKind::Comment);
        Ok(TicketDetails {
            ticket,
            customer: CustomerSummary::from(&customer),
            history,
            comments,
            interactions: convert_all(interactions, InteractionRow::into_interaction)?,
        })
    }

    pub async fn update_ticket(
        &self,
        ctx: &CallContext,
        id: i64,
        changes: TicketChanges,
    ) -> Result<Ticket, HubError> {
        // Validate everything first, so a bad field writes nothing.
        let requested = RequestedChanges {
            subject: changes
                .subject
                .as_deref()
                .map(|v| required_text("subject", v, limits::SUBJECT))
                .transpose()?,
            category: match changes.category.as_deref() {
                Some(value) => Some(
                    optional_text("category", Some(value), limits::LABEL)?
                        .map(|c| c.to_lowercase()),
                ),
                None => None,
            },
            assignee: match changes.assignee.as_deref() {
                Some(value) => Some(optional_text("assignee", Some(value), limits::NAME)?),
                None => None,
            },
            tags: changes
                .tags
                .as_deref()
                .map(|tags| normalize_tags(Some(tags)))
                .transpose()?,
            status: changes.status,
            priority: changes.priority,
        };
        // Read, check and write in one transaction that holds the row (SQLite's
        // immediate transaction, PostgreSQL's FOR UPDATE), so concurrent editors are
        // serialized rather than retried, and each history entry follows the last.
        let lock = match &self.store {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        let select = format!(
            "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE tenant_id = $1 AND id = $2{lock}"
        );
        let update = format!(
            "UPDATE support_tickets SET status = $1, priority = $2, subject = $3, category = $4, \
             assignee = $5, tags = $6, sla_due_at = $7, resolved_at = $8, closed_at = $9, \
             version = $10, updated_at = $11 \
             WHERE tenant_id = $12 AND id = $13 AND version = $14 RETURNING {TICKET_COLUMNS}"
        );
        let begin = self.store.begin_write_sql();
        let at = now();
        let outcome: Option<TicketRow> = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let current: Option<TicketRow> = sqlx::query_as(AssertSqlSafe(select))
                .bind(tenant(ctx))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                ?;
            let current = current
                .ok_or_else(|| no_ticket(id))?
                .into_ticket()?;
            if let Some(expected) = changes.expected_version
                && expected != current.version
            {
                return Err(stale("ticket", id, expected, current.version));
            }
            let tier = if requested.priority.is_some_and(|p| p != current.priority) {
                let tier: String = sqlx::query_scalar(
                    "SELECT tier FROM support_customers WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant(ctx))
                .bind(current.customer_id)
                .fetch_one(&mut *tx)
                .await
                ?;
                Some(Tier::from_store(&tier)?)
            } else {
                None
            };
            let (next, diff) = plan_change(&current, &requested, tier, at)?;
            if diff.is_empty() {
                None
            } else {
                let version = current.version + 1;
                let row: TicketRow = sqlx::query_as(AssertSqlSafe(update))
                    .bind(next.status.as_str())
                    .bind(next.priority.as_str())
                    .bind(&next.subject)
                    .bind(&next.category)
                    .bind(&next.assignee)
                    .bind(Json(&next.tags))
                    .bind(next.sla_due_at)
                    .bind(next.resolved_at)
                    .bind(next.closed_at)
                    .bind(version)
                    .bind(at)
                    .bind(tenant(ctx))
                    .bind(id)
                    .bind(current.version)
                    .fetch_optional(&mut *tx)
                    .await
                    ?
                    // The row is held by this transaction; a mismatch means the
                    // store let someone else in, which must not pass silently.
                    .ok_or_else(|| stale("ticket", id, current.version, current.version + 1))?;
                insert_event!(tx, ctx, id, EventKind::Updated, &diff, None::<String>, None::<String>, false, version, at)
                    ?;
                tx.commit().await?;
                Some(row)
            }
        });
        match outcome {
            Some(row) => {
                self.changed(ctx, ticket_uri(id));
                row.into_ticket()
            }
            None => self.get_ticket(ctx, id).await,
        }
    }

    pub async fn add_comment(
        &self,
        ctx: &CallContext,
        ticket_id: i64,
        input: NewComment,
    ) -> Result<TicketEvent, HubError> {
        let body = required_text("body", &input.body, limits::TEXT)?;
        let author_type = input.author_type.unwrap_or(AuthorType::Agent);
        let internal = input.internal.unwrap_or(false);
        let sets_first_response = author_type == AuthorType::Agent && !internal;
        let no_changes = Map::new();
        let begin = self.store.begin_write_sql();
        let at = now();
        let event: EventRow = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            // A comment is a change too: it bumps the version, so an editor holding an
            // older version learns that the ticket moved on.
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE support_tickets SET version = version + 1, updated_at = $1, \
                 first_response_at = CASE WHEN $2 AND first_response_at IS NULL THEN $1 ELSE first_response_at END \
                 WHERE tenant_id = $3 AND id = $4 RETURNING version",
            )
            .bind(at)
            .bind(sets_first_response)
            .bind(tenant(ctx))
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await
            ?;
            let Some(version) = version else {
                return Err(no_ticket(ticket_id));
            };
            let event = insert_event!(tx, ctx, ticket_id, EventKind::Comment, &no_changes, Some(&body), Some(author_type.as_str()), internal, version, at)
                ?;
            tx.commit().await?;
            event
        });
        self.changed(ctx, ticket_uri(ticket_id));
        event.into_event()
    }

    /// Marks the ticket's first response, if it has none yet (an outbound interaction
    /// on the ticket counts as one).
    pub(super) async fn note_first_response(
        &self,
        ctx: &CallContext,
        ticket_id: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), HubError> {
        let updated = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE support_tickets SET first_response_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND first_response_at IS NULL",
            )
            .bind(at)
            .bind(tenant(ctx))
            .bind(ticket_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if updated > 0 {
            self.changed(ctx, ticket_uri(ticket_id));
        }
        Ok(())
    }
}

/// Validated changes to a ticket.
struct RequestedChanges {
    status: Option<TicketStatus>,
    priority: Option<Priority>,
    subject: Option<String>,
    /// `Some(None)` clears the category.
    category: Option<Option<String>>,
    assignee: Option<Option<String>>,
    tags: Option<Vec<String>>,
}

/// The ticket after the requested changes, and what changed (field: from, to).
/// `tier` is the customer's tier, needed only when the priority changes (the SLA
/// due time follows it, counted from when the ticket was opened).
fn plan_change(
    current: &Ticket,
    requested: &RequestedChanges,
    tier: Option<Tier>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Ticket, Map<String, Value>), HubError> {
    let mut next = current.clone();
    let mut diff = Map::new();
    if let Some(status) = requested.status
        && status != current.status
    {
        if !current.status.can_move_to(status) {
            let allowed: Vec<&str> = current
                .status
                .allowed_next()
                .iter()
                .map(|s| s.as_str())
                .collect();
            return Err(HubError::invalid_argument(
                "status",
                format!(
                    "ticket {} cannot move from {} to {status}; from {} it may move to: {}",
                    current.id,
                    current.status,
                    current.status,
                    allowed.join(", ")
                ),
            ));
        }
        diff.insert(
            "status".into(),
            change(current.status.as_str(), status.as_str()),
        );
        next.status = status;
        match status {
            TicketStatus::Resolved | TicketStatus::Closed => {
                if next.resolved_at.is_none() {
                    next.resolved_at = Some(at);
                }
                if status == TicketStatus::Closed {
                    next.closed_at = Some(at);
                }
            }
            // Reopened: the ticket is unfinished again.
            _ if !current.status.is_active() => {
                next.resolved_at = None;
                next.closed_at = None;
            }
            _ => {}
        }
    }
    if let (Some(priority), Some(tier)) = (requested.priority, tier)
        && priority != current.priority
    {
        diff.insert(
            "priority".into(),
            change(current.priority.as_str(), priority.as_str()),
        );
        next.priority = priority;
        next.sla_due_at = current.created_at + sla_target(priority, tier);
    }
    if let Some(subject) = &requested.subject
        && *subject != current.subject
    {
        diff.insert(
            "subject".into(),
            change(current.subject.clone(), subject.clone()),
        );
        next.subject = subject.clone();
    }
    if let Some(category) = &requested.category
        && *category != current.category
    {
        diff.insert(
            "category".into(),
            change(current.category.clone(), category.clone()),
        );
        next.category = category.clone();
    }
    if let Some(assignee) = &requested.assignee
        && *assignee != current.assignee
    {
        diff.insert(
            "assignee".into(),
            change(current.assignee.clone(), assignee.clone()),
        );
        next.assignee = assignee.clone();
    }
    if let Some(tags) = &requested.tags
        && *tags != current.tags
    {
        diff.insert("tags".into(), change(current.tags.clone(), tags.clone()));
        next.tags = tags.clone();
    }
    Ok((next, diff))
}
