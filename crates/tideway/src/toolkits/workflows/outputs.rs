//! Where a step's output is kept (`migrations/*/0028_workflow_outputs.sql`). A step
//! row holds a small output whole. A larger one is kept whole in `workflow_outputs`
//! while the row holds a preview: listing a run stays cheap, and later steps, a
//! background call's caller and a download still get every byte. Past a ceiling an
//! output is kept cut, as a preview alone.

use serde_json::json;

/// How much of a step's output is kept, and where.
#[derive(Clone, Copy, Debug)]
pub struct OutputLimits {
    /// The most bytes a step row holds; a larger output leaves a preview there.
    pub preview_bytes: usize,
    /// The most bytes kept whole; a larger output keeps only its preview.
    pub whole_bytes: usize,
}

/// An output as it is written: the step row's text, and the whole text when it is
/// kept apart.
#[derive(Debug)]
pub struct Kept {
    pub row: String,
    pub whole: Option<String>,
}

impl Kept {
    /// The step row's `output_bytes`: the whole output's size when it is kept apart.
    pub fn bytes(&self) -> Option<i64> {
        self.whole
            .as_ref()
            .map(|whole| i64::try_from(whole.len()).unwrap_or(i64::MAX))
    }
}

impl OutputLimits {
    /// Where an output serialized as `text` is kept.
    pub fn keep(&self, text: String) -> Kept {
        if text.len() <= self.preview_bytes {
            return Kept {
                row: text,
                whole: None,
            };
        }
        let stored = text.len() <= self.whole_bytes;
        // Half the preview for the cut text leaves room for JSON escaping it.
        let cut = tideway_core::error::bounded(&text, self.preview_bytes / 2);
        let row = json!({
            "truncated": true,
            "bytes": text.len(),
            "stored": stored,
            "text": cut,
        })
        .to_string();
        Kept {
            row,
            whole: stored.then_some(text),
        }
    }
}

/// Keeps the whole of step `$step`'s output `$kept` apart inside `$tx`, when it is
/// too large for the step row (which the caller writes with `$kept.row` and
/// `$kept.bytes()`).
macro_rules! keep_whole_output {
    ($tx:expr, $id:expr, $step:expr, $kept:expr) => {{
        if let Some(whole) = &$kept.whole {
            sqlx::query(
                "INSERT INTO workflow_outputs (execution_id, step_id, output) VALUES ($1, $2, $3) \
                 ON CONFLICT (execution_id, step_id) DO UPDATE SET output = excluded.output",
            )
            .bind($id)
            .bind($step)
            .bind(whole)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(super) use keep_whole_output;

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: OutputLimits = OutputLimits {
        preview_bytes: 1024,
        whole_bytes: 4096,
    };

    #[test]
    fn a_small_output_stays_in_the_row_and_a_large_one_is_kept_whole_apart() {
        let small = LIMITS.keep("x".repeat(1024));
        assert_eq!(small.row.len(), 1024);
        assert!(small.whole.is_none());
        assert_eq!(small.bytes(), None);

        let text = format!("\"{}\"", "é".repeat(1500));
        let large = LIMITS.keep(text.clone());
        assert_eq!(large.whole.as_deref(), Some(text.as_str()));
        assert_eq!(large.bytes(), Some(3002));
        let preview: serde_json::Value = serde_json::from_str(&large.row).expect("JSON");
        assert_eq!(preview["truncated"], true);
        assert_eq!(preview["stored"], true);
        assert_eq!(preview["bytes"], 3002);
        assert!(
            large.row.len() <= LIMITS.preview_bytes,
            "{}",
            large.row.len()
        );
        assert!(
            preview["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("\"éé")
        );
    }

    #[test]
    fn an_output_past_the_ceiling_keeps_only_its_preview() {
        let huge = LIMITS.keep("y".repeat(4097));
        assert!(huge.whole.is_none());
        assert_eq!(huge.bytes(), None);
        let preview: serde_json::Value = serde_json::from_str(&huge.row).expect("JSON");
        assert_eq!(preview["stored"], false);
        assert_eq!(preview["bytes"], 4097);
    }
}
