//! The automation toolkit's state and operations, shared by its tools, its REST
//! routes, the public webhook route and its background loop: making and changing
//! schedules, webhooks and channels; firing a due schedule; taking a webhook
//! delivery; recording and sending notifications. Event triggers are in
//! `watching.rs`.

use std::sync::{Arc, Weak};

use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use tideway_core::{
    CallContext, Hub, HubError, Store, TenantId, context::DelegatedPrincipal, mcp::JsonObject,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    channels::{ChannelInput, ChannelWithSecret, Channels, Notification},
    deliveries::{Deliveries, DeliveryView},
    event_triggers::EventTriggers,
    firings::{FiringView, Firings, Source},
    now_ms,
    schedules::{ScheduleInput, ScheduleRow, ScheduleView, Schedules},
    settings::AutomationConfig,
    signature::{self, Rejected},
    target::{Started, Target},
    timing::{self, Timing},
    webhooks::{WebhookInput, WebhookRow, WebhookWithSecret, Webhooks},
};

/// How many next due times and past firings a schedule's view shows.
const SHOWN: usize = 5;

/// How late a due time may be fired before it counts as missed.
pub const GRACE_MS: i64 = 60_000;

pub struct Automation {
    pub config: AutomationConfig,
    hub: Weak<Hub>,
    pub schedules: Schedules,
    pub webhooks: Webhooks,
    pub event_triggers: EventTriggers,
    pub firings: Firings,
    pub channels: Channels,
    pub deliveries: Deliveries,
    /// Wakes the schedule loop: a schedule was made or resumed.
    pub schedules_changed: Notify,
    /// Wakes the delivery loop: a notification was recorded.
    pub deliveries_due: Notify,
    /// Wakes the event trigger loop: a trigger was made or resumed.
    pub triggers_changed: Notify,
    pub stop: CancellationToken,
    /// This server, as it names itself on the leases it takes.
    pub owner: String,
}

/// A webhook delivery, taken.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub execution_id: String,
    /// The same delivery was taken before; this is the run it started.
    pub duplicate: bool,
}

/// Why a webhook delivery was not taken.
#[derive(Debug)]
pub enum Refused {
    /// Unknown path, or a missing or wrong signature: one answer for all, so a
    /// stranger learns nothing about which tenants or names exist.
    NotAccepted,
    /// Correctly signed, but outside the replay window.
    Stale { skew_secs: i64 },
    /// The body is not a JSON object.
    Body(String),
    /// Taken, but its target could not be started.
    Failed(HubError),
}

/// Which endpoint a delivery came to.
pub enum HookPath<'a> {
    Named { tenant: &'a str, name: &'a str },
    Token(&'a str),
}

impl Automation {
    pub fn new(
        config: AutomationConfig,
        hub: Weak<Hub>,
        store: Store,
        webhooks: Webhooks,
        channels: Channels,
    ) -> Self {
        let owner = format!(
            "{}:{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "tideway".into()),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Automation {
            config,
            hub,
            schedules: Schedules::new(store.clone()),
            webhooks,
            event_triggers: EventTriggers::new(store.clone()),
            firings: Firings::new(store.clone()),
            channels,
            deliveries: Deliveries::new(store),
            schedules_changed: Notify::new(),
            deliveries_due: Notify::new(),
            triggers_changed: Notify::new(),
            stop: CancellationToken::new(),
            owner,
        }
    }

    pub fn hub(&self) -> Result<Arc<Hub>, HubError> {
        self.hub
            .upgrade()
            .ok_or_else(|| HubError::Internal("the hub is shutting down".into()))
    }

    // ----- schedules -----

    pub async fn create_schedule(
        &self,
        ctx: &CallContext,
        input: ScheduleInput,
    ) -> Result<ScheduleView, HubError> {
        let now = now_ms();
        let timing = Timing::parse(&input.timing, now, self.config.min_interval_secs)?;
        input.target.check(&*self.hub()?, ctx).await?;
        self.schedules
            .create(ctx, &input, now, timing.next_after(now))
            .await?;
        self.schedules_changed.notify_one();
        self.schedule_view(&self.schedules.get(&ctx.tenant, &input.name).await?)
            .await
    }

