//! The automation toolkit's MCP tools: schedules, inbound webhooks, notification
//! channels and notifications, and starting an automation now.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::{
    HubError,
    mcp::JsonObject,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use utoipa::ToSchema;

use super::{
    channels::{ChannelInput, ChannelView, ChannelWithSecret, Notification},
    deliveries::DeliveryView,
    event_triggers::{EventTriggerInput, EventTriggerView},
    firings::FiringView,
    schedules::{ScheduleInput, ScheduleView},
    service::Automation,
    target::Started,
    webhooks::{WebhookInput, WebhookView, WebhookWithSecret},
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const CREATE_SCHEDULE: &str = "create_schedule";
    pub const LIST_SCHEDULES: &str = "list_schedules";
    pub const PAUSE_SCHEDULE: &str = "pause_schedule";
    pub const RESUME_SCHEDULE: &str = "resume_schedule";
    pub const RUN_SCHEDULE_NOW: &str = "run_schedule_now";
    pub const DELETE_SCHEDULE: &str = "delete_schedule";
    pub const CREATE_WEBHOOK: &str = "create_webhook";
    pub const LIST_WEBHOOKS: &str = "list_webhooks";
    pub const ROTATE_WEBHOOK_SECRET: &str = "rotate_webhook_secret";
    pub const DELETE_WEBHOOK: &str = "delete_webhook";
    pub const CREATE_CHANNEL: &str = "create_channel";
    pub const LIST_CHANNELS: &str = "list_channels";
    pub const TEST_CHANNEL: &str = "test_channel";
    pub const DELETE_CHANNEL: &str = "delete_channel";
    pub const NOTIFY: &str = "notify";
    pub const LIST_DELIVERIES: &str = "list_deliveries";
    pub const TRIGGER: &str = "trigger";
    pub const CREATE_EVENT_TRIGGER: &str = "create_event_trigger";
    pub const LIST_EVENT_TRIGGERS: &str = "list_event_triggers";
    pub const PAUSE_EVENT_TRIGGER: &str = "pause_event_trigger";
    pub const RESUME_EVENT_TRIGGER: &str = "resume_event_trigger";
    pub const DELETE_EVENT_TRIGGER: &str = "delete_event_trigger";
}

