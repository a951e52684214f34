//! RFC 9457 problem details: the one place errors become HTTP responses. Every error
//! the REST face returns, from a Hub error to a malformed body or an unknown route,
//! is `application/problem+json` with a stable `type` (`urn:tideway:problem:{kind}`).

use axum::{
    extract::{
        FromRequestParts, Path, RawPathParams,
        path::ErrorKind,
        rejection::{JsonRejection, PathRejection},
    },
    http::request::Parts,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use tideway_core::{
    HubError,
    error::{MAX_SHOWN_BYTES, bounded, excerpt},
};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:tideway:problem:{kind}`; stable, match on it.
    #[serde(rename = "type")]
    pub kind_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The argument or field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id to quote when asking for help; the log has the details under it.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds until a retry may succeed, sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem; its detail is cut to 1 KB, so no caller's value comes back whole.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let detail = match bounded(&detail, MAX_SHOWN_BYTES) {
            std::borrow::Cow::Borrowed(_) => detail,
            std::borrow::Cow::Owned(cut) => cut,
        };
        Problem {
            kind_uri: format!("urn:tideway:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            field: None,
            request_id: None,
            retry_after: None,
        }
    }

    pub fn with_request_id(mut self, request_id: &str) -> Self {
        if !request_id.is_empty() {
            self.request_id = Some(request_id.to_string());
        }
        self
    }

    pub fn from_hub(error: HubError, request_id: &str) -> Self {
        let status = match &error {
            HubError::UnknownToolkit(_)
            | HubError::UnknownTool { .. }
            | HubError::UnknownPrompt(_)
            | HubError::ResourceNotFound(_)
            | HubError::NotFound(_) => StatusCode::NOT_FOUND,
            HubError::InvalidArguments { .. } | HubError::InvalidPromptArguments { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            HubError::Conflict(_) => StatusCode::CONFLICT,
            HubError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            HubError::Forbidden(_) => StatusCode::FORBIDDEN,
            HubError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            HubError::Cancelled | HubError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            HubError::Unsupported(_) | HubError::InputRequired { .. } => StatusCode::BAD_REQUEST,
            HubError::Store(_) | HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = error.shown(request_id);
        let field = match &error {
            HubError::InvalidArguments { field, .. }
            | HubError::InvalidPromptArguments { field, .. } => Some(excerpt(field)),
            _ => None,
        };
        let mut problem = Problem::new(status, error.kind(), detail).with_request_id(request_id);
        problem.field = field;
        if let HubError::RateLimited { retry_after, .. } = &error {
            problem.retry_after = Some(retry_after.as_secs().max(1));
        }
        problem
    }

    pub fn not_found_route(path: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-such-route",
            format!("there is no route {path}; GET /openapi.json lists them"),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid-body",
            _ => "malformed-json",
        };
        Problem::new(status, kind, rejection.body_text())
    }
}

/// Path parameters whose rejections are problems naming the parameter rather than
/// plain text (`/api/v1/tickets/abc`).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                // A lone parameter's error does not carry its name; the route does.
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|raw| raw.iter().map(|(name, _)| name.to_string()).collect())
                    .unwrap_or_default();
                Err(path_problem(&rejection, &names))
            }
        }
    }
}

fn path_problem(rejection: &PathRejection, names: &[String]) -> Problem {
    let detail = match rejection {
        PathRejection::FailedToDeserializePathParams(failed) => match failed.kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => format!(
                "the path parameter '{key}' must be {}; got '{}'",
                article(expected_type),
                excerpt(value)
            ),
            ErrorKind::ParseError {
                value,
                expected_type,
            }
            | ErrorKind::ParseErrorAtIndex {
                value,
                expected_type,
                ..
            } => match names {
                [name] => format!(
                    "the path parameter '{name}' must be {}; got '{}'",
                    article(expected_type),
                    excerpt(value)
                ),
                _ => format!(
                    "a path parameter must be {}; got '{}'",
                    article(expected_type),
                    excerpt(value)
                ),
            },
            _ => rejection.body_text(),
        },
        _ => rejection.body_text(),
    };
    Problem::new(rejection.status(), "invalid-path", detail)
}

/// `i64` as a reader says it: "an integer".
fn article(rust_type: &str) -> &'static str {
    match rust_type {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "an integer",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        _ => "text of the right form",
    }
}

/// A JSON body whose rejections are problems rather than plain text.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
