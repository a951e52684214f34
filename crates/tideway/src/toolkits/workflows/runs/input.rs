//! A tool step waiting for its caller's input: an MCP task whose tool asked for
//! sampling, elicitation or roots. The requests are kept in the waiting step's
//! output as `{"input": {"requests", "answers"}}`; `tasks/update` adds answers to
//! them, and once every request is answered the step is ready again, its output the
//! answers, for its next attempt to read (`engine/steps.rs`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tideway_core::{HubError, mcp::JsonObject, on_store};

use super::{Runs, now_ms};
use crate::toolkits::workflows::progress::StepStatus;

/// How often an answer is tried again when another one changed the step between
/// its read and its write.
const WRITE_TRIES: usize = 8;

/// The requests a waiting step's output keeps, and the answers given so far.
pub fn waiting_input(output: &Value) -> Option<(JsonObject, JsonObject)> {
    let input = output.get("input")?;
    let requests = input.get("requests")?.as_object()?.clone();
    let answers = input
        .get("answers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Some((requests, answers))
}

/// The requests a waiting step still needs answered.
pub fn pending_input(output: &Value) -> Option<JsonObject> {
    let (requests, answers) = waiting_input(output)?;
    Some(
        requests
            .into_iter()
            .filter(|(key, _)| !answers.contains_key(key))
            .collect(),
    )
}

/// The answers a step runs with: those given while it waited.
pub fn given_answers(output: Option<&Value>) -> BTreeMap<String, Value> {
    output
        .and_then(|output| output.get("input")?.get("answers")?.as_object())
        .map(|answers| answers.clone().into_iter().collect())
        .unwrap_or_default()
}

/// What waiting for input is kept as.
pub fn waiting_output(
    requests: BTreeMap<String, Value>,
    answers: BTreeMap<String, Value>,
) -> Value {
    json!({"input": {"requests": requests, "answers": answers}})
}

impl Runs {
    /// Adds `answers` to what step `step_id` of run `id` waits for; keys it did
    /// not ask are ignored. `Some(true)` when every request is now answered and the
    /// step is ready to run again, `Some(false)` when some still wait, `None` when
    /// the step waits for no input.
    pub async fn answer_input(
        &self,
        id: &str,
        step_id: &str,
        answers: &JsonObject,
    ) -> Result<Option<bool>, HubError> {
        for _ in 0..WRITE_TRIES {
            let current: Option<Option<String>> = on_store!(&self.store, pool => {
                sqlx::query_scalar(
                    "SELECT output FROM workflow_steps WHERE execution_id = $1 AND step_id = $2 AND status = 'waiting'",
                )
                .bind(id)
                .bind(step_id)
                .fetch_optional(pool)
                .await
            })?;
            let Some(Some(text)) = current else {
                return Ok(None);
            };
            let Some((requests, mut given)) = serde_json::from_str::<Value>(&text)
                .ok()
                .as_ref()
                .and_then(waiting_input)
            else {
                return Ok(None);
            };
            for (key, answer) in answers {
                if requests.contains_key(key) {
                    given.insert(key.clone(), answer.clone());
                }
            }
            let ready = requests.keys().all(|key| given.contains_key(key));
            let (status, next) = if ready {
                (StepStatus::Ready, json!({"input": {"answers": given}}))
            } else {
                (
                    StepStatus::Waiting,
                    json!({"input": {"requests": requests, "answers": given}}),
                )
            };
            // Written only over what was read: two answers arriving together must
            // not lose one.
            let updated = on_store!(&self.store, pool => {
                sqlx::query(
                    "UPDATE workflow_steps SET status = $3, output = $4, output_bytes = NULL, due_ms = $5 \
                     WHERE execution_id = $1 AND step_id = $2 AND status = 'waiting' AND output = $6",
                )
                .bind(id)
                .bind(step_id)
                .bind(status.as_str())
                .bind(next.to_string())
                .bind(now_ms())
                .bind(&text)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            })?;
            if updated == 1 {
                return Ok(Some(ready));
            }
        }
        Err(HubError::Conflict(
            "the call's input kept changing while this answer was written; send it again".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_input_leaves_out_what_was_answered() {
        let mut requests = BTreeMap::new();
        requests.insert("a".to_string(), json!({"method": "elicitation/create"}));
        requests.insert("b".to_string(), json!({"method": "roots/list"}));
        let mut answers = BTreeMap::new();
        answers.insert("a".to_string(), json!({"action": "accept"}));
        let output = waiting_output(requests, answers);
        let pending = pending_input(&output).expect("waiting");
        assert_eq!(pending.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(given_answers(Some(&output)).len(), 1);
        assert!(pending_input(&json!({"progress": {}})).is_none());
        assert!(given_answers(None).is_empty());
    }
}
