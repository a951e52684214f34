//! The client a toolkit's subcommand uses to work with a running server: its REST
//! API at `--url`, with the API key in `--token` or `TIDEWAY_TOKEN`, so the
//! server's tenant, roles and audit apply as they do to any other caller.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug, Clone)]
pub struct Server {
    /// The running server.
    #[arg(long, env = "TIDEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key or token for the server (none needed on loopback without auth).
    #[arg(long, env = "TIDEWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(server: &Server) -> anyhow::Result<Self> {
        Ok(Api {
            http: crate::http_client::client()?,
            base: server.url.trim_end_matches('/').to_string(),
            token: server.token.clone(),
        })
    }

    /// Sends a request; the answer's JSON, or the server's refusal in its words.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach the server at {}; is `tideway serve` running?",
                self.base
            )
        })?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .context("the server's answer is not JSON")?;
        if !status.is_success() {
            bail!(
                "the server refused ({status}): {}",
                answer["detail"].as_str().unwrap_or(&answer.to_string())
            );
        }
        Ok(answer)
    }
}

/// A path segment as given on the command line, escaped for a URL.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
