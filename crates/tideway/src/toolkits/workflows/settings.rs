//! The workflows toolkit's part of the configuration file, `[workflows]`: how many
//! steps one server runs at once, how long a claimed step's lease lasts before
//! another server may take it over, how much of a step's output is kept, and how long
//! a finished run is kept.

use serde::{Deserialize, Serialize};
use tideway_core::{Config, config::ConfigError};

use super::outputs::OutputLimits;

/// The key it owns in the configuration file.
pub const KEY: &str = "workflows";

/// Its settings as the configuration gives them; checked.
pub fn from_config(config: &Config) -> Result<WorkflowsConfig, ConfigError> {
    let settings: WorkflowsConfig = config.section(KEY)?;
    settings.check()?;
    Ok(settings)
}

/// For the descriptor: reads and checks the section.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    from_config(config).map(|_| ())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowsConfig {
    /// Run workflow steps in this process. Off for a server that should only accept
    /// and show runs while other replicas (sharing PostgreSQL) execute them.
    pub run_steps: bool,
    /// The most steps this server runs at once, over all executions.
    pub max_concurrent_steps: usize,
    /// Seconds a claimed step stays this server's without a heartbeat; after that
    /// another server (or this one, restarted) takes it over.
    pub lease_secs: u64,
    /// Milliseconds between looks at the store for steps made ready elsewhere (by
    /// another replica, or a backoff or sleep coming due). Steps this server makes
    /// ready start at once.
    pub poll_ms: u64,
    /// The most bytes of a step's output its step row holds. A larger output is kept
    /// whole apart (up to `max_whole_output_bytes`) and the row holds a preview
    /// marked `truncated`; later steps still read the whole.
    pub max_output_bytes: usize,
    /// The most bytes of a step's output kept whole; a larger output keeps only its
    /// preview.
    pub max_whole_output_bytes: usize,
    /// The longest one tool step may run unless its template says otherwise.
    pub default_step_timeout_secs: u64,
    /// On shutdown, how long steps in flight may take to finish; those still running
    /// then are left for another server (or this one, restarted) to take over.
    pub shutdown_grace_secs: u64,
    /// Days a finished run (background calls and tasks included) is kept, with its
    /// steps and attempts, before it is deleted; 0 keeps every run.
    pub keep_finished_days: u64,
}

impl Default for WorkflowsConfig {
    fn default() -> Self {
        WorkflowsConfig {
            run_steps: true,
            max_concurrent_steps: 32,
            lease_secs: 30,
            poll_ms: 500,
            max_output_bytes: 256 * 1024,
            max_whole_output_bytes: 16 * 1024 * 1024,
            default_step_timeout_secs: 300,
            shutdown_grace_secs: 10,
            keep_finished_days: 30,
        }
    }
}

impl WorkflowsConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(format!("{KEY}.{message}")));
        if self.max_concurrent_steps == 0 {
            return invalid("max_concurrent_steps must be at least 1");
        }
        if self.lease_secs < 2 {
            return invalid("lease_secs must be at least 2 (heartbeats come every third of it)");
        }
        if !(10..=60_000).contains(&self.poll_ms) {
            return invalid("poll_ms must be between 10 and 60000");
        }
        if self.max_output_bytes < 1024 {
            return invalid("max_output_bytes must be at least 1024");
        }
        if self.max_whole_output_bytes < self.max_output_bytes {
            return invalid("max_whole_output_bytes must be at least max_output_bytes");
        }
        if self.default_step_timeout_secs == 0 {
            return invalid("default_step_timeout_secs must be at least 1");
        }
        if self.keep_finished_days > 36_500 {
            return invalid("keep_finished_days must be at most 36500 (0 keeps every run)");
        }
        Ok(())
    }
}

impl WorkflowsConfig {
    /// How much of a step's output is kept, and where.
    pub fn output_limits(&self) -> OutputLimits {
        OutputLimits {
            preview_bytes: self.max_output_bytes,
            whole_bytes: self.max_whole_output_bytes,
        }
    }

    /// How long a finished run is kept; `None` when runs are kept for good.
    pub fn kept_for(&self) -> Option<std::time::Duration> {
        (self.keep_finished_days > 0)
            .then(|| std::time::Duration::from_secs(self.keep_finished_days * 86_400))
    }
}
