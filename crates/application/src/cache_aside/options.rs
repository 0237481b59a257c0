//! [`GetWithOptions`]: the per-call resilience options of
//! [`CacheService::get_with_options`](crate::CacheService::get_with_options),
//! their builder and their checks.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata_domain::{CacheAsideDefaults, CacheKey, Fraction, MAX_TTL_SECS, Ttl};

/// Default [`GetWithOptions::fail_safe_throttle`]: 30 seconds.
pub const DEFAULT_FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(30);

/// How [`CacheService::get_with_options`](crate::CacheService::get_with_options)
/// behaves when the origin is slow, failing or says "absent". Every
/// option is off by default ([`GetWithOptions::default`] behaves as
/// [`CacheService::get_with`](crate::CacheService::get_with)); build one
/// with [`GetWithOptions::builder`].
///
/// ```
/// use std::time::Duration;
/// use strata_application::GetWithOptions;
/// let options = GetWithOptions::builder()
///     .fail_safe_max(Duration::from_secs(3600))
///     .soft_timeout(Duration::from_millis(100))
///     .hard_timeout(Duration::from_secs(2))
///     .eager_refresh(0.8)
///     .ttl_jitter(0.1)
///     .build()
///     .unwrap();
/// assert_eq!(options.eager_refresh(), Some(0.8));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GetWithOptions {
    ttl: Option<Ttl>,
    fail_safe_max: Option<Duration>,
    fail_safe_throttle: Option<Duration>,
    soft_timeout: Option<Duration>,
    hard_timeout: Option<Duration>,
    eager_refresh: Option<f64>,
    negative_ttl: Option<Duration>,
    ttl_jitter: Option<f64>,
}

impl GetWithOptions {
    /// A builder with every option off.
    pub fn builder() -> GetWithOptionsBuilder {
        GetWithOptionsBuilder::default()
    }

    /// Every option off but the TTL.
    pub(crate) fn with_ttl(ttl: Option<Ttl>) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    /// TTL of loaded values; `None` (the default) applies the cache's
    /// `default_ttl`.
    pub fn ttl(&self) -> Option<Ttl> {
        self.ttl
    }

    /// Fail-safe: how long past its expiry a value may still be served
    /// when the loader fails or times out. `None` (the default): off.
    pub fn fail_safe_max(&self) -> Option<Duration> {
        self.fail_safe_max
    }

    /// After a failed load served stale, how long until the loader is
    /// tried again for that key; the stale value is served meanwhile.
    /// Defaults to [`DEFAULT_FAIL_SAFE_THROTTLE`].
    pub fn fail_safe_throttle(&self) -> Duration {
        self.fail_safe_throttle
            .unwrap_or(DEFAULT_FAIL_SAFE_THROTTLE)
    }

    /// Past this wait, a caller that has a stale value gets it while the
    /// loader finishes in the background and refreshes the entry. `None`
    /// (the default): wait.
    pub fn soft_timeout(&self) -> Option<Duration> {
        self.soft_timeout
    }

    /// Past this wait, a caller gets the stale value if fail-safe has one,
    /// else [`GetWithError::Timeout`](crate::GetWithError::Timeout); the
    /// loader still finishes in the background. `None` (the default): wait.
    pub fn hard_timeout(&self) -> Option<Duration> {
        self.hard_timeout
    }

    /// Eager refresh: the fraction `f` (0 < f < 1) of an entry's TTL past
    /// which the first read starts one background refresh. `None` (the
    /// default): off.
    pub fn eager_refresh(&self) -> Option<f64> {
        self.eager_refresh
    }

    /// Negative caching: how long a loader's "absent" answer is remembered
    /// (in this process). `None` (the default): not remembered.
    pub fn negative_ttl(&self) -> Option<Duration> {
        self.negative_ttl
    }

    /// TTL jitter: a fraction `j` (0 < j <= 1); each loaded value's TTL is
    /// lengthened by a random 0 to `j` of itself (whole seconds, capped at
    /// the maximum TTL). `None` (the default): no jitter.
    pub fn ttl_jitter(&self) -> Option<f64> {
        self.ttl_jitter
    }