    pub async fn schedule_view(&self, row: &ScheduleRow) -> Result<ScheduleView, HubError> {
        let timing = row.timing()?;
        let mut next_fire_times = Vec::new();
        if !row.paused {
            let mut at = row.next_due_ms;
            while let Some(due) = at
                && next_fire_times.len() < SHOWN
            {
                if let Some(time) = timing::at(due) {
                    next_fire_times.push(time);
                }
                at = timing.next_after(due);
            }
        }
        let tenant = TenantId::new(&row.tenant_id);
        Ok(ScheduleView {
            name: row.name.clone(),
            timing: row.timing_spec()?,
            target: row.target()?,
            misfire: row.misfire(),
            paused: row.paused,
            next_fire_times,
            last_firings: self
                .firings
                .recent(&tenant, Source::Schedule, &row.name, SHOWN as i64)
                .await?,
            description: row.description.clone(),
            created_by: row.created_by.clone(),
            created_at: timing::at(row.created_ms),
        })
    }

    pub async fn list_schedules(&self, ctx: &CallContext) -> Result<Vec<ScheduleView>, HubError> {
        let mut views = Vec::new();
        for row in self.schedules.list(&ctx.tenant).await? {
            views.push(self.schedule_view(&row).await?);
        }
        Ok(views)
    }

