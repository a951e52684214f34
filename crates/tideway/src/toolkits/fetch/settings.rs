//! The fetch toolkit's part of the configuration file, `[fetch]`: which internal
//! hosts and ranges the operator opens to it (none by default), whether robots.txt
//! is obeyed, the User-Agent, and how far, how long and how much one request may go.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

use crate::egress::Allowed;

/// The key it owns in the configuration file.
pub const KEY: &str = "fetch";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<FetchConfig, ConfigError> {
    let settings: FetchConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// Internal hosts and address ranges that may be reached despite being internal:
    /// an address (`10.1.2.3`), a range (`10.20.0.0/16`, `fd12::/16`), a host name
    /// (`wiki.corp.example`) or every name below a domain (`*.corp.example`). Empty by
    /// default: only the internet is reachable.
    pub allow: Vec<String>,
    /// Obey robots.txt for pages the model asks for with `fetch`; `http_request`
    /// (API calls) does not consult it.
    pub obey_robots_txt: bool,
    /// The User-Agent sent with every request; its first word is the agent robots.txt
    /// rules are matched against.
    pub user_agent: String,
    /// The most redirects one request follows, each hop checked like the first.
    pub max_redirects: usize,
    /// The most bytes of a response body read; the rest is not downloaded.
    pub max_body_bytes: u64,
    /// The longest one request may take, redirects and body included; a call may
    /// ask for less.
    pub timeout_secs: u64,
    /// The most characters one `fetch` call returns (`max_length` is capped there).
    pub max_length: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow: Vec::new(),
            obey_robots_txt: true,
            user_agent: format!(
                "Tideway/{} (AI agent fetch; obeys robots.txt)",
                env!("CARGO_PKG_VERSION")
            ),
            max_redirects: 5,
            max_body_bytes: 10 * 1024 * 1024,
            timeout_secs: 30,
            max_length: 1_000_000,
        }
    }
}

impl FetchConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        for entry in &self.allow {
            if let Err(reason) = Allowed::parse(entry) {
                return invalid(format!(
                    "allow: '{}' {reason}",
                    tideway_core::error::excerpt(entry)
                ));
            }
        }
        if self.user_agent.trim().is_empty()
            || http::HeaderValue::from_str(&self.user_agent).is_err()
        {
            return invalid("user_agent must be a non-empty, printable header value".into());
        }
        if self.max_redirects > 20 {
            return invalid("max_redirects must be at most 20".into());
        }
        for (field, value) in [
            ("max_body_bytes", self.max_body_bytes),
            ("timeout_secs", self.timeout_secs),
            ("max_length", self.max_length as u64),
        ] {
            if value == 0 {
                return invalid(format!("{field} must be at least 1"));
            }
        }
        Ok(())
    }

    /// The agent robots.txt groups are matched against: the User-Agent's product name.
    pub fn robots_agent(&self) -> &str {
        self.user_agent
            .split(['/', ' '])
            .find(|word| !word.is_empty())
            .unwrap_or("Tideway")
    }
}
