//! Logging: tracing to stderr (never stdout, which belongs to the stdio MCP protocol
//! and to CLI output), as text or JSON. `RUST_LOG` overrides the configured filter.
//!
//! Two rules hold at every level, whatever the filter asks for:
//! - Libraries that log whole protocol messages (rmcp's requests and results, HTTP/2
//!   frames with their headers) are held below the levels where they do, because
//!   those messages carry tool arguments such as passwords and bearer tokens. What
//!   Tideway itself logs about a call never includes its arguments.
//! - A log line is at most [`MAX_LINE_BYTES`]; a longer one is cut and says so, so a
//!   huge value in an error cannot flood the log.

use std::io::{self, Write};

use tideway_core::config::LogConfig;
use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter};

/// The longest line written to the log.
pub const MAX_LINE_BYTES: usize = 2048;

/// Caps for targets that log message payloads; appended after the user's filter,
/// so they win over a general `trace` or `debug`.
const PAYLOAD_CAPS: &[&str] = &[
    "rmcp::service=warn",
    "rmcp::transport=debug",
    "h2=info",
    "hyper=info",
    "hyper_util=info",
    "reqwest=info",
    "rustls=info",
];

/// The filter: `RUST_LOG`, else the configured level, then the payload caps.
pub fn filter(configured: &str) -> EnvFilter {
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| configured.to_string());
    let caps = PAYLOAD_CAPS.join(",");
    EnvFilter::try_new(format!("{base},{caps}"))
        .or_else(|_| EnvFilter::try_new(format!("info,{caps}")))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init(config: &LogConfig) {
    let builder = fmt()
        .with_env_filter(filter(&config.level))
        .with_writer(BoundedStderr);
    // try_init: a second call (tests, embedding) keeps the first subscriber.
    let _ = if config.format == "json" {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

/// Stderr, one event per write, each cut to [`MAX_LINE_BYTES`].
#[derive(Clone, Copy)]
struct BoundedStderr;

impl<'a> MakeWriter<'a> for BoundedStderr {
    type Writer = BoundedLine<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        BoundedLine(io::stderr())
    }
}

/// Writes each buffer (the formatter hands over one whole event) cut to the line cap.
pub struct BoundedLine<W: Write>(W);

impl<W: Write> BoundedLine<W> {
    pub fn new(inner: W) -> Self {
        BoundedLine(inner)
    }
}

impl<W: Write> Write for BoundedLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() <= MAX_LINE_BYTES {
            self.0.write_all(buf)?;
        } else {
            let mut end = MAX_LINE_BYTES - 64;
            // Cut on a UTF-8 character boundary.
            while end > 0 && (buf[end] & 0xc0) == 0x80 {
                end -= 1;
            }
            self.0.write_all(&buf[..end])?;
            writeln!(self.0, "… [log line cut: {} bytes in all]", buf.len())?;
        }
        // The whole buffer is accounted for, so the formatter does not retry the rest.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_and_says_so() {
        let mut out = Vec::new();
        let line = format!("error: {}\n", "é".repeat(5000));
        let written = BoundedLine(&mut out).write(line.as_bytes()).expect("write");
        assert_eq!(written, line.len());
        let text = String::from_utf8(out).expect("still UTF-8");
        assert!(text.len() <= MAX_LINE_BYTES, "{}", text.len());
        assert!(text.ends_with(&format!("[log line cut: {} bytes in all]\n", line.len())));
        let mut out = Vec::new();
        let written = BoundedLine(&mut out).write(b"short\n").expect("write");
        assert_eq!(written, 6);
        assert_eq!(out, b"short\n");
    }

    #[test]
    fn payload_logging_stays_off_even_at_trace() {
        let filter = filter("trace").to_string();
        assert!(filter.contains("rmcp::service=warn"), "{filter}");
        assert!(filter.contains("h2=info"), "{filter}");
    }
}
