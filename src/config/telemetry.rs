//! `[telemetry]`: distributed traces over OTLP. Describes the section
//! only: the exporter is set up by the root's `telemetry` module.

use serde::{Deserialize, Serialize};

/// The `service.name` of exported spans when none is configured.
pub const DEFAULT_SERVICE_NAME: &str = "strata";

/// `[telemetry]`: distributed traces.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`. Unset (the
    /// default), nothing is exported and no span is built for tracing.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// The exported `service.name` (default `strata`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_service_name() -> String {
    DEFAULT_SERVICE_NAME.to_owned()
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: default_service_name(),
        }
    }
}
