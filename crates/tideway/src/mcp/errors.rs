//! The one place Hub errors become MCP answers. A tool that ran and failed (bad
//! arguments included, so a model can correct itself) answers with a tool result
//! marked `isError`; a request that cannot be routed (unknown tool, unknown prompt,
//! unknown resource) answers with a JSON-RPC error.

use rmcp::{ErrorData, model::CallToolResult, model::ContentBlock};
use serde_json::json;
use tideway_core::{HubError, error::MAX_SHOWN_BYTES};

/// A JSON-RPC error for `error`. Store and internal details go to the log only.
pub fn rpc_error(error: HubError, request_id: &str) -> ErrorData {
    let data = Some(json!({ "kind": error.kind(), "requestId": request_id }));
    let message = error.shown(request_id);
    match &error {
        HubError::UnknownTool { .. }
        | HubError::UnknownToolkit(_)
        | HubError::UnknownPrompt(_)
        | HubError::InvalidPromptArguments { .. }
        | HubError::InvalidArguments { .. } => ErrorData::invalid_params(message, data),
        HubError::ResourceNotFound(uri) => ErrorData::resource_not_found(
            message,
            Some(json!({
                "uri": tideway_core::error::bounded(uri, MAX_SHOWN_BYTES),
                "kind": error.kind(),
                "requestId": request_id
            })),
        ),
        HubError::NotFound(_) | HubError::Conflict(_) | HubError::Forbidden(_) => {
            ErrorData::invalid_request(message, data)
        }
        _ => ErrorData::internal_error(message, data),
    }
}

/// The answer to `tools/call` for an error: unroutable calls stay protocol errors,
/// everything else is a tool error result the model can read.
pub fn tool_call_error(error: HubError, request_id: &str) -> Result<CallToolResult, ErrorData> {
    match error {
        HubError::UnknownTool { .. } | HubError::UnknownToolkit(_) => {
            Err(rpc_error(error, request_id))
        }
        error => Ok(CallToolResult::error(vec![ContentBlock::text(
            error.shown(request_id),
        )])),
    }
}
