//! `[analytics]`: trends of every cache and build-cache store
//! (`GET /v1/caches/{cache}/trends`, docs/monitoring.md).

use serde::{Deserialize, Serialize};

/// How often the sampler looks at the clock when `sample_interval_ms` is
/// not set: every second (it samples once per 10-s window).
pub const DEFAULT_SAMPLE_INTERVAL_MS: u64 = 1000;

/// How often the trends are written to `[server] data_dir` when
/// `save_interval_secs` is not set: every minute (and at shutdown).
pub const DEFAULT_SAVE_INTERVAL_SECS: u64 = 60;

/// `[analytics]`: in-memory trend series (10 s for 1 h, 1 min for 24 h,
/// 1 h for 30 days), persisted under `[server] data_dir`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Keep trends at all (default true). Off, requests record nothing
    /// for them and the trends routes answer 404 `not_configured`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often, in milliseconds, the background sampler looks at the
    /// clock (default 1000); it samples once per 10-s window of the clock.
    #[serde(default = "default_sample_interval_ms")]
    pub sample_interval_ms: u64,
    /// With `[server] data_dir`: how often, in seconds of the clock, the
    /// trends are saved (default 60; also at shutdown).
    #[serde(default = "default_save_interval_secs")]
    pub save_interval_secs: u64,
    /// The probability with which a request on one entry is sampled for
    /// the usage report (`GET /v1/caches/{cache}/report`), in (0, 1]
    /// (default 0.05).
    #[serde(default = "default_report_sample_rate")]
    pub report_sample_rate: f64,
}

fn default_true() -> bool {
    true
}
fn default_sample_interval_ms() -> u64 {
    DEFAULT_SAMPLE_INTERVAL_MS
}
fn default_report_sample_rate() -> f64 {
    strata_application::DEFAULT_REPORT_SAMPLE_RATE
}
fn default_save_interval_secs() -> u64 {
    DEFAULT_SAVE_INTERVAL_SECS
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_interval_ms: DEFAULT_SAMPLE_INTERVAL_MS,
            save_interval_secs: DEFAULT_SAVE_INTERVAL_SECS,
            report_sample_rate: default_report_sample_rate(),
        }
    }
}

impl AnalyticsSettings {
    /// Checks the section.
    ///
    /// # Errors
    /// `report_sample_rate` outside (0, 1], or a zero `sample_interval_ms`
    /// or `save_interval_secs`, naming the setting.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(self.report_sample_rate > 0.0 && self.report_sample_rate <= 1.0) {
            anyhow::bail!(
                "[analytics] report_sample_rate must be above 0 and at most 1, not {}",
                self.report_sample_rate
            );
        }
        if self.sample_interval_ms == 0 || self.save_interval_secs == 0 {
            anyhow::bail!("[analytics] sample_interval_ms and save_interval_secs must be above 0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_bad_rate() {
        assert!(AnalyticsSettings::default().check().is_ok());
        let bad = AnalyticsSettings {
            report_sample_rate: 0.0,
            ..Default::default()
        };
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("report_sample_rate")
        );
    }
}
