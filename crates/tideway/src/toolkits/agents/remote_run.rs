//! A run of a remote A2A agent: the task sent once (the send recorded before it
//! goes, the remote task's id as soon as it is known), the remote's updates recorded
//! as the run's events, and the remote task's end taken as the run's. A run carried
//! on after its server stopped follows the task it already started instead of
//! sending it again; a cancel or the run's time limit cancels the remote task too.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tideway_core::HubError;

use super::{
    remote::{Connection, Remotes},
    runner::Ended,
    store::{AgentStore, StoredRun, now_ms},
};

/// How often a remote task that is not streamed is read again.
const POLL: Duration = Duration::from_millis(300);

/// What the remote task came to.
enum Outcome {
    /// Still going (a stream ended early): follow it by reading it.
    Going,
    Done(Result<Ended, HubError>),
}

struct Carrier<'a> {
    remotes: &'a Remotes,
    store: &'a AgentStore,
    run: &'a StoredRun,
    connection: Connection,
    seq: i64,
    task_id: Option<String>,
    last_state: Option<String>,
    /// The answer's parts as artifacts stream in.
    artifacts: Vec<Value>,
}

fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_STATE_COMPLETED"
            | "TASK_STATE_FAILED"
            | "TASK_STATE_CANCELED"
            | "TASK_STATE_REJECTED"
            | "TASK_STATE_INPUT_REQUIRED"
            | "TASK_STATE_AUTH_REQUIRED"
    )
}