pub use tideway_core::typed::NoArgs;

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    pub name: String,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyArgs {
    /// The channel's name.
    pub channel: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// The message; or give `template` instead.
    #[serde(default)]
    #[schemars(length(min = 1, max = 20000))]
    pub text: Option<String>,
    /// A prompt (by its name on `/mcp`) whose rendering is the message, with
    /// `arguments`.
    #[serde(default)]
    pub template: Option<String>,
    /// The template's arguments.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: JsonObject,
    /// Structured details for receivers that read them (webhook channels).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesArgs {
    /// Only this channel's deliveries.
    #[serde(default)]
    pub channel: Option<String>,
    /// At most this many, newest first (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerArgs {
    /// A schedule's or webhook's name: its target starts now, as the caller.
    pub name: String,
    /// Laid under the target's own input.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: JsonObject,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct EventTriggerList {
    pub event_triggers: Vec<EventTriggerView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

impl ToolText for ScheduleView {
    fn text(&self) -> String {
        let next = self
            .next_fire_times
            .first()
            .map_or("never (paused or no further time)".to_string(), |at| {
                at.to_rfc3339()
            });
        format!(
            "Schedule '{}'{}: next due {next}.\n{}",
            self.name,
            if self.paused { " (paused)" } else { "" },
            serde_json::to_string_pretty(self).unwrap_or_default()
        )
    }
}
impl ToolText for ScheduleList {}
impl ToolText for EventTriggerView {}
impl ToolText for EventTriggerList {}
impl ToolText for WebhookList {}
impl ToolText for WebhookWithSecret {}
impl ToolText for ChannelList {}
impl ToolText for ChannelWithSecret {}
impl ToolText for DeliveryView {}
impl ToolText for DeliveryList {}
impl ToolText for FiringView {}
impl ToolText for Started {}
impl ToolText for Deleted {}

fn deleted(name: String) -> Deleted {
    Deleted {
        name,
        deleted: true,
    }
}

pub fn tool_set() -> ToolSet<Automation> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::CREATE_SCHEDULE,
                title: "Create a schedule",
                description: "Makes a schedule that starts a workflow or calls a tool on a cron expression (in a time zone) or at a fixed interval, as you, with your rights. Due times missed while no server ran follow the misfire policy: skip, run_once (default) or run_all. Answers with the next fire times.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: ScheduleInput| async move {
                state.create_schedule(&ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_SCHEDULES,
                title: "List schedules",
                description: "The tenant's schedules: timing, target, whether paused, next fire times and the latest firings with their execution ids or errors.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, _args: NoArgs| async move {
                Ok(ScheduleList {
                    schedules: state.list_schedules(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::PAUSE_SCHEDULE,
                title: "Pause a schedule",
                description: "Stops a schedule firing until it is resumed.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.pause_schedule(&ctx, &args.name).await
            },
        )
        .add(
            ToolSpec {
                name: names::RESUME_SCHEDULE,
                title: "Resume a schedule",
                description: "Resumes a paused schedule from its next due time after now; times passed while it was paused are not fired.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.resume_schedule(&ctx, &args.name).await
            },
        )
        .add(
            ToolSpec {
                name: names::RUN_SCHEDULE_NOW,
                title: "Run a schedule now",
                description: "Fires a schedule once now, outside its timing, as the principal that made it; answers with the firing and its execution id.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.run_schedule_now(&ctx, &args.name).await
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_SCHEDULE,
                title: "Delete a schedule",
                description: "Deletes a schedule and its firing history; runs it started go on.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.delete_schedule(&ctx, &args.name).await?;
                Ok(deleted(args.name))
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_WEBHOOK,
                title: "Create an inbound webhook",
                description: "Makes an endpoint that starts a workflow or tool with each delivery's JSON body as input, as you. Deliveries must be signed (HMAC-SHA256, Tideway's scheme or GitHub's); replays and repeated deliveries are refused. Answers with its two paths and its signing secret, shown only this once.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: WebhookInput| async move {
                state.create_webhook(&ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_WEBHOOKS,
                title: "List inbound webhooks",
                description: "The tenant's inbound webhooks: paths, target and signing scheme (never the secret).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, _args: NoArgs| async move {
                let rows = state.webhooks.list(&ctx.tenant).await?;
                Ok(WebhookList {
                    webhooks: rows.iter().map(|row| row.view()).collect::<Result<_, HubError>>()?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::ROTATE_WEBHOOK_SECRET,
                title: "Rotate a webhook's secret",
                description: "Gives a signed webhook a new signing secret, shown only this once; the old secret stops working at once.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.webhooks.rotate(&ctx.tenant, &args.name).await
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_WEBHOOK,
                title: "Delete an inbound webhook",
                description: "Deletes an inbound webhook; deliveries to it are refused from now on.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.delete_webhook(&ctx, &args.name).await?;
                Ok(deleted(args.name))
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_CHANNEL,
                title: "Create a notification channel",
                description: "Stores a channel notifications go to: a generic webhook (JSON, signed with Tideway's scheme; its signing secret is shown this once) or a Slack-compatible incoming webhook (its URL is sealed and never shown again). Internal addresses are refused unless the operator opened them.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: ChannelInput| async move {
                state.create_channel(&ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_CHANNELS,
                title: "List notification channels",
                description: "The tenant's notification channels (a Slack URL by its host only).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, _args: NoArgs| async move {
                Ok(ChannelList {
                    channels: state.channels.list(&ctx.tenant).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::TEST_CHANNEL,
                title: "Test a notification channel",
                description: "Sends a test notification through a channel now and answers with how the attempt went (the receiver's status or the error).",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.test_channel(&ctx, &args.name).await
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_CHANNEL,
                title: "Delete a notification channel",
                description: "Deletes a channel and its sealed URL and secret; notifications still pending for it fail.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.channels.delete(&ctx.tenant, &args.name).await?;
                Ok(deleted(args.name))
            },
        )
        .add(
            ToolSpec {
                name: names::NOTIFY,
                title: "Send a notification",
                description: "Sends a message (with an optional subject and structured data) through a notification channel: a signed webhook, Slack or email. The message is `text`, or a prompt template rendered with `arguments`. Answers at once with the delivery's id; it is sent in the background and retried with backoff if the receiver fails, and every attempt is kept (list_deliveries).",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Automation>, ctx, args: NotifyArgs| async move {
                let text = match (args.text, &args.template) {
                    (Some(text), None) => text,
                    (None, Some(template)) => state.render(&ctx, template, args.arguments).await?,
                    _ => {
                        return Err(HubError::invalid_argument(
                            "text",
                            "give either text or template (a prompt's name), not both",
                        ));
                    }
                };
                let notification = Notification {
                    subject: args.subject,
                    text,
                    data: args.data,
                };
                state.notify(&ctx, &args.channel, &notification).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_DELIVERIES,
                title: "List notification deliveries",
                description: "The tenant's latest notification deliveries, newest first: status (pending, delivered, failed), attempts, the receiver's last status or error, and when the next attempt is due.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: DeliveriesArgs| async move {
                Ok(DeliveryList {
                    deliveries: state
                        .deliveries
                        .list(&ctx.tenant, args.channel.as_deref(), i64::from(args.limit.unwrap_or(50)))
                        .await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::TRIGGER,
                title: "Trigger an automation",
                description: "Starts a schedule's or webhook's target now, as you, with the given input laid under the target's own; answers with the execution id.",
                effect: Effect::Additive,
                open_world: true,
            },
            |state: Arc<Automation>, ctx, args: TriggerArgs| async move {
                state.trigger(&ctx, &args.name, args.input).await
            },
        )
        .add(
            ToolSpec {
                name: names::CREATE_EVENT_TRIGGER,
                title: "Create an event trigger",
                description: "Makes a trigger that starts a workflow or calls a tool, as you, with your rights, whenever a change of one kind happens on the support desk (on: ticket_created, ticket_updated, ticket_commented or sla_breached) or a message arrives in a Kafka topic (on: kafka_message, with kafka: {topic, cluster}), and its condition holds. For the desk, the condition (`if`) and `{{ }}` in the target's input see `ticket` (id, customer_id, customer_tier, subject, status, priority, category, assignee, sla_due_at) and `change` (kind, at, actor, changes); for a topic, `message` (topic, partition, offset, key, headers, timestamp, value). It follows changes from now on; each change starts at most one run, and a topic's messages are committed only once their runs are recorded.",
                effect: Effect::Additive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: EventTriggerInput| async move {
                state.create_event_trigger(&ctx, args).await
            },
        )
        .add(
            ToolSpec {
                name: names::LIST_EVENT_TRIGGERS,
                title: "List event triggers",
                description: "The tenant's event triggers: what they start on, their condition and target, whether paused, when they last read the desk's changes (and any error then), and the latest runs they started.",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, _args: NoArgs| async move {
                Ok(EventTriggerList {
                    event_triggers: state.list_event_triggers(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::PAUSE_EVENT_TRIGGER,
                title: "Pause an event trigger",
                description: "Stops an event trigger starting runs until it is resumed.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.set_event_trigger_paused(&ctx, &args.name, true).await
            },
        )
        .add(
            ToolSpec {
                name: names::RESUME_EVENT_TRIGGER,
                title: "Resume an event trigger",
                description: "Resumes an event trigger from now: changes made while it was paused start nothing.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.set_event_trigger_paused(&ctx, &args.name, false).await
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_EVENT_TRIGGER,
                title: "Delete an event trigger",
                description: "Deletes an event trigger and its firing history; runs it started go on.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<Automation>, ctx, args: NameArgs| async move {
                state.delete_event_trigger(&ctx, &args.name).await?;
                Ok(deleted(args.name))
            },
        )
}
