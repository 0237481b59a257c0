//! Recommendations beside the eviction policy and capacity ones (which
//! come from the miss-ratio curves): whether a cache's values are worth
//! compressing, from a sample of them measured by the
//! [`CompressionProbe`] port ([`CompressibilitySample`],
//! [`compression_recommendation`]).
//!
//! Pure: the application feeds the sample (one write in
//! [`PROBE_EVERY_WRITES`], at most [`PROBE_MAX_BYTES`] of each value) and
//! asks for the recommendation with the cache's configuration.

use std::collections::VecDeque;

use crate::{CacheConfiguration, Compression};

/// Bytes of a value a probe compresses (the value's head).
pub const PROBE_MAX_BYTES: usize = 64 * 1024;

/// One write in this many, per cache, has its value probed.
pub const PROBE_EVERY_WRITES: u64 = 64;

/// Probes kept per cache (the newest).
pub const MAX_PROBES: usize = 256;

/// Probes a recommendation needs.
pub const MIN_PROBES: usize = 20;

/// Measures how small a value compresses.
pub trait CompressionProbe: Send + Sync + 'static {
    /// The length of `value` compressed with zstd (RFC 8878) at the
    /// level `compression = "zstd"` writes with.
    fn compressed_len(&self, value: &[u8]) -> usize;
}

/// The newest probes of a cache's values: (bytes probed, compressed
/// bytes) each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompressibilitySample {
    probes: VecDeque<(u32, u32)>,
}

impl CompressibilitySample {
    /// Adds a probe of `len` bytes that compressed to `compressed`.
    pub fn record(&mut self, len: usize, compressed: usize) {
        if self.probes.len() == MAX_PROBES {
            self.probes.pop_front();
        }
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.probes.push_back((clamp(len), clamp(compressed)));
    }

    /// Probes kept.
    pub fn len(&self) -> usize {
        self.probes.len()
    }

    /// Whether nothing was probed.
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// (probes, bytes, compressed bytes) of the values of at least
    /// `min_bytes`.
    fn totals(&self, min_bytes: u64) -> (usize, u64, u64) {
        self.probes
            .iter()
            .filter(|(len, _)| u64::from(*len) >= min_bytes)
            .fold((0, 0, 0), |(n, b, c), (len, comp)| {
                (n + 1, b + u64::from(*len), c + u64::from(*comp))
            })
    }

    /// Compressed bytes over bytes of every probe; `None` without probes.
    pub fn ratio(&self) -> Option<f64> {
        let (n, bytes, compressed) = self.totals(0);
        (n > 0 && bytes > 0).then(|| compressed as f64 / bytes as f64)
    }
}

/// A recommended change of one setting.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingRecommendation {
    /// The setting (`compression`).
    pub setting: &'static str,
    /// Its value now, as the admin API spells it.
    pub current: String,
    /// The value recommended.
    pub suggested: String,
    /// Why, with the figures.
    pub reason: String,
}

/// Compressed over raw size below which compressing pays: 0.7 (a 30 %
/// saving).
pub const WORTH_COMPRESSING: f64 = 0.7;

/// Compressed over raw size above which compressing is CPU for nothing:
/// 0.95.
pub const NOT_WORTH_COMPRESSING: f64 = 0.95;

/// Whether `config`'s compression setting fits its values, from
/// `sample`: `None` when it does, when there are fewer than
/// [`MIN_PROBES`] probes to judge by, or when the cache has no shared
/// tier (compression applies to what goes to Redis or Memcached, never
/// to the memory tier).
///
/// - Off, and values of at least the default threshold (1 KiB) compress
///   to at most [`WORTH_COMPRESSING`] of their size: turn it on.
/// - On, and values at or above its threshold compress to more than
///   [`NOT_WORTH_COMPRESSING`]: turn it off.
pub fn compression_recommendation(
    config: &CacheConfiguration,
    sample: &CompressibilitySample,
) -> Option<SettingRecommendation> {
    if config.tiers().iter().all(|t| t.is_memory()) {
        return None;
    }
    match config.compression() {
        Compression::None => {
            let threshold = crate::DEFAULT_COMPRESSION_THRESHOLD_BYTES;
            let (n, bytes, compressed) = sample.totals(threshold);
            let ratio = compressed as f64 / bytes.max(1) as f64;
            (n >= MIN_PROBES && ratio <= WORTH_COMPRESSING).then(|| SettingRecommendation {
                setting: "compression",
                current: "none".to_owned(),
                suggested: format!("zstd (threshold_bytes {threshold})"),
                reason: format!(
                    "{n} probed values of at least {threshold} bytes compress to {:.0} % of their size with zstd: about {:.0} % fewer bytes to Redis or Memcached and over the network",
                    ratio * 100.0,
                    (1.0 - ratio) * 100.0
                ),
            })
        }
        Compression::Zstd { threshold_bytes } => {
            let (n, bytes, compressed) = sample.totals(threshold_bytes);
            let ratio = compressed as f64 / bytes.max(1) as f64;
            (n >= MIN_PROBES && ratio > NOT_WORTH_COMPRESSING).then(|| SettingRecommendation {
                setting: "compression",
                current: format!("zstd (threshold_bytes {threshold_bytes})"),
                suggested: "none".to_owned(),
                reason: format!(
                    "{n} probed values of at least {threshold_bytes} bytes compress only to {:.0} % of their size (already compressed or random data): compressing them costs CPU on every write and read for almost no saving",
                    ratio * 100.0
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheName, TierName};

    fn config(tiers: &[&str], compression: Compression) -> CacheConfiguration {
        CacheConfiguration::builder(CacheName::parse("c").unwrap())
            .tiers(tiers.iter().map(|t| TierName::parse(t).unwrap()).collect())
            .compression(compression)
            .build()
            .unwrap()
    }

    fn sample(n: usize, len: usize, compressed: usize) -> CompressibilitySample {
        let mut s = CompressibilitySample::default();
        for _ in 0..n {
            s.record(len, compressed);
        }
        s
    }

    #[test]
    fn compressible_values_on_a_shared_tier_recommend_zstd() {
        let off = config(&["redis"], Compression::None);
        let r = compression_recommendation(&off, &sample(30, 4096, 1000)).unwrap();
        assert_eq!(r.setting, "compression");
        assert!(r.suggested.starts_with("zstd"), "{r:?}");
        assert!(r.reason.contains("24 %"), "{r:?}");
        // Too few probes, or small values, or a memory-only cache: nothing.
        assert_eq!(
            compression_recommendation(&off, &sample(10, 4096, 1000)),
            None
        );
        assert_eq!(compression_recommendation(&off, &sample(30, 100, 20)), None);
        let memory = config(&["memory"], Compression::None);
        assert_eq!(
            compression_recommendation(&memory, &sample(30, 4096, 1000)),
            None
        );
    }

    #[test]
    fn incompressible_values_recommend_turning_it_off() {
        let on = config(&["memory", "redis"], Compression::default());
        let r = compression_recommendation(&on, &sample(30, 4096, 4090)).unwrap();
        assert_eq!(r.suggested, "none");
        assert_eq!(
            compression_recommendation(&on, &sample(30, 4096, 1000)),
            None
        );
    }

    #[test]
    fn the_sample_keeps_the_newest_probes() {
        let s = sample(MAX_PROBES + 10, 10, 5);
        assert_eq!(s.len(), MAX_PROBES);
        assert_eq!(s.ratio(), Some(0.5));
    }
}
