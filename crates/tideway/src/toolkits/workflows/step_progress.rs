//! What a tool step's call may send its client: progress, kept on the step so anyone
//! reading the run (a poller, live status, a background call's starter) sees how far
//! it got, from any server. A step has no client to show logs to. Only an MCP task's
//! step has a client to answer requests: what the client declared it can answer is
//! asked, and the step waits for the answers (`runs/input.rs`).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{
    ClientChannel, HubError, context::LogLevel, input::InputRound, mcp::JsonObject,
};

use super::runs::{Claimed, Runs, waiting_output};

/// The least time between two progress writes of one step: a tool reporting every
/// row must not turn into a write per row.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

pub struct StepProgress {
    pub runs: Runs,
    pub owner: String,
    pub claimed: Claimed,
    last_write: Mutex<Option<Instant>>,
    /// An MCP task's step: the answers its client gave, and what the call asks.
    input: Option<InputRound>,
}

impl StepProgress {
    pub fn new(runs: Runs, owner: String, claimed: Claimed) -> Self {
        StepProgress {
            runs,
            owner,
            claimed,
            last_write: Mutex::new(None),
            input: None,
        }
    }

    /// A step whose call may ask its client what `input` lets it, with the
    /// answers given so far.
    pub fn with_input(mut self, input: InputRound) -> Self {
        self.input = Some(input);
        self
    }

    /// What the step waits for when its call asked something not answered yet.
    pub fn waiting(&self) -> Option<Value> {
        let input = self.input.as_ref()?;
        let pending = input.pending();
        (!pending.is_empty()).then(|| waiting_output(pending, input.read()))
    }

    /// Whether a report now is written: the first, the last (progress reached the
    /// total), or one at least `MIN_INTERVAL` after the previous write.
    fn due(&self, progress: f64, total: Option<f64>) -> bool {
        let Ok(mut last) = self.last_write.lock() else {
            return false;
        };
        let now = Instant::now();
        let complete = total.is_some_and(|total| progress >= total);
        if complete || last.is_none_or(|at| now.duration_since(at) >= MIN_INTERVAL) {
            *last = Some(now);
            return true;
        }
        false
    }
}

#[async_trait]
impl ClientChannel for StepProgress {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        if !self.due(progress, total) {
            return;
        }
        let noted = json!({"progress": {"progress": progress, "total": total, "message": message}});
        // Progress is a courtesy: a failed write leaves the step running as it was.
        if let Err(error) = self
            .runs
            .note_progress(&self.owner, &self.claimed, &noted)
            .await
        {
            tracing::debug!(%error, "workflows: could not keep a step's progress");
        }
    }

    async fn log(&self, _level: LogLevel, _logger: &str, _data: Value) {}

    async fn request(&self, method: &str, params: JsonObject) -> Result<Value, HubError> {
        match &self.input {
            Some(input) => input.ask(None, method, params),
            None => Err(no_client(method)),
        }
    }

    async fn ask(&self, key: &str, method: &str, params: JsonObject) -> Result<Value, HubError> {
        match &self.input {
            Some(input) => input.ask(Some(key), method, params),
            None => Err(no_client(method)),
        }
    }

    fn can_answer(&self, method: &str) -> bool {
        self.input
            .as_ref()
            .is_some_and(|input| input.can_answer(method))
    }
}

fn no_client(method: &str) -> HubError {
    HubError::Unsupported(format!(
        "a workflow step cannot answer '{method}'; the run has no client to ask"
    ))
}
