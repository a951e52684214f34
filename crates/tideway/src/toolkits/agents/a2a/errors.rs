//! The one place errors become A2A JSON-RPC errors: the protocol's codes
//! (-32001 task not found ... -32009 version not supported, and JSON-RPC's own),
//! each with a `google.rpc.ErrorInfo` detail naming the reason, as A2A 1.0 clients
//! read it. Store and internal details go to the log only.

use serde_json::{Map, Value, json};
use tideway_core::{HubError, error::excerpt};

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";

#[derive(Debug)]
pub struct RpcError {
    pub code: i64,
    reason: &'static str,
    pub message: String,
    /// ErrorInfo metadata: strings only.
    metadata: Map<String, Value>,
}

impl RpcError {
    fn new(code: i64, reason: &'static str, message: impl Into<String>) -> Self {
        RpcError {
            code,
            reason,
            message: message.into(),
            metadata: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: &str) -> Self {
        self.metadata
            .insert(key.into(), Value::String(value.into()));
        self
    }

    pub fn parse(message: impl Into<String>) -> Self {
        RpcError::new(-32700, "PARSE_ERROR", message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        RpcError::new(-32600, "INVALID_REQUEST", message)
    }

    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(
            -32601,
            "METHOD_NOT_FOUND",
            format!("no method '{}' in A2A 1.0", excerpt(method)),
        )
    }

    /// A parameter that does not fit, by its path (`params.message.parts`).
    pub fn invalid_params(field: &str, message: impl std::fmt::Display) -> Self {
        RpcError::new(-32602, "INVALID_PARAMS", format!("{field}: {message}")).with("field", field)
    }

    pub fn task_not_found(id: &str) -> Self {
        RpcError::new(
            -32001,
            "TASK_NOT_FOUND",
            format!("no task '{}'", excerpt(id)),
        )
        .with("taskId", excerpt(id).as_ref())
    }

    pub fn not_cancelable(id: &str, state: &str) -> Self {
        RpcError::new(
            -32002,
            "TASK_NOT_CANCELABLE",
            format!("task '{}' has already ended ({state})", excerpt(id)),
        )
    }

    pub fn push_not_supported() -> Self {
        RpcError::new(
            -32003,
            "PUSH_NOTIFICATION_NOT_SUPPORTED",
            "Tideway does not push task updates; stream them (SendStreamingMessage, SubscribeToTask) or poll GetTask",
        )
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        RpcError::new(-32004, "UNSUPPORTED_OPERATION", message)
    }

    pub fn content_type(message: impl Into<String>) -> Self {
        RpcError::new(-32005, "CONTENT_TYPE_NOT_SUPPORTED", message)
    }

    pub fn version(asked: &str) -> Self {
        RpcError::new(
            -32009,
            "VERSION_NOT_SUPPORTED",
            format!(
                "A2A version '{}' is not served; Tideway speaks {}",
                excerpt(asked),
                super::card::PROTOCOL_VERSION
            ),
        )
    }

    /// A Hub error: arguments name their field, a refusal says so, anything inside
    /// the server is only referred to by the request id.
    pub fn from_hub(error: HubError, request_id: &str) -> Self {
        let message = error.shown(request_id);
        let rpc = match &error {
            HubError::InvalidArguments { field, .. } => {
                return RpcError::new(-32602, "INVALID_PARAMS", message).with("field", field);
            }
            HubError::NotFound(_) => RpcError::new(-32001, "TASK_NOT_FOUND", message),
            HubError::Forbidden(_) => RpcError::new(-32600, "PERMISSION_DENIED", message),
            HubError::Unsupported(_) => RpcError::new(-32004, "UNSUPPORTED_OPERATION", message),
            HubError::RateLimited { .. } => RpcError::new(-32603, "RATE_LIMITED", message),
            _ => RpcError::new(-32603, "INTERNAL_ERROR", message),
        };
        rpc.with("requestId", request_id)
    }

    /// The JSON-RPC error object.
    pub fn body(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "data": [{
                "@type": ERROR_INFO,
                "reason": self.reason,
                "domain": "a2a-protocol.org",
                "metadata": self.metadata,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_carries_its_reason_for_a2a_clients() {
        let body = RpcError::task_not_found("r-1").body();
        assert_eq!(body["code"], -32001);
        assert_eq!(body["data"][0]["reason"], "TASK_NOT_FOUND");
        assert_eq!(body["data"][0]["metadata"]["taskId"], "r-1");
        let bad = RpcError::from_hub(
            HubError::invalid_argument("context_id", "too long"),
            "req-1",
        );
        assert_eq!(bad.code, -32602);
        assert_eq!(bad.body()["data"][0]["metadata"]["field"], "context_id");
        // Internals stay in the log.
        let hidden = RpcError::from_hub(HubError::internal("disk on fire"), "req-2");
        assert_eq!(hidden.code, -32603);
        assert!(!hidden.message.contains("disk"), "{}", hidden.message);
    }
}
