//! The fetch toolkit's MCP tools: `fetch` (a page for a model to read, as the
//! reference fetch server has it), `http_request` (an API call, through a stored
//! connection when it needs credentials) and the tenant's connections.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tideway_core::{
    CallContext, HubError,
    typed::{Effect, ToolSet, ToolSpec, ToolText},
};
use url::Url;
use utoipa::ToSchema;

use super::{
    FetchState,
    client::{Fetched, Outgoing, shown},
    connections::{ConnectionInput, ConnectionView, caller_headers},
    content::{self, Kind},
};

/// The tools' names, shared by their declarations and the REST routes.
pub mod names {
    pub const FETCH: &str = "fetch";
    pub const HTTP_REQUEST: &str = "http_request";
    pub const SET_HTTP_CONNECTION: &str = "set_http_connection";
    pub const LIST_HTTP_CONNECTIONS: &str = "list_http_connections";
    pub const DELETE_HTTP_CONNECTION: &str = "delete_http_connection";
}

const DEFAULT_FETCH_LENGTH: usize = 5000;
const DEFAULT_RESPONSE_LENGTH: usize = 20_000;

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// The http or https URL of the page.
    pub url: String,
    /// The most characters to return (default 5000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_length: Option<usize>,
    /// The character to start at, to go on where a cut answer stopped (default 0).
    #[serde(default)]
    pub start_index: Option<usize>,
    /// Return the page as the site sent it, without turning HTML into Markdown.
    #[serde(default)]
    pub raw: bool,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct FetchResult {
    /// Where the content came from, after redirects.
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    /// The part of the content asked for.
    pub content: String,
    pub start_index: usize,
    /// The whole content's length, in characters.
    pub total_length: usize,
    /// Where to start the next call to read on; absent when nothing is left.
    pub next_start_index: Option<usize>,
    /// Whether the page was longer than the server reads and was cut.
    pub page_cut: bool,
}

impl ToolText for FetchResult {
    fn text(&self) -> String {
        let mut text = format!("Contents of {}:\n{}", self.url, self.content);
        if let Some(next) = self.next_start_index {
            text.push_str(&format!(
                "\n\n[{} of {} characters shown. Call fetch again with start_index={next} to read on.]",
                next - self.start_index,
                self.total_length
            ));
        }
        if self.page_cut {
            text.push_str("\n\n[The page is longer than Tideway reads; its end is missing.]");
        }
        text
    }
}

#[derive(Clone, Copy, Default, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl HttpMethod {
    fn method(self) -> Method {
        match self {
            HttpMethod::Get => Method::GET,
            HttpMethod::Head => Method::HEAD,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
            HttpMethod::Options => Method::OPTIONS,
        }
    }
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestArgs {
    /// GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    #[serde(default)]
    pub method: HttpMethod,
    /// An http or https URL; with `connection`, a path below the connection's base
    /// URL (e.g. `v1/customers?limit=5`).
    pub url: String,
    /// A connection the tenant's admin stored: its base URL, headers and credential
    /// are used, and the credential is never shown.
    #[serde(default)]
    pub connection: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, sent as `application/json`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub json: Option<Value>,
    /// A text body (instead of `json`).
    #[serde(default)]
    pub body: Option<String>,
    /// Seconds to wait for the whole answer (at most the operator's limit).
    #[serde(default)]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: Option<u64>,
    /// The most characters of the response body returned (default 20000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_length: Option<usize>,
}

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct HttpResponse {
    /// Where the answer came from, after redirects.
    pub url: String,
    pub status: u16,
    /// Response headers (several values of one header joined with `, `; cookies
    /// the site sets are not shown).
    pub headers: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// The body, when it is JSON and fits.
    #[schema(value_type = Object)]
    pub json: Option<Value>,
    /// The body as text, when it is text (or JSON too long to return whole).
    pub text: Option<String>,
    /// The body's size in bytes as read.
    pub body_bytes: usize,
    /// Whether the body returned is not all of it.
    pub body_cut: bool,
}

impl ToolText for HttpResponse {
    fn text(&self) -> String {
        let mut text = format!("HTTP {} from {}", self.status, self.url);
        if let Some(content_type) = &self.content_type {
            text.push_str(&format!(" ({content_type}, {} bytes)", self.body_bytes));
        }
        if let Some(json) = &self.json {
            text.push_str("\n\n");
            text.push_str(&serde_json::to_string_pretty(json).unwrap_or_default());
        } else if let Some(body) = &self.text {
            text.push_str("\n\n");
            text.push_str(body);
        }
        if self.body_cut {
            text.push_str("\n\n[The body is cut.]");
        }
        text
    }
}

#[derive(Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConnectionArgs {
    /// 1-64 lower-case letters, digits, `_` or `-`.
    pub name: String,
    pub connection: ConnectionInput,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    pub name: String,
}

