//! Analytics over a window of days, and the customer context an agent reads before
//! answering. Counting is done in SQL; means, medians and day buckets in Rust, so
//! the two backends give the same numbers without dialect-specific date functions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use tideway_core::{CallContext, HubError, on_store};

use super::{
    model::{Analytics, Count, CustomerContext, DayCount, DurationStats, TicketStatus, limits},
    service::{INTERACTION_COLUMNS, InteractionRow, SupportService, convert_all, tenant},
};

#[derive(sqlx::FromRow)]
struct WindowTicket {
    status: String,
    priority: String,
    category: Option<String>,
    channel: String,
    created_at: DateTime<Utc>,
    sla_due_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
}

/// The window's tickets, the open backlog, customers per tier, interactions per channel.
type WindowRows = (
    Vec<WindowTicket>,
    i64,
    Vec<(String, i64)>,
    Vec<(String, i64)>,
);

fn stats(mut hours: Vec<f64>) -> DurationStats {
    if hours.is_empty() {
        return DurationStats::default();
    }
    hours.sort_by(f64::total_cmp);
    let count = hours.len();
    let mean = hours.iter().sum::<f64>() / count as f64;
    let median = if count % 2 == 1 {
        hours[count / 2]
    } else {
        (hours[count / 2 - 1] + hours[count / 2]) / 2.0
    };
    let round = |v: f64| (v * 100.0).round() / 100.0;
    DurationStats {
        count: count as i64,
        mean_hours: Some(round(mean)),
        median_hours: Some(round(median)),
    }
}

fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 3_600_000.0
}

/// Counts sorted by count (descending), then key, cut to `top`.
fn ranked(counts: HashMap<String, i64>, top: usize) -> Vec<Count> {
    let mut counts: Vec<Count> = counts
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    counts.truncate(top);
    counts
}

impl SupportService {
    pub async fn analytics(&self, ctx: &CallContext, days: u32) -> Result<Analytics, HubError> {
        if days == 0 || days > limits::ANALYTICS_MAX_DAYS {
            return Err(HubError::invalid_argument(
                "days",
                format!("must be between 1 and {}", limits::ANALYTICS_MAX_DAYS),
            ));
        }
        let now = Utc::now();
        let today = now.date_naive();
        let first_day = today - Duration::days(i64::from(days) - 1);
        let since = first_day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| HubError::internal("date out of range"))?;
        let (tickets, backlog, tiers, interaction_channels): WindowRows = on_store!(&self.store, pool => {
            let tickets = sqlx::query_as(
                "SELECT status, priority, category, channel, created_at, sla_due_at, first_response_at, resolved_at \
                 FROM support_tickets WHERE tenant_id = $1 AND created_at >= $2",
            )
            .bind(tenant(ctx))
            .bind(since)
            .fetch_all(pool)
            .await
            ?;
            let backlog = sqlx::query_scalar(
                "SELECT COUNT(*) FROM support_tickets WHERE tenant_id = $1 AND status IN ('open', 'in_progress', 'pending')",
            )
            .bind(tenant(ctx))
            .fetch_one(pool)
            .await
            ?;
            let tiers = sqlx::query_as(
                "SELECT tier, COUNT(*) FROM support_customers WHERE tenant_id = $1 GROUP BY tier",
            )
            .bind(tenant(ctx))
            .fetch_all(pool)
            .await
            ?;
            let channels = sqlx::query_as(
                "SELECT channel, COUNT(*) FROM support_interactions WHERE tenant_id = $1 AND occurred_at >= $2 GROUP BY channel",
            )
            .bind(tenant(ctx))
            .bind(since)
            .fetch_all(pool)
            .await
            ?;
            (tickets, backlog, tiers, channels)
        });

