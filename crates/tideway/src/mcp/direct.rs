//! The direct path for 2026-07-28 requests. Such a request carries everything about
//! its client in its own `_meta`, so it needs neither a session nor a protocol
//! service of its own: it is checked, handed to the scope's handler and answered
//! with one JSON message. rmcp would build a service for each such request (a
//! `Peer`, a serve loop task, two Tokio channels), which cost about a quarter of
//! the server's CPU in allocation alone (BENCHMARKS.md).
//!
//! The path takes only requests rmcp would accept and answer with one message, so
//! no request is answered differently: one whose headers or `_meta` rmcp would
//! refuse, one that asks for progress or log messages (they go out as events
//! before the answer), a tool that mirrors arguments in `Mcp-Param-*` headers, the
//! methods that open streams or change state, and anything else not listed below
//! goes on to rmcp, which answers it as before.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use rmcp::{
    Peer, RoleServer, Service,
    model::{
        ClientJsonRpcMessage, ClientRequest, ErrorCode, GetExtensions, GetMeta, JsonRpcRequest,
        ProtocolVersion, RequestMetaObject, ServerJsonRpcMessage,
    },
    service::{RequestContext, RunningService, serve_directly},
};
use tokio_util::sync::CancellationToken;

use super::{handler::McpHandler, http::SESSION_HEADER};

const PROTOCOL_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
/// How a header value says it is Base64: such values go to rmcp to decode.
const BASE64_HEADER_PREFIX: &str = "=?base64?";

/// Answers admitted requests without a per-request service.
pub struct Direct {
    /// A request context needs a peer, and rmcp makes them only for a running
    /// service: this one serves no transport (it reads nothing and drops what it
    /// would send). Admitted requests never send on it: they ask for no progress
    /// or log messages, and ask their client only through their input round.
    peer: Peer<RoleServer>,
    _detached: RunningService<RoleServer, McpHandler>,
}

impl Direct {
    /// `handler` serves the detached peer; it never receives a request.
    pub fn new(handler: McpHandler) -> Self {
        let transport = (
            futures::sink::drain::<ServerJsonRpcMessage>(),
            futures::stream::pending::<ClientJsonRpcMessage>(),
        );
        let detached = serve_directly(handler, transport, None);
        Direct {
            peer: detached.peer().clone(),
            _detached: detached,
        }
    }

