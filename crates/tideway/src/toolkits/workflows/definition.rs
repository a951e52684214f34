//! A workflow template as data: its id, name, input schema and steps, and the checks
//! a template passes before it is saved. A step calls a Hub tool, asks the model,
//! sleeps, waits for a time or for a person's approval, or runs another template as
//! a child run; it runs once the steps it `needs` are done, if its condition holds,
//! with retries and a timeout, and its `on_error` says whether a failure fails the
//! run, lets it go on, or runs a compensating step first. Every error names the step
//! and the field.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tideway_core::{HubError, mcp::JsonObject, schema::ArgumentValidator};
use utoipa::ToSchema;

use super::expressions;

/// The most steps one template may have.
pub const MAX_STEPS: usize = 1000;
/// The most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 20;
/// The longest a sleep step may wait.
pub const MAX_SLEEP_SECS: f64 = 30.0 * 24.0 * 3600.0;

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Lower-case letters, digits, `_` and `-`, e.g. `customer_support`.
    pub id: String,
    /// A human name, e.g. "Customer support".
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A JSON Schema the run's input must satisfy (default: any object).
    #[serde(default = "any_object")]
    #[schema(value_type = Object)]
    pub input_schema: Value,
    pub steps: Vec<Step>,
}

fn any_object() -> Value {
    serde_json::json!({"type": "object"})
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Calls a Hub tool by its `/mcp` name with `arguments`.
    #[default]
    Tool,
    /// Asks the language model (the models toolkit's `generate`, so sampling or the
    /// tenant's provider) with `arguments` such as `prompt`, `system`, `max_tokens`.
    Generate,
    /// Waits `seconds` without holding a worker.
    Sleep,
    /// Waits until the time `until` without holding a worker; a time already past
    /// goes straight on.
    WaitUntil,
    /// Waits until a person approves or rejects it (`approve_step`).
    Approval,
    /// Sends a notification through one of the tenant's channels (the automation
    /// toolkit's `notify`, so it is recorded and retried in the background) with
    /// `arguments` such as `channel`, `subject`, and `text` or a prompt `template`.
    Notify,
    /// Runs another template (`workflow`) with `arguments` as its input, as a child
    /// run of the same starter, and waits for it: it succeeds with the child's
    /// outputs by step, or fails with the child's error. Cancelling this run
    /// cancels the child.
    Workflow,
    /// Gives a task (`arguments.task`, and optionally `context_id` and `priority`)
    /// to the tenant's agent `agent`, as the run's starter, and waits for the agent
    /// run without holding a worker: it succeeds with the run (`output.run.answer`,
    /// `output.run.output`) or fails with the run's error when it ends failed, cut
    /// by a limit, or cancelled. Cancelling this run cancels the agent run.
    Agent,
}

/// The tool a `generate` step calls, by its `/mcp` name.
pub const GENERATE_TOOL: &str = "models_generate";
/// The tool a `notify` step calls, by its `/mcp` name.
pub const NOTIFY_TOOL: &str = "automation_notify";
/// The tool an `agent` step calls to start its agent run, by its `/mcp` name.
pub const AGENT_TOOL: &str = "agents_run_agent";

/// How deep runs may nest (a run's child's child ...), so a template that starts
/// itself ends instead of filling the store.
pub const MAX_NESTING: usize = 5;

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the template; later steps read this one's output as `steps.<id>`.
    pub id: String,
    #[serde(default)]
    pub kind: StepKind,
    /// For `tool` steps: the tool's name on `/mcp`, e.g. `support_get_customer_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For `workflow` steps: the id of the template to run as a child run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// For `agent` steps: the name of the agent given the task (list_agents shows
    /// them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// For `tool` steps: the tool's arguments; for `workflow` steps: the child
    /// run's input; for `agent` steps: `task` and optionally `context_id` and
    /// `priority`. Strings may hold `{{ expressions }}` over `input`, `steps` and
    /// `execution`.
    #[serde(default, skip_serializing_if = "JsonObject::is_empty")]
    #[schema(value_type = Object)]
    pub arguments: JsonObject,
    /// For `tool` steps: run the tool once per item of this list (an expression,
    /// e.g. `steps.lookup.output.items`), with `item` and `index` in the arguments'
    /// expressions; the output is the list of the calls' outputs, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// With `for_each`: how many calls run at once (default 4, at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// For `sleep` steps: how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// For `wait_until` steps: the time to wait for, in RFC 3339
    /// (`2026-12-24T09:00:00Z`), or an expression giving one
    /// (`{{ input.follow_up_at }}`). At most 30 days ahead when the step starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// For `approval` steps: what the approver is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Run only if this expression is true; otherwise the step is `skipped` and the
    /// steps after it go on.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The longest one attempt may take (default: the server's
    /// `workflows.default_step_timeout_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub on_error: OnError,
    /// What the MCP client that started this call as a task can answer
    /// (`sampling`, `elicitation`, `roots`): the tool may ask it, and the step waits
    /// until the task's `tasks/update` answers. Tideway sets it on MCP tasks only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_answers: Vec<String>,
}

