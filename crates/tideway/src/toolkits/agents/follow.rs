//! Following a run as it goes, for the live streams (REST's server-sent events and
//! A2A's streaming methods): each poll reads the run through the Hub (so the caller
//! needs the same rights as for `get_run`) and yields what is new since the last,
//! the recorded events first, then the run itself when its status moved. A change
//! made on this server wakes the follower at once; one made elsewhere is seen at
//! the next poll.

use std::time::Duration;

use serde_json::json;
use tideway_core::{Face, HubError, mcp::JsonObject};

use super::{
    changes::Changes,
    store::{RunEvent, RunStatus, RunSummary},
    tools::{RunView, names},
};
use crate::{
    api::{tool_routes::Calls, toolkits::call_context_on},
    auth::Caller,
};

/// How often a followed run is read again.
const POLL: Duration = Duration::from_millis(200);

/// Something new about a followed run.
pub enum Update {
    Event(RunEvent),
    /// The run's status moved (or this is the first look at it).
    Status(Box<RunSummary>),
}

pub struct Follower {
    calls: Calls,
    caller: Caller,
    request_id: String,
    face: Face,
    id: String,
    last_seq: i64,
    last_status: Option<RunStatus>,
    finished: bool,
    changes: Changes,
}

impl Follower {
    /// Follows run `id` from its event after `last_seq` (-1: from the start).
    pub fn new(
        calls: Calls,
        caller: Caller,
        request_id: String,
        face: Face,
        id: String,
        last_seq: i64,
    ) -> Self {
        Follower {
            calls,
            caller,
            request_id,
            face,
            id,
            last_seq,
            last_status: None,
            finished: false,
            changes: Changes::listen(),
        }
    }

    /// Whether the run has ended and everything about it was given.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Treats the run as already seen in `status` (its first view was sent another way).
    pub fn seen(&mut self, status: RunStatus) {
        self.last_status = Some(status);
    }

    /// What is new, waiting between reads until there is something; empty once the
    /// run has ended.
    pub async fn next(&mut self) -> Result<Vec<Update>, HubError> {
        loop {
            if self.finished {
                return Ok(Vec::new());
            }
            let updates = self.poll().await?;
            if !updates.is_empty() {
                return Ok(updates);
            }
            self.changes.wait(&self.id, POLL).await;
        }
    }

    async fn poll(&mut self) -> Result<Vec<Update>, HubError> {
        // A fresh deadline for every read: a stream outlives any one call's.
        let ctx = call_context_on(
            &self.calls,
            self.caller.clone(),
            &self.request_id,
            self.face,
        );
        let mut arguments = JsonObject::new();
        arguments.insert("id".into(), json!(self.id));
        arguments.insert("events_after".into(), json!(self.last_seq));
        let result = self
            .calls
            .hub
            .call(&ctx, super::BUILTIN.name, names::GET_RUN, Some(arguments))
            .await?;
        let view: RunView = serde_json::from_value(result.structured_content.unwrap_or_default())
            .map_err(HubError::internal)?;
        let mut updates: Vec<Update> = view
            .events
            .unwrap_or_default()
            .into_iter()
            .inspect(|event| self.last_seq = self.last_seq.max(event.seq))
            .map(Update::Event)
            .collect();
        if self.last_status != Some(view.run.status) {
            self.last_status = Some(view.run.status);
            self.finished = view.run.status.is_finished();
            updates.push(Update::Status(Box::new(view.run)));
        }
        Ok(updates)
    }
}