    pub async fn get_schedule(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<ScheduleView, HubError> {
        self.schedule_view(&self.schedules.get(&ctx.tenant, name).await?)
            .await
    }

    pub async fn pause_schedule(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<ScheduleView, HubError> {
        self.schedules
            .set_paused(&ctx.tenant, name, true, None)
            .await?;
        self.get_schedule(ctx, name).await
    }

    /// Resumes from the next due time after now: times passed while paused are
    /// not fired.
    pub async fn resume_schedule(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<ScheduleView, HubError> {
        let row = self.schedules.get(&ctx.tenant, name).await?;
        let next = row.timing()?.next_after(now_ms());
        self.schedules
            .set_paused(&ctx.tenant, name, false, next)
            .await?;
        self.schedules_changed.notify_one();
        self.get_schedule(ctx, name).await
    }

    pub async fn delete_schedule(&self, ctx: &CallContext, name: &str) -> Result<(), HubError> {
        self.schedules.delete(&ctx.tenant, name).await?;
        self.firings
            .forget(&ctx.tenant, Source::Schedule, name)
            .await
    }

    /// Fires a schedule now, out of its timing, as the principal that made it.
    pub async fn run_schedule_now(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<FiringView, HubError> {
        let row = self.schedules.get(&ctx.tenant, name).await?;
        let key = format!(
            "schedule:{}:{}:now:{}",
            row.name,
            row.created_ms,
            uuid::Uuid::now_v7().simple()
        );
        self.schedules.record_now(&row, &key).await?;
        self.fire(&row, &key, now_ms()).await?;
        self.firings.get(&ctx.tenant, &key).await
    }

    /// Starts a schedule's target for one due time as the schedule's principal,
    /// and records how that went on the firing.
    pub async fn fire(
        &self,
        row: &ScheduleRow,
        key: &str,
        due_ms: i64,
    ) -> Result<Started, HubError> {
        let tenant = TenantId::new(&row.tenant_id);
        let result = async {
            let principal = row.principal()?;
            let ctx = acting(
                &tenant,
                &principal,
                format!("schedule:{}:{due_ms}", row.name),
            )?;
            row.target()?.start(&*self.hub()?, &ctx, None, key).await
        }
        .await;
        match &result {
            Ok(started) => {
                tracing::info!(tenant = %tenant, schedule = row.name, execution_id = started.execution_id, "schedule fired");
                self.firings
                    .started(&tenant, key, &started.execution_id)
                    .await?;
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant, schedule = row.name, %error, "schedule firing failed");
                self.firings
                    .failed(&tenant, key, &error.to_string(), retryable(error))
                    .await?;
            }
        }
        result
    }

    /// Fires every schedule due by `now`: the background loop's step, and a test's
    /// with a clock of its own. Returns how many runs were started.
    pub async fn tick(&self, now: i64) -> Result<usize, HubError> {
        let mut started = 0;
        for row in self.schedules.due(now, 100).await? {
            let timing = match row.timing() {
                Ok(timing) => timing,
                Err(error) => {
                    tracing::error!(schedule = row.name, %error, "a stored schedule does not read");
                    continue;
                }
            };
            let Some(due) = row.next_due_ms else { continue };
            let plan = timing::plan(
                &timing,
                due,
                now,
                row.misfire(),
                self.config.max_catch_up as usize,
                GRACE_MS,
            );
            if !self
                .schedules
                .claim(&row, plan.next_due, &plan.fire)
                .await?
            {
                // Another server claimed this due time.
                continue;
            }
            if plan.passed_over > 0 {
                tracing::info!(
                    schedule = row.name,
                    passed_over = plan.passed_over,
                    misfire = row.misfire().as_str(),
                    "schedule passed over missed times"
                );
            }
            for due in plan.fire {
                if self.fire(&row, &row.key(due), due).await.is_ok() {
                    started += 1;
                }
            }
        }
        Ok(started)
    }

    /// Starts the schedule firings a stopped server claimed but did not start.
    pub async fn recover(&self, now: i64) -> Result<(), HubError> {
        for stale in self.firings.stale(now - 30_000, 50).await? {
            if stale.attempts >= 10 || !self.firings.take(&stale).await? {
                continue;
            }
            let tenant = TenantId::new(&stale.tenant_id);
            match self.schedules.get(&tenant, &stale.name).await {
                Ok(row) => {
                    let _ = self.fire(&row, &stale.start_key, stale.due_ms).await;
                }
                Err(HubError::NotFound(_)) => {
                    self.firings
                        .failed(&tenant, &stale.start_key, "the schedule was deleted", false)
                        .await?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    // ----- webhooks -----

    pub async fn create_webhook(
        &self,
        ctx: &CallContext,
        input: WebhookInput,
    ) -> Result<WebhookWithSecret, HubError> {
        input.target.check(&*self.hub()?, ctx).await?;
        self.webhooks.create(ctx, &input).await
    }

    pub async fn delete_webhook(&self, ctx: &CallContext, name: &str) -> Result<(), HubError> {
        self.webhooks.delete(&ctx.tenant, name).await?;
        self.firings
            .forget(&ctx.tenant, Source::Webhook, name)
            .await
    }

    /// Takes a delivery to `path`: checks its signature, refuses a replay, starts
    /// the target with the body laid under its input, and answers with the run.
    /// The run is recorded before this returns, so an acknowledged delivery
    /// survives the server stopping at once after.
    pub async fn receive(
        &self,
        path: HookPath<'_>,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
    ) -> Result<Accepted, Refused> {
        let found = match path {
            HookPath::Named { tenant, name } => self.webhooks.find(tenant, name).await,
            HookPath::Token(token) => self.webhooks.find_by_token(token).await,
        }
        .map_err(Refused::Failed)?;
        let Some(row) = found else {
            // The same work as a known path, so timing does not tell them apart.
            let _ = signature::sign_hex(b"unknown", &[body]);
            return Err(Refused::NotAccepted);
        };
        let secret = self.webhooks.secret(&row).map_err(Refused::Failed)?;
        let verified = signature::verify(
            row.signing(),
            secret.as_ref().map_or(&b""[..], |secret| secret.as_bytes()),
            headers,
            body,
            now_ms() / 1000,
            self.config.replay_window_secs as i64,
        )
        .map_err(|rejected| match rejected {
            Rejected::NotSigned => Refused::NotAccepted,
            Rejected::Stale { skew_secs } => Refused::Stale { skew_secs },
        })?;
        let input = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Refused::Body("the body must be a JSON object".into())),
            Err(_) if body.iter().all(u8::is_ascii_whitespace) => JsonObject::new(),
            Err(error) => return Err(Refused::Body(format!("the body is not JSON: {error}"))),
        };
        self.deliver(
            &row,
            verified.delivery,
            verified.fingerprint,
            input,
            request_id,
        )
        .await
        .map_err(Refused::Failed)
    }

    async fn deliver(
        &self,
        row: &WebhookRow,
        delivery: Option<String>,
        fingerprint: Option<String>,
        input: JsonObject,
        request_id: &str,
    ) -> Result<Accepted, HubError> {
        let tenant = TenantId::new(&row.tenant_id);
        let delivery = delivery
            .map(|id| format!("id:{id}"))
            .or_else(|| fingerprint.as_ref().map(|sig| format!("sig:{sig}")))
            .unwrap_or_else(|| format!("once:{}", uuid::Uuid::now_v7().simple()));
        let (key, execution_id, fresh) = self
            .firings
            .record_delivery(
                &tenant,
                &row.name,
                &row.key(&delivery),
                fingerprint.as_deref(),
            )
            .await?;
        if let Some(execution_id) = execution_id {
            return Ok(Accepted {
                execution_id,
                duplicate: true,
            });
        }
        let principal = row.principal()?;
        let ctx = acting(&tenant, &principal, request_id.to_string())?;
        match row
            .target()?
            .start(&*self.hub()?, &ctx, Some(&input), &key)
            .await
        {
            Ok(started) => {
                self.firings
                    .started(&tenant, &key, &started.execution_id)
                    .await?;
                Ok(Accepted {
                    execution_id: started.execution_id,
                    duplicate: !fresh,
                })
            }
            Err(error) => {
                self.firings
                    .failed(&tenant, &key, &error.to_string(), false)
                    .await?;
                Err(error)
            }
        }
    }

    // ----- notifications -----

    pub async fn create_channel(
        &self,
        ctx: &CallContext,
        input: ChannelInput,
    ) -> Result<ChannelWithSecret, HubError> {
        self.channels.create(ctx, &input).await
    }

    /// Records a notification for the channel and answers at once; the background
    /// loop sends it.
    pub async fn notify(
        &self,
        ctx: &CallContext,
        channel: &str,
        notification: &Notification,
    ) -> Result<DeliveryView, HubError> {
        // A missing channel is refused now, not by a delivery that fails later.
        self.channels.get(&ctx.tenant, channel).await?;
        let id = self
            .deliveries
            .enqueue(&ctx.tenant, channel, notification)
            .await?;
        self.deliveries_due.notify_one();
        self.deliveries.get(&ctx.tenant, &id).await
    }

    /// A prompt rendered for `ctx` as a message's text: its messages' text, in order.
    pub async fn render(
        &self,
        ctx: &CallContext,
        template: &str,
        arguments: JsonObject,
    ) -> Result<String, HubError> {
        let prompt = self
            .hub()?
            .get_prompt(ctx, &tideway_core::Scope::All, template, Some(arguments))
            .await
            .map_err(|error| match error {
                HubError::InvalidArguments { field, message } => {
                    HubError::invalid_argument(format!("arguments.{field}"), message)
                }
                HubError::UnknownPrompt(name) => HubError::invalid_argument(
                    "template",
                    format!("no prompt '{}'", tideway_core::error::excerpt(&name)),
                ),
                other => other,
            })?;
        let text = prompt
            .messages
            .iter()
            .filter_map(|message| message.content.as_text().map(|text| text.text.clone()))
            .collect::<Vec<_>>()
            .join("\n\n");
        if text.is_empty() {
            return Err(HubError::invalid_argument(
                "template",
                "the prompt rendered no text",
            ));
        }
        Ok(text)
    }

    /// Sends a test notification through the channel now and reports the attempt.
    pub async fn test_channel(
        &self,
        ctx: &CallContext,
        channel: &str,
    ) -> Result<DeliveryView, HubError> {
        self.channels.get(&ctx.tenant, channel).await?;
        let notification = Notification {
            subject: Some("Tideway test".into()),
            text: format!("A test notification to channel '{channel}'."),
            data: None,
        };
        let id = self
            .deliveries
            .enqueue(&ctx.tenant, channel, &notification)
            .await?;
        let now = now_ms();
        let lease = now + (self.config.delivery_timeout_secs as i64 + 5) * 1000;
        // Claimed like any delivery, so the loop does not send it as well.
        let claimed = self
            .deliveries
            .claim_one(&id, &self.owner, now, lease)
            .await?;
        if let Some(claimed) = claimed {
            self.attempt(&claimed, false).await?;
        }
        self.deliveries.get(&ctx.tenant, &id).await
    }

    /// Sends every due delivery once: the background loop's other step.
    pub async fn deliver_due(&self, now: i64) -> Result<usize, HubError> {
        let lease = now + (self.config.delivery_timeout_secs as i64 + 5) * 1000;
        let claimed = self.deliveries.claim(&self.owner, now, lease, 32).await?;
        let count = claimed.len();
        // Concurrently: one slow receiver holds up none of the others.
        let attempts = claimed.iter().map(|delivery| self.attempt(delivery, true));
        for outcome in futures::future::join_all(attempts).await {
            outcome?;
        }
        Ok(count)
    }

    async fn attempt(
        &self,
        claimed: &super::deliveries::Claimed,
        retry: bool,
    ) -> Result<(), HubError> {
        let tenant = TenantId::new(&claimed.tenant_id);
        let attempt = match claimed.notification() {
            Ok(notification) => {
                self.channels
                    .send(&tenant, &claimed.channel, &claimed.id, &notification)
                    .await
            }
            Err(error) => super::channels::Attempt::failed(error.to_string()),
        };
        let delivered = attempt.delivered;
        let made = claimed.attempts + 1;
        let retry_at = (retry && !delivered && made < i64::from(self.config.delivery_attempts))
            .then(|| {
                let factor = 1i64 << (made - 1).clamp(0, 20);
                now_ms() + (self.config.delivery_backoff_ms as i64).saturating_mul(factor)
            });
        if !delivered {
            tracing::info!(tenant = %tenant, channel = claimed.channel, delivery = claimed.id, attempt = made, error = attempt.error.as_deref().unwrap_or_default(), "notification not delivered");
        }
        self.deliveries
            .finish(
                claimed,
                &self.owner,
                delivered,
                attempt.status,
                attempt.error.as_deref(),
                retry_at,
            )
            .await
    }

    /// Starts a schedule's or webhook's target now, as the caller, with `input`
    /// laid under the target's own.
    pub async fn trigger(
        &self,
        ctx: &CallContext,
        name: &str,
        input: JsonObject,
    ) -> Result<Started, HubError> {
        let target: Target = match self.schedules.get(&ctx.tenant, name).await {
            Ok(row) => row.target()?,
            Err(HubError::NotFound(_)) => {
                match self.webhooks.find(ctx.tenant.as_str(), name).await? {
                    Some(row) => row.target()?,
                    None => {
                        return Err(HubError::NotFound(format!(
                            "no schedule or webhook named '{}'",
                            tideway_core::error::excerpt(name)
                        )));
                    }
                }
            }
            Err(error) => return Err(error),
        };
        let key = format!("trigger:{name}:{}", uuid::Uuid::now_v7().simple());
        target.start(&*self.hub()?, ctx, Some(&input), &key).await
    }
}

/// The context an automation acts in: its tenant, the principal that made it.
pub(super) fn acting(
    tenant: &TenantId,
    principal: &DelegatedPrincipal,
    request_id: String,
) -> Result<CallContext, HubError> {
    // A delegated right does not outlive the credential it came from.
    if principal
        .expires_at
        .is_some_and(|expires| expires <= chrono::Utc::now())
    {
        return Err(HubError::Forbidden(format!(
            "the credential of {} that made this automation has expired; make it again with a current one",
            principal.id
        )));
    }
    Ok(
        CallContext::new(tenant.clone(), principal.principal(), request_id)
            .with_timeout(std::time::Duration::from_secs(60)),
    )
}

/// Whether a failed start may work if tried again (the store or a dependency was
/// briefly unavailable), rather than being refused as it is.
pub(super) fn retryable(error: &HubError) -> bool {
    matches!(
        error,
        HubError::Store(_)
            | HubError::Unavailable { .. }
            | HubError::RateLimited { .. }
            | HubError::DeadlineExceeded(_)
    )
}
