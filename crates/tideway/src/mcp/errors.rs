//! The one place Hub errors become MCP answers. A tool that ran and failed (bad
//! arguments included, so a model can correct itself) answers with a tool result
//! marked `isError`; a request that cannot be routed (unknown tool, unknown prompt,
//! unknown resource) answers with a JSON-RPC error.

use rmcp::{ErrorData, model::CallToolResult, model::ContentBlock};
use serde_json::json;
use tideway_core::HubError;

/// A JSON-RPC error for `error`. Store and internal details go to the log only.
pub fn rpc_error(error: HubError, request_id: &str) -> ErrorData {
    let data = Some(json!({ "kind": error.kind(), "requestId": request_id }));
    match &error {
        HubError::UnknownTool { .. }
        | HubError::UnknownToolkit(_)
        | HubError::UnknownPrompt(_)
        | HubError::InvalidPromptArguments { .. }
        | HubError::InvalidArguments { .. } => ErrorData::invalid_params(error.to_string(), data),
        HubError::ResourceNotFound(uri) => ErrorData::resource_not_found(
            error.to_string(),
            Some(json!({ "uri": uri, "kind": error.kind(), "requestId": request_id })),
        ),
        HubError::NotFound(_) | HubError::Conflict(_) | HubError::Forbidden(_) => {
            ErrorData::invalid_request(error.to_string(), data)
        }
        _ if error.is_safe_to_show() => ErrorData::internal_error(error.to_string(), data),
        _ => ErrorData::internal_error(
            format!("internal error; the server log has the details under request id {request_id}"),
            data,
        ),
    }
}

/// The answer to `tools/call` for an error: unroutable calls stay protocol errors,
/// everything else is a tool error result the model can read.
pub fn tool_call_error(error: HubError, request_id: &str) -> Result<CallToolResult, ErrorData> {
    match error {
        HubError::UnknownTool { .. } | HubError::UnknownToolkit(_) => {
            Err(rpc_error(error, request_id))
        }
        error => {
            let message = if error.is_safe_to_show() {
                error.to_string()
            } else {
                format!(
                    "internal error; the server log has the details under request id {request_id}"
                )
            };
            Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
        }
    }
}
