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
}
