//! The console's client of the REST API. A page's reads and actions are requests to
//! the application's own REST router, sent in process with the signed-in caller in
//! the request's extensions (where the edge would have put it), so the routes'
//! authorization, validation, limits and audit apply unchanged.

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Method, Request, Response, StatusCode, header},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::Caller;

/// The most of an answer the console reads (a page shows far less).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Characters left as they are in one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// One path segment, escaped: names typed by people may hold `/`, `?` or spaces.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// The REST API's refusal of a request: its status and what its problem says.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub detail: String,
}

impl Refusal {
    fn internal(detail: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: detail.into(),
        }
    }
}

pub struct Api {
    rest: Router,
}

impl Api {
    pub fn new(rest: Router) -> Self {
        Api { rest }
    }

    pub async fn get(
        &self,
        caller: &Caller,
        request_id: &str,
        path: &str,
    ) -> Result<Value, Refusal> {
        self.send(caller, request_id, Method::GET, path, None).await
    }

    pub async fn post(
        &self,
        caller: &Caller,
        request_id: &str,
        path: &str,
        body: Value,
    ) -> Result<Value, Refusal> {
        self.send(caller, request_id, Method::POST, path, Some(body))
            .await
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        request_id: &str,
        path: &str,
    ) -> Result<Value, Refusal> {
        self.send(caller, request_id, Method::DELETE, path, None)
            .await
    }

    /// Sends one request and reads its JSON answer (`null` for an empty one).
    pub async fn send(
        &self,
        caller: &Caller,
        request_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Refusal> {
        let response = self.answer(caller, request_id, method, path, body).await?;
        read_json(succeeded(response).await?).await
    }

    /// A stream of server-sent events from the API, passed on as it comes; a refusal
    /// (a missing run, a caller who may not see it) is read as [`send`](Self::send)
    /// reads one.
    pub async fn stream(
        &self,
        caller: &Caller,
        request_id: &str,
        path: &str,
    ) -> Result<Response<Body>, Refusal> {
        let response = self
            .answer(caller, request_id, Method::GET, path, None)
            .await?;
        succeeded(response).await
    }

    async fn answer(
        &self,
        caller: &Caller,
        request_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Response<Body>, Refusal> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", request_id);
        let body = match body {
            Some(value) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let mut request = builder
            .body(body)
            .map_err(|error| Refusal::internal(format!("building the request: {error}")))?;
        request.extensions_mut().insert(caller.clone());
        match self.rest.clone().oneshot(request).await {
            Ok(response) => Ok(response),
            Err(never) => match never {},
        }
    }
}

/// An answer's JSON (`null` when empty; a string when it is not JSON).
async fn read_json(response: Response<Body>) -> Result<Value, Refusal> {
    let bytes = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|error| Refusal::internal(format!("reading the answer: {error}")))?;
    Ok(if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    })
}

/// The answer when it is a success; otherwise the refusal its problem says.
async fn succeeded(response: Response<Body>) -> Result<Response<Body>, Refusal> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(refusal(status, &read_json(response).await?))
}

/// What a problem answer says.
fn refusal(status: StatusCode, problem: &Value) -> Refusal {
    let detail = problem
        .get("detail")
        .and_then(Value::as_str)
        .or_else(|| problem.get("title").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_string());
    Refusal { status, detail }
}