pub use tideway_core::typed::NoArgs;

#[derive(Serialize, JsonSchema, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

impl ToolText for ConnectionList {}

#[derive(Serialize, JsonSchema)]
pub struct Done {
    pub name: String,
    pub done: bool,
}

impl ToolText for Done {}

fn parse_url(field: &str, text: &str) -> Result<Url, HubError> {
    Url::parse(text).map_err(|error| {
        HubError::invalid_argument(
            field,
            format!(
                "'{}' is not a URL: {error}",
                tideway_core::error::excerpt(text)
            ),
        )
    })
}

/// Why a fetched status is a failure for `fetch`.
fn failed_status(fetched: &Fetched) -> HubError {
    HubError::Unavailable {
        component: "the fetched site".into(),
        reason: format!("{} answered {}", shown(&fetched.url), fetched.status),
    }
}

async fn fetch(
    state: Arc<FetchState>,
    _ctx: CallContext,
    args: FetchArgs,
) -> Result<FetchResult, HubError> {
    let config = &state.config;
    let url = parse_url("url", &args.url)?;
    state.fetcher.policy().check_url(&url).map_err(|refusal| {
        if refusal.is_policy() {
            HubError::Forbidden(refusal.to_string())
        } else {
            HubError::invalid_argument("url", refusal.to_string())
        }
    })?;
    if config.obey_robots_txt {
        state
            .robots
            .check(&state.fetcher, config.robots_agent(), &url)
            .await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static(
            "text/html,application/xhtml+xml,application/json;q=0.9,text/*;q=0.8,*/*;q=0.5",
        ),
    );
    let fetched = state
        .fetcher
        .send(Outgoing {
            method: Method::GET,
            url,
            headers,
            credential: None,
            body: None,
            timeout: Duration::from_secs(config.timeout_secs),
            max_body_bytes: config.max_body_bytes,
        })
        .await?;
    if !fetched.status.is_success() {
        return Err(failed_status(&fetched));
    }
    let content_type = fetched.content_type().map(str::to_string);
    let kind = content::classify(content_type.as_deref(), &fetched.body);
    if kind == Kind::Binary {
        return Err(HubError::Unsupported(format!(
            "{} is {} ({} bytes), not text; fetch returns pages and other text only",
            shown(&fetched.url),
            content::media_type(content_type.as_deref()).unwrap_or_else(|| "binary content".into()),
            fetched.body.len()
        )));
    }
    let final_url = fetched.url.to_string();
    let raw = args.raw;
    let body = fetched.body.clone();
    let type_for_decoding = content_type.clone();
    let url_for_links = final_url.clone();
    // Parsing a large page takes milliseconds of CPU; keep it off the async workers.
    let text = tokio::task::spawn_blocking(move || {
        let text = content::decode(type_for_decoding.as_deref(), &body);
        match kind {
            Kind::Html if !raw => content::html_to_markdown(&text, &url_for_links),
            Kind::Json if !raw => content::pretty_json(&text),
            _ => text,
        }
    })
    .await
    .map_err(HubError::internal)?;
    let start = args.start_index.unwrap_or(0);
    let length = args
        .max_length
        .unwrap_or(DEFAULT_FETCH_LENGTH)
        .min(config.max_length);
    let window = content::window(&text, start, length);
    if start > 0 && start >= window.total {
        return Err(HubError::invalid_argument(
            "start_index",
            format!(
                "{start} is past the end: the content has {} characters",
                window.total
            ),
        ));
    }
    Ok(FetchResult {
        url: final_url,
        status: fetched.status.as_u16(),
        content_type,
        content: window.text,
        start_index: start,
        total_length: window.total,
        next_start_index: window.next,
        page_cut: fetched.cut,
    })
}

