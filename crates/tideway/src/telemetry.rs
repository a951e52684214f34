//! Logging: tracing to stderr (never stdout, which belongs to the stdio MCP protocol
//! and to CLI output), as text or JSON. `RUST_LOG` overrides the configured filter.

use tideway_core::config::LogConfig;
use tracing_subscriber::{EnvFilter, fmt};

pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: a second call (tests, embedding) keeps the first subscriber.
    let _ = if config.format == "json" {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
