//! The finished items of `for_each` steps (`migrations/*/0029_workflow_items.sql`):
//! kept one by one as they finish, by the server holding the step, and read when the
//! step runs again, so that a retry, a take-over or a person's retry calls only the
//! items that did not finish.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tideway_core::{HubError, on_store, store::now};

use super::{Claimed, Runs, decode};

/// What tells an item's value apart: the SHA-256 of its JSON text. An item whose
/// value changed since it finished (its list came out differently) is called again.
pub fn item_digest(item: &Value) -> String {
    format!("{:x}", Sha256::digest(item.to_string().as_bytes()))
}

/// An item that finished in an earlier attempt: its value's digest and its output.
pub struct FinishedItem {
    pub digest: String,
    pub output: Value,
}

impl Runs {
    /// The items of a step that finished in its earlier attempts, by position.
    pub async fn finished_items(
        &self,
        step: &Claimed,
    ) -> Result<BTreeMap<usize, FinishedItem>, HubError> {
        let rows: Vec<(i64, String, String)> = on_store!(&self.store, pool => {
            sqlx::query_as(
                "SELECT item_index, item_digest, output FROM workflow_items \
                 WHERE execution_id = $1 AND step_id = $2",
            )
            .bind(&step.execution_id)
            .bind(&step.step_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .filter_map(|(index, digest, output)| {
                let index = usize::try_from(index).ok()?;
                Some(decode(&output).map(|output| (index, FinishedItem { digest, output })))
            })
            .collect()
    }

    /// Keeps an item that finished, while this server still holds its step; `false`
    /// when it no longer does (the step was taken over or the run ended), and then
    /// nothing is kept.
    pub async fn keep_item(
        &self,
        owner: &str,
        step: &Claimed,
        index: usize,
        digest: &str,
        output: &Value,
    ) -> Result<bool, HubError> {
        let index = i64::try_from(index).map_err(HubError::internal)?;
        let kept = on_store!(&self.store, pool => {
            sqlx::query(
                "INSERT INTO workflow_items (execution_id, step_id, item_index, item_digest, output, finished_at) \
                 SELECT execution_id, step_id, $4, $5, $6, $7 FROM workflow_steps \
                 WHERE execution_id = $1 AND step_id = $2 AND lease_owner = $3 AND status = 'running' \
                 ON CONFLICT (execution_id, step_id, item_index) DO UPDATE SET \
                 item_digest = excluded.item_digest, output = excluded.output, finished_at = excluded.finished_at",
            )
            .bind(&step.execution_id)
            .bind(&step.step_id)
            .bind(owner)
            .bind(index)
            .bind(digest)
            .bind(output.to_string())
            .bind(now())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(kept > 0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::item_digest;

    #[test]
    fn equal_items_share_a_digest_and_different_ones_do_not() {
        assert_eq!(
            item_digest(&json!({"name": "ada", "tier": 1})),
            item_digest(&json!({"name": "ada", "tier": 1}))
        );
        assert_ne!(item_digest(&json!("1")), item_digest(&json!(1)));
        assert_ne!(
            item_digest(&json!({"name": "ada"})),
            item_digest(&json!({"name": "bo"}))
        );
        assert_eq!(item_digest(&json!(null)).len(), 64);
    }
}
