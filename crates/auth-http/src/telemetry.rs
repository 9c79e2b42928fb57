//! Logs, traces and metrics: one function builds the subscriber, one installs it; traces leave
//! over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; one Prometheus recorder per process.

use std::io::IsTerminal;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// A subscriber writing to `sink` (JSON lines, or readable lines for a person at a terminal) and,
/// with a tracer provider, exporting spans through it. The level comes from RUST_LOG, `info` by
/// default; it applies to the exported spans too.
pub fn subscriber<W>(
    format: LogFormat,
    sink: W,
    tracing: Option<&SdkTracerProvider>,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        // The JSON lines carry no span fields, yet the fmt layer renders every new span's fields
        // into a string the moment it is created, on every request (the request span, and the
        // database, Redis and hashing spans under it). Showing it events only skips that work.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(sink)
            .with_filter(tracing_subscriber::filter::filter_fn(|metadata| metadata.is_event()))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().with_writer(sink).boxed(),
    };
    let traces = tracing.map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("auth-http")));
    Box::new(tracing_subscriber::registry().with(filter).with(logs).with(traces))
}

/// The OTLP trace pipeline, when OTEL_EXPORTER_OTLP_ENDPOINT (or its `_TRACES_` variant) is set:
/// spans are batched and sent over OTLP/HTTP, protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL says
/// `http/json`. The standard OTEL_* variables (service name, batch delays, headers) apply.
/// Incoming `traceparent` headers are honoured either way.
///
/// # Errors
/// When a variable holds a value the exporter cannot use.
pub fn tracer_provider_from_env() -> anyhow::Result<Option<SdkTracerProvider>> {
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|variable| std::env::var(variable).is_ok_and(|value| !value.trim().is_empty()));
    if !configured {
        return Ok(None);
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
        Err(_) | Ok("" | "http/protobuf") => Protocol::HttpBinary,
        Ok("http/json") => Protocol::HttpJson,
        Ok(other) => {
            anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf or http/json, got {other:?}")
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .context("cannot set up the OTLP trace exporter")?;
    let service_name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "auth-http".to_owned());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name)
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build()))
}

/// The propagation context of an incoming request's `traceparent` (and `tracestate`).
pub fn remote_context(headers: &actix_web::http::header::HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(actix_web::http::header::HeaderName::as_str).collect()
        }
    }

    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Headers(headers)))
}

/// The format to use when AUTH_LOG_FORMAT is unset: pretty on a terminal, JSON otherwise.
pub fn default_format() -> LogFormat {
    if std::io::stderr().is_terminal() { LogFormat::Pretty } else { LogFormat::Json }
}

/// Installs `subscriber` for the whole process; a second call is ignored.
pub fn install(subscriber: Box<dyn Subscriber + Send + Sync>) {
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The process's Prometheus recorder, installed on first use. One per process: every application
/// built in it (tests build several) records into the same registry.
pub fn metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder was installed first; /metrics will stay empty");
            }
            handle
        })
        .clone()
}