/// What a failure does once the retries are spent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run fails; steps not started are cancelled.
    #[default]
    Fail,
    /// The step is `failed` but the steps after it run (they can test
    /// `steps.<id>.status`).
    Continue,
    /// `{"compensate": "<step id>"}`: steps not started are cancelled, the named
    /// step runs (to undo what the run did so far; it reads `steps.<id>.error`),
    /// and then the run fails. A compensating step runs only this way: when the run
    /// succeeds it is `skipped`.
    Compensate(String),
}

impl OnError {
    /// The compensating step this names, if any.
    pub fn compensation(&self) -> Option<&str> {
        match self {
            OnError::Compensate(step) => Some(step),
            _ => None,
        }
    }
}

/// What kind of failure an attempt ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The tool answered with an error.
    Error,
    /// The attempt ran out of time.
    Timeout,
    /// The tool or a system behind it was unavailable or busy.
    Unavailable,
    /// The arguments were refused or the tool may not be called: retrying cannot help.
    Invalid,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: no retry).
    pub attempts: u32,
    /// Seconds before the second attempt.
    pub backoff_secs: f64,
    /// Each later wait is this many times the one before.
    pub backoff_factor: f64,
    /// The longest wait between attempts.
    pub max_backoff_secs: f64,
    /// The failures that are retried.
    pub retry_on: Vec<FailureKind>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff_secs: 1.0,
            backoff_factor: 2.0,
            max_backoff_secs: 60.0,
            retry_on: vec![
                FailureKind::Error,
                FailureKind::Timeout,
                FailureKind::Unavailable,
            ],
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry), if that attempt is
    /// allowed for a failure of `kind`.
    pub fn backoff(&self, next: u32, kind: FailureKind) -> Option<std::time::Duration> {
        if next > self.attempts || !self.retry_on.contains(&kind) {
            return None;
        }
        let exponent = i32::try_from(next.saturating_sub(2)).unwrap_or(i32::MAX);
        let secs = (self.backoff_secs * self.backoff_factor.powi(exponent))
            .min(self.max_backoff_secs)
            .max(0.0);
        Some(std::time::Duration::from_secs_f64(secs))
    }
}

/// What validation needs to know of a tool.
pub struct ToolFacts {
    pub input_schema: Value,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> HubError {
    HubError::invalid_argument(field, message)
}

impl Template {
    /// The validator of the run's input.
    pub fn input_validator(&self) -> Result<ArgumentValidator, HubError> {
        let Value::Object(schema) = &self.input_schema else {
            return Err(invalid(
                "template.input_schema",
                "must be a JSON Schema object",
            ));
        };
        ArgumentValidator::compile("input", schema).map_err(|error| {
            let reason = match error {
                HubError::Internal(reason) => reason,
                other => other.to_string(),
            };
            invalid("template.input_schema", reason)
        })
    }

    /// The step called `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// The steps that run only to compensate for another's failure.
    pub fn compensations(&self) -> BTreeSet<&str> {
        self.steps
            .iter()
            .filter_map(|step| step.on_error.compensation())
            .collect()
    }

