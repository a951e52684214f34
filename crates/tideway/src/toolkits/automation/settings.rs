//! The automation toolkit's part of the configuration file, `[automation]`: whether
//! this server fires schedules and delivers notifications, how often it looks, what an
//! inbound webhook may send, and where outbound notifications may go.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError, error::excerpt};

use crate::egress::Allowed;

/// The key it owns in the configuration file.
pub const KEY: &str = "automation";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<AutomationConfig, ConfigError> {
    let settings: AutomationConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationConfig {
    /// Fire due schedules and deliver notifications from this process. Every server
    /// sharing PostgreSQL may: each due time is claimed by one of them.
    pub run_background: bool,
    /// Milliseconds between looks at the store for due schedules and deliveries.
    pub poll_ms: u64,
    /// The shortest interval a schedule may have, in seconds.
    pub min_interval_secs: u64,
    /// The most runs one schedule starts for times it missed while no server ran it
    /// (misfire policy `run_all`).
    pub max_catch_up: u32,
    /// The largest body an inbound webhook accepts.
    pub max_webhook_body_bytes: usize,
    /// How far a signed webhook's timestamp may be from this server's clock, either
    /// way; older deliveries are refused as replays.
    pub replay_window_secs: u64,
    /// Internal hosts and ranges an outbound notification channel may reach (an
    /// address, a range, a host name or `*.domain`). Empty by default: channels reach
    /// only the internet.
    pub allow: Vec<String>,
    /// Attempts to deliver one notification before it is marked failed.
    pub delivery_attempts: u32,
    /// The wait before the second attempt; it doubles for each further one.
    pub delivery_backoff_ms: u64,
    /// The longest one delivery attempt may take.
    pub delivery_timeout_secs: u64,
    /// Days firings and deliveries are kept; 0 keeps them for good.
    pub keep_history_days: u64,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        AutomationConfig {
            run_background: true,
            poll_ms: 500,
            min_interval_secs: 1,
            max_catch_up: 100,
            max_webhook_body_bytes: 1024 * 1024,
            replay_window_secs: 300,
            allow: Vec::new(),
            delivery_attempts: 5,
            delivery_backoff_ms: 1000,
            delivery_timeout_secs: 10,
            keep_history_days: 30,
        }
    }
}

impl AutomationConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        if !(10..=60_000).contains(&self.poll_ms) {
            return invalid("poll_ms must be between 10 and 60000".into());
        }
        if self.min_interval_secs == 0 {
            return invalid("min_interval_secs must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.max_catch_up) {
            return invalid("max_catch_up must be between 1 and 10000".into());
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_webhook_body_bytes) {
            return invalid("max_webhook_body_bytes must be between 1024 and 67108864".into());
        }
        if !(10..=86_400).contains(&self.replay_window_secs) {
            return invalid("replay_window_secs must be between 10 and 86400".into());
        }
        if !(1..=50).contains(&self.delivery_attempts) {
            return invalid("delivery_attempts must be between 1 and 50".into());
        }
        if !(10..=3_600_000).contains(&self.delivery_backoff_ms) {
            return invalid("delivery_backoff_ms must be between 10 and 3600000".into());
        }
        if !(1..=300).contains(&self.delivery_timeout_secs) {
            return invalid("delivery_timeout_secs must be between 1 and 300".into());
        }
        if self.keep_history_days > 36_500 {
            return invalid("keep_history_days must be at most 36500 (0 keeps everything)".into());
        }
        for entry in &self.allow {
            if let Err(reason) = Allowed::parse(entry) {
                return invalid(format!("allow: '{}' {reason}", excerpt(entry)));
            }
        }
        Ok(())
    }

    /// How long firings and deliveries are kept; `None` when kept for good.
    pub fn kept_for(&self) -> Option<std::time::Duration> {
        (self.keep_history_days > 0)
            .then(|| std::time::Duration::from_secs(self.keep_history_days * 86_400))
    }
}
