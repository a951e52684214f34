//! Event triggers in the store: a tenant's named rules "when this happens on the
//! support desk (or a message arrives in a Kafka topic), and this condition holds,
//! start that", each with the principal it starts as and a cursor: where it is in
//! the desk's change feed, or for a topic the offsets its consumer group last
//! committed. A server takes a trigger with a lease (compare-and-set) before reading
//! on, and moves the cursor only while it holds the lease, so servers sharing the
//! store read each change for a trigger once, and a server that dies mid-read
//! leaves the trigger to another when the lease runs out.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    CallContext, HubError, Store, TenantId, context::DelegatedPrincipal, error::bounded, on_store,
};
use utoipa::ToSchema;

use super::{firings::FiringView, now_ms, schedules::check_name, target::Target};

/// How long a server may hold a trigger while reading on from its cursor.
pub const LEASE_MS: i64 = 30_000;

/// What a trigger starts on: a change on the support desk, or a message in a
/// Kafka topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    TicketCreated,
    TicketUpdated,
    TicketCommented,
    /// A ticket's SLA due time passed while it was unresolved.
    SlaBreached,
    /// A message in the topic named by `kafka` (the messaging toolkit's).
    KafkaMessage,
}

impl TriggerEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerEvent::TicketCreated => "ticket_created",
            TriggerEvent::TicketUpdated => "ticket_updated",
            TriggerEvent::TicketCommented => "ticket_commented",
            TriggerEvent::SlaBreached => "sla_breached",
            TriggerEvent::KafkaMessage => "kafka_message",
        }
    }

    fn parse(text: &str) -> Result<TriggerEvent, HubError> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
            HubError::Internal(format!("a stored trigger has an unknown event '{text}'"))
        })
    }
}

/// The topic a `kafka_message` trigger reads, in one of the tenant's clusters.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// The cluster (default: the tenant's only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub topic: String,
}

/// An event trigger as the tenant gives it.
#[derive(Clone, Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTriggerInput {
    /// 1-64 lower-case letters, digits, '_' or '-'.
    pub name: String,
    /// The change it starts on.
    pub on: TriggerEvent,
    /// For `kafka_message`: the topic it reads (messages from when the trigger is
    /// made on).
    #[serde(default)]
    pub kafka: Option<KafkaSource>,
    /// Start only when this expression is true. A desk trigger's sees `ticket`
    /// (with `customer_tier`, `priority`, `status`, ...) and `change` (`kind`, `at`,
    /// `actor`, `changes`), e.g. `ticket.customer_tier == "premium" and
    /// ticket.priority in ["high", "urgent"]`; a Kafka trigger's sees `message`
    /// (`topic`, `partition`, `offset`, `key`, `headers` by name, `timestamp`, and
    /// `value`, parsed when it is JSON), e.g. `message.value.kind == "refund"`.
    #[serde(default, rename = "if")]
    pub condition: Option<String>,
    /// What it starts; strings in its input may hold `{{ expressions }}` over the
    /// same (`"{{ ticket.id }}"` stays a number).
    pub target: Target,
    #[serde(default)]
    pub description: Option<String>,
}

/// An event trigger as shown.
#[derive(Clone, Debug, Serialize, JsonSchema, ToSchema)]
pub struct EventTriggerView {
    pub name: String,
    pub on: TriggerEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSource>,
    /// For a Kafka trigger: the consumer group it reads as (its lag says how far
    /// behind it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    pub target: Target,
    pub paused: bool,
    pub description: Option<String>,
    /// When it last read the desk's changes (or its topic), and what went wrong
    /// then, if anything (the changes are read again until it works).
    pub last_read_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The latest runs it started, newest first.
    pub last_firings: Vec<FiringView>,
    /// The principal it starts its target as.
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventTriggerRow {
    pub tenant_id: String,
    pub name: String,
    pub event: String,
    /// For a Kafka trigger, its [`KafkaSource`] (JSON).
    pub source: Option<String>,
    pub condition: Option<String>,
    pub target: String,
    pub principal: String,
    pub cursor: String,
    pub paused: bool,
    pub description: Option<String>,
    pub last_read_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_ms: i64,
}

impl EventTriggerRow {
    pub fn event(&self) -> Result<TriggerEvent, HubError> {
        TriggerEvent::parse(&self.event)
    }

    pub fn kafka(&self) -> Result<Option<KafkaSource>, HubError> {
        self.source.as_deref().map(decode).transpose()
    }

    /// The Kafka consumer group a topic trigger reads as: its own, named by the
    /// tenant, the trigger and its creation time (a trigger made again under the
    /// same name starts afresh), in the characters Kafka allows.
    pub fn group(&self) -> String {
        let tenant: String = self
            .tenant_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("tideway.trigger.{tenant}.{}.{}", self.name, self.created_ms)
    }

    pub fn target(&self) -> Result<Target, HubError> {
        decode(&self.target)
    }

    pub fn principal(&self) -> Result<DelegatedPrincipal, HubError> {
        decode(&self.principal)
    }