    /// Answers `request`, which [`admit`] let through, with `handler`. `stop` is
    /// cancelled when the server's calls must end; the call is cancelled with it,
    /// and when the answer is done, as rmcp does once an answer is sent.
    pub async fn answer(
        &self,
        handler: &McpHandler,
        parts: Parts,
        mut request: JsonRpcRequest<ClientRequest>,
        stop: &CancellationToken,
    ) -> Response {
        let mut context = RequestContext::new(request.id.clone(), self.peer.clone());
        std::mem::swap(&mut context.meta, request.request.get_meta_mut());
        std::mem::swap(&mut context.extensions, request.request.extensions_mut());
        context.extensions.insert(parts);
        let call = stop.child_token();
        context.ct = call.clone();
        let _ends_with_the_answer = call.drop_guard();
        let message = match handler.handle_request(request.request, context).await {
            Ok(result) => ServerJsonRpcMessage::response(result, request.id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(request.id)),
        };
        let status = status_of(&message);
        match serde_json::to_vec(&message) {
            Ok(body) => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(body),
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "an MCP answer could not be serialized");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// The request in `body` when the direct path may answer it, else `None` (rmcp
/// answers). `mirrors_headers` tells whether a tool mirrors arguments in
/// `Mcp-Param-*` headers. `body` has passed the envelope check.
pub fn admit(
    headers: &HeaderMap,
    body: &[u8],
    mirrors_headers: impl Fn(&str) -> bool,
) -> Option<JsonRpcRequest<ClientRequest>> {
    let version = ProtocolVersion::V_2026_07_28.as_str();
    if only(headers, PROTOCOL_HEADER)? != version
        || headers.contains_key(SESSION_HEADER)
        || !accepts_json_and_events(headers)
        || !sends_json(headers)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let name = match &request.request {
        ClientRequest::CallToolRequest(call) => {
            if mirrors_headers(&call.params.name) {
                return None;
            }
            Some(&*call.params.name)
        }
        ClientRequest::GetPromptRequest(get) => Some(&*get.params.name),
        ClientRequest::ReadResourceRequest(read) => Some(&*read.params.uri),
        ClientRequest::ListToolsRequest(_)
        | ClientRequest::ListPromptsRequest(_)
        | ClientRequest::ListResourcesRequest(_)
        | ClientRequest::ListResourceTemplatesRequest(_) => None,
        _ => return None,
    };
    if only(headers, METHOD_HEADER)? != request.request.method() {
        return None;
    }
    if let Some(name) = name {
        let named = only(headers, NAME_HEADER)?;
        if named != name || named.starts_with(BASE64_HEADER_PREFIX) {
            return None;
        }
    }
    let meta = request.request.get_meta();
    if meta
        .protocol_version()
        .as_ref()
        .map(ProtocolVersion::as_str)
        != Some(version)
        || !complete(meta)
        || meta.get_progress_token().is_some()
        || meta.log_level().is_some()
    {
        return None;
    }
    Some(request)
}

/// Whether `_meta` has everything a 2026-07-28 request must carry.
fn complete(meta: &RequestMetaObject) -> bool {
    meta.missing_required_keys(&ProtocolVersion::V_2026_07_28)
        .is_empty()
}

/// The one value of header `name`, when it is sent exactly once and is text.
fn only<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// Whether `Accept` plainly names both JSON and event streams. Anything less
/// plain (weights, parameters, wildcards) goes to rmcp to judge.
fn accepts_json_and_events(headers: &HeaderMap) -> bool {
    let (mut json, mut events) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for media in value.split(',').map(str::trim) {
            json |= media.eq_ignore_ascii_case("application/json");
            events |= media.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && events
}

fn sends_json(headers: &HeaderMap) -> bool {
    only(headers, header::CONTENT_TYPE.as_str()).is_some_and(|value| {
        let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
        essence.trim().eq_ignore_ascii_case("application/json")
    })
}

/// The HTTP status of a 2026-07-28 answer: the errors the transport specification
/// maps to a status get it, every other answer is 200. A `_meta` that lacks
/// required fields, which also maps to 400, never gets here.
fn status_of(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else {
        return StatusCode::OK;
    };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn plain() -> HeaderMap {
        headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ])
    }

    #[test]
    fn a_plain_call_is_admitted() {
        let request = admit(&plain(), CALL.as_bytes(), |_| false).expect("admitted");
        assert_eq!(request.request.method(), "tools/call");
    }

    #[test]
    fn anything_rmcp_must_judge_goes_to_rmcp() {
        let mut wrong_name = plain();
        wrong_name.insert("mcp-name", HeaderValue::from_static("other"));
        let mut doubled = plain();
        doubled.append("mcp-method", HeaderValue::from_static("tools/call"));
        let mut weighted = plain();
        weighted.insert(
            "accept",
            HeaderValue::from_static("application/json;q=0, text/event-stream"),
        );
        let mut session = plain();
        session.insert("mcp-session-id", HeaderValue::from_static("abc"));
        let mut older = plain();
        older.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-11-25"),
        );
        for (case, headers) in [
            ("a name that differs", wrong_name),
            ("a doubled header", doubled),
            ("a weighted Accept", weighted),
            ("a session id", session),
            ("an older protocol", older),
        ] {
            assert!(
                admit(&headers, CALL.as_bytes(), |_| false).is_none(),
                "{case} was admitted"
            );
        }
        assert!(
            admit(&plain(), CALL.as_bytes(), |_| true).is_none(),
            "a tool that mirrors headers was admitted"
        );
        for body in [
            CALL.replace(r#""_meta":{"#, r#""_meta":{"progressToken":7,"#),
            CALL.replace(
                r#""_meta":{"#,
                r#""_meta":{"io.modelcontextprotocol/logLevel":"info","#,
            ),
            CALL.replace(r#","io.modelcontextprotocol/clientCapabilities":{}"#, ""),
            CALL.replace("2026-07-28", "2025-11-25"),
        ] {
            assert!(
                admit(&plain(), body.as_bytes(), |_| false).is_none(),
                "admitted: {body}"
            );
        }
        let subscribe = CALL
            .replace(r#""tools/call""#, r#""resources/subscribe""#)
            .replace(
                r#""name":"echo","arguments":{"text":"hi"}"#,
                r#""uri":"echo""#,
            );
        let mut headers = plain();
        headers.insert(
            "mcp-method",
            HeaderValue::from_static("resources/subscribe"),
        );
        assert!(
            admit(&headers, subscribe.as_bytes(), |_| false).is_none(),
            "a method that is not on the list was admitted"
        );
    }
}
