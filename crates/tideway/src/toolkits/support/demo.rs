//! Demo data for `tideway serve --demo`: a realistic, deterministic help desk, so a
//! first run has something to show. Customers across tiers, tickets over the last 90
//! days across statuses (with history, comments, interactions and response times),
//! and knowledge articles with real help-desk content. The same seed gives the same
//! desk every time; loading twice changes nothing (one transaction, skipped when the
//! first demo customer already exists).

use std::sync::LazyLock;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use tideway_core::{HubError, Store, TenantId, on_store};

use super::model::{Channel, Priority, TicketStatus, Tier, sla_target};

pub const CUSTOMERS: usize = 300;
/// Fixed, so every load produces the same desk.
const SEED: u64 = 0x7D3E_5EED;
pub const TICKETS: usize = 3000;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub loaded: bool,
    pub customers: usize,
    pub tickets: usize,
    pub articles: usize,
}

/// A small, fast, deterministic generator (SplitMix64); demo data needs
/// repeatability, not cryptographic quality.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A value in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "Donald",
    "Shafi",
    "John",
    "Lynn",
    "Vint",
    "Sophie",
    "Niklaus",
    "Jean",
    "Bjarne",
    "Anita",
    "Guido",
    "Mary",
    "James",
    "Adele",
    "Leslie",
    "Carol",
    "Yukihiro",
    "Joan",
    "Brian",
    "Evelyn",
    "Rob",
    "Annie",
    "Larry",
    "Susan",
    "Ward",
    "Ruth",
];

const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Knuth",
    "Goldwasser",
    "McCarthy",
    "Conway",
    "Cerf",
    "Wilson",
    "Wirth",
    "Bartik",
    "Stroustrup",
    "Borg",
    "van Rossum",
    "Keller",
    "Gosling",
    "Goldberg",
    "Lamport",
    "Shaw",
    "Matsumoto",
    "Clarke",
    "Kernighan",
    "Berezin",
    "Pike",
    "Easley",
    "Page",
    "Kare",
    "Cunningham",
    "Teitelbaum",
];

const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Traders", "northwind.example"),
    ("Contoso Pharmaceuticals", "contoso.example"),
    ("Fabrikam Logistics", "fabrikam.example"),
    ("Tailspin Toys", "tailspin.example"),
    ("Wingtip Travel", "wingtip.example"),
    ("Adventure Works Cycles", "adventureworks.example"),
    ("Litware Software", "litware.example"),
    ("Proseware Publishing", "proseware.example"),
    ("Lucerne Bank", "lucerne.example"),
    ("Alpine Ski House", "alpineski.example"),
    ("Coho Winery", "coho.example"),
    ("Fourth Coffee", "fourthcoffee.example"),
    ("Graphic Design Institute", "gdi.example"),
    ("Humongous Insurance", "humongous.example"),
    ("Margie's Travel", "margies.example"),
    ("Trey Research", "treyresearch.example"),
    ("Blue Yonder Airlines", "blueyonder.example"),
    ("City Power & Light", "citypower.example"),
    ("Woodgrove Health", "woodgrove.example"),
    ("Relecloud Media", "relecloud.example"),
];

/// A help-desk topic: what tickets about it say and what the articles about it teach.
#[derive(Deserialize)]
struct Topic {
    category: String,
    name: String,
    tags: Vec<String>,
    subjects: Vec<String>,
    complaint: String,
    steps: Vec<String>,
    causes: Vec<Cause>,
    practice: Vec<String>,
}

/// A likely cause of a topic's trouble and what fixes it.
#[derive(Deserialize)]
struct Cause {
    issue: String,
    workaround: String,
}

/// The topics, from `demo_topics.json` beside this file (text, not code), read once.
fn topics() -> &'static [Topic] {
    static TOPICS: LazyLock<Vec<Topic>> = LazyLock::new(|| {
        // Compiled in and checked by `the_topics_file_reads`; not input.
        serde_json::from_str(include_str!("demo_topics.json")).expect("demo_topics.json is valid")
    });
    &TOPICS
}

/// kind, actor, changes, comment body, author type, time.
type HistoryEntry = (
    &'static str,
    String,
    Map<String, Value>,
    Option<String>,
    Option<&'static str>,
    DateTime<Utc>,
);

const CHANNELS: &[Channel] = &[
    Channel::Email,
    Channel::Email,
    Channel::Chat,
    Channel::Chat,
    Channel::Web,
    Channel::Phone,
    Channel::Social,
    Channel::Api,
];

