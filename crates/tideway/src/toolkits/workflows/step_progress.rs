//! What a tool step's call may send its client: progress, kept on the step so anyone
//! reading the run (a poller, live status, a background call's starter) sees how far
//! it got, from any server. A step has no client to answer requests or show logs.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tideway_core::{ClientChannel, HubError, context::LogLevel, mcp::JsonObject};

use super::runs::{Claimed, Runs};

/// The least time between two progress writes of one step: a tool reporting every
/// row must not turn into a write per row.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

pub struct StepProgress {
    pub runs: Runs,
    pub owner: String,
    pub claimed: Claimed,
    last_write: Mutex<Option<Instant>>,
}

impl StepProgress {
    pub fn new(runs: Runs, owner: String, claimed: Claimed) -> Self {
        StepProgress {
            runs,
            owner,
            claimed,
            last_write: Mutex::new(None),
        }
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

    async fn request(&self, method: &str, _params: JsonObject) -> Result<Value, HubError> {
        Err(HubError::Unsupported(format!(
            "a workflow step cannot answer '{method}'; the run has no client to ask"
        )))
    }
}
