//! Event triggers at work: making and showing them, and the background step that
//! reads on for each running trigger (through the Hub, as the trigger's principal,
//! so it sees only what that principal may see): the support desk's next changes,
//! or the next messages in a Kafka topic as the trigger's own consumer group. Each
//! change of the trigger's kind is tested against its condition, and each that
//! passes starts the target, keyed by the change so a change read twice (a server
//! died before moving on) starts one run. A topic's offsets are committed only
//! after every message read has its run recorded.

use futures::{StreamExt, stream};
use serde_json::{Value, json};
use tideway_core::{CallContext, Hub, HubError, TenantId, mcp::JsonObject};

use super::{
    event_triggers::{
        EventTriggerInput, EventTriggerRow, EventTriggerView, KafkaSource, TriggerEvent,
    },
    firings::Source,
    now_ms,
    service::{Automation, acting, retryable},
    target::Target,
};
use crate::toolkits::workflows::expressions;

/// The support desk's change feed, through the Hub.
const SUPPORT: &str = "support";
const GET_TICKET_CHANGES: &str = "get_ticket_changes";
/// Kafka topics, through the Hub.
const MESSAGING: &str = "messaging";
const CONSUME_MESSAGES: &str = "consume_messages";
const COMMIT_OFFSETS: &str = "commit_offsets";
const GET_TOPIC_METADATA: &str = "get_topic_metadata";
/// Changes (or messages) read per trigger per look.
const BATCH: u32 = 100;
/// How long a look at a topic may wait for messages (it answers as soon as it has
/// read to the end): joining a consumer group takes a broker up to a few seconds
/// (Kafka delays an empty group's first rebalance by three), and a shorter wait
/// would find nothing.
const KAFKA_WAIT_MS: u64 = 5000;
/// Triggers read at once by one server.
const READ_AT_ONCE: usize = 8;
/// How many latest firings a trigger's view shows.
const SHOWN: i64 = 5;

/// What a desk trigger's condition and a target's input see: `change` and `ticket`.
fn scope(change: &Value) -> Value {
    json!({"change": change, "ticket": change["ticket"]})
}

/// What a Kafka trigger's condition and a target's input see: `message`, with its
/// headers by name.
fn message_scope(topic: &str, message: &Value) -> Value {
    let mut message = message.clone();
    let headers: serde_json::Map<String, Value> = message["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|header| {
            Some((
                header["name"].as_str()?.to_string(),
                header["value"].clone(),
            ))
        })
        .collect();
    message["headers"] = Value::Object(headers);
    message["topic"] = json!(topic);
    json!({ "message": message })
}

/// A change a trigger read: its key in its source, whether it is of the trigger's
/// kind, when it happened, and what the condition and the target's input see.
struct Change {
    key: String,
    of_kind: bool,
    at_ms: i64,
    scope: Value,
}

/// One look: the changes, the cursor to move to, and for a topic the offsets to
/// commit once each change's run is recorded.
struct Read {
    changes: Vec<Change>,
    cursor: String,
    commit: Option<Value>,
}

fn millis(at: Option<&str>) -> i64 {
    at.and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map_or_else(now_ms, |at| at.timestamp_millis())
}

