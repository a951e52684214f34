//! The HTTP engine under both tools: one client per toolkit that resolves through the
//! policy's checked resolver, never uses a proxy from the environment, keeps no
//! cookies and follows no redirect by itself. Redirects are followed here, each hop
//! checked like the first, with credentials dropped when the origin changes; bodies
//! are read up to a byte cap and everything within one deadline.

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tideway_core::HubError;
use tokio::time::Instant;
use url::Url;

use super::settings::FetchConfig;
use crate::egress::{CheckedResolver, Policy, Refusal, refusal_in};

/// Why a request did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{url} redirected more than {limit} times")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url} redirected to a location that is not a URL")]
    BadRedirect { url: String },
    #[error("{url} did not answer within {0:?}", .timeout)]
    TimedOut { url: String, timeout: Duration },
    #[error("{url} could not be reached: {reason}")]
    Network { url: String, reason: String },
}

impl From<FetchError> for HubError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Refused(refusal) if refusal.is_policy() => {
                HubError::Forbidden(refusal.to_string())
            }
            FetchError::TimedOut { timeout, .. } => HubError::DeadlineExceeded(timeout),
            other => HubError::Unavailable {
                component: "the fetched site".into(),
                reason: other.to_string(),
            },
        }
    }
}

/// Credentials sent only to one origin (a connection's base URL).
pub struct Credential {
    pub origin: url::Origin,
    pub header: HeaderName,
    pub value: HeaderValue,
}

/// One request as the tools ask for it.
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub credential: Option<Credential>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    pub max_body_bytes: u64,
}

/// A response, its body read (up to the cap).
pub struct Fetched {
    /// Where the answer came from, after redirects.
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the body was longer than the cap and cut there.
    pub cut: bool,
    pub redirects: usize,
}

impl Fetched {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }
}

/// Headers that carry a caller's credentials; dropped when a redirect leaves the
/// origin they were given for.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<Policy>,
    max_redirects: usize,
}

impl Fetcher {
    pub fn new(config: &FetchConfig, policy: Arc<Policy>) -> Result<Self, String> {
        let client = crate::http_client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .user_agent(config.user_agent.clone())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| format!("the fetch HTTP client: {error}"))?;
        Ok(Fetcher {
            client,
            policy,
            max_redirects: config.max_redirects,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sends the request, following redirects; every hop is checked before it is
    /// sent, and the deadline covers them all and the body.
    pub async fn send(&self, request: Outgoing) -> Result<Fetched, FetchError> {
        let Outgoing {
            mut method,
            mut url,
            mut headers,
            credential,
            mut body,
            timeout,
            max_body_bytes,
        } = request;
        let deadline = Instant::now() + timeout;
        let first_origin = url.origin();
        let timed_out = |url: &Url| FetchError::TimedOut {
            url: shown(url),
            timeout,
        };
        for hop in 0..=self.max_redirects {
            self.policy.check_url(&url)?;
            let mut builder = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(credential) = &credential
                && credential.origin == url.origin()
            {
                let mut value = credential.value.clone();
                value.set_sensitive(true);
                builder = builder.header(credential.header.clone(), value);
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = match tokio::time::timeout_at(deadline, builder.send()).await {
                Err(_) => return Err(timed_out(&url)),
                Ok(Err(error)) => return Err(client_error(&url, &error)),
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            if status.is_redirection()
                && let Some(location) = location
            {
                if hop == self.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        url: shown(&url),
                        limit: self.max_redirects,
                    });
                }
                let next = url
                    .join(&location)
                    .map_err(|_| FetchError::BadRedirect { url: shown(&url) })?;
                // 303 always, and 301/302 after a POST, as browsers do: the next hop
                // is a GET without the body.
                if status == StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302) && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                    headers.remove(header::CONTENT_TYPE);
                }
                if next.origin() != first_origin {
                    for name in &CREDENTIAL_HEADERS {
                        headers.remove(name);
                    }
                }
                url = next;
                continue;
            }
            let headers = response.headers().clone();
            let (body, cut) = match tokio::time::timeout_at(
                deadline,
                read_capped(response, max_body_bytes),
            )
            .await
            {
                Err(_) => return Err(timed_out(&url)),
                Ok(Err(error)) => return Err(client_error(&url, &error)),
                Ok(Ok(read)) => read,
            };
            return Ok(Fetched {
                url,
                status,
                headers,
                body,
                cut,
                redirects: hop,
            });
        }
        Err(FetchError::TooManyRedirects {
            url: shown(&url),
            limit: self.max_redirects,
        })
    }
}

/// Reads the body until it ends or passes `cap` bytes; the rest is not downloaded.
async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
) -> Result<(Bytes, bool), reqwest::Error> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

fn client_error(url: &Url, error: &reqwest::Error) -> FetchError {
    if let Some(refusal) = refusal_in(error) {
        return FetchError::Refused(refusal);
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    FetchError::Network {
        url: shown(url),
        reason: tideway_core::error::bounded(&reason, 300).into_owned(),
    }
}

/// A URL as errors quote it: without its query (which may hold a token) and short.
pub fn shown(url: &Url) -> String {
    let mut quoted = url.clone();
    quoted.set_query(None);
    quoted.set_fragment(None);
    tideway_core::error::excerpt(quoted.as_str())
}
