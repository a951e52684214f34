//! Logging: tracing to stderr (never stdout, which belongs to the stdio MCP protocol
//! and to CLI output), as text or JSON, and spans to an OpenTelemetry collector when
//! one is configured (`trace_export.rs`). `RUST_LOG` overrides the configured filter.
//!
//! Two rules hold at every level, whatever the filter asks for:
//! - Libraries that log whole protocol messages (rmcp's requests and results, HTTP/2
//!   frames with their headers) are held below the levels where they do, because
//!   those messages carry tool arguments such as passwords and bearer tokens. What
//!   Tideway itself logs about a call never includes its arguments.
//! - A log line is at most [`MAX_LINE_BYTES`]; a longer one is cut and says so, so a
//!   huge value in an error cannot flood the log.

use std::io::{self, IsTerminal, Write};

use tideway_core::config::LogConfig;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter, Layer, field::Visit, fmt, fmt::MakeWriter, layer::Context, prelude::*,
};

use crate::trace_export;

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

/// Targets whose errors are expected and handled by the caller, so logging them at
/// ERROR would report a success as a failure: the Delta kernel logs every failed
/// snapshot load, and looking for a table that does not exist yet (before its first
/// write) is one. Tideway reports the errors it gets from these itself.
const HANDLED_ELSEWHERE: &[&str] = &["buoyant_kernel::snapshot=off"];

/// The filter: `RUST_LOG`, else the configured level, then the payload caps.
pub fn filter(configured: &str) -> EnvFilter {
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| configured.to_string());
    let caps = [PAYLOAD_CAPS, HANDLED_ELSEWHERE].concat().join(",");
    EnvFilter::try_new(format!("{base},{caps}"))
        .or_else(|_| EnvFilter::try_new(format!("info,{caps}")))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the log (and the OTLP span export when `log.otlp_endpoint` is set);
/// what it returns keeps the export running and sends its last spans when dropped.
pub fn init(
    config: &LogConfig,
) -> Result<Option<trace_export::Exporting>, opentelemetry_otlp::ExporterBuildError> {
    // Colour codes only for a person at a terminal: in a file or a collector they are
    // noise that breaks searching.
    let ansi = io::stderr().is_terminal();
    let (exported, exporting) = match trace_export::tracer(config)? {
        Some((tracer, exporting)) => (
            Some(tracing_opentelemetry::layer().with_tracer(tracer)),
            Some(exporting),
        ),
        None => (None, None),
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter(&config.level))
        .with(ClientLeft)
        .with(exported);
    // try_init: a second call (tests, embedding) keeps the first subscriber.
    let _ = if config.format == "json" {
        subscriber
            .with(
                fmt::layer()
                    .json()
                    .with_ansi(ansi)
                    .with_writer(BoundedStderr),
            )
            .try_init()
    } else {
        subscriber
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(ansi)
                    .with_writer(BoundedStderr),
            )
            .try_init()
    };
    Ok(exporting)
}

/// What rmcp logs at ERROR when it cannot write an answer because the client has
/// already gone (an Inspector run that ends, an SDK that closes its session early).
/// The client caused it by leaving and nothing is lost that anyone waits for, so it
/// is not the server's error; the call itself was logged and audited as usual.
const CLIENT_LEFT: &[&str] = &[
    "failed to send pending response during drain",
    "response send task failed during drain",
    "fail to close sink",
];

/// Drops rmcp's [`CLIENT_LEFT`] events. A layer rather than a filter directive
/// because a directive cannot tell these from rmcp's other errors, which stay.
struct ClientLeft;

impl<S: Subscriber> Layer<S> for ClientLeft {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || !metadata.target().starts_with("rmcp::") {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !CLIENT_LEFT.contains(&message.0.as_str())
    }
}

/// An event's `message` field.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
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
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer, to read what a subscriber logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_client_that_left_is_not_logged_as_an_error_but_other_errors_are() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(filter("info"))
            .with(ClientLeft)
            .with(fmt::layer().with_ansi(false).with_writer(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // The very calls rmcp makes (its target and message), and neighbours that
            // must still reach the log.
            tracing::error!(target: "rmcp::service", error = %"broken pipe", "failed to send pending response during drain");
            tracing::error!(target: "rmcp::service", error = %"broken pipe", "fail to close sink");
            tracing::error!(target: "rmcp::service", error = %"join", "response send task failed");
            tracing::error!(target: "tideway::mcp", "failed to send pending response during drain");
        });
        let text = String::from_utf8(captured.0.lock().expect("buffer").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("response send task failed"), "{text}");
        assert!(lines[1].contains("tideway::mcp"), "{text}");
    }

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
