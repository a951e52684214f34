//! The edge guard against DNS rebinding: a page on an attacker's domain that resolves
//! to 127.0.0.1 must not reach a local Tideway. Every request's `Host` must name this
//! server (loopback names on a loopback listener, or a configured host), and a
//! browser's `Origin`, when present, must be loopback (on a loopback listener) or
//! configured. Applies to MCP and REST alike.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::problem::Problem;

#[derive(Clone, Debug)]
pub struct EdgeGuard {
    pub loopback_listener: bool,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1", "[::1]", "::1"];

/// Splits `host[:port]` (with `[v6]` brackets kept) into host and optional port.
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let host = &authority[..=end];
                let port = authority[end + 1..].strip_prefix(':');
                (host, port)
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (authority, None),
        }
    }
}

impl EdgeGuard {
    fn host_allowed(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let (host, _) = split_authority(&authority);
        if self.loopback_listener && LOOPBACK_NAMES.contains(&host) {
            return true;
        }
        self.allowed_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(&authority) || allowed.eq_ignore_ascii_case(host)
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self
            .allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        if !matches!(scheme, "http" | "https") {
            return false;
        }
        let (host, _) = split_authority(rest.trim_end_matches('/'));
        self.loopback_listener && LOOPBACK_NAMES.contains(&host.to_ascii_lowercase().as_str())
    }

    pub fn check(&self, request: &Request) -> Result<(), Box<Problem>> {
        let authority = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        match authority {
            Some(authority) if self.host_allowed(authority) => {}
            Some(authority) => {
                return Err(Box::new(Problem::new(
                    StatusCode::FORBIDDEN,
                    "host-not-allowed",
                    format!(
                        "Host '{authority}' is not served here; add it to http.allowed_hosts if this server is meant to answer to that name"
                    ),
                )));
            }
            None => {
                return Err(Box::new(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "host-missing",
                    "the request has no Host header",
                )));
            }
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            if !self.origin_allowed(origin) {
                return Err(Box::new(Problem::new(
                    StatusCode::FORBIDDEN,
                    "origin-not-allowed",
                    format!(
                        "Origin '{origin}' is not allowed; add it to http.allowed_origins to permit it"
                    ),
                )));
            }
        }
        Ok(())
    }
}

pub async fn guard(State(guard): State<Arc<EdgeGuard>>, request: Request, next: Next) -> Response {
    match guard.check(&request) {
        Ok(()) => next.run(request).await,
        Err(problem) => (*problem).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(host: &str, origin: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/mcp").header(header::HOST, host);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::empty()).expect("request")
    }

    fn loopback() -> EdgeGuard {
        EdgeGuard {
            loopback_listener: true,
            allowed_hosts: vec![],
            allowed_origins: vec![],
        }
    }

    #[test]
    fn loopback_names_pass_on_a_loopback_listener() {
        let guard = loopback();
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "LOCALHOST",
        ] {
            assert!(guard.check(&request(host, None)).is_ok(), "{host}");
        }
        assert!(
            guard
                .check(&request("localhost:8080", Some("http://localhost:8080")))
                .is_ok()
        );
    }

    #[test]
    fn rebinding_attempts_are_refused() {
        let guard = loopback();
        assert!(guard.check(&request("evil.example.com", None)).is_err());
        assert!(
            guard
                .check(&request(
                    "evil.example.com:8080",
                    Some("http://evil.example.com:8080")
                ))
                .is_err()
        );
        assert!(
            guard
                .check(&request("localhost:8080", Some("http://evil.example.com")))
                .is_err()
        );
        assert!(guard.check(&request("localhost.evil.com", None)).is_err());
    }

    #[test]
    fn configured_hosts_and_origins_pass() {
        let guard = EdgeGuard {
            loopback_listener: false,
            allowed_hosts: vec!["hub.internal".into()],
            allowed_origins: vec!["https://console.internal".into()],
        };
        assert!(
            guard
                .check(&request(
                    "hub.internal:443",
                    Some("https://console.internal")
                ))
                .is_ok()
        );
        assert!(guard.check(&request("localhost:8080", None)).is_err());
        assert!(
            guard
                .check(&request("hub.internal", Some("https://other.internal")))
                .is_err()
        );
    }
}