/// Calls a tool of another toolkit as the trigger's principal; a toolkit that is
/// not enabled is named, and a tool's error is the component's.
async fn call(
    hub: &Hub,
    ctx: &CallContext,
    toolkit: &str,
    tool: &str,
    arguments: JsonObject,
) -> Result<Value, HubError> {
    let result = hub
        .call(ctx, toolkit, tool, Some(arguments))
        .await
        .map_err(|error| match error {
            HubError::UnknownToolkit(_) => HubError::invalid_argument(
                "on",
                format!("this trigger reads through the {toolkit} toolkit; enable it"),
            ),
            other => other,
        })?;
    let answer = result.structured_content.unwrap_or(Value::Null);
    if result.is_error == Some(true) {
        return Err(HubError::Unavailable {
            component: format!("{toolkit}.{tool}"),
            reason: answer.to_string(),
        });
    }
    Ok(answer)
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
    let mut read = call(hub, ctx, SUPPORT, GET_TICKET_CHANGES, arguments).await?;
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

fn topic_arguments(source: &KafkaSource) -> JsonObject {
    let mut arguments = JsonObject::new();
    if let Some(cluster) = &source.cluster {
        arguments.insert("cluster".into(), json!(cluster));
    }
    arguments.insert("topic".into(), json!(source.topic));
    arguments
}

/// The desk's changes after the trigger's cursor.
async fn read_desk(
    hub: &Hub,
    ctx: &CallContext,
    row: &EventTriggerRow,
    event: TriggerEvent,
) -> Result<Read, HubError> {
    let (changes, cursor) = read_changes(hub, ctx, Some(&row.cursor), BATCH).await?;
    Ok(Read {
        changes: changes
            .into_iter()
            .filter_map(|change| {
                Some(Change {
                    key: change["key"].as_str()?.to_string(),
                    of_kind: change["kind"] == json!(event),
                    at_ms: millis(change["at"].as_str()),
                    scope: scope(&change),
                })
            })
            .collect(),
        cursor,
        commit: None,
    })
}

/// The topic's next messages for the trigger's group, committing nothing yet; a
/// new group starts at the trigger's creation.
async fn read_topic(
    hub: &Hub,
    ctx: &CallContext,
    row: &EventTriggerRow,
    source: &KafkaSource,
) -> Result<Read, HubError> {
    let group = row.group();
    let since = chrono::DateTime::from_timestamp_millis(row.created_ms)
        .ok_or_else(|| HubError::Internal("a trigger's creation time is out of range".into()))?;
    let mut arguments = topic_arguments(source);
    arguments.insert("group_id".into(), json!(group));
    arguments.insert("max_messages".into(), json!(BATCH));
    arguments.insert("timeout_ms".into(), json!(KAFKA_WAIT_MS));
    arguments.insert("start_time".into(), json!(since.to_rfc3339()));
    arguments.insert("commit".into(), json!(false));
    let read = call(hub, ctx, MESSAGING, CONSUME_MESSAGES, arguments).await?;
    let changes: Vec<Change> = read["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| Change {
            key: format!("kafka:{}:{}", message["partition"], message["offset"]),
            of_kind: true,
            at_ms: millis(message["timestamp"].as_str()),
            scope: message_scope(&source.topic, message),
        })
        .collect();
    let uncommitted = read["uncommitted"].as_array().cloned().unwrap_or_default();
    if uncommitted.is_empty() {
        return Ok(Read {
            changes,
            cursor: row.cursor.clone(),
            commit: None,
        });
    }
    // The cursor follows the offsets, so a server holding an older view of the
    // trigger cannot take its lease and read the same messages again.
    let cursor = uncommitted
        .iter()
        .map(|offset| format!("{}:{}", offset["partition"], offset["offset"]))
        .collect::<Vec<_>>()
        .join(",");
    let mut commit = topic_arguments(source);
    commit.insert("group_id".into(), json!(group));
    commit.insert("offsets".into(), Value::Array(uncommitted));
    Ok(Read {
        changes,
        cursor,
        commit: Some(Value::Object(commit)),
    })
}

