//! The error every Hub operation returns. Faces map it exactly once each: the MCP
//! face to JSON-RPC errors or tool error results, the REST face to RFC 9457 problems.
//! `kind()` is the stable slug both use, so clients can match on it.

use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("unknown toolkit '{0}'")]
    UnknownToolkit(String),
    #[error("unknown tool '{tool}'{}", toolkit_suffix(.toolkit))]
    UnknownTool { toolkit: String, tool: String },
    #[error("invalid argument '{field}': {message}")]
    InvalidArguments { field: String, message: String },
    #[error("resource not found: {0}")]
    ResourceNotFound(String),
    #[error("unknown prompt '{0}'")]
    UnknownPrompt(String),
    #[error("invalid prompt argument '{field}': {message}")]
    InvalidPromptArguments { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    #[error("the call did not finish within its deadline of {0:?}")]
    DeadlineExceeded(Duration),
    #[error("the call was cancelled")]
    Cancelled,
    #[error("{component} is unavailable: {reason}")]
    Unavailable { component: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
    /// The call asked its client for input (sampling, elicitation, roots) that a
    /// 2026-07-28 client gives on its next call: the MCP face answers with an
    /// input-required result instead of this error.
    #[error("the call waits for the client's answer to '{method}' (input '{key}')")]
    InputRequired { key: String, method: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

fn toolkit_suffix(toolkit: &str) -> String {
    if toolkit.is_empty() {
        String::new()
    } else {
        format!(" in toolkit '{toolkit}'")
    }
}

impl From<sqlx::Error> for HubError {
    fn from(error: sqlx::Error) -> Self {
        HubError::Store(StoreError::Query(error))
    }
}

impl HubError {
    /// A stable, machine-readable name for the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            HubError::UnknownToolkit(_) => "unknown-toolkit",
            HubError::UnknownTool { .. } => "unknown-tool",
            HubError::InvalidArguments { .. } => "invalid-arguments",
            HubError::ResourceNotFound(_) => "resource-not-found",
            HubError::UnknownPrompt(_) => "unknown-prompt",
            HubError::InvalidPromptArguments { .. } => "invalid-prompt-arguments",
            HubError::NotFound(_) => "not-found",
            HubError::Conflict(_) => "conflict",
            HubError::Forbidden(_) => "forbidden",
            HubError::RateLimited { .. } => "rate-limited",
            HubError::DeadlineExceeded(_) => "deadline-exceeded",
            HubError::Cancelled => "cancelled",
            HubError::Unavailable { .. } => "unavailable",
            HubError::Unsupported(_) => "unsupported",
            HubError::InputRequired { .. } => "input-required",
            HubError::Store(_) => "store",
            HubError::Internal(_) => "internal",
        }
    }

    pub fn invalid_argument(field: impl Into<String>, message: impl Into<String>) -> Self {
        HubError::InvalidArguments {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        HubError::Internal(message.to_string())
    }

    /// Whether the message may be shown to a caller as it is. Store and internal
    /// errors can carry SQL or paths, so faces replace them with a generic message
    /// and the request id, and the detail goes only to the log.
    pub fn is_safe_to_show(&self) -> bool {
        !matches!(self, HubError::Store(_) | HubError::Internal(_))
    }

    /// The message a caller sees: the error itself when it is safe to show, cut to
    /// [`MAX_SHOWN_BYTES`]; otherwise a pointer to the log under the request id.
    pub fn shown(&self, request_id: &str) -> String {
        if self.is_safe_to_show() {
            bounded(&self.to_string(), MAX_SHOWN_BYTES).into_owned()
        } else {
            format!("internal error; the server log has the details under request id {request_id}")
        }
    }
}

/// The most an error message shown to a caller may hold.
pub const MAX_SHOWN_BYTES: usize = 1024;

/// How much of a caller's value an error message may quote.
pub const QUOTED_CHARS: usize = 64;

/// A short, single-line quotation of a value a caller sent, for error messages and
/// logs: at most [`QUOTED_CHARS`] characters, then an ellipsis and the full length.
/// A 900 KB bad value must not come back as a 900 KB error.
pub fn excerpt(text: &str) -> String {
    let mut quoted = String::new();
    let mut count = 0usize;
    for c in text.chars() {
        if count < QUOTED_CHARS {
            quoted.push(if c.is_control() { ' ' } else { c });
        }
        count += 1;
    }
    if count > QUOTED_CHARS {
        quoted.push_str(&format!("… ({count} characters)"));
    }
    quoted
}

/// [`excerpt`] of any JSON value: strings without their quotes, others as JSON.
pub fn excerpt_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => format!("'{}'", excerpt(text)),
        other => excerpt(&other.to_string()),
    }
}

/// Cuts a message to at most `max` bytes on a character boundary, saying so. The
/// last line of defence for text that reaches callers and logs.
pub fn bounded(message: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if message.len() <= max {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut end = max.saturating_sub(32).min(message.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}… ({} bytes in all)",
        &message[..end],
        message.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_is_quoted_by_its_start_and_length() {
        let huge = "x".repeat(900_000);
        let quoted = excerpt(&huge);
        assert!(quoted.len() < 100, "{quoted}");
        assert!(quoted.ends_with("(900000 characters)"), "{quoted}");
        assert_eq!(excerpt("short\nline"), "short line");
        assert_eq!(excerpt("a\u{0}b"), "a b");
        let cut = bounded(&huge, 1024);
        assert!(cut.len() <= 1024 + 40, "{}", cut.len());
        assert!(cut.ends_with("(900000 bytes in all)"));
        assert_eq!(bounded("small", 1024), "small");
    }
}