    /// The start key of what it starts for one change. The creation time tells a
    /// trigger from an earlier one of the same name.
    pub fn key(&self, change_key: &str) -> String {
        format!("event:{}:{}:{change_key}", self.name, self.created_ms)
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HubError> {
    serde_json::from_str(text).map_err(|error| {
        HubError::Internal(format!(
            "a stored event trigger does not read back: {error}"
        ))
    })
}

fn missing(name: &str) -> HubError {
    HubError::NotFound(format!(
        "no event trigger '{}'",
        tideway_core::error::excerpt(name)
    ))
}

macro_rules! columns {
    () => {
        "tenant_id, name, event, source, condition, target, principal, cursor, paused, description, last_read_ms, last_error, created_by, created_ms"
    };
}

/// The most characters of a failure kept.
const MAX_ERROR: usize = 2000;

#[derive(Clone)]
pub struct EventTriggers {
    store: Store,
}

impl EventTriggers {
    pub fn new(store: Store) -> Self {
        EventTriggers { store }
    }

    /// Records a new trigger for `ctx`'s tenant, acting as `ctx`'s principal, reading
    /// the desk's changes from `cursor` on.
    pub async fn create(
        &self,
        ctx: &CallContext,
        input: &EventTriggerInput,
        cursor: &str,
    ) -> Result<(), HubError> {
        check_name(&input.name)?;
        let principal = serde_json::to_string(&DelegatedPrincipal::of(&ctx.principal))
            .map_err(HubError::internal)?;
        let target = serde_json::to_string(&input.target).map_err(HubError::internal)?;
        let source = input
            .kafka
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(HubError::internal)?;
        let inserted = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO automation_event_triggers (tenant_id, name, event, source, condition, target, principal, cursor, paused, description, created_by, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $11, $4, $5, $6, $7, FALSE, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.tenant.as_str())
            .bind(&input.name)
            .bind(input.on.as_str())
            .bind(&input.condition)
            .bind(&target)
            .bind(&principal)
            .bind(cursor)
            .bind(&input.description)
            .bind(&ctx.principal.id)
            .bind(now_ms())
            .bind(&source)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 0 {
            return Err(HubError::Conflict(format!(
                "an event trigger named '{}' exists; delete it first or choose another name",
                input.name
            )));
        }
        Ok(())
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<EventTriggerRow>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_event_triggers WHERE tenant_id = $1 ORDER BY name"))
                .bind(tenant.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    pub async fn get(&self, tenant: &TenantId, name: &str) -> Result<EventTriggerRow, HubError> {
        let row = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_event_triggers WHERE tenant_id = $1 AND name = $2"))
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or_else(|| missing(name))
    }

    /// Pauses or resumes. A resumed trigger reads on from `cursor` when one is
    /// given (the head, so changes made while it was paused do not start runs).
    pub async fn set_paused(
        &self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        cursor: Option<&str>,
    ) -> Result<(), HubError> {
        let changed = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_event_triggers SET paused = $3, cursor = COALESCE($4, cursor), updated_ms = $5 \
                 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(paused)
            .bind(cursor)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if changed == 0 {
            return Err(missing(name));
        }
        Ok(())
    }

    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<(), HubError> {
        let deleted = on_store!(&self.store, pool => {
            sqlx::query("DELETE FROM automation_event_triggers WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if deleted == 0 {
            return Err(missing(name));
        }
        Ok(())
    }

    /// Running triggers of every tenant that no server holds and that were not
    /// read since `read_before_ms`, least recently read first.
    pub async fn due(
        &self,
        now_ms: i64,
        read_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<EventTriggerRow>, HubError> {
        let rows = on_store!(&self.store, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM automation_event_triggers \
                 WHERE paused = FALSE AND (lease_ms IS NULL OR lease_ms < $1) \
                 AND (last_read_ms IS NULL OR last_read_ms <= $2) \
                 ORDER BY last_read_ms LIMIT $3"))
            .bind(now_ms)
            .bind(read_before_ms)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Takes `row` for `owner` unless another server holds it or has read on since
    /// `row` was read (its cursor moved); whether it did.
    pub async fn lease(
        &self,
        row: &EventTriggerRow,
        owner: &str,
        now_ms: i64,
    ) -> Result<bool, HubError> {
        let taken = on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_event_triggers SET lease_owner = $3, lease_ms = $4 \
                 WHERE tenant_id = $1 AND name = $2 AND created_ms = $6 AND cursor = $7 AND paused = FALSE \
                 AND (lease_ms IS NULL OR lease_ms < $5)",
            )
            .bind(&row.tenant_id)
            .bind(&row.name)
            .bind(owner)
            .bind(now_ms + LEASE_MS)
            .bind(now_ms)
            .bind(row.created_ms)
            .bind(&row.cursor)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(taken == 1)
    }

    /// Records a read: the cursor moves to `cursor` (when the read got that far)
    /// and the lease is let go, if `owner` still holds it.
    pub async fn release(
        &self,
        row: &EventTriggerRow,
        owner: &str,
        cursor: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), HubError> {
        let error = error.map(|error| bounded(error, MAX_ERROR));
        on_store!(&self.store, pool => {
            sqlx::query(
                "UPDATE automation_event_triggers SET cursor = COALESCE($4, cursor), last_error = $5, \
                 last_read_ms = $6, lease_owner = NULL, lease_ms = NULL \
                 WHERE tenant_id = $1 AND name = $2 AND lease_owner = $3",
            )
            .bind(&row.tenant_id)
            .bind(&row.name)
            .bind(owner)
            .bind(cursor)
            .bind(error.as_deref())
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }
}