    /// These options with each one left unset taken from `defaults`, a
    /// cache's `cache_aside` configuration (checked when it was set).
    /// When the merge would put the soft timeout at or past the hard one,
    /// the call's own timeout wins and the cache's other one is dropped.
    pub(crate) fn with_defaults(mut self, defaults: CacheAsideDefaults) -> Self {
        let secs = |v: Option<u64>| v.map(Duration::from_secs);
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        let (call_soft, call_hard) = (self.soft_timeout, self.hard_timeout);
        self.fail_safe_max = self.fail_safe_max.or(secs(defaults.fail_safe_max_secs));
        self.fail_safe_throttle = self
            .fail_safe_throttle
            .or(secs(defaults.fail_safe_throttle_secs));
        self.soft_timeout = self.soft_timeout.or(ms(defaults.soft_timeout_ms));
        self.hard_timeout = self.hard_timeout.or(ms(defaults.hard_timeout_ms));
        if let (Some(soft), Some(hard)) = (self.soft_timeout, self.hard_timeout)
            && soft >= hard
        {
            if call_soft.is_some() {
                self.hard_timeout = call_hard;
            } else {
                self.soft_timeout = call_soft;
            }
        }
        self.eager_refresh = self
            .eager_refresh
            .or(defaults.eager_refresh.map(Fraction::as_f64));
        self.negative_ttl = self.negative_ttl.or(secs(defaults.negative_ttl_secs));
        self.ttl_jitter = self
            .ttl_jitter
            .or(defaults.ttl_jitter.map(Fraction::as_f64));
        self
    }

    /// `ttl` lengthened by a random amount within the jitter bound
    /// (`ttl` itself when jitter is off). `key` and a process-wide
    /// counter feed the random choice.
    pub(crate) fn jittered(&self, ttl: Ttl, key: &CacheKey) -> Ttl {
        let Some(fraction) = self.ttl_jitter else {
            return ttl;
        };
        // Whole seconds: at most `fraction` of the TTL, rounded down.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "fraction is in (0, 1] and TTLs are far below 2^52 seconds"
        )]
        let bound = (ttl.as_secs() as f64 * fraction).floor() as u64;
        if bound == 0 {
            return ttl;
        }
        let extra = random_u64(key) % (bound + 1);
        Ttl::from_secs(ttl.as_secs().saturating_add(extra).min(MAX_TTL_SECS)).unwrap_or(ttl)
    }
}

/// A pseudo-random number: a randomly keyed SipHash of `key` and a
/// process-wide counter (jitter needs spread, not cryptography).
fn random_u64(key: &CacheKey) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    key.as_str().hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    hasher.finish()
}

/// Builds a [`GetWithOptions`]; see its getters for each option.
#[derive(Clone, Debug, Default)]
pub struct GetWithOptionsBuilder {
    options: GetWithOptions,
}

impl GetWithOptionsBuilder {
    /// See [`GetWithOptions::ttl`].
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.options.ttl = Some(ttl);
        self
    }
    /// See [`GetWithOptions::fail_safe_max`].
    pub fn fail_safe_max(mut self, max: Duration) -> Self {
        self.options.fail_safe_max = Some(max);
        self
    }
    /// See [`GetWithOptions::fail_safe_throttle`].
    pub fn fail_safe_throttle(mut self, throttle: Duration) -> Self {
        self.options.fail_safe_throttle = Some(throttle);
        self
    }
    /// See [`GetWithOptions::soft_timeout`].
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.options.soft_timeout = Some(timeout);
        self
    }
    /// See [`GetWithOptions::hard_timeout`].
    pub fn hard_timeout(mut self, timeout: Duration) -> Self {
        self.options.hard_timeout = Some(timeout);
        self
    }
    /// See [`GetWithOptions::eager_refresh`].
    pub fn eager_refresh(mut self, fraction: f64) -> Self {
        self.options.eager_refresh = Some(fraction);
        self
    }
    /// See [`GetWithOptions::negative_ttl`].
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.options.negative_ttl = Some(ttl);
        self
    }
    /// See [`GetWithOptions::ttl_jitter`].
    pub fn ttl_jitter(mut self, fraction: f64) -> Self {
        self.options.ttl_jitter = Some(fraction);
        self
    }

    /// The options, checked.
    ///
    /// # Errors
    /// [`InvalidGetWithOptions`]: an eager-refresh fraction outside
    /// (0, 1), a jitter fraction outside (0, 1], a zero timeout, or a soft
    /// timeout not shorter than the hard one.
    pub fn build(self) -> Result<GetWithOptions, InvalidGetWithOptions> {
        let o = self.options;
        if let Some(f) = o.eager_refresh
            && !(f > 0.0 && f < 1.0)
        {
            return Err(InvalidGetWithOptions::EagerRefresh(f));
        }
        if let Some(j) = o.ttl_jitter
            && !(j > 0.0 && j <= 1.0)
        {
            return Err(InvalidGetWithOptions::TtlJitter(j));
        }
        if o.soft_timeout == Some(Duration::ZERO) || o.hard_timeout == Some(Duration::ZERO) {
            return Err(InvalidGetWithOptions::ZeroTimeout);
        }
        if let (Some(soft), Some(hard)) = (o.soft_timeout, o.hard_timeout)
            && soft >= hard
        {
            return Err(InvalidGetWithOptions::SoftNotBeforeHard { soft, hard });
        }
        Ok(o)
    }
}

