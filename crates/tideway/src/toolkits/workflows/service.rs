//! What the workflows tools do: find a template (the tenant's saved versions first,
//! then the built-in ones), check it against the tools the caller may call, start a
//! run, and change runs on request. The engine (`engine/`) does the running.

use std::{
    collections::BTreeSet,
    sync::{Arc, Weak},
    time::Duration,
};

use serde_json::Value;
use tideway_core::{CallContext, Hub, HubError, mcp::JsonObject};
use tokio::time::Instant;

use super::{
    definition::Template,
    engine::Engine,
    progress::RunStatus,
    runs::{Control, ExecutionSummary, ExecutionView},
    templates::{TemplateStore, TemplateVersion},
    tools::StepOutput,
};

/// The most runs one listing returns.
pub const MAX_LISTED: i64 = 500;

/// How often a caller waiting for a run reads it again, for changes made on another
/// server (this server's own changes wake it at once).
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// Time kept back from the call's deadline, so a wait answers with the run as it is
/// rather than being cut off by the deadline.
const FOLLOW_MARGIN: Duration = Duration::from_secs(1);

pub struct Workflows {
    pub engine: Arc<Engine>,
    templates: TemplateStore,
    hub: Weak<Hub>,
}

impl Workflows {
    pub fn new(engine: Arc<Engine>, templates: TemplateStore, hub: &Arc<Hub>) -> Self {
        Workflows {
            engine,
            templates,
            hub: Arc::downgrade(hub),
        }
    }

    pub fn hub(&self) -> Result<Arc<Hub>, HubError> {
        self.hub
            .upgrade()
            .ok_or_else(|| HubError::Internal("the server is stopping".into()))
    }

    /// Checks a template against the tools `ctx`'s principal may call and the
    /// tenant's templates.
    async fn validate(&self, ctx: &CallContext, template: &Template) -> Result<(), HubError> {
        let hub = self.hub()?;
        self.templates
            .check(&hub, &ctx.tenant, &ctx.principal, template)
            .await
    }

    pub async fn templates(&self, ctx: &CallContext) -> Result<Vec<TemplateVersion>, HubError> {
        self.templates.list(&ctx.tenant).await
    }

    pub async fn template(
        &self,
        ctx: &CallContext,
        id: &str,
        version: Option<i64>,
    ) -> Result<TemplateVersion, HubError> {
        self.templates.find(&ctx.tenant, id, version).await
    }

    /// Saves a new version of a template after checking it.
    pub async fn save(&self, ctx: &CallContext, template: &Template) -> Result<i64, HubError> {
        self.validate(ctx, template).await?;
        self.templates.save(ctx, template).await
    }

    /// Starts a run of a template (its latest version unless one is named) with
    /// `input`, as `ctx`'s principal; with a `key` the tenant used before, the run
    /// started then is answered instead.
    pub async fn start(
        &self,
        ctx: &CallContext,
        id: &str,
        version: Option<i64>,
        input: JsonObject,
        key: Option<&str>,
    ) -> Result<ExecutionView, HubError> {
        let pinned = self.template(ctx, id, version).await?;
        self.start_pinned(ctx, &pinned, input, key).await
    }

    /// Starts a run of `pinned` with `input`, as `ctx`'s principal, once the input
    /// fits the template's schema and the principal may call each of its tools.
    pub async fn start_pinned(
        &self,
        ctx: &CallContext,
        pinned: &TemplateVersion,
        input: JsonObject,
        key: Option<&str>,
    ) -> Result<ExecutionView, HubError> {
        pinned
            .template
            .input_validator()?
            .validate(&input)
            .map_err(|error| match error {
                HubError::InvalidArguments { field, message } => {
                    HubError::invalid_argument(format!("input.{field}"), message)
                }
                other => other,
            })?;
        // The starter must be able to call every tool of the template, whoever saved it.
        self.validate(ctx, &pinned.template).await?;
        let (execution_id, created) = self
            .engine
            .runs
            .create(ctx, pinned, &Value::Object(input), key)
            .await?;
        if created {
            tracing::info!(
                execution_id,
                template = pinned.template.id,
                "workflow started"
            );
            self.engine.changed(&ctx.tenant, &execution_id);
        }
        self.engine.runs.view(&ctx.tenant, &execution_id).await
    }