/// The text of message or artifact parts: text as is, data as JSON.
fn text_of(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|part| {
            part["text"]
                .as_str()
                .map(str::to_string)
                .or_else(|| part.get("data").map(Value::to_string))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parts_of(artifacts: &[Value]) -> Vec<Value> {
    artifacts
        .iter()
        .flat_map(|artifact| artifact["parts"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The run's end for a remote task that ended in `state`.
fn ending(
    state: &str,
    status_text: &str,
    answer_parts: &[Value],
    history: &[Value],
) -> Result<Ended, HubError> {
    match state {
        "TASK_STATE_COMPLETED" => {
            let mut text = text_of(answer_parts);
            if text.is_empty() {
                text = status_text.to_string();
            }
            if text.is_empty() {
                // The last thing the agent said.
                text = history
                    .iter()
                    .rev()
                    .find(|message| message["role"] == "ROLE_AGENT")
                    .map(|message| {
                        text_of(message["parts"].as_array().map_or(&[][..], Vec::as_slice))
                    })
                    .unwrap_or_default();
            }
            let output = answer_parts
                .iter()
                .find_map(|part| part.get("data").cloned());
            Ok(Ended::Answer { text, output })
        }
        "TASK_STATE_CANCELED" => Err(HubError::Conflict(
            "the remote agent cancelled its task".into(),
        )),
        "TASK_STATE_INPUT_REQUIRED" | "TASK_STATE_AUTH_REQUIRED" => {
            Err(HubError::Conflict(format!(
                "the remote agent asked for {} ({status_text}), which a run cannot give; its task is left waiting",
                if state == "TASK_STATE_AUTH_REQUIRED" {
                    "authorization"
                } else {
                    "more input"
                }
            )))
        }
        _ => Err(HubError::Conflict(format!(
            "the remote agent's task {}: {}",
            if state == "TASK_STATE_REJECTED" {
                "was rejected"
            } else {
                "failed"
            },
            if status_text.is_empty() {
                "no reason given"
            } else {
                status_text
            }
        ))),
    }
}

impl Carrier<'_> {
    async fn record(&mut self, kind: &str, body: Value) -> Result<(), HubError> {
        self.store
            .record(&self.run.summary.id, self.seq, kind, &body)
            .await?;
        self.seq += 1;
        Ok(())
    }

    /// Takes in one result of the remote (a task, a message or an update).
    async fn take(&mut self, result: Value) -> Result<Outcome, HubError> {
        if let Some(message) = result.get("message") {
            // A plain answer, with no task to follow.
            let parts = message["parts"].as_array().cloned().unwrap_or_default();
            self.record(
                "remote_status",
                json!({ "state": "TASK_STATE_COMPLETED", "text": text_of(&parts) }),
            )
            .await?;
            return Ok(Outcome::Done(ending(
                "TASK_STATE_COMPLETED",
                "",
                &parts,
                &[],
            )));
        }
        if let Some(task) = result.get("task") {
            return self.task(task).await;
        }
        if let Some(update) = result.get("artifactUpdate") {
            let artifact = update["artifact"].clone();
            let parts = artifact["parts"].as_array().cloned().unwrap_or_default();
            self.record(
                "remote_artifact",
                json!({ "name": artifact["name"], "text": text_of(&parts) }),
            )
            .await?;
            if update["append"].as_bool() == Some(true)
                && let Some(last) = self.artifacts.last_mut()
                && last["artifactId"] == artifact["artifactId"]
                && let (Some(into), Some(more)) =
                    (last["parts"].as_array_mut(), artifact["parts"].as_array())
            {
                into.extend(more.iter().cloned());
            } else {
                self.artifacts.push(artifact);
            }
            return Ok(Outcome::Going);
        }
        if let Some(update) = result.get("statusUpdate") {
            return self.status(&update["status"], &[], &[]).await;
        }
        Ok(Outcome::Going)
    }

    async fn task(&mut self, task: &Value) -> Result<Outcome, HubError> {
        if self.task_id.is_none()
            && let Some(id) = task["id"].as_str()
        {
            self.task_id = Some(id.to_string());
            self.record(
                "remote_task",
                json!({ "task_id": id, "context_id": task["contextId"] }),
            )
            .await?;
        }
        if let Some(artifacts) = task["artifacts"].as_array()
            && !artifacts.is_empty()
        {
            self.artifacts = artifacts.clone();
        }
        let history = task["history"].as_array().cloned().unwrap_or_default();
        let artifacts = self.artifacts.clone();
        self.status(&task["status"], &parts_of(&artifacts), &history)
            .await
    }

    /// A status: recorded when it moved; the end when it is final.
    async fn status(
        &mut self,
        status: &Value,
        answer: &[Value],
        history: &[Value],
    ) -> Result<Outcome, HubError> {
        let state = status["state"]
            .as_str()
            .unwrap_or("TASK_STATE_UNSPECIFIED")
            .to_string();
        let text = text_of(
            status["message"]["parts"]
                .as_array()
                .map_or(&[][..], Vec::as_slice),
        );
        if self.last_state.as_deref() != Some(&state) || !text.is_empty() {
            self.record("remote_status", json!({ "state": state, "text": text }))
                .await?;
            self.last_state = Some(state.clone());
        }
        if !is_terminal(&state) {
            return Ok(Outcome::Going);
        }
        let answer = match answer.is_empty() {
            true => parts_of(&self.artifacts),
            false => answer.to_vec(),
        };
        Ok(Outcome::Done(ending(&state, &text, &answer, history)))
    }

    /// Sends the task, following the stream when the remote streams.
    async fn send(&mut self) -> Result<Outcome, HubError> {
        let params = json!({
            "message": {
                // The run's id, so a remote that keeps message ids sees a resend as one.
                "messageId": self.run.summary.id,
                "role": "ROLE_USER",
                "parts": [{ "text": self.run.summary.task }],
            },
            "configuration": { "returnImmediately": !self.connection.streaming },
        });
        if !self.connection.streaming {
            let result = self
                .remotes
                .call(&self.connection, "SendMessage", params)
                .await?;
            return self.take(result).await;
        }
        let mut stream = Box::pin(
            self.remotes
                .stream(&self.connection, "SendStreamingMessage", params)
                .await?,
        );
        while let Some(result) = stream.next().await {
            if let Outcome::Done(ended) = self.take(result?).await? {
                return Ok(Outcome::Done(ended));
            }
        }
        Ok(Outcome::Going)
    }

    /// Reads the remote task until it ends.
    async fn follow(&mut self) -> Result<Ended, HubError> {
        let Some(task_id) = self.task_id.clone() else {
            return Err(HubError::Conflict(
                "the remote agent ended its answer without a task or a final status".into(),
            ));
        };
        loop {
            let task = self
                .remotes
                .call(&self.connection, "GetTask", json!({ "id": task_id }))
                .await?;
            if let Outcome::Done(ended) = self.task(&task).await? {
                return ended;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn carry(&mut self) -> Result<Ended, HubError> {
        if self.task_id.is_none()
            && let Outcome::Done(ended) = self.send().await?
        {
            return ended;
        }
        self.follow().await
    }

    /// Asks the remote to cancel its task (when it has one); a failure is logged,
    /// the run ends either way.
    async fn cancel_remote(&self) {
        let Some(task_id) = &self.task_id else { return };
        if let Err(error) = self
            .remotes
            .call(&self.connection, "CancelTask", json!({ "id": task_id }))
            .await
        {
            tracing::info!(run_id = self.run.summary.id, %error, "the remote agent's task could not be cancelled");
        }
    }
}

/// Carries run `run` of a remote agent to its end, from what was recorded.
pub(super) async fn carry(
    remotes: &Remotes,
    store: &AgentStore,
    run: &StoredRun,
) -> Result<Ended, HubError> {
    let name = run
        .definition
        .remote
        .as_deref()
        .ok_or_else(|| HubError::internal("not a remote agent's run"))?;
    let connection = remotes.connection(&run.tenant, name).await?;
    let events = store.events(&run.summary.id, -1).await?;
    let task_id = events.iter().find_map(|event| {
        (event.kind == "remote_task")
            .then(|| event.body["task_id"].as_str().map(str::to_string))
            .flatten()
    });
    let mut carrier = Carrier {
        remotes,
        store,
        run,
        connection,
        seq: events.last().map_or(0, |event| event.seq + 1),
        task_id,
        last_state: None,
        artifacts: Vec::new(),
    };
    if carrier.task_id.is_none() && !events.iter().any(|event| event.kind == "send") {
        let endpoint = carrier.connection.endpoint.to_string();
        carrier
            .record("send", json!({ "endpoint": endpoint }))
            .await?;
    }
    let limit = run.definition.limits.max_seconds;
    let deadline = run
        .summary
        .started_at_ms
        .unwrap_or_else(now_ms)
        .saturating_add(i64::try_from(limit.saturating_mul(1000)).unwrap_or(i64::MAX));
    let left = Duration::from_millis(u64::try_from(deadline - now_ms()).unwrap_or(0));
    // A cancel drops this future within the Hub; `cancel` below then reaches the
    // remote task.
    tokio::select! {
        outcome = carrier.carry() => outcome,
        () = tokio::time::sleep(left) => {
            carrier.cancel_remote().await;
            Ok(Ended::Limit { reason: format!("the time limit ({limit} s) was reached"), last_text: None })
        }
    }
}

/// Cancels the remote task of a run of a remote agent that was cancelled here, if
/// it got as far as having one; a failure is logged.
pub(super) async fn cancel(remotes: &Remotes, store: &AgentStore, run: &StoredRun) {
    let Some(name) = run.definition.remote.as_deref() else {
        return;
    };
    let task_id = match store.events(&run.summary.id, -1).await {
        Ok(events) => events.into_iter().find_map(|event| {
            (event.kind == "remote_task")
                .then(|| event.body["task_id"].as_str().map(str::to_string))
                .flatten()
        }),
        Err(_) => None,
    };
    let Some(task_id) = task_id else { return };
    let outcome = match remotes.connection(&run.tenant, name).await {
        Ok(connection) => remotes
            .call(&connection, "CancelTask", json!({ "id": task_id }))
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = outcome {
        tracing::info!(run_id = run.summary.id, %error, "the remote agent's task could not be cancelled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_task_answers_with_its_artifacts_and_a_failed_one_says_why() {
        let parts = [
            json!({"text": "42 invoices"}),
            json!({"data": {"count": 42}}),
        ];
        match ending("TASK_STATE_COMPLETED", "", &parts, &[]) {
            Ok(Ended::Answer { text, output }) => {
                assert_eq!(text, "42 invoices\n{\"count\":42}");
                assert_eq!(output, Some(json!({"count": 42})));
            }
            _ => panic!("not an answer"),
        }
        let history = [json!({"role": "ROLE_AGENT", "parts": [{"text": "done"}]})];
        assert!(
            matches!(ending("TASK_STATE_COMPLETED", "", &[], &history), Ok(Ended::Answer { text, .. }) if text == "done")
        );
        let failed = ending("TASK_STATE_FAILED", "no such invoice", &[], &[])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            failed.as_deref(),
            Some("the remote agent's task failed: no such invoice")
        );
        assert!(ending("TASK_STATE_INPUT_REQUIRED", "which month?", &[], &[]).is_err());
    }
}