async fn http_request(
    state: Arc<FetchState>,
    ctx: CallContext,
    args: HttpRequestArgs,
) -> Result<HttpResponse, HubError> {
    let config = &state.config;
    let mut headers = caller_headers("headers", &args.headers)?;
    let (url, credential) = match &args.connection {
        Some(name) => {
            let connection = state.connections.open(&ctx, name).await?;
            let url = connection.url_for(name, &args.url)?;
            if let Some(credential) = &connection.credential
                && headers.contains_key(&credential.header)
            {
                return Err(HubError::invalid_argument(
                    "headers",
                    format!(
                        "'{}' is set by connection '{name}'",
                        credential.header.as_str()
                    ),
                ));
            }
            for (header_name, value) in &connection.headers {
                if !headers.contains_key(header_name) {
                    headers.insert(header_name.clone(), value.clone());
                }
            }
            (url, connection.credential)
        }
        None => (parse_url("url", &args.url)?, None),
    };
    let body = match (&args.json, &args.body) {
        (Some(_), Some(_)) => {
            return Err(HubError::invalid_argument(
                "body",
                "give a json body or a text body, not both",
            ));
        }
        (Some(json), None) => {
            if !headers.contains_key(header::CONTENT_TYPE) {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            Some(Bytes::from(
                serde_json::to_vec(json).map_err(HubError::internal)?,
            ))
        }
        (None, Some(text)) => Some(Bytes::from(text.clone())),
        (None, None) => None,
    };
    let timeout = args
        .timeout_secs
        .unwrap_or(config.timeout_secs)
        .min(config.timeout_secs);
    let fetched = state
        .fetcher
        .send(Outgoing {
            method: args.method.method(),
            url,
            headers,
            credential,
            body,
            timeout: Duration::from_secs(timeout),
            max_body_bytes: config.max_body_bytes,
        })
        .await?;
    let max_length = args.max_length.unwrap_or(DEFAULT_RESPONSE_LENGTH);
    Ok(response(fetched, max_length))
}

/// The answer as `http_request` returns it.
fn response(fetched: Fetched, max_length: usize) -> HttpResponse {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &fetched.headers {
        if name == header::SET_COOKIE {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let content_type = fetched.content_type().map(str::to_string);
    let kind = content::classify(content_type.as_deref(), &fetched.body);
    let (mut json, mut text, mut cut) = (None, None, fetched.cut);
    match kind {
        Kind::Binary => {}
        Kind::Json if !fetched.cut => {
            let decoded = content::decode(content_type.as_deref(), &fetched.body);
            match serde_json::from_str::<Value>(&decoded) {
                Ok(value) if decoded.chars().count() <= max_length => json = Some(value),
                _ => {
                    let window = content::window(&decoded, 0, max_length);
                    cut |= window.next.is_some();
                    text = Some(window.text);
                }
            }
        }
        _ => {
            let decoded = content::decode(content_type.as_deref(), &fetched.body);
            let window = content::window(&decoded, 0, max_length);
            cut |= window.next.is_some();
            text = Some(window.text);
        }
    }
    HttpResponse {
        url: fetched.url.to_string(),
        status: fetched.status.as_u16(),
        headers,
        content_type,
        json,
        text,
        body_bytes: fetched.body.len(),
        body_cut: cut,
    }
}

pub fn tool_set() -> ToolSet<FetchState> {
    ToolSet::new()
        .add(
            ToolSpec {
                name: names::FETCH,
                title: "Fetch a web page",
                description: "Fetches a URL from the internet and returns its content for reading: HTML as Markdown of the page's main content, JSON pretty-printed, other text as it is. Long content comes in parts: call again with start_index to read on. Internal addresses are refused and robots.txt is obeyed.",
                effect: Effect::ReadOnly,
                open_world: true,
            },
            fetch,
        )
        .add(
            ToolSpec {
                name: names::HTTP_REQUEST,
                title: "Make an HTTP request",
                description: "Calls an HTTP API: method, URL, headers and a JSON or text body; returns the status, headers and body. With `connection`, the request goes below a stored connection's base URL with its credential, which is never shown. Internal addresses are refused. A request may change data on the remote side.",
                effect: Effect::Destructive,
                open_world: true,
            },
            http_request,
        )
        .add(
            ToolSpec {
                name: names::LIST_HTTP_CONNECTIONS,
                title: "List HTTP connections",
                description: "The tenant's stored HTTP connections: name, base URL, headers and whether a credential is stored (never the credential).",
                effect: Effect::ReadOnly,
                open_world: false,
            },
            |state: Arc<FetchState>, ctx, _args: NoArgs| async move {
                Ok(ConnectionList {
                    connections: state.connections.list(&ctx).await?,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::SET_HTTP_CONNECTION,
                title: "Store an HTTP connection",
                description: "Stores (or replaces) a named HTTP connection for the tenant: a base URL, headers, and a bearer token or API key sealed at rest and never shown again.",
                effect: Effect::Idempotent,
                open_world: false,
            },
            |state: Arc<FetchState>, ctx, args: SetConnectionArgs| async move {
                state
                    .connections
                    .put(&ctx, &args.name, args.connection, state.fetcher.policy())
                    .await?;
                Ok(Done {
                    name: args.name,
                    done: true,
                })
            },
        )
        .add(
            ToolSpec {
                name: names::DELETE_HTTP_CONNECTION,
                title: "Delete an HTTP connection",
                description: "Deletes a stored HTTP connection and its credential.",
                effect: Effect::Destructive,
                open_world: false,
            },
            |state: Arc<FetchState>, ctx, args: NameArgs| async move {
                if !state.connections.delete(&ctx, &args.name).await? {
                    return Err(HubError::NotFound(format!(
                        "no HTTP connection named '{}'",
                        tideway_core::error::excerpt(&args.name)
                    )));
                }
                Ok(Done {
                    name: args.name,
                    done: true,
                })
            },
        )
}