    /// Checks everything that can be checked before a run: names, kinds and their
    /// fields, `needs` (present, no cycles), expressions (they compile and read only
    /// steps upstream of theirs), tools (known to the caller) and literal arguments
    /// (they fit the tool's schema), child templates (they exist). `tool` finds a
    /// tool by its `/mcp` name among those the saver may call; `template` says
    /// whether the tenant has a template of that id.
    pub fn validate(
        &self,
        tool: &dyn Fn(&str) -> Option<ToolFacts>,
        template: &dyn Fn(&str) -> bool,
    ) -> Result<(), HubError> {
        if !tideway_core::naming::is_valid_id(&self.id, 64) {
            return Err(invalid(
                "template.id",
                "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("template.name", "must not be empty"));
        }
        if self.input_schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(invalid(
                "template.input_schema",
                "must be a JSON Schema of an object ({\"type\": \"object\", ...})",
            ));
        }
        self.input_validator()?;
        if self.steps.is_empty() {
            return Err(invalid("template.steps", "must hold at least one step"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(invalid(
                "template.steps",
                format!("hold {} steps; the most is {MAX_STEPS}", self.steps.len()),
            ));
        }
        let mut ids = BTreeSet::new();
        for step in &self.steps {
            // Only a task's client can answer what its tool asks.
            if !step.client_answers.is_empty() && self.id != super::background::TEMPLATE_ID {
                return Err(invalid(
                    format!("steps.{}.client_answers", step.id),
                    "is set by Tideway for MCP tasks; a template cannot set it",
                ));
            }
            if !tideway_core::naming::is_valid_id(&step.id, 64) || step.id.contains('-') {
                return Err(invalid(
                    "steps[].id",
                    format!(
                        "'{}' must be 1-64 lower-case letters, digits or '_', starting with a letter or digit (expressions read it as steps.<id>)",
                        tideway_core::error::excerpt(&step.id)
                    ),
                ));
            }
            if !ids.insert(step.id.as_str()) {
                return Err(invalid(
                    format!("steps.{}.id", step.id),
                    "is used by two steps",
                ));
            }
        }
        for step in &self.steps {
            for need in &step.needs {
                if !ids.contains(need.as_str()) {
                    return Err(invalid(
                        format!("steps.{}.needs", step.id),
                        format!(
                            "names '{}', which is not a step of this template",
                            tideway_core::error::excerpt(need)
                        ),
                    ));
                }
            }
        }
        let upstream = self.upstream()?;
        self.check_compensations(&upstream)?;
        for step in &self.steps {
            step.validate(&upstream[step.id.as_str()], tool, template)?;
        }
        Ok(())
    }

    /// A compensating step exists, is not the step itself, is needed by no step
    /// (it runs only on a failure), does not compensate in turn, and reads only
    /// what every step naming it had done: its needs lie among that step and the
    /// steps before it.
    fn check_compensations(
        &self,
        upstream: &HashMap<&str, BTreeSet<&str>>,
    ) -> Result<(), HubError> {
        let compensations = self.compensations();
        for step in &self.steps {
            for need in &step.needs {
                if compensations.contains(need.as_str()) {
                    return Err(invalid(
                        format!("steps.{}.needs", step.id),
                        format!(
                            "names '{need}', a compensating step, which runs only when a step fails"
                        ),
                    ));
                }
            }
            let Some(target) = step.on_error.compensation() else {
                continue;
            };
            let field = format!("steps.{}.on_error.compensate", step.id);
            let Some(compensation) = self.step(target) else {
                return Err(invalid(
                    field,
                    format!(
                        "names '{}', which is not a step of this template",
                        tideway_core::error::excerpt(target)
                    ),
                ));
            };
            if compensation.id == step.id {
                return Err(invalid(field, "names the step itself"));
            }
            if compensation.on_error.compensation().is_some() {
                return Err(invalid(
                    field,
                    format!(
                        "names '{target}', which has a compensating step of its own; compensations do not chain"
                    ),
                ));
            }
            let done = &upstream[step.id.as_str()];
            if let Some(unready) = compensation
                .needs
                .iter()
                .find(|need| need.as_str() != step.id && !done.contains(need.as_str()))
            {
                return Err(invalid(
                    field,
                    format!(
                        "names '{target}', which needs '{unready}'; a compensating step may need only the failed step and the steps before it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// For each step, every step it comes after (its needs, theirs, and so on).
    /// A cycle is an error naming a step on it.
    fn upstream(&self) -> Result<HashMap<&str, BTreeSet<&str>>, HubError> {
        let by_id: HashMap<&str, &Step> = self.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut done: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        // Depth-first with an explicit stack; `visiting` finds cycles.
        for start in &self.steps {
            let mut stack: Vec<(&str, bool)> = vec![(start.id.as_str(), false)];
            let mut visiting: BTreeSet<&str> = BTreeSet::new();
            while let Some((id, expanded)) = stack.pop() {
                if done.contains_key(id) {
                    continue;
                }
                let step = by_id[id];
                if expanded {
                    let mut all = BTreeSet::new();
                    for need in &step.needs {
                        all.insert(need.as_str());
                        all.extend(done[need.as_str()].iter().copied());
                    }
                    visiting.remove(id);
                    done.insert(id, all);
                    continue;
                }
                if !visiting.insert(id) {
                    return Err(invalid(
                        format!("steps.{id}.needs"),
                        "make a cycle: a step would wait for itself",
                    ));
                }
                stack.push((id, true));
                for need in &step.needs {
                    if visiting.contains(need.as_str()) {
                        return Err(invalid(
                            format!("steps.{id}.needs"),
                            format!("make a cycle through '{need}': a step would wait for itself"),
                        ));
                    }
                    if !done.contains_key(need.as_str()) {
                        stack.push((need.as_str(), false));
                    }
                }
            }
        }
        Ok(done)
    }
}

impl Step {
    /// The tool this step calls, by its `/mcp` name: a tool step's own, the model's
    /// for a generate step, none for the others.
    pub fn tool_name(&self) -> Option<&str> {
        match self.kind {
            StepKind::Tool => self.tool.as_deref(),
            StepKind::Generate => Some(GENERATE_TOOL),
            StepKind::Notify => Some(NOTIFY_TOOL),
            StepKind::Agent => Some(AGENT_TOOL),
            _ => None,
        }
    }

    /// The steps whose status, output or error this step's expressions read; `None`
    /// when one of them reads every step (`steps` as a whole) or cannot be read. A
    /// run's step is given only these (and its own), not the whole run's.
    pub fn reads(&self) -> Option<BTreeSet<String>> {
        let mut sources: Vec<String> = [&self.condition, &self.for_each]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        sources.extend(expressions::expressions_in(&Value::Object(self.arguments.clone())).ok()?);
        if let Some(until) = &self.until {
            sources.extend(expressions::expressions_in(&Value::String(until.clone())).ok()?);
        }
        let mut read = BTreeSet::new();
        for source in sources {
            read.extend(expressions::step_references(&source, &["item", "index"]).ok()?);
        }
        (!read.contains("*")).then_some(read)
    }

    fn validate(
        &self,
        upstream: &BTreeSet<&str>,
        tool: &dyn Fn(&str) -> Option<ToolFacts>,
        template: &dyn Fn(&str) -> bool,
    ) -> Result<(), HubError> {
        let field = |name: &str| format!("steps.{}.{name}", self.id);
        // `item` and `index` exist in a for_each step's arguments only.
        let roots: &[&str] = if self.for_each.is_some() {
            &["item", "index"]
        } else {
            &[]
        };
        let reads_only_upstream = |source: &str,
                                   name: &str,
                                   roots: &[&str]|
         -> Result<(), HubError> {
            let read = expressions::step_references(source, roots)
                .map_err(|message| invalid(field(name), message))?;
            for step in read {
                if step == "*" {
                    continue;
                }
                if !upstream.contains(step.as_str()) {
                    return Err(invalid(
                        field(name),
                        format!(
                            "reads steps.{step}, which is not among the steps this one needs (add it to needs)"
                        ),
                    ));
                }
            }
            Ok(())
        };
        if let Some(condition) = &self.condition {
            reads_only_upstream(condition, "if", &[])?;
        }
        if let Some(list) = &self.for_each {
            reads_only_upstream(list, "for_each", &[])?;
        }
        for source in expressions::expressions_in(&Value::Object(self.arguments.clone()))
            .map_err(|message| invalid(field("arguments"), message))?
        {
            reads_only_upstream(&source, "arguments", roots)?;
        }
        let retry = &self.retry;
        if retry.attempts == 0 || retry.attempts > MAX_ATTEMPTS {
            return Err(invalid(
                field("retry.attempts"),
                format!("must be 1 to {MAX_ATTEMPTS}"),
            ));
        }
        for (name, value) in [
            ("retry.backoff_secs", retry.backoff_secs),
            ("retry.backoff_factor", retry.backoff_factor),
            ("retry.max_backoff_secs", retry.max_backoff_secs),
        ] {
            if !value.is_finite() || !(0.0..=86_400.0).contains(&value) {
                return Err(invalid(field(name), "must be a number from 0 to 86400"));
            }
        }
        if let Some(concurrency) = self.concurrency {
            if self.for_each.is_none() {
                return Err(invalid(field("concurrency"), "goes with for_each"));
            }
            if !(1..=32).contains(&concurrency) {
                return Err(invalid(field("concurrency"), "must be 1 to 32"));
            }
        }
        if self.timeout_secs == Some(0) {
            return Err(invalid(field("timeout_secs"), "must be at least 1"));
        }
        let stray = |name: &str, present: bool| -> Result<(), HubError> {
            if present {
                Err(invalid(
                    field(name),
                    format!("does not belong to a {:?} step", self.kind).to_lowercase(),
                ))
            } else {
                Ok(())
            }
        };
        if self.kind != StepKind::Workflow {
            stray("workflow", self.workflow.is_some())?;
        }
        if self.kind != StepKind::WaitUntil {
            stray("until", self.until.is_some())?;
        }
        if self.kind != StepKind::Agent {
            stray("agent", self.agent.is_some())?;
        }
        match self.kind {
            StepKind::Tool => {
                stray("seconds", self.seconds.is_some())?;
                stray("message", self.message.is_some())?;
                let name = self
                    .tool
                    .as_deref()
                    .ok_or_else(|| invalid(field("tool"), "is required for a tool step"))?;
                let facts = tool(name).ok_or_else(|| {
                    invalid(
                        field("tool"),
                        format!(
                            "'{}' is not a tool this caller may call (tools are named as on /mcp, e.g. support_get_tickets)",
                            tideway_core::error::excerpt(name)
                        ),
                    )
                })?;
                self.check_literal_arguments(&facts.input_schema)?;
            }
            StepKind::Generate | StepKind::Notify => {
                stray("tool", self.tool.is_some())?;
                stray("seconds", self.seconds.is_some())?;
                stray("message", self.message.is_some())?;
                let (name, toolkit) = match self.kind {
                    StepKind::Generate => (GENERATE_TOOL, "models"),
                    _ => (NOTIFY_TOOL, "automation"),
                };
                let facts = tool(name).ok_or_else(|| {
                    invalid(
                        field("kind"),
                        format!(
                            "a {} step calls {name}, which this caller may not call here (is the {toolkit} toolkit enabled?)",
                            format!("{:?}", self.kind).to_lowercase()
                        ),
                    )
                })?;
                self.check_literal_arguments(&facts.input_schema)?;
            }
            StepKind::Sleep => {
                stray("for_each", self.for_each.is_some())?;
                stray("tool", self.tool.is_some())?;
                stray("arguments", !self.arguments.is_empty())?;
                stray("message", self.message.is_some())?;
                let seconds = self
                    .seconds
                    .ok_or_else(|| invalid(field("seconds"), "is required for a sleep step"))?;
                if !seconds.is_finite() || !(0.0..=MAX_SLEEP_SECS).contains(&seconds) {
                    return Err(invalid(
                        field("seconds"),
                        format!("must be from 0 to {MAX_SLEEP_SECS}"),
                    ));
                }
            }
            StepKind::WaitUntil => {
                stray("for_each", self.for_each.is_some())?;
                stray("tool", self.tool.is_some())?;
                stray("arguments", !self.arguments.is_empty())?;
                stray("seconds", self.seconds.is_some())?;
                stray("message", self.message.is_some())?;
                let until = self
                    .until
                    .as_deref()
                    .ok_or_else(|| invalid(field("until"), "is required for a wait_until step"))?;
                let found = expressions::expressions_in(&Value::String(until.to_string()))
                    .map_err(|message| invalid(field("until"), message))?;
                if found.is_empty() {
                    chrono::DateTime::parse_from_rfc3339(until.trim()).map_err(|_| {
                        invalid(
                            field("until"),
                            format!(
                                "'{}' is not an RFC 3339 time such as 2026-12-24T09:00:00Z, nor an expression giving one",
                                tideway_core::error::excerpt(until)
                            ),
                        )
                    })?;
                }
                for source in found {
                    reads_only_upstream(&source, "until", &[])?;
                }
            }
            StepKind::Approval => {
                stray("for_each", self.for_each.is_some())?;
                stray("tool", self.tool.is_some())?;
                stray("arguments", !self.arguments.is_empty())?;
                stray("seconds", self.seconds.is_some())?;
            }
            StepKind::Agent => {
                stray("for_each", self.for_each.is_some())?;
                stray("tool", self.tool.is_some())?;
                stray("seconds", self.seconds.is_some())?;
                stray("message", self.message.is_some())?;
                let agent = self
                    .agent
                    .as_deref()
                    .ok_or_else(|| invalid(field("agent"), "is required for an agent step"))?;
                if !tideway_core::naming::is_valid_id(agent, 64) {
                    return Err(invalid(
                        field("agent"),
                        format!(
                            "'{}' is not an agent's name (list_agents shows them)",
                            tideway_core::error::excerpt(agent)
                        ),
                    ));
                }
                // The step names the agent and waits for the run itself.
                for set_by_step in ["agent", "wait_secs"] {
                    if self.arguments.contains_key(set_by_step) {
                        return Err(invalid(
                            field(&format!("arguments.{set_by_step}")),
                            "is set by the agent step itself",
                        ));
                    }
                }
                let facts = tool(AGENT_TOOL).ok_or_else(|| {
                    invalid(
                        field("kind"),
                        format!(
                            "an agent step calls {AGENT_TOOL}, which this caller may not call here (is the agents toolkit enabled?)"
                        ),
                    )
                })?;
                let mut arguments = self.arguments.clone();
                arguments.insert("agent".into(), Value::String(agent.to_string()));
                self.check_arguments(&facts.input_schema, &arguments)?;
            }
            StepKind::Workflow => {
                stray("for_each", self.for_each.is_some())?;
                stray("tool", self.tool.is_some())?;
                stray("seconds", self.seconds.is_some())?;
                stray("message", self.message.is_some())?;
                let id = self
                    .workflow
                    .as_deref()
                    .ok_or_else(|| invalid(field("workflow"), "is required for a workflow step"))?;
                if !template(id) {
                    return Err(invalid(
                        field("workflow"),
                        format!(
                            "'{}' is not a workflow template of this tenant (list_workflow_templates shows them)",
                            tideway_core::error::excerpt(id)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Arguments without expressions are checked against the tool's schema now;
    /// those with expressions are checked when the step runs, but a required
    /// argument must be there either way.
    fn check_literal_arguments(&self, schema: &Value) -> Result<(), HubError> {
        self.check_arguments(schema, &self.arguments)
    }

    /// [`Step::check_literal_arguments`] of `arguments`, the step's own with what
    /// the step itself adds.
    fn check_arguments(&self, schema: &Value, arguments: &JsonObject) -> Result<(), HubError> {
        let field = format!("steps.{}.arguments", self.id);
        let templated = expressions::expressions_in(&Value::Object(arguments.clone()))
            .map(|found| !found.is_empty())
            .unwrap_or(true);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !arguments.contains_key(name) {
                    return Err(invalid(
                        format!("{field}.{name}"),
                        "is required by the tool and missing",
                    ));
                }
            }
        }
        if templated {
            return Ok(());
        }
        let Value::Object(schema) = schema else {
            return Ok(());
        };
        let validator = ArgumentValidator::compile(self.tool_name().unwrap_or_default(), schema)?;
        validator.validate(arguments).map_err(|error| match error {
            HubError::InvalidArguments { field: at, message } => {
                invalid(format!("{field}.{at}"), message)
            }
            other => other,
        })
    }
}

/// The steps of a template by id, for quick lookups while a run goes on.
pub fn index(template: &Template) -> BTreeMap<&str, &Step> {
    template
        .steps
        .iter()
        .map(|step| (step.id.as_str(), step))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Step;

    fn step(value: serde_json::Value) -> Step {
        serde_json::from_value(value).expect("a step")
    }

    fn reads(value: serde_json::Value) -> Option<Vec<String>> {
        step(value).reads().map(|read| read.into_iter().collect())
    }

    #[test]
    fn a_step_reads_the_steps_its_expressions_name_or_every_step() {
        assert_eq!(
            reads(json!({
                "id": "s", "tool": "t", "needs": ["a", "b", "c"],
                "if": "steps.a.status == 'succeeded'",
                "for_each": "steps.b.output.items",
                "arguments": {"x": ["{{ item.id }}", {"y": "by {{ steps.c.output.name }}"}], "z": "{{ input.q }}"}
            })),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            reads(
                json!({"id": "w", "kind": "wait_until", "needs": ["a"], "until": "{{ steps.a.output.at }}"})
            ),
            Some(vec!["a".into()])
        );
        assert_eq!(reads(json!({"id": "s", "tool": "t"})), Some(vec![]));
        // `steps` as a whole, or by subscript, reads them all.
        assert_eq!(
            reads(json!({"id": "s", "tool": "t", "arguments": {"n": "{{ steps | length }}"}})),
            None
        );
        assert_eq!(
            reads(json!({"id": "s", "tool": "t", "if": "steps['a'].status"})),
            None
        );
    }
}