        let mut by_day: BTreeMap<String, i64> = (0..days)
            .map(|offset| {
                let day = first_day + Duration::days(i64::from(offset));
                (day.format("%Y-%m-%d").to_string(), 0)
            })
            .collect();
        let mut by_status: HashMap<String, i64> = TicketStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let mut by_priority: HashMap<String, i64> = HashMap::new();
        let mut categories: HashMap<String, i64> = HashMap::new();
        let mut channels: HashMap<String, i64> = HashMap::new();
        let mut first_response = Vec::new();
        let mut resolution = Vec::new();
        let mut breaches = 0;
        for ticket in &tickets {
            *by_day
                .entry(ticket.created_at.format("%Y-%m-%d").to_string())
                .or_default() += 1;
            *by_status.entry(ticket.status.clone()).or_default() += 1;
            *by_priority.entry(ticket.priority.clone()).or_default() += 1;
            if let Some(category) = &ticket.category {
                *categories.entry(category.clone()).or_default() += 1;
            }
            *channels.entry(ticket.channel.clone()).or_default() += 1;
            if let Some(at) = ticket.first_response_at {
                first_response.push(hours_between(ticket.created_at, at));
            }
            let breached = match ticket.resolved_at {
                Some(at) => {
                    resolution.push(hours_between(ticket.created_at, at));
                    at > ticket.sla_due_at
                }
                None => {
                    TicketStatus::from_store(&ticket.status)?.is_active() && now > ticket.sla_due_at
                }
            };
            if breached {
                breaches += 1;
            }
        }
        for (channel, count) in interaction_channels {
            *channels.entry(channel).or_default() += count;
        }
        Ok(Analytics {
            days,
            since,
            tickets_created: tickets.len() as i64,
            tickets_by_day: by_day
                .into_iter()
                .map(|(day, count)| DayCount { day, count })
                .collect(),
            tickets_by_status: ranked(by_status, usize::MAX),
            tickets_by_priority: ranked(by_priority, usize::MAX),
            open_backlog: backlog,
            first_response: stats(first_response),
            resolution: stats(resolution),
            sla_breaches: breaches,
            top_categories: ranked(categories, 10),
            customers_by_tier: ranked(tiers.into_iter().collect(), usize::MAX),
            busiest_channels: ranked(channels, usize::MAX),
        })
    }

    pub async fn customer_context(
        &self,
        ctx: &CallContext,
        customer_id: i64,
    ) -> Result<CustomerContext, HubError> {
        let customer = self.get_customer(ctx, customer_id).await?;
        let open_tickets = self.customer_tickets(ctx, customer_id, true, 10).await?;
        let recent_tickets = self.customer_tickets(ctx, customer_id, false, 5).await?;
        let sql = format!(
            "SELECT {INTERACTION_COLUMNS} FROM support_interactions \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 10"
        );
        let interactions: Vec<InteractionRow> = on_store!(&self.store, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant(ctx))
                .bind(customer_id)
                .fetch_all(pool)
                .await
        })?;
        // Articles for the open tickets: the words of their subjects, any of them,
        // ranked; a ticket about "VPN drops every hour" finds the VPN articles.
        let mut words: Vec<String> = Vec::new();
        for ticket in &open_tickets {
            for word in super::knowledge::search_words(&ticket.subject) {
                if word.chars().count() > 2 && !words.contains(&word) && words.len() < 16 {
                    words.push(word);
                }
            }
        }
        let suggested_articles = if words.is_empty() {
            Vec::new()
        } else {
            self.search_words(ctx, &words, false, 5).await?
        };
        Ok(CustomerContext {
            customer,
            open_tickets,
            recent_tickets,
            recent_interactions: convert_all(interactions, InteractionRow::into_interaction)?,
            suggested_articles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_give_mean_and_median() {
        let s = stats(vec![4.0, 1.0, 2.0, 10.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.mean_hours, Some(4.25));
        assert_eq!(s.median_hours, Some(3.0));
        assert_eq!(stats(vec![]).mean_hours, None);
        assert_eq!(stats(vec![1.0, 5.0, 2.0]).median_hours, Some(2.0));
    }
}
