//! The monitor's part of the configuration file, `[monitor]`: how often this server
//! samples itself and checks its components, how long history is kept at each
//! resolution, and the availability target.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

/// The key it owns in the configuration file.
pub const KEY: &str = "monitor";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<MonitorConfig, ConfigError> {
    let settings: MonitorConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Sample, check components and evaluate alert rules from this process. Every
    /// server sharing the store may: each writes its own series.
    pub run_background: bool,
    /// The name this server's series and component states are kept under; the host
    /// name when not given. Give each server sharing a store its own.
    pub replica: Option<String>,
    /// Seconds between samples.
    pub interval_secs: u64,
    /// The longest one component's health check may take before it counts as down.
    pub check_timeout_secs: u64,
    /// Hours raw samples are kept.
    pub raw_hours: u64,
    /// Days one-minute averages are kept.
    pub minute_days: u64,
    /// Days one-hour averages are kept.
    pub hour_days: u64,
    /// The availability each component should reach, in percent.
    pub sla_target_percent: f64,
    /// Give the default tenant the default alert rules (CPU, memory, disk, response
    /// time, a component down) the first time the monitor starts.
    pub default_rules: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            run_background: true,
            replica: None,
            interval_secs: 15,
            check_timeout_secs: 5,
            raw_hours: 24,
            minute_days: 7,
            hour_days: 90,
            sla_target_percent: 99.9,
            default_rules: true,
        }
    }
}

impl MonitorConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        if !(1..=3600).contains(&self.interval_secs) {
            return invalid("interval_secs must be between 1 and 3600");
        }
        if !(1..=120).contains(&self.check_timeout_secs) {
            return invalid("check_timeout_secs must be between 1 and 120");
        }
        if !(1..=24 * 30).contains(&self.raw_hours) {
            return invalid("raw_hours must be between 1 and 720");
        }
        if !(1..=366).contains(&self.minute_days) {
            return invalid("minute_days must be between 1 and 366");
        }
        if !(1..=3660).contains(&self.hour_days) {
            return invalid("hour_days must be between 1 and 3660");
        }
        if !(0.0..=100.0).contains(&self.sla_target_percent) {
            return invalid("sla_target_percent must be between 0 and 100");
        }
        if let Some(replica) = &self.replica
            && (replica.is_empty() || replica.len() > 100 || replica.chars().any(char::is_control))
        {
            return invalid("replica must be 1 to 100 printable characters");
        }
        Ok(())
    }

    /// How long each resolution is kept, in milliseconds: raw, one minute, one hour.
    pub fn retention_ms(&self) -> [(i64, i64); 3] {
        let hour = 3_600_000i64;
        [
            (0, self.raw_hours as i64 * hour),
            (60, self.minute_days as i64 * 24 * hour),
            (3600, self.hour_days as i64 * 24 * hour),
        ]
    }
}
