//! Event triggers at work: making and showing them, and the background step that
//! reads each running trigger's next changes from the support desk (through the Hub,
//! as the trigger's principal, so it sees only what that principal may see), tests
//! each change of its kind against the trigger's condition, and starts the target
//! for each that passes, keyed by the change so a change read twice (a server died
//! before moving the cursor on) starts one run.

use serde_json::{Value, json};
use tideway_core::{CallContext, Hub, HubError, TenantId, mcp::JsonObject};

use super::{
    event_triggers::{EventTriggerInput, EventTriggerRow, EventTriggerView},
    firings::Source,
    now_ms,
    service::{Automation, acting, retryable},
    target::Target,
};
use crate::toolkits::workflows::expressions;

/// The support desk's change feed, through the Hub.
const SUPPORT: &str = "support";
const GET_TICKET_CHANGES: &str = "get_ticket_changes";
/// Changes read per trigger per look.
const BATCH: u32 = 100;
/// How many latest firings a trigger's view shows.
const SHOWN: i64 = 5;

/// What a condition and a target's input see of a change: `change` and `ticket`.
fn scope(change: &Value) -> Value {
    json!({"change": change, "ticket": change["ticket"]})
}

/// The desk's changes after `cursor` (or only the head's cursor, for `limit` 0).
async fn read_changes(
    hub: &Hub,
    ctx: &CallContext,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<Value>, String), HubError> {
    let mut arguments = JsonObject::new();
    if let Some(cursor) = cursor {
        arguments.insert("cursor".into(), json!(cursor));
    }
    arguments.insert("limit".into(), json!(limit));
    let result = hub
        .call(ctx, SUPPORT, GET_TICKET_CHANGES, Some(arguments))
        .await
        .map_err(|error| match error {
            HubError::UnknownToolkit(_) => HubError::invalid_argument(
                "on",
                "event triggers read the support desk's changes; enable the support toolkit",
            ),
            other => other,
        })?;
    let mut read = result.structured_content.unwrap_or(Value::Null);
    if result.is_error == Some(true) {
        return Err(HubError::Unavailable {
            component: "the support desk's changes".into(),
            reason: read.to_string(),
        });
    }
    let cursor = read["next_cursor"]
        .as_str()
        .ok_or_else(|| HubError::Internal("get_ticket_changes gave no cursor".into()))?
        .to_string();
    let changes = match read["changes"].take() {
        Value::Array(changes) => changes,
        _ => Vec::new(),
    };
    Ok((changes, cursor))
}

impl Automation {
    pub async fn create_event_trigger(
        &self,
        ctx: &CallContext,
        input: EventTriggerInput,
    ) -> Result<EventTriggerView, HubError> {
        // A condition or input that does not read is refused now, not at each change.
        let example = scope(&json!({
            "key": "event:0", "kind": input.on, "at": "2026-01-01T00:00:00Z", "changes": {},
            "ticket": {"id": 0, "customer_id": 0, "customer_tier": "standard", "subject": "",
                       "status": "open", "priority": "medium", "sla_due_at": "2026-01-01T00:00:00Z"}
        }));
        if let Some(condition) = &input.condition {
            expressions::holds(condition, &example)
                .map_err(|message| HubError::invalid_argument("if", message))?;
        }
        expressions::resolve(&Value::Object(input.target.input.clone()), &example)
            .map_err(|message| HubError::invalid_argument("target.input", message))?;
        let hub = self.hub()?;
        input.target.check(&hub, ctx).await?;
        // It follows what happens from now on.
        let (_, head) = read_changes(&hub, ctx, None, 0).await?;
        self.event_triggers.create(ctx, &input, &head).await?;
        self.get_event_trigger(ctx, &input.name).await
    }

    pub async fn event_trigger_view(
        &self,
        row: &EventTriggerRow,
    ) -> Result<EventTriggerView, HubError> {
        let tenant = TenantId::new(&row.tenant_id);
        Ok(EventTriggerView {
            name: row.name.clone(),
            on: row.event()?,
            condition: row.condition.clone(),
            target: row.target()?,
            paused: row.paused,
            description: row.description.clone(),
            last_read_at: row.last_read_ms.and_then(super::timing::at),
            last_error: row.last_error.clone(),
            last_firings: self
                .firings
                .recent(&tenant, Source::EventTrigger, &row.name, SHOWN)
                .await?,
            created_by: row.created_by.clone(),
            created_at: super::timing::at(row.created_ms),
        })
    }

    pub async fn list_event_triggers(
        &self,
        ctx: &CallContext,
    ) -> Result<Vec<EventTriggerView>, HubError> {
        let mut views = Vec::new();
        for row in self.event_triggers.list(&ctx.tenant).await? {
            views.push(self.event_trigger_view(&row).await?);
        }
        Ok(views)
    }

