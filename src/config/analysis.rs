//! `[analysis]`: live miss-ratio curves and `eviction = "auto"`. Its
//! defaults are the domain's and the analyzers' own constants; this
//! module only describes and checks the section (the analyzers are built
//! by the composition root).

use serde::{Deserialize, Serialize};

/// How often `eviction = "auto"` caches are evaluated when
/// `auto_interval_ms` is not set: every 10 s.
pub const DEFAULT_AUTO_INTERVAL_MS: u64 = 10_000;

/// `[analysis]`: per-cache miss-ratio curves (SHARDS sampling, miniature
/// simulations; docs/eviction.md "Live miss-ratio curves").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Analyse caches at all (default true). Off, `/mrc` and
    /// `/recommendation` answer 422 `unsupported_operation`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Starting (highest) spatial sampling rate, in (0, 1] (default 0.01);
    /// caches under 204,800 entries are sampled faster, up to 1.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// Memory bound of one cache's simulations, in bytes (default 8 MiB):
    /// above it the sampling rate halves (fixed-size SHARDS).
    #[serde(default = "default_analysis_max_bytes")]
    pub max_memory_bytes: u64,
    /// Length of the bounded sample queue per cache (default 16384); a
    /// full queue drops samples and counts them.
    #[serde(default = "default_queue_samples")]
    pub queue_samples: usize,
    /// How often `eviction = "auto"` caches are evaluated, in milliseconds
    /// (default 10000).
    #[serde(default = "default_auto_interval_ms")]
    pub auto_interval_ms: u64,
    /// How much lower (absolute) another policy's estimated miss ratio
    /// must be to switch to it (default 0.01).
    #[serde(default = "default_auto_margin")]
    pub auto_margin: f64,
    /// Consecutive evaluations that policy must lead (default 3).
    #[serde(default = "default_auto_window")]
    pub auto_window: u32,
    /// Extra margin to switch back to the policy just left (default 0.005).
    #[serde(default = "default_auto_hysteresis")]
    pub auto_hysteresis: f64,
    /// Fewest evaluations between two switches of a cache (default 6).
    #[serde(default = "default_auto_min_interval")]
    pub auto_min_interval: u32,
}

fn default_auto_interval_ms() -> u64 {
    DEFAULT_AUTO_INTERVAL_MS
}
fn default_auto_margin() -> f64 {
    strata_domain::DEFAULT_AUTO_MARGIN
}
fn default_auto_window() -> u32 {
    strata_domain::DEFAULT_AUTO_WINDOW
}
fn default_auto_hysteresis() -> f64 {
    strata_domain::DEFAULT_AUTO_HYSTERESIS
}
fn default_auto_min_interval() -> u32 {
    strata_domain::DEFAULT_AUTO_MIN_INTERVAL
}

fn default_sample_rate() -> f64 {
    strata_infrastructure::eviction::mrc::DEFAULT_SAMPLE_RATE
}
fn default_analysis_max_bytes() -> u64 {
    strata_infrastructure::eviction::mrc::DEFAULT_MAX_MEMORY_BYTES
}
fn default_queue_samples() -> usize {
    strata_infrastructure::DEFAULT_QUEUE_SAMPLES
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_rate: default_sample_rate(),
            max_memory_bytes: default_analysis_max_bytes(),
            queue_samples: default_queue_samples(),
            auto_interval_ms: default_auto_interval_ms(),
            auto_margin: default_auto_margin(),
            auto_window: default_auto_window(),
            auto_hysteresis: default_auto_hysteresis(),
            auto_min_interval: default_auto_min_interval(),
        }
    }
}

impl AnalysisSettings {
    /// The switching rule of `eviction = "auto"`.
    ///
    /// # Errors
    /// A negative margin or hysteresis, or a zero `auto_interval_ms`.
    pub fn auto_tune(&self) -> anyhow::Result<strata_domain::AutoTuneSettings> {
        if !(self.auto_margin >= 0.0 && self.auto_hysteresis >= 0.0) || self.auto_interval_ms == 0 {
            anyhow::bail!(
                "[analysis] auto_margin and auto_hysteresis must be >= 0 and auto_interval_ms >= 1"
            );
        }
        Ok(strata_domain::AutoTuneSettings {
            margin: self.auto_margin,
            window: self.auto_window,
            hysteresis: self.auto_hysteresis,
            min_interval: self.auto_min_interval,
        })
    }

    /// The analyzers' settings.
    ///
    /// # Errors
    /// A `sample_rate` outside (0, 1] or a zero `max_memory_bytes` or
    /// `queue_samples`.
    pub fn analyzer(&self) -> anyhow::Result<strata_infrastructure::AnalyzerSettings> {
        if !(self.sample_rate > 0.0 && self.sample_rate <= 1.0) {
            anyhow::bail!(
                "[analysis] sample_rate must be in (0, 1], got {}",
                self.sample_rate
            );
        }
        if self.max_memory_bytes == 0 || self.queue_samples == 0 {
            anyhow::bail!("[analysis] max_memory_bytes and queue_samples must be at least 1");
        }
        Ok(strata_infrastructure::AnalyzerSettings {
            sample_rate: self.sample_rate,
            max_memory_bytes: self.max_memory_bytes,
            queue_samples: self.queue_samples,
            ..strata_infrastructure::AnalyzerSettings::default()
        })
    }
}

fn default_true() -> bool {
    true
}
