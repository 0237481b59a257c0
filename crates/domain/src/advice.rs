//! Recommendations beside the eviction policy and capacity ones (which
//! come from the miss-ratio curves): whether a cache's values are worth
//! compressing, from a sample of them measured by the
//! [`CompressionProbe`] port ([`CompressibilitySample`],
//! [`compression_recommendation`]); and whether its `default_ttl` fits
//! how long its entries stay wanted, from the lives of a spatial sample
//! of keys ([`LifetimeCounts`], [`ttl_recommendation`]).
//!
//! Pure: the application feeds the sample (one write in
//! [`PROBE_EVERY_WRITES`], at most [`PROBE_MAX_BYTES`] of each value) and
//! asks for the recommendation with the cache's configuration.

use std::collections::VecDeque;

use crate::{CacheConfiguration, Compression, LifetimeCounts, MAX_TTL_SECS};

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

/// Expired lives a TTL recommendation needs.
pub const MIN_EXPIRED_LIVES: u64 = 50;

/// Share of expired lives asked for again within one TTL above which a
/// longer TTL is recommended: 0.3.
pub const REQUESTED_AFTER_EXPIRY_SHARE: f64 = 0.3;

/// Share of expired lives never read above which a shorter TTL is
/// considered: 0.5.
pub const EXPIRED_UNREAD_SHARE: f64 = 0.5;

/// Whether `config`'s `default_ttl` fits its entries' lives: `None` when
/// it does, without a `default_ttl`, or before [`MIN_EXPIRED_LIVES`]
/// followed entries expired.
///
/// - Longer: more than [`REQUESTED_AFTER_EXPIRY_SHARE`] of the expired
///   entries were asked for again within one TTL of their expiry (each
///   such miss a twice-as-long TTL would have served): double it (at most
///   [`MAX_TTL_SECS`]), if the data may be that old.
/// - Shorter: more than [`EXPIRED_UNREAD_SHARE`] expired unread, and 95 %
///   of the read entries had their last read within a power of two of
///   seconds `U` below half the TTL: a TTL of `U` keeps those reads and
///   frees the unread entries' memory sooner.
pub fn ttl_recommendation(
    config: &CacheConfiguration,
    counts: &LifetimeCounts,
) -> Option<SettingRecommendation> {
    let ttl = config.default_ttl()?.as_secs();
    if counts.expired < MIN_EXPIRED_LIVES {
        return None;
    }
    let expired = counts.expired as f64;
    let again = counts.requested_after_expiry as f64 / expired;
    if again > REQUESTED_AFTER_EXPIRY_SHARE && ttl < MAX_TTL_SECS {
        let suggested = ttl.saturating_mul(2).min(MAX_TTL_SECS);
        return Some(SettingRecommendation {
            setting: "default_ttl",
            current: ttl.to_string(),
            suggested: suggested.to_string(),
            reason: format!(
                "{} of {} followed entries that expired were asked for again within one TTL of their expiry ({:.0} %): a default_ttl of {suggested} s would have served those misses, if the data may be that old",
                counts.requested_after_expiry,
                counts.expired,
                again * 100.0
            ),
        });
    }
    let unread = counts.expired_unread as f64 / expired;
    let ages = counts.last_read_age_secs.buckets();
    let reads: u64 = ages.iter().map(|(_, n)| n).sum();
    if unread <= EXPIRED_UNREAD_SHARE || reads == 0 {
        return None;
    }
    // The bucket holding the 95th percentile of last-read ages.
    let rank = (reads as f64 * 0.95).ceil() as u64;
    let mut seen = 0;
    let p95 = ages.iter().find_map(|(le, n)| {
        seen += n;
        (seen >= rank).then_some(*le)
    })?;
    let suggested = p95.max(1);
    (suggested.saturating_mul(2) <= ttl).then(|| SettingRecommendation {
        setting: "default_ttl",
        current: ttl.to_string(),
        suggested: suggested.to_string(),
        reason: format!(
            "{} of {} followed entries that expired were never read ({:.0} %), and 95 % of the read ones were last read within {suggested} s of their write: a default_ttl of {suggested} s keeps those reads and frees the unread entries' memory sooner",
            counts.expired_unread,
            counts.expired,
            unread * 100.0
        ),
    })
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

    fn with_ttl(secs: u64) -> CacheConfiguration {
        CacheConfiguration::builder(CacheName::parse("c").unwrap())
            .default_ttl(Some(crate::Ttl::from_secs(secs).unwrap()))
            .build()
            .unwrap()
    }

    #[test]
    fn entries_asked_for_after_their_expiry_recommend_a_longer_ttl() {
        let mut counts = LifetimeCounts {
            expired: 100,
            requested_after_expiry: 40,
            ..Default::default()
        };
        let r = ttl_recommendation(&with_ttl(60), &counts).unwrap();
        assert_eq!((r.setting, r.suggested.as_str()), ("default_ttl", "120"));
        counts.requested_after_expiry = 10;
        assert_eq!(ttl_recommendation(&with_ttl(60), &counts), None);
        counts.expired = 10;
        counts.requested_after_expiry = 10;
        assert_eq!(ttl_recommendation(&with_ttl(60), &counts), None, "too few");
    }

    #[test]
    fn entries_that_expire_unread_and_are_read_early_recommend_a_shorter_ttl() {
        let mut counts = LifetimeCounts {
            expired: 100,
            expired_unread: 70,
            ..Default::default()
        };
        for _ in 0..30 {
            counts.last_read_age_secs.record(20);
        }
        let r = ttl_recommendation(&with_ttl(3600), &counts).unwrap();
        assert_eq!(r.suggested, "31", "{r:?}");
        // Read late in their life: keep it.
        let mut late = counts.clone();
        late.last_read_age_secs = Default::default();
        for _ in 0..30 {
            late.last_read_age_secs.record(3000);
        }
        assert_eq!(ttl_recommendation(&with_ttl(3600), &late), None);
        // No default_ttl: nothing to change.
        let none = CacheConfiguration::builder(CacheName::parse("c").unwrap())
            .build()
            .unwrap();
        assert_eq!(ttl_recommendation(&none, &counts), None);
    }

    #[test]
    fn the_sample_keeps_the_newest_probes() {
        let s = sample(MAX_PROBES + 10, 10, 5);
        assert_eq!(s.len(), MAX_PROBES);
        assert_eq!(s.ratio(), Some(0.5));
    }
}
