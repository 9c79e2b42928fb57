//! Logging: one function builds the subscriber, one installs it.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// A subscriber writing to `sink`: JSON lines, or readable lines for a person at a terminal.
/// The level comes from RUST_LOG, `info` by default.
pub fn subscriber<W>(format: LogFormat, sink: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink);
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).with_current_span(false).finish()),
        LogFormat::Pretty => Box::new(builder.compact().finish()),
    }
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
