//! Logging (`tracing` to stdout, pretty or JSON) and, when
//! `[telemetry] otlp_endpoint` is set, OpenTelemetry traces over OTLP/gRPC.
//!
//! With telemetry on, the presentation's `request` span becomes the server
//! span: its parent comes from the W3C `traceparent` (and `tracestate`)
//! header of the request, and it records `trace_id`, which JSON logs show
//! next to `request_id` in the event's `span` object. Redis and Memcached
//! calls are TRACE spans on target `strata::backend` (`otel.kind =
//! "client"`), children of the request span; only the exporting layer
//! enables them, so logs and the hot path pay nothing for them when
//! telemetry is off.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use crate::config::{DEFAULT_SERVICE_NAME, TelemetrySettings};
use crate::config::{LogFormat, LogSettings};
use crate::log_format;

/// How long an OTLP export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The running exporter: call [`shutdown`](Self::shutdown) after the
/// server stopped, so that buffered spans are flushed.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// The exporter's gRPC client runs here, apart from the server's
    /// runtime, so that a flush at shutdown never waits on a runtime that
    /// has stopped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Flushes and stops the exporter (a no-op when telemetry is off).
    pub fn shutdown(mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "flushing spans at shutdown failed");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Installs the global subscriber once; later calls are no-ops (tests
/// build several applications in one process) and start no exporter.
/// `RUST_LOG` overrides the configured log filter.
///
/// # Errors
/// An `otlp_endpoint` that is not a valid URI, or the exporter's runtime
/// cannot start.
pub fn init_tracing(
    settings: &LogSettings,
    telemetry: &TelemetrySettings,
) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes have no place in a file or
    // a log collector, and writing them costs every logged line and span.
    let fmt = tracing_subscriber::fmt::layer();
    let fmt = match settings.format {
        LogFormat::Json => fmt
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(log_format::JsonLines::default())
            .boxed(),
        LogFormat::Pretty => fmt
            .with_ansi(std::io::stdout().is_terminal())
            .event_format(log_format::Pretty::default())
            .boxed(),
    }
    .with_filter(filter);
    let mut off = Telemetry {
        provider: None,
        runtime: None,
    };
    let Some(endpoint) = &telemetry.otlp_endpoint else {
        let _ = tracing_subscriber::registry().with(fmt).try_init();
        return Ok(off);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("strata-otlp")
        .enable_all()
        .build()
        .context("[telemetry] cannot start the exporter's runtime")?;
    let exporter = {
        let _entered = runtime.enter();
        SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .with_context(|| format!("[telemetry] otlp_endpoint = {endpoint:?}"))?
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(telemetry.service_name.clone())
                .build(),
        )
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("strata"))
        .with_filter(
            Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("strata::backend", LevelFilter::TRACE),
        );
    if tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .is_err()
    {
        // Another subscriber came first: export nothing.
        let _ = provider.shutdown();
        return Ok(off);
    }
    strata_presentation::http::request::set_span_hook(adopt_trace_context);
    tracing::info!(endpoint = %endpoint, "OpenTelemetry traces on (OTLP/gRPC)");
    off.provider = Some(provider);
    off.runtime = Some(runtime);
    Ok(off)
}

/// The request span's parent from `traceparent`/`tracestate`, and its
/// `trace_id` field for the logs.
fn adopt_trace_context(headers: &actix_web::http::header::HeaderMap, span: &tracing::Span) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