const AGENTS: &[&str] = &[
    "sam.rivera",
    "priya.shah",
    "tom.okafor",
    "lena.berg",
    "ken.mori",
    "ana.costa",
];

fn tier_for(dice: &mut Dice) -> Tier {
    match dice.below(10) {
        0..=2 => Tier::Free,
        3..=6 => Tier::Standard,
        7..=8 => Tier::Premium,
        _ => Tier::Enterprise,
    }
}

fn priority_for(dice: &mut Dice) -> Priority {
    match dice.below(20) {
        0..=5 => Priority::Low,
        6..=13 => Priority::Medium,
        14..=18 => Priority::High,
        _ => Priority::Urgent,
    }
}

fn email_of(first: &str, last: &str, index: usize, domain: &str) -> String {
    let clean = |s: &str| {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
    };
    format!("{}.{}{index}@{domain}", clean(first), clean(last))
}

/// The articles: five per topic (how-to, troubleshooting, FAQ, known issue, best
/// practices), all in Markdown.
pub fn articles() -> Vec<(String, String, &'static str, Vec<String>)> {
    let mut articles = Vec::new();
    for topic in topics() {
        let tags: Vec<String> = topic.tags.clone();
        let steps: String = topic
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| format!("{}. {step}\n", i + 1))
            .collect();
        articles.push((
            format!("How to handle {}", topic.name),
            format!(
                "# How to handle {name}\n\nThis guide walks through {name} from start to finish.\n\n## Steps\n\n{steps}\nIf something goes wrong, see *Troubleshooting {name}*.\n",
                name = topic.name
            ),
            topic.category.as_str(),
            tags.clone(),
        ));
        let causes: String = topic
            .causes
            .iter()
            .map(|cause| format!("### {}\n\n{}\n\n", cause.issue, cause.workaround))
            .collect();
        articles.push((
            format!("Troubleshooting {}", topic.name),
            format!(
                "# Troubleshooting {name}\n\nCustomers often write: \"{complaint}\"\n\nWork through the likely causes in order.\n\n{causes}Still stuck? Open a ticket with what you tried and when it happened.\n",
                name = topic.name,
                complaint = topic.complaint
            ),
            topic.category.as_str(),
            tags.clone(),
        ));
        let faq: String = topic
            .subjects
            .iter()
            .zip(topic.causes.iter().cycle())
            .map(|(question, cause)| {
                format!(
                    "**{question}**\n\nMost often: {}. {}\n\n",
                    cause.issue.to_lowercase(),
                    cause.workaround
                )
            })
            .collect();
        articles.push((
            format!("{} FAQ", capitalize(&topic.name)),
            format!("# {} FAQ\n\n{faq}", capitalize(&topic.name)),
            topic.category.as_str(),
            tags.clone(),
        ));
        if let Some(Cause { issue, workaround }) = topic.causes.last() {
            articles.push((
            format!("Known issue: {} ({})", issue.to_lowercase(), topic.name),
            format!(
                "# Known issue: {}\n\n**Affects:** {name}\n\n**Symptom:** {complaint}\n\n**Workaround:** {workaround}\n\nWe will update this article when a permanent fix ships.\n",
                issue.to_lowercase(),
                name = topic.name,
                complaint = topic.complaint
            ),
            topic.category.as_str(),
            tags.clone(),
        ));
        }
        let practice: String = topic.practice.iter().map(|p| format!("- {p}\n")).collect();
        articles.push((
            format!("Best practices for {}", topic.name),
            format!("# Best practices for {}\n\n{practice}", topic.name),
            topic.category.as_str(),
            tags,
        ));
    }
    articles
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Loads the demo desk into `tenant`, unless it is already there.
pub async fn load(store: &Store, tenant: &TenantId) -> Result<DemoSummary, HubError> {
    load_at(store, tenant, Utc::now().trunc_subsecs(0)).await
}

