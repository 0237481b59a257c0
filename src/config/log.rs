//! `[log]`: the log format and filter.

use serde::{Deserialize, Serialize};

/// The `tracing` filter when none is configured (and `RUST_LOG` is unset).
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,strata=debug`; `RUST_LOG` wins when set.
    #[serde(default = "default_filter")]
    pub filter: String,
}

fn default_filter() -> String {
    DEFAULT_LOG_FILTER.to_owned()
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            filter: default_filter(),
        }
    }
}