    pub async fn get_event_trigger(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<EventTriggerView, HubError> {
        self.event_trigger_view(&self.event_triggers.get(&ctx.tenant, name).await?)
            .await
    }

    /// Pauses a trigger, or resumes it from the desk's head: changes made while it
    /// was paused start nothing.
    pub async fn set_event_trigger_paused(
        &self,
        ctx: &CallContext,
        name: &str,
        paused: bool,
    ) -> Result<EventTriggerView, HubError> {
        let head = match paused {
            true => None,
            false => {
                let row = self.event_triggers.get(&ctx.tenant, name).await?;
                let principal = row.principal()?;
                let acting = acting(&ctx.tenant, &principal, ctx.request_id.clone())?;
                Some(read_changes(&*self.hub()?, &acting, None, 0).await?.1)
            }
        };
        self.event_triggers
            .set_paused(&ctx.tenant, name, paused, head.as_deref())
            .await?;
        self.get_event_trigger(ctx, name).await
    }

    pub async fn delete_event_trigger(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<(), HubError> {
        self.event_triggers.delete(&ctx.tenant, name).await?;
        self.firings
            .forget(&ctx.tenant, Source::EventTrigger, name)
            .await
    }

    /// Reads on for every running trigger not read since `read_every_ms` ago: the
    /// background loop's step, and a test's. Returns how many runs were started.
    pub async fn watch(&self, now: i64, read_every_ms: i64) -> Result<usize, HubError> {
        let mut started = 0;
        for row in self
            .event_triggers
            .due(now, now - read_every_ms, 100)
            .await?
        {
            if !self.event_triggers.lease(&row, &self.owner, now).await? {
                // Another server is reading it.
                continue;
            }
            let outcome = self.read_on(&row).await;
            let (cursor, error) = match &outcome {
                Ok((count, cursor)) => {
                    started += count;
                    (Some(cursor.as_str()), None)
                }
                Err(error) => {
                    tracing::warn!(tenant = row.tenant_id, trigger = row.name, %error, "reading an event trigger's changes failed");
                    (None, Some(error.to_string()))
                }
            };
            self.event_triggers
                .release(&row, &self.owner, cursor, error.as_deref())
                .await?;
        }
        Ok(started)
    }

    /// One trigger's next changes: the runs started and the cursor to move to.
    async fn read_on(&self, row: &EventTriggerRow) -> Result<(usize, String), HubError> {
        let tenant = TenantId::new(&row.tenant_id);
        let ctx = acting(
            &tenant,
            &row.principal()?,
            format!("event-trigger:{}", row.name),
        )?;
        let hub = self.hub()?;
        let event = row.event()?;
        let target = row.target()?;
        let (changes, cursor) = read_changes(&hub, &ctx, Some(&row.cursor), BATCH).await?;
        let mut started = 0;
        for change in changes {
            if change["kind"] != json!(event) {
                continue;
            }
            let Some(change_key) = change["key"].as_str() else {
                continue;
            };
            let scope = scope(&change);
            let passes = match &row.condition {
                Some(condition) => expressions::holds(condition, &scope)
                    .map_err(|message| format!("if: {message}")),
                None => Ok(true),
            };
            let key = row.key(change_key);
            let at_ms = change["at"]
                .as_str()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .map_or_else(now_ms, |at| at.timestamp_millis());
            match passes {
                Ok(false) => continue,
                Ok(true) => {}
                Err(message) => {
                    // Kept as a failed firing, so the trigger's view shows why.
                    if self
                        .firings
                        .record(&tenant, Source::EventTrigger, &row.name, &key, at_ms)
                        .await?
                    {
                        self.firings.failed(&tenant, &key, &message, false).await?;
                    }
                    continue;
                }
            }
            if !self
                .firings
                .record(&tenant, Source::EventTrigger, &row.name, &key, at_ms)
                .await?
                && self.firings.get(&tenant, &key).await?.status == "started"
            {
                // Read before by a server that stopped before moving the cursor on.
                continue;
            }
            let input = match expressions::resolve(&Value::Object(target.input.clone()), &scope) {
                Ok(Value::Object(input)) => input,
                Ok(_) => JsonObject::new(),
                Err(message) => {
                    self.firings
                        .failed(&tenant, &key, &format!("target.input: {message}"), false)
                        .await?;
                    continue;
                }
            };
            let resolved = Target {
                input,
                ..target.clone()
            };
            match resolved.start(&hub, &ctx, None, &key).await {
                Ok(run) => {
                    tracing::info!(tenant = %tenant, trigger = row.name, change = change_key, execution_id = run.execution_id, "event trigger started a run");
                    self.firings
                        .started(&tenant, &key, &run.execution_id)
                        .await?;
                    started += 1;
                }
                Err(error) if retryable(&error) => {
                    // The cursor stays, so this change is read again.
                    self.firings
                        .failed(&tenant, &key, &error.to_string(), true)
                        .await?;
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(tenant = %tenant, trigger = row.name, change = change_key, %error, "event trigger could not start its target");
                    self.firings
                        .failed(&tenant, &key, &error.to_string(), false)
                        .await?;
                }
            }
        }
        Ok((started, cursor))
    }
}
