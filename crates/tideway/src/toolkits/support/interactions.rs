//! Interactions: every exchange with a customer (a call, a chat, an email), saved
//! with its channel and direction. Saving one moves the customer's last interaction
//! time forward, and an outbound one on a ticket counts as the ticket's first response.

use sqlx::AssertSqlSafe;
use tideway_core::{CallContext, HubError, on_store};

use super::{
    customers::customer_uri,
    model::{Direction, Interaction, NewInteraction, Page, limits, optional_text, required_text},
    service::{
        INTERACTION_COLUMNS, InteractionRow, SupportService, convert_all, decode_cursor, into_page,
        now, tenant,
    },
};

impl SupportService {
    pub async fn save_interaction(
        &self,
        ctx: &CallContext,
        input: NewInteraction,
    ) -> Result<Interaction, HubError> {
        let content = required_text("content", &input.content, limits::TEXT)?;
        let agent = optional_text("agent", input.agent.as_deref(), limits::NAME)?;
        let at = now();
        let occurred_at = input.occurred_at.unwrap_or(at);
        if occurred_at > at + chrono::Duration::minutes(5) {
            return Err(HubError::invalid_argument(
                "occurred_at",
                "is in the future; interactions record what already happened",
            ));
        }
        let customer_id = input.customer_id;
        let ticket_id = input.ticket_id;
        let sql = format!(
            "INSERT INTO support_interactions (tenant_id, customer_id, ticket_id, channel, direction, content, agent, occurred_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {INTERACTION_COLUMNS}"
        );
        let begin = self.store.begin_write_sql();
        let row: InteractionRow = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let touched = sqlx::query(
                "UPDATE support_customers SET last_interaction_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 \
                   AND (last_interaction_at IS NULL OR last_interaction_at < $1)",
            )
            .bind(occurred_at)
            .bind(tenant(ctx))
            .bind(customer_id)
            .execute(&mut *tx)
            .await
            ?
            .rows_affected();
            if touched == 0 {
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM support_customers WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant(ctx))
                .bind(customer_id)
                .fetch_optional(&mut *tx)
                .await
                ?;
                if exists.is_none() {
                    return Err(HubError::invalid_argument(
                        "customer_id",
                        format!("there is no customer with id {customer_id}"),
                    ));
                }
            }
            if let Some(ticket_id) = ticket_id {
                let owner: Option<i64> = sqlx::query_scalar(
                    "SELECT customer_id FROM support_tickets WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant(ctx))
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await
                ?;
                match owner {
                    None => {
                        return Err(HubError::invalid_argument(
                            "ticket_id",
                            format!("there is no ticket with id {ticket_id}"),
                        ));
                    }
                    Some(owner) if owner != customer_id => {
                        return Err(HubError::invalid_argument(
                            "ticket_id",
                            format!("ticket {ticket_id} belongs to customer {owner}, not to customer {customer_id}"),
                        ));
                    }
                    Some(_) => {}
                }
            }
            let row: InteractionRow = sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(customer_id)
                .bind(ticket_id)
                .bind(input.channel.as_str())
                .bind(input.direction.as_str())
                .bind(&content)
                .bind(&agent)
                .bind(occurred_at)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                ?;
            tx.commit().await?;
            row
        });
        if let Some(ticket_id) = ticket_id
            && input.direction == Direction::Outbound
        {
            self.note_first_response(ctx, ticket_id, occurred_at)
                .await?;
        }
        self.changed(ctx, customer_uri(customer_id));
        row.into_interaction()
    }

    /// Interactions of a customer or of a ticket (at least one must be given), newest first.
    pub async fn list_interactions(
        &self,
        ctx: &CallContext,
        customer_id: Option<i64>,
        ticket_id: Option<i64>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Interaction>, HubError> {
        let before = decode_cursor("interactions", cursor)?;
        let sql = format!(
            "SELECT {INTERACTION_COLUMNS} FROM support_interactions \
             WHERE tenant_id = $1 AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR ticket_id = $3) \
               AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let rows: Vec<InteractionRow> = on_store!(&self.store, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(customer_id)
                .bind(ticket_id)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = convert_all(rows, InteractionRow::into_interaction)?;
        Ok(into_page("interactions", items, limit, |i| i.id))
    }
}