/// As [`load`], with "now" given, so tests can check what is generated.
pub async fn load_at(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<DemoSummary, HubError> {
    let mut dice = Dice(SEED);
    let articles = articles();
    // Customers are generated up front: their emails decide whether the desk is loaded.
    struct DemoCustomer {
        first: &'static str,
        last: &'static str,
        email: String,
        company: &'static str,
        tier: Tier,
        created_at: DateTime<Utc>,
    }
    let customers: Vec<DemoCustomer> = (0..CUSTOMERS)
        .map(|index| {
            let first = *dice.pick(FIRST_NAMES);
            let last = *dice.pick(LAST_NAMES);
            let (company, domain) = *dice.pick(COMPANIES);
            DemoCustomer {
                first,
                last,
                email: email_of(first, last, index, domain),
                company,
                tier: tier_for(&mut dice),
                created_at: now - Duration::days(120)
                    + Duration::minutes(dice.below(60 * 24 * 30) as i64),
            }
        })
        .collect();
    let store_err = |e: sqlx::Error| HubError::Store(e.into());
    let begin = store.begin_write_sql();
    let loaded = on_store!(store, pool => {
        let mut tx = pool.begin_with(begin).await.map_err(store_err)?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM support_customers WHERE tenant_id = $1 AND email = $2",
        )
        .bind(tenant.as_str())
        .bind(&customers[0].email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        if exists.is_some() {
            false
        } else {
            let mut ids = Vec::with_capacity(customers.len());
            for c in &customers {
                let metadata = json!({"demo": true, "source": "tideway demo"});
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO support_customers (tenant_id, first_name, last_name, email, phone, company, tier, metadata, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                )
                .bind(tenant.as_str())
                .bind(c.first)
                .bind(c.last)
                .bind(&c.email)
                .bind(format!("+1 555 01{:02} {:04}", dice.below(100), dice.below(10_000)))
                .bind(c.company)
                .bind(c.tier.as_str())
                .bind(Json(&metadata))
                .bind(c.created_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
                ids.push(id);
            }
            for (title, body, category, tags) in &articles {
                let created = now - Duration::days(200) + Duration::hours(dice.below(24 * 100) as i64);
                sqlx::query(
                    "INSERT INTO support_articles (tenant_id, title, body, category, tags, published, view_count, helpful_count, not_helpful_count, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $9)",
                )
                .bind(tenant.as_str())
                .bind(title)
                .bind(body)
                .bind(*category)
                .bind(Json(tags))
                .bind(dice.below(2000) as i64)
                .bind(dice.below(200) as i64)
                .bind(dice.below(30) as i64)
                .bind(created)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            for _ in 0..TICKETS {
                let customer_index = dice.below(customers.len());
                let customer = &customers[customer_index];
                let customer_id = ids[customer_index];
                let topic = dice.pick(topics());
                let priority = priority_for(&mut dice);
                let channel = *dice.pick(CHANNELS);
                // Older tickets are mostly finished; recent ones mostly still open.
                let age_minutes = (dice.unit() * 90.0 * 24.0 * 60.0) as i64;
                let created_at = now - Duration::minutes(age_minutes.max(5));
                let age_days = age_minutes as f64 / (24.0 * 60.0);
                let finished_chance = (age_days / 10.0).min(0.95);
                let target = sla_target(priority, customer.tier);
                let sla_due_at = created_at + target;
                let first_response_at = (dice.unit() < 0.9 || age_days > 2.0)
                    .then(|| created_at + Duration::minutes(10 + (dice.unit() * target.num_minutes() as f64 * 0.4) as i64))
                    .filter(|at| *at < now);
                let status = if dice.unit() < finished_chance {
                    if dice.below(3) == 0 { TicketStatus::Resolved } else { TicketStatus::Closed }
                } else {
                    *dice.pick(&[TicketStatus::Open, TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Pending])
                };
                let resolved_at = (!status.is_active()).then(|| {
                    // Most are resolved within the SLA; some late.
                    let factor = if dice.below(8) == 0 { 1.2 + dice.unit() } else { 0.2 + dice.unit() * 0.7 };
                    (created_at + Duration::minutes((target.num_minutes() as f64 * factor) as i64)).min(now)
                });
                let closed_at = (status == TicketStatus::Closed).then(|| resolved_at.unwrap_or(now));
                let assignee = (status != TicketStatus::Open || dice.below(2) == 0).then(|| *dice.pick(AGENTS));
                let subject = dice.pick(&topic.subjects).as_str();
                let mut tags: Vec<String> = topic.tags.iter().take(2).cloned().collect();
                if priority == Priority::Urgent {
                    tags.push("escalated".into());
                }
                let updated_at = closed_at.or(resolved_at).or(first_response_at).unwrap_or(created_at);
                let mut version = 1_i64;
                let ticket_id: i64 = sqlx::query_scalar(
                    "INSERT INTO support_tickets (tenant_id, customer_id, subject, description, status, priority, category, tags, assignee, channel, sla_due_at, first_response_at, resolved_at, closed_at, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16) RETURNING id",
                )
                .bind(tenant.as_str())
                .bind(customer_id)
                .bind(subject)
                .bind(topic.complaint.as_str())
                .bind(status.as_str())
                .bind(priority.as_str())
                .bind(topic.category.as_str())
                .bind(Json(&tags))
                .bind(assignee)
                .bind(channel.as_str())
                .bind(sla_due_at)
                .bind(first_response_at)
                .bind(resolved_at)
                .bind(closed_at)
                .bind(created_at)
                .bind(updated_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
                // The history an agent would have left: created, picked up, replied, moved on.
                let mut events: Vec<HistoryEntry> =
                    vec![("created", "customer-portal".to_string(), Map::new(), None, None, created_at)];
                let agent = assignee.unwrap_or("sam.rivera").to_string();
                if let Some(at) = first_response_at {
                    events.push(("comment", agent.clone(), Map::new(), Some(format!("Thanks for reaching out. I'm looking into \"{subject}\" now; {}", topic.steps[0])), Some("agent"), at));
                }
                if status != TicketStatus::Open {
                    let mut change = Map::new();
                    let path: &[TicketStatus] = match status {
                        TicketStatus::InProgress => &[TicketStatus::InProgress],
                        TicketStatus::Pending => &[TicketStatus::InProgress, TicketStatus::Pending],
                        TicketStatus::Resolved => &[TicketStatus::InProgress, TicketStatus::Resolved],
                        _ => &[TicketStatus::InProgress, TicketStatus::Resolved, TicketStatus::Closed],
                    };
                    let mut from = TicketStatus::Open;
                    let mut at = first_response_at.unwrap_or(created_at + Duration::minutes(5));
                    for step in path {
                        at = match step {
                            TicketStatus::Resolved => resolved_at.unwrap_or(at),
                            TicketStatus::Closed => closed_at.unwrap_or(at),
                            _ => at + Duration::minutes(1),
                        };
                        change.clear();
                        change.insert("status".into(), json!({"from": from.as_str(), "to": step.as_str()}));
                        events.push(("updated", agent.clone(), change.clone(), None, None, at));
                        from = *step;
                    }
                }
                events.sort_by_key(|event| event.5);
                for (kind, actor, changes, body, author, at) in events {
                    if kind != "created" {
                        version += 1;
                    }
                    sqlx::query(
                        "INSERT INTO support_ticket_events (tenant_id, ticket_id, kind, actor, changes, body, author_type, internal, version, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9)",
                    )
                    .bind(tenant.as_str())
                    .bind(ticket_id)
                    .bind(kind)
                    .bind(actor)
                    .bind(Json(&changes))
                    .bind(body)
                    .bind(author)
                    .bind(version)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                }
                sqlx::query("UPDATE support_tickets SET version = $1 WHERE id = $2")
                    .bind(version)
                    .bind(ticket_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                sqlx::query(
                    "INSERT INTO support_interactions (tenant_id, customer_id, ticket_id, channel, direction, content, agent, occurred_at, created_at) \
                     VALUES ($1, $2, $3, $4, 'inbound', $5, NULL, $6, $6)",
                )
                .bind(tenant.as_str())
                .bind(customer_id)
                .bind(ticket_id)
                .bind(channel.as_str())
                .bind(topic.complaint.as_str())
                .bind(created_at)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            sqlx::query(
                "UPDATE support_customers SET \
                   ticket_count = (SELECT COUNT(*) FROM support_tickets t WHERE t.customer_id = support_customers.id), \
                   last_interaction_at = (SELECT MAX(i.occurred_at) FROM support_interactions i WHERE i.customer_id = support_customers.id) \
                 WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
            tx.commit().await.map_err(store_err)?;
            true
        }
    });
    Ok(DemoSummary {
        loaded,
        customers: CUSTOMERS,
        tickets: TICKETS,
        articles: articles.len(),
    })
}

#[cfg(test)]
mod topics_file {
    #[test]
    fn the_topics_file_reads() {
        let topics = super::topics();
        assert_eq!(topics.len(), 21);
        assert!(
            topics
                .iter()
                .all(|topic| !topic.causes.is_empty() && !topic.subjects.is_empty())
        );
        assert_eq!(super::articles().len(), 5 * topics.len());
    }
}
