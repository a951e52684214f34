//! The agents toolkit's part of the configuration file, `[agents]`: where remote A2A
//! agents may be reached and how long one request to them may take.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError, error::excerpt};

use crate::egress::Allowed;

/// The key it owns in the configuration file.
pub const KEY: &str = "agents";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<AgentsConfig, ConfigError> {
    let settings: AgentsConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// Internal hosts and ranges a remote A2A agent may be reached at (an address, a
    /// range, a host name or `*.domain`). Empty by default: remote agents are reached
    /// only on the internet.
    pub allow: Vec<String>,
    /// The longest one request to a remote agent may take (a streamed answer may
    /// take as long as the run's own time limit).
    pub remote_timeout_secs: u64,
    /// The largest agent card read when a remote agent is registered.
    pub max_card_bytes: usize,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            allow: Vec::new(),
            remote_timeout_secs: 30,
            max_card_bytes: 256 * 1024,
        }
    }
}

impl AgentsConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        if !(1..=600).contains(&self.remote_timeout_secs) {
            return invalid("remote_timeout_secs must be between 1 and 600".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_card_bytes) {
            return invalid("max_card_bytes must be between 1024 and 16777216".into());
        }
        for entry in &self.allow {
            if let Err(reason) = Allowed::parse(entry) {
                return invalid(format!("allow: '{}' {reason}", excerpt(entry)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_read_and_checked() {
        let mut config = Config::default();
        assert!(from_config(&config).expect("defaults").allow.is_empty());
        config
            .update_section(KEY, |settings: &mut AgentsConfig| {
                settings.allow = vec!["10.0.0.0/8".into(), "not a host!".into()]
            })
            .expect("section");
        let error = from_config(&config).expect_err("refused").to_string();
        assert!(error.contains("agents.allow"), "{error}");
    }
}
