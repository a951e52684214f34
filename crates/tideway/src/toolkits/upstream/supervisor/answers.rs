//! An upstream of 2026-07-28 asks for sampling, elicitation or roots with an
//! input-required result rather than a request on a stream. The gateway asks its own
//! caller for each (on the caller's stream in a 2025-11-25 session, or with an
//! input-required result of its own to a 2026-07-28 client, whose next call brings
//! the answers), then calls the upstream again with the answers and the upstream's
//! request state.

use rmcp::model::{InputRequest, InputRequiredResult, InputResponses};
use serde_json::Value;
use tideway_core::{CallContext, HubError, mcp::JsonObject};

/// The most rounds one forwarded call may take, so an upstream that keeps asking
/// cannot hold a call for ever.
pub const MAX_ROUNDS: usize = 10;

/// The answers to what `required` asks, asked of the caller all together (a
/// 2026-07-28 caller then gets them in one round) under the upstream's keys,
/// prefixed with the upstream's name where the caller sees them, so two upstreams'
/// keys cannot meet.
pub async fn answer(
    ctx: &CallContext,
    upstream: &str,
    required: &InputRequiredResult,
) -> Result<InputResponses, HubError> {
    let requests = required.input_requests.clone().unwrap_or_default();
    let asked = requests.into_iter().map(|(key, request)| async move {
        let (method, params) = method_and_params(&request)?;
        let answer = ctx
            .client
            .ask(&format!("{upstream}:{key}"), &method, params)
            .await?;
        Ok::<_, HubError>((key, answer))
    });
    futures::future::join_all(asked).await.into_iter().collect()
}

fn method_and_params(request: &InputRequest) -> Result<(String, JsonObject), HubError> {
    let mut request = match serde_json::to_value(request) {
        Ok(Value::Object(request)) => request,
        _ => {
            return Err(HubError::internal(
                "an upstream's input request is not an object",
            ));
        }
    };
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let params = match request.remove("params") {
        Some(Value::Object(params)) => params,
        _ => JsonObject::new(),
    };
    Ok((method, params))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_request_splits_into_its_method_and_params() {
        let request: InputRequest = serde_json::from_value(json!({
            "method": "elicitation/create",
            "params": {"message": "Name?", "requestedSchema": {"type": "object", "properties": {}}}
        }))
        .expect("request");
        let (method, params) = method_and_params(&request).expect("split");
        assert_eq!(method, "elicitation/create");
        assert_eq!(params["message"], "Name?");
        let roots: InputRequest =
            serde_json::from_value(json!({"method": "roots/list"})).expect("roots");
        let (method, params) = method_and_params(&roots).expect("split");
        assert_eq!(method, "roots/list");
        assert!(params.is_empty());
    }
}