impl Automation {
    pub async fn create_event_trigger(
        &self,
        ctx: &CallContext,
        input: EventTriggerInput,
    ) -> Result<EventTriggerView, HubError> {
        let example = match (input.on, &input.kafka) {
            (TriggerEvent::KafkaMessage, None) => {
                return Err(HubError::invalid_argument(
                    "kafka",
                    "a kafka_message trigger names its topic, e.g. {\"topic\": \"orders\"}",
                ));
            }
            (TriggerEvent::KafkaMessage, Some(source)) => message_scope(
                &source.topic,
                &json!({"partition": 0, "offset": 0, "key": "", "headers": [],
                        "timestamp": "2026-01-01T00:00:00Z", "value": {}, "encoding": "json"}),
            ),
            (_, Some(_)) => {
                return Err(HubError::invalid_argument(
                    "kafka",
                    "only a kafka_message trigger reads a topic",
                ));
            }
            (event, None) => scope(&json!({
                "key": "event:0", "kind": event, "at": "2026-01-01T00:00:00Z", "changes": {},
                "ticket": {"id": 0, "customer_id": 0, "customer_tier": "standard", "subject": "",
                           "status": "open", "priority": "medium", "sla_due_at": "2026-01-01T00:00:00Z"}
            })),
        };
        // A condition or input that does not read is refused now, not at each change.
        if let Some(condition) = &input.condition {
            expressions::holds(condition, &example)
                .map_err(|message| HubError::invalid_argument("if", message))?;
        }
        expressions::resolve(&Value::Object(input.target.input.clone()), &example)
            .map_err(|message| HubError::invalid_argument("target.input", message))?;
        let hub = self.hub()?;
        input.target.check(&hub, ctx).await?;
        let cursor = match &input.kafka {
            // The topic must be there for the maker; its group starts from now.
            Some(source) => {
                call(
                    &hub,
                    ctx,
                    MESSAGING,
                    GET_TOPIC_METADATA,
                    topic_arguments(source),
                )
                .await
                .map_err(|error| match error {
                    HubError::NotFound(message) => {
                        HubError::invalid_argument("kafka.topic", message)
                    }
                    other => other,
                })?;
                String::new()
            }
            // It follows what happens from now on.
            None => read_changes(&hub, ctx, None, 0).await?.1,
        };
        self.event_triggers.create(ctx, &input, &cursor).await?;
        self.triggers_changed.notify_one();
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
            kafka: row.kafka()?,
            group_id: row.source.is_some().then(|| row.group()),
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

    /// Pauses a trigger, or resumes it: a desk trigger from the desk's head, so
    /// changes made while it was paused start nothing; a topic trigger where its
    /// group stopped, as the topic kept the messages.
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
                if row.kafka()?.is_some() {
                    return self.resume_topic_trigger(ctx, name).await;
                }
                let principal = row.principal()?;
                let acting = acting(&ctx.tenant, &principal, ctx.request_id.clone())?;
                Some(read_changes(&*self.hub()?, &acting, None, 0).await?.1)
            }
        };
        self.event_triggers
            .set_paused(&ctx.tenant, name, paused, head.as_deref())
            .await?;
        if !paused {
            self.triggers_changed.notify_one();
        }
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

    async fn resume_topic_trigger(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<EventTriggerView, HubError> {
        self.event_triggers
            .set_paused(&ctx.tenant, name, false, None)
            .await?;
        self.triggers_changed.notify_one();
        self.get_event_trigger(ctx, name).await
    }

    /// Reads on for every running trigger not read since `read_every_ms` ago, a
    /// few at once: the background loop's step, and a test's. Returns how many runs
    /// were started.
    pub async fn watch(&self, now: i64, read_every_ms: i64) -> Result<usize, HubError> {
        let due = self
            .event_triggers
            .due(now, now - read_every_ms, 100)
            .await?;
        let outcomes: Vec<Result<usize, HubError>> = stream::iter(due)
            .map(|row| self.watch_one(row, now))
            .buffer_unordered(READ_AT_ONCE)
            .collect()
            .await;
        outcomes.into_iter().sum()
    }

    async fn watch_one(&self, row: EventTriggerRow, now: i64) -> Result<usize, HubError> {
        if !self.event_triggers.lease(&row, &self.owner, now).await? {
            // Another server is reading it.
            return Ok(0);
        }
        let outcome = self.read_on(&row).await;
        let (started, cursor, error) = match &outcome {
            Ok((count, cursor)) => (*count, Some(cursor.as_str()), None),
            Err(error) => {
                tracing::warn!(tenant = row.tenant_id, trigger = row.name, %error, "reading an event trigger's changes failed");
                (0, None, Some(error.to_string()))
            }
        };
        self.event_triggers
            .release(&row, &self.owner, cursor, error.as_deref())
            .await?;
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
        let target = row.target()?;
        let read = match row.kafka()? {
            Some(source) => read_topic(&hub, &ctx, row, &source).await?,
            None => read_desk(&hub, &ctx, row, row.event()?).await?,
        };
        let mut started = 0;
        for change in read.changes {
            if !change.of_kind {
                continue;
            }
            let (change_key, scope, at_ms) = (change.key.as_str(), &change.scope, change.at_ms);
            let passes = match &row.condition {
                Some(condition) => {
                    expressions::holds(condition, scope).map_err(|message| format!("if: {message}"))
                }
                None => Ok(true),
            };
            let key = row.key(change_key);
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
            let input = match expressions::resolve(&Value::Object(target.input.clone()), scope) {
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
        if let Some(Value::Object(commit)) = read.commit {
            // Every message read has its run recorded: the group may move past them.
            call(&hub, &ctx, MESSAGING, COMMIT_OFFSETS, commit).await?;
        }
        Ok((started, read.cursor))
    }
}