    /// Waits up to `wait` (less a margin before the call's deadline) for a run to
    /// finish, telling the caller as progress of each step that ends; answers with
    /// the run as it then is, finished or not. Leaving the wait (the caller cancels,
    /// or time is up) leaves the run going.
    pub async fn follow(
        &self,
        ctx: &CallContext,
        id: &str,
        wait: Duration,
    ) -> Result<ExecutionView, HubError> {
        let until = Instant::now() + wait.min(ctx.remaining().saturating_sub(FOLLOW_MARGIN));
        // Subscribed before the first read, so no change falls between the two.
        let mut events = self.engine.subscribe();
        let mut ended = BTreeSet::new();
        loop {
            let view = self.engine.runs.view(&ctx.tenant, id).await?;
            let total = view.steps.len() as f64;
            for step in &view.steps {
                if step.status.is_finished() && ended.insert(step.id.clone()) {
                    ctx.progress(
                        ended.len() as f64,
                        Some(total),
                        format!("step '{}' {}", step.id, step.status),
                    )
                    .await;
                }
            }
            if view.status.is_finished() || Instant::now() >= until {
                return Ok(view);
            }
            let poll = Instant::now() + FOLLOW_POLL;
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) if event.execution_id != id => continue,
                        // A change of this run, or too many changes to tell: read it.
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            tokio::time::sleep_until(poll.min(until)).await;
                            break;
                        }
                    },
                    _ = tokio::time::sleep_until(poll.min(until)) => break,
                    _ = ctx.cancel.cancelled() => return Err(HubError::Cancelled),
                }
            }
        }
    }

    pub async fn view(&self, ctx: &CallContext, id: &str) -> Result<ExecutionView, HubError> {
        self.engine.runs.view(&ctx.tenant, id).await
    }

    /// A step's whole output, also one too large for the run's view.
    pub async fn step_output(
        &self,
        ctx: &CallContext,
        id: &str,
        step_id: &str,
    ) -> Result<StepOutput, HubError> {
        let output = self.engine.runs.output(&ctx.tenant, id, step_id).await?;
        Ok(StepOutput {
            execution_id: id.to_string(),
            step_id: step_id.to_string(),
            output,
        })
    }

    pub async fn list(
        &self,
        ctx: &CallContext,
        status: Option<RunStatus>,
        template_id: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<ExecutionSummary>, HubError> {
        let limit = limit.unwrap_or(50).clamp(1, MAX_LISTED);
        self.engine
            .runs
            .list(&ctx.tenant, status, template_id, limit)
            .await
    }

    pub async fn control(
        &self,
        ctx: &CallContext,
        id: &str,
        control: Control,
    ) -> Result<ExecutionView, HubError> {
        let others = self.engine.runs.control(&ctx.tenant, id, control).await?;
        if control == Control::Cancel {
            self.engine.cancel_local(id);
        }
        tracing::info!(execution_id = id, ?control, "workflow changed on request");
        self.engine.changed(&ctx.tenant, id);
        self.engine.touched(&ctx.tenant, &others);
        self.engine.runs.view(&ctx.tenant, id).await
    }

    pub async fn approve(
        &self,
        ctx: &CallContext,
        id: &str,
        step_id: &str,
        approved: bool,
        comment: Option<&str>,
    ) -> Result<ExecutionView, HubError> {
        let others = self
            .engine
            .runs
            .approve(ctx, id, step_id, approved, comment)
            .await?;
        self.engine.changed(&ctx.tenant, id);
        self.engine.touched(&ctx.tenant, &others);
        self.engine.runs.view(&ctx.tenant, id).await
    }
}
