//! How the engine runs one claimed step of each kind: a tool call through the Hub as
//! the run's starter (with its timeout, retries and progress), `generate`, a child
//! workflow or agent run noted on the step before it starts, `for_each` over a list
//! with a concurrency bound (each finished item kept, so it is never called again),
//! sleeps and waits as due times in the store, and approvals left waiting for a
//! person.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, stream::FuturesUnordered};
use serde_json::{Value, json};
use tideway_core::{
    CallContext, ClientChannel, Hub, HubError, ParentStep, Scope,
    input::{Answerable, InputRound},
    mcp::{CallToolResult, JsonObject},
};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::{
    api::problem::Problem,
    toolkits::workflows::{
        definition::{AGENT_TOOL, FailureKind, MAX_NESTING, MAX_SLEEP_SECS, Step, StepKind},
        expressions,
        runs::{Claimed, Loaded, Outcome, Parent, given_answers, item_digest, now_ms},
        step_progress::StepProgress,
    },
};

/// The most items one `for_each` step runs over.
const MAX_FOR_EACH_ITEMS: usize = 1000;
/// Items of a `for_each` step run at once unless the step says otherwise.
const DEFAULT_CONCURRENCY: u32 = 4;

/// How one tool call of a step went wrong.
enum Failure {
    Cancelled,
    /// The kind (for the retry policy), the message, and the problem (RFC 9457)
    /// when the Hub or the tool refused with an error of its own.
    Failed(FailureKind, String, Option<Value>),
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Engine {
    /// Runs one attempt of a claimed step of a loaded run; how it ended.
    pub(super) async fn run_step(
        &self,
        claimed: &Claimed,
        loaded: &Loaded,
        token: CancellationToken,
    ) -> Outcome {
        let Some(step) = loaded.template.step(&claimed.step_id) else {
            return Outcome::Failed {
                problem: None,
                message: format!("the template has no step '{}'", claimed.step_id),
                retry_in: None,
            };
        };
        let scope = scope(claimed, loaded);
        if let Some(condition) = &step.condition {
            match expressions::holds(condition, &scope) {
                Ok(true) => {}
                Ok(false) => return Outcome::Skipped,
                Err(message) => {
                    return Outcome::Failed {
                        problem: None,
                        message: format!("if: {message}"),
                        retry_in: None,
                    };
                }
            }
        }
        match step.kind {
            // A sleep was made due its wait later; by now it is over.
            StepKind::Sleep => Outcome::Succeeded(json!({"slept_secs": step.seconds})),
            StepKind::WaitUntil => wait_until(step, &scope, now_ms()),
            StepKind::Approval => Outcome::Waiting,
            StepKind::Tool | StepKind::Generate | StepKind::Notify => {
                self.call_tool(claimed, loaded, step, &scope, token).await
            }
            StepKind::Workflow => self.start_child(claimed, loaded, step, &scope).await,
            StepKind::Agent => self.start_agent(claimed, loaded, step, &scope, token).await,
        }
    }

    /// The context a step's calls run in: as the run's starter, named after the
    /// attempt (the agents toolkit tells its own background calls by this name),
    /// bounded by the step's timeout and cancelled with the step.
    fn step_context(
        &self,
        claimed: &Claimed,
        loaded: &Loaded,
        step: &Step,
        token: CancellationToken,
    ) -> CallContext {
        CallContext::new(
            loaded.tenant.clone(),
            loaded.starter.principal(),
            format!(
                "workflow:{}:{}:{}",
                claimed.execution_id, claimed.step_id, claimed.attempt
            ),
        )
        .with_timeout(Duration::from_secs(
            step.timeout_secs
                .unwrap_or(self.config.default_step_timeout_secs),
        ))
        .with_cancellation(token)
    }

    /// Gives an agent step's task to its agent and leaves the step waiting for the
    /// agent run, whose background call (a run of this engine) is made the step's
    /// child in the transaction that creates it (the call carries the step as its
    /// [`ParentStep`]): so no worker is held while the agent works, the run's end
    /// moves this one on at once, cancelling this run cancels it, and a step that
    /// ended meanwhile (cancelled, or taken over by another server) gets no agent
    /// run at all. An attempt cut off after the child was noted finds it instead of
    /// starting another agent run.
    async fn start_agent(
        &self,
        claimed: &Claimed,
        loaded: &Loaded,
        step: &Step,
        scope: &Value,
        token: CancellationToken,
    ) -> Outcome {
        if let Some(child) = noted_child(claimed, loaded) {
            return Outcome::AwaitingChild(child);
        }
        let failed = |kind: FailureKind, message: String, problem: Option<Value>| {
            failure(claimed, step, kind, message, problem)
        };
        let Some(hub) = self.hub.upgrade() else {
            return Outcome::Cancelled;
        };
        let mut arguments = match resolved_arguments(step, scope) {
            Ok(arguments) => arguments,
            Err(Failure::Cancelled) => return Outcome::Cancelled,
            Err(Failure::Failed(kind, message, problem)) => return failed(kind, message, problem),
        };
        arguments.insert(
            "agent".into(),
            json!(step.agent.as_deref().unwrap_or_default()),
        );
        arguments.insert("wait_secs".into(), json!(0));
        let ctx = self
            .step_context(claimed, loaded, step, token)
            .with_parent_step(ParentStep {
                execution_id: claimed.execution_id.clone(),
                step_id: claimed.step_id.clone(),
                owner: self.owner.clone(),
                depth: loaded.depth,
            });
        let output = match call_with(&hub, &ctx, AGENT_TOOL, arguments).await {
            Ok(output) => output,
            Err(Failure::Cancelled) => return Outcome::Cancelled,
            Err(Failure::Failed(kind, message, problem)) => return failed(kind, message, problem),
        };
        let run = &output["run"];
        let Some(run_id) = run["id"].as_str() else {
            return failed(
                FailureKind::Error,
                "the agents toolkit answered without a run".into(),
                None,
            );
        };
        // Once an agent run exists, a failure is the run's: it is not started again.
        let ended = |status: &str| Outcome::Failed {
            problem: None,
            message: match run["error"].as_str() {
                Some(error) => format!("the agent run {run_id} ended {status}: {error}"),
                None => format!("the agent run {run_id} ended {status}"),
            },
            retry_in: None,
        };
        match run["status"].as_str() {
            Some("queued" | "running") => {}
            // Carried out within the call (its model is the calling client's).
            Some("succeeded") => return Outcome::Succeeded(output),
            Some(status) => return ended(status),
            None => return ended("in an unknown state"),
        }
        match self
            .runs
            .by_key(&loaded.tenant, &format!("agent-run:{run_id}"))
            .await
        {
            Ok(Some(child)) => {
                tracing::info!(child, run_id, "workflows: an agent step waits for its run");
                Outcome::AwaitingChild(child)
            }
            Ok(None) => Outcome::Failed {
                problem: None,
                message: format!(
                    "the agent run {run_id} runs outside this engine, so this step cannot wait for it"
                ),
                retry_in: None,
            },
            Err(error) => Outcome::Failed {
                problem: None,
                message: format!(
                    "the agent run {run_id} could not be found: {}",
                    error.shown(&ctx.request_id)
                ),
                retry_in: None,
            },
        }
    }

    /// Starts a workflow step's child run (or finds the one an earlier attempt of
    /// this step started before it was cut off) and leaves the step waiting for it.
    async fn start_child(
        &self,
        claimed: &Claimed,
        loaded: &Loaded,
        step: &Step,
        scope: &Value,
    ) -> Outcome {
        let invalid = |message: String| Outcome::Failed {
            problem: None,
            message,
            retry_in: None,
        };
        if let Some(child) = noted_child(claimed, loaded) {
            return Outcome::AwaitingChild(child);
        }
        if usize::try_from(loaded.depth).unwrap_or(usize::MAX) >= MAX_NESTING {
            return invalid(format!(
                "runs may nest {MAX_NESTING} deep; this one would be deeper"
            ));
        }
        let Some(hub) = self.hub.upgrade() else {
            return Outcome::Cancelled;
        };
        let input = match expressions::resolve(&Value::Object(step.arguments.clone()), scope) {
            Ok(Value::Object(input)) => input,
            Ok(_) => JsonObject::new(),
            Err(message) => return invalid(format!("arguments: {message}")),
        };
        let id = step.workflow.as_deref().unwrap_or_default();
        let pinned = match self.templates.find(&loaded.tenant, id, None).await {
            Ok(pinned) => pinned,
            Err(error) => return invalid(format!("workflow: {}", error.shown("workflow"))),
        };
        if let Err(error) = pinned
            .template
            .input_validator()
            .and_then(|validator| validator.validate(&input))
        {
            return invalid(format!("arguments (the child run's input): {error}"));
        }
        // The child acts as this run's starter, who must be able to call its tools.
        let principal = loaded.starter.principal();
        if let Err(error) = self
            .templates
            .check(&hub, &loaded.tenant, &principal, &pinned.template)
            .await
        {
            return invalid(format!("workflow '{id}': {error}"));
        }
        let parent = Parent {
            execution_id: &claimed.execution_id,
            step_id: &claimed.step_id,
            owner: &self.owner,
            depth: loaded.depth,
        };
        match self
            .runs
            .start_child(
                &loaded.tenant,
                &loaded.starter,
                &pinned,
                &Value::Object(input),
                &parent,
            )
            .await
        {
            Ok(Some(child)) => {
                tracing::info!(child, template = id, "workflows: started a child run");
                self.changed(&loaded.tenant, &child);
                Outcome::AwaitingChild(child)
            }
            // The lease was lost meanwhile; the server that took the step over
            // starts the child.
            Ok(None) => Outcome::Cancelled,
            Err(error) => Outcome::Failed {
                problem: None,
                message: format!("the child run could not be recorded: {error}"),
                retry_in: u32::try_from(claimed.attempt + 1)
                    .ok()
                    .and_then(|next| step.retry.backoff(next, FailureKind::Unavailable)),
            },
        }
    }

    async fn call_tool(
        &self,
        claimed: &Claimed,
        loaded: &Loaded,
        step: &Step,
        scope: &Value,
        token: CancellationToken,
    ) -> Outcome {
        let failed = |kind: FailureKind, message: String, problem: Option<Value>| {
            failure(claimed, step, kind, message, problem)
        };
        let Some(hub) = self.hub.upgrade() else {
            return Outcome::Cancelled;
        };
        let ctx = self.step_context(claimed, loaded, step, token);
        let Some(list) = &step.for_each else {
            // One call: what it reports is the step's progress. (The items of a
            // `for_each` would report over each other; the step reports how many
            // of them finished instead.)
            let mut progress =
                StepProgress::new(self.runs.clone(), self.owner.clone(), claimed.clone());
            // An MCP task's call may ask its client; it runs with the answers given
            // while it waited.
            if !step.client_answers.is_empty() {
                let answers = given_answers(
                    loaded
                        .steps
                        .get(&claimed.step_id)
                        .and_then(|(_, output, _)| output.as_ref()),
                );
                let answerable = Answerable::from_names(&step.client_answers);
                progress = progress.with_input(InputRound::new(answers, answerable));
            }
            let progress = Arc::new(progress);
            let ctx = ctx.with_client(progress.clone());
            let outcome = self.call_once(&hub, &ctx, step, scope).await;
            if let Some(waiting) = progress.waiting() {
                return Outcome::AwaitingInput(waiting);
            }
            return match outcome {
                Ok(output) => Outcome::Succeeded(output),
                Err(Failure::Cancelled) => Outcome::Cancelled,
                Err(Failure::Failed(kind, message, problem)) => failed(kind, message, problem),
            };
        };
        let items = match expressions::evaluate(list, scope) {
            Ok(Value::Array(items)) if items.len() <= MAX_FOR_EACH_ITEMS => items,
            Ok(Value::Array(items)) => {
                return failed(
                    FailureKind::Invalid,
                    format!(
                        "for_each gave {} items; the most is {MAX_FOR_EACH_ITEMS}",
                        items.len()
                    ),
                    None,
                );
            }
            Ok(other) => {
                return failed(
                    FailureKind::Invalid,
                    format!("for_each must give a list, not {}", type_name(&other)),
                    None,
                );
            }
            Err(message) => {
                return failed(FailureKind::Invalid, format!("for_each: {message}"), None);
            }
        };
        self.call_each(claimed, step, scope, items, (&hub, &ctx))
            .await
    }

    /// Calls a `for_each` step's tool once per item, `concurrency` at a time. Each
    /// item that finishes is kept at once, so running the step again (a retry, a
    /// server taking it over, a person's retry) calls only the items that did not;
    /// the step's output lists every item's output in the items' order. The first
    /// failure starts no more items but lets those in flight finish and be kept.
    async fn call_each(
        &self,
        claimed: &Claimed,
        step: &Step,
        scope: &Value,
        items: Vec<Value>,
        (hub, ctx): (&Hub, &CallContext),
    ) -> Outcome {
        let failed = |kind: FailureKind, message: String, problem: Option<Value>| {
            failure(claimed, step, kind, message, problem)
        };
        let mut finished = match self.runs.finished_items(claimed).await {
            Ok(finished) => finished,
            Err(error) => {
                return failed(
                    FailureKind::Unavailable,
                    format!("the items that finished before could not be read: {error}"),
                    None,
                );
            }
        };
        let total = items.len();
        let mut outputs: Vec<Option<Value>> = vec![None; total];
        let mut to_call = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let digest = item_digest(&item);
            match finished.remove(&index) {
                Some(kept) if kept.digest == digest => outputs[index] = Some(kept.output),
                _ => to_call.push((index, item, digest)),
            }
        }
        let progress = StepProgress::new(self.runs.clone(), self.owner.clone(), claimed.clone());
        let done = AtomicUsize::new(total - to_call.len());
        let call_item = |(index, item, digest): (usize, Value, String)| {
            let mut scope = scope.clone();
            scope["item"] = item;
            scope["index"] = Value::from(index);
            let (progress, done) = (&progress, &done);
            async move {
                let output = match self.call_once(hub, ctx, step, &scope).await {
                    Ok(output) => output,
                    Err(Failure::Cancelled) => return (index, Err(Outcome::Cancelled)),
                    Err(Failure::Failed(kind, message, problem)) => {
                        return (
                            index,
                            Err(failed(kind, format!("item {index}: {message}"), problem)),
                        );
                    }
                };
                match self
                    .runs
                    .keep_item(&self.owner, claimed, index, &digest, &output)
                    .await
                {
                    Ok(true) => {}
                    // The step is no longer this server's: whoever holds it now
                    // carries on.
                    Ok(false) => return (index, Err(Outcome::Cancelled)),
                    Err(error) => {
                        let message =
                            format!("item {index} finished but could not be kept: {error}");
                        return (index, Err(failed(FailureKind::Unavailable, message, None)));
                    }
                }
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress
                    .progress(
                        done as f64,
                        Some(total as f64),
                        Some(format!("{done} of {total} items")),
                    )
                    .await;
                (index, Ok(output))
            }
        };
        let concurrency = (step.concurrency.unwrap_or(DEFAULT_CONCURRENCY) as usize).max(1);
        let mut waiting = to_call.into_iter();
        let mut running = FuturesUnordered::new();
        let mut ended: Option<Outcome> = None;
        loop {
            while ended.is_none() && running.len() < concurrency {
                let Some(next) = waiting.next() else { break };
                running.push(call_item(next));
            }
            let Some((index, result)) = running.next().await else {
                break;
            };
            match result {
                Ok(output) => outputs[index] = Some(output),
                Err(outcome) => {
                    ended.get_or_insert(outcome);
                }
            }
        }
        if let Some(outcome) = ended {
            return outcome;
        }
        Outcome::Succeeded(Value::Array(
            outputs.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }

    /// One call of a step's tool with its arguments resolved in `scope`.
    async fn call_once(
        &self,
        hub: &Hub,
        ctx: &CallContext,
        step: &Step,
        scope: &Value,
    ) -> Result<Value, Failure> {
        let arguments = resolved_arguments(step, scope)?;
        call_with(hub, ctx, step.tool_name().unwrap_or_default(), arguments).await
    }
}

/// A `wait_until` step at `now_ms`: done when its time has come, otherwise put off
/// until then (the wait is a due time in the store, so it survives a restart and
/// holds no worker).
fn wait_until(step: &Step, scope: &Value, now_ms: i64) -> Outcome {
    let failed = |message: String| Outcome::Failed {
        problem: None,
        message: format!("until: {message}"),
        retry_in: None,
    };
    let source = Value::String(step.until.clone().unwrap_or_default());
    let text = match expressions::resolve(&source, scope) {
        Ok(Value::String(text)) => text,
        Ok(other) => {
            return failed(format!(
                "gave {}, not a time in RFC 3339 text",
                tideway_core::error::excerpt(&other.to_string())
            ));
        }
        Err(message) => return failed(message),
    };
    let at = match chrono::DateTime::parse_from_rfc3339(text.trim()) {
        Ok(at) => at.with_timezone(&chrono::Utc),
        Err(_) => {
            return failed(format!(
                "'{}' is not an RFC 3339 time such as 2026-12-24T09:00:00Z",
                tideway_core::error::excerpt(&text)
            ));
        }
    };
    let at_ms = at.timestamp_millis();
    // Whole milliseconds, as the limit is checked in them.
    let longest_ms = (MAX_SLEEP_SECS * 1000.0) as i64;
    if at_ms <= now_ms {
        Outcome::Succeeded(json!({"waited_until": at.to_rfc3339()}))
    } else if at_ms.saturating_sub(now_ms) > longest_ms {
        failed(format!(
            "{} is more than 30 days away",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    } else {
        Outcome::Deferred(at_ms)
    }
}

/// What an expression sees while a step of this run runs.
fn scope(claimed: &Claimed, loaded: &Loaded) -> Value {
    let steps: serde_json::Map<String, Value> = loaded
        .steps
        .iter()
        .map(|(id, (status, output, error))| {
            (
                id.clone(),
                json!({"status": status.as_str(), "output": output, "error": error}),
            )
        })
        .collect();
    json!({
        "input": loaded.input,
        "steps": steps,
        "execution": {"id": claimed.execution_id, "started_by": loaded.starter.id},
    })
}

/// A tool's result as a step's output: its structured content, else its text.
fn output_of(result: CallToolResult) -> Value {
    match result.structured_content {
        Some(structured) => structured,
        None => Value::String(result_text(&result)),
    }
}

/// How an attempt failed, with the wait before the next one when `step`'s retry
/// policy retries `kind`.
fn failure(
    claimed: &Claimed,
    step: &Step,
    kind: FailureKind,
    message: String,
    problem: Option<Value>,
) -> Outcome {
    Outcome::Failed {
        retry_in: u32::try_from(claimed.attempt + 1)
            .ok()
            .and_then(|next| step.retry.backoff(next, kind)),
        message,
        problem,
    }
}

/// The child run an earlier attempt of this step started and noted, if
/// any: an attempt cut off after that point waits for it instead of starting another.
fn noted_child(claimed: &Claimed, loaded: &Loaded) -> Option<String> {
    let (_, noted, _) = loaded.steps.get(&claimed.step_id)?;
    noted
        .as_ref()?
        .get("execution_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A step's arguments with their expressions resolved in `scope`.
fn resolved_arguments(step: &Step, scope: &Value) -> Result<JsonObject, Failure> {
    match expressions::resolve(&Value::Object(step.arguments.clone()), scope) {
        Ok(Value::Object(arguments)) => Ok(arguments),
        Ok(_) => Ok(JsonObject::new()),
        Err(message) => Err(Failure::Failed(
            FailureKind::Invalid,
            format!("arguments: {message}"),
            None,
        )),
    }
}

/// One call of `tool` (by its `/mcp` name) through the Hub: its output, or how it
/// failed.
async fn call_with(
    hub: &Hub,
    ctx: &CallContext,
    tool: &str,
    arguments: JsonObject,
) -> Result<Value, Failure> {
    match hub
        .call_in_scope(ctx, &Scope::All, tool, Some(arguments))
        .await
    {
        Ok(result) if result.is_error == Some(true) => Err(Failure::Failed(
            FailureKind::Error,
            result_text(&result),
            None,
        )),
        Ok(result) => Ok(output_of(result)),
        Err(HubError::Cancelled) => Err(Failure::Cancelled),
        Err(error) => {
            let kind = failure_kind(&error);
            let problem = Problem::from_hub(error, &ctx.request_id);
            let message = problem.detail.clone();
            Err(Failure::Failed(
                kind,
                message,
                serde_json::to_value(problem).ok(),
            ))
        }
    }
}

fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn failure_kind(error: &HubError) -> FailureKind {
    match error {
        HubError::DeadlineExceeded(_) => FailureKind::Timeout,
        HubError::Unavailable { .. } | HubError::RateLimited { .. } => FailureKind::Unavailable,
        HubError::InvalidArguments { .. }
        | HubError::UnknownTool { .. }
        | HubError::UnknownToolkit(_)
        | HubError::Forbidden(_)
        | HubError::Unsupported(_) => FailureKind::Invalid,
        _ => FailureKind::Error,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Outcome, Step, wait_until};

    fn step(until: &str) -> Step {
        serde_json::from_value(json!({"id": "w", "kind": "wait_until", "until": until}))
            .expect("a step")
    }

    fn message(outcome: Outcome) -> String {
        match outcome {
            Outcome::Failed {
                message, retry_in, ..
            } => {
                assert!(retry_in.is_none(), "a bad time is not retried");
                message
            }
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn wait_until_goes_on_puts_off_or_says_what_is_wrong_with_the_time() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .expect("now")
            .timestamp_millis();
        let scope = json!({"input": {"at": "2026-12-04T13:00:00+01:00", "n": 5}});
        assert!(matches!(
            wait_until(&step("2026-12-04T12:00:00Z"), &scope, now),
            Outcome::Succeeded(_)
        ));
        // The same instant in another zone is due now too.
        assert!(matches!(
            wait_until(&step("{{ input.at }}"), &scope, now),
            Outcome::Succeeded(_)
        ));
        match wait_until(&step("2026-12-04T12:00:01.5Z"), &scope, now) {
            Outcome::Deferred(at) => assert_eq!(at, now + 1500),
            other => panic!("not put off: {other:?}"),
        }
        let far = message(wait_until(&step("2027-02-01T00:00:00Z"), &scope, now));
        assert!(far.contains("30 days"), "{far}");
        let number = message(wait_until(&step("{{ input.n }}"), &scope, now));
        assert!(
            number.starts_with("until:") && number.contains("RFC 3339"),
            "{number}"
        );
        let text = message(wait_until(&step("soon"), &scope, now));
        assert!(text.contains("'soon'"), "{text}");
    }
}
