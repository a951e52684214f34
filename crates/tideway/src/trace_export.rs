//! Spans exported over OTLP/HTTP to an OpenTelemetry collector, when
//! `log.otlp_endpoint` is set: every span Tideway records (a request's `http` span
//! with its `request_id`, the Hub's `hub_call` with tenant, principal, toolkit and
//! tool, a workflow step) becomes an OpenTelemetry span with its fields as
//! attributes. A request carrying a W3C `traceparent` joins its caller's trace.
//! Spans are batched and sent from a thread of their own, so a slow or missing
//! collector never holds up a call; what cannot be sent is dropped, and counted on
//! `/metrics` (`tideway_trace_spans_dropped_total`) so an operator sees it.

use std::{sync::LazyLock, time::Duration};

use http::HeaderMap;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData},
};
use prometheus_client::metrics::counter::Counter;
use tideway_core::{config::LogConfig, metrics::Metrics};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The exporter while it runs. Dropping it sends the spans still queued (for up to
/// five seconds), so the last requests before a shutdown are not lost.
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Drop for Exporting {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "could not send the last spans to the OTLP collector");
        }
    }
}

/// The tracer spans are exported through, and what keeps the export running;
/// `None` when no endpoint is configured.
pub fn tracer(config: &LogConfig) -> Result<Option<(SdkTracer, Exporting)>, ExporterBuildError> {
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Counted(exporter))
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.otlp_sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(config.otlp_service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("tideway");
    Ok(Some((tracer, Exporting { provider })))
}

/// Spans the collector took, and spans given up because sending their batch failed.
/// The export is the process's (the log is), so the counts are too; each Hub's
/// `/metrics` shows them through [`register_metrics`].
static EXPORTED: LazyLock<Counter> = LazyLock::new(Counter::default);
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Adds the export's counts to what `/metrics` serves.
pub fn register_metrics(metrics: &Metrics) {
    metrics.register(
        "trace_spans_exported",
        "Spans sent to the OTLP collector and accepted by it",
        EXPORTED.clone(),
    );
    metrics.register(
        "trace_spans_dropped",
        "Spans given up because the OTLP collector could not be reached or refused their batch",
        DROPPED.clone(),
    );
}

/// The OTLP exporter, counting each batch's spans by how its sending ended. The
/// SDK's own report of a failure goes to its internal log, which is off here: it
/// would feed back into this same log.
#[derive(Debug)]
struct Counted<E>(E);

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Counted<E>
{
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        let outcome = self.0.export(batch).await;
        match outcome {
            Ok(()) => EXPORTED.inc_by(spans),
            Err(_) => DROPPED.inc_by(spans),
        };
        outcome
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Where an OTLP/HTTP receiver at `endpoint` (its base URL) takes traces.
fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// Makes `span` a child of the caller's span when the request names one in a W3C
/// `traceparent` (and `tracestate`). Without an exporter, or without the header,
/// nothing changes.
pub fn follow_caller(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let caller = TraceContextPropagator::new().extract(&Headers(headers));
    // Refused only when no exporter is installed, where there is nothing to join.
    let _ = span.set_parent(caller);
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_the_base_url_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example.com/base/"),
            "https://otel.example.com/base/v1/traces"
        );
    }

    #[test]
    fn no_endpoint_exports_nothing() {
        assert!(
            tracer(&LogConfig::default())
                .expect("no exporter to build")
                .is_none()
        );
    }
}