/// Why [`GetWithOptionsBuilder::build`] refused the options.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvalidGetWithOptions {
    /// The eager-refresh fraction is not strictly between 0 and 1.
    #[error("eager_refresh must be a fraction strictly between 0 and 1, got {0}")]
    EagerRefresh(f64),
    /// The jitter fraction is not in (0, 1].
    #[error("ttl_jitter must be a fraction in (0, 1], got {0}")]
    TtlJitter(f64),
    /// A timeout of zero.
    #[error("loader timeouts must be longer than zero")]
    ZeroTimeout,
    /// The soft timeout is not shorter than the hard one.
    #[error("soft_timeout ({soft:?}) must be shorter than hard_timeout ({hard:?})")]
    SoftNotBeforeHard {
        /// The soft timeout.
        soft: Duration,
        /// The hard timeout.
        hard: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_rejects_out_of_range_fractions_and_inverted_timeouts() {
        let b = GetWithOptions::builder;
        assert!(matches!(
            b().eager_refresh(1.0).build(),
            Err(InvalidGetWithOptions::EagerRefresh(_))
        ));
        assert!(matches!(
            b().eager_refresh(0.0).build(),
            Err(InvalidGetWithOptions::EagerRefresh(_))
        ));
        assert!(matches!(
            b().ttl_jitter(1.5).build(),
            Err(InvalidGetWithOptions::TtlJitter(_))
        ));
        assert!(matches!(
            b().soft_timeout(Duration::from_secs(2))
                .hard_timeout(Duration::from_secs(1))
                .build(),
            Err(InvalidGetWithOptions::SoftNotBeforeHard { .. })
        ));
        assert_eq!(
            b().hard_timeout(Duration::ZERO).build(),
            Err(InvalidGetWithOptions::ZeroTimeout)
        );
        assert!(b().eager_refresh(0.5).ttl_jitter(1.0).build().is_ok());
    }

    #[test]
    fn jitter_stays_within_its_bound_and_spreads() {
        let options = GetWithOptions::builder().ttl_jitter(0.1).build().unwrap();
        let ttl = Ttl::from_secs(1000).unwrap();
        let key = CacheKey::parse("k").unwrap();
        let seen: std::collections::BTreeSet<u64> = (0..500)
            .map(|_| options.jittered(ttl, &key).as_secs())
            .collect();
        assert!(seen.iter().all(|s| (1000..=1100).contains(s)), "{seen:?}");
        // 500 draws from 101 values: all alike only if jitter is broken.
        assert!(seen.len() > 10, "{seen:?}");
    }

    #[test]
    fn no_jitter_keeps_the_ttl_and_jitter_never_passes_the_maximum() {
        let key = CacheKey::parse("k").unwrap();
        let ttl = Ttl::from_secs(60).unwrap();
        assert_eq!(GetWithOptions::default().jittered(ttl, &key), ttl);
        let max = Ttl::from_secs(MAX_TTL_SECS).unwrap();
        let full = GetWithOptions::builder().ttl_jitter(1.0).build().unwrap();
        assert_eq!(full.jittered(max, &key), max);
    }

    #[test]
    fn cache_defaults_fill_what_the_call_leaves_unset() {
        let defaults = CacheAsideDefaults {
            fail_safe_max_secs: Some(600),
            fail_safe_throttle_secs: Some(5),
            soft_timeout_ms: Some(300),
            hard_timeout_ms: Some(1000),
            eager_refresh: Fraction::from_f64(0.5),
            negative_ttl_secs: Some(20),
            ttl_jitter: Fraction::from_f64(0.25),
        };
        let merged = GetWithOptions::default().with_defaults(defaults);
        assert_eq!(merged.fail_safe_max(), Some(Duration::from_secs(600)));
        assert_eq!(merged.fail_safe_throttle(), Duration::from_secs(5));
        assert_eq!(merged.soft_timeout(), Some(Duration::from_millis(300)));
        assert_eq!(merged.hard_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(merged.eager_refresh(), Some(0.5));
        assert_eq!(merged.negative_ttl(), Some(Duration::from_secs(20)));
        assert_eq!(merged.ttl_jitter(), Some(0.25));
        let call = GetWithOptions::builder()
            .fail_safe_max(Duration::from_secs(60))
            .eager_refresh(0.9)
            .build()
            .unwrap()
            .with_defaults(defaults);
        assert_eq!(call.fail_safe_max(), Some(Duration::from_secs(60)));
        assert_eq!(call.eager_refresh(), Some(0.9));
        assert_eq!(call.negative_ttl(), Some(Duration::from_secs(20)));
        // A call's hard timeout below the cache's soft one: the call's wins,
        // the cache's soft timeout is dropped.
        let call = GetWithOptions::builder()
            .hard_timeout(Duration::from_millis(200))
            .build()
            .unwrap()
            .with_defaults(defaults);
        assert_eq!(call.hard_timeout(), Some(Duration::from_millis(200)));
        assert_eq!(call.soft_timeout(), None);
        assert_eq!(
            GetWithOptions::default().with_defaults(CacheAsideDefaults::default()),
            GetWithOptions::default()
        );
    }
}
