//! [`CacheAsideDefaults`]: a cache's defaults for the fail-safe
//! cache-aside options of `CacheService::get_with_options` (issue 27,
//! section 4), set per cache as `[caches.<name>.cache_aside]` or the
//! admin API's `cache_aside` object. A call's own option wins; an option
//! neither the call nor the cache sets is off.

use crate::invalid_configuration::InvalidConfiguration;
use crate::time::MAX_TTL_SECS;

/// The longest soft or hard loader timeout: 1 hour, in milliseconds.
pub const MAX_LOADER_TIMEOUT_MS: u64 = 3_600_000;

/// A fraction from 0 to 1, held in millionths so that configurations
/// compare and hash exactly (`0.8` is `Fraction::from_f64(0.8)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fraction(u32);

impl Fraction {
    const SCALE: f64 = 1_000_000.0;

    /// `value` rounded to millionths; `None` unless it is finite and in
    /// `0.0..=1.0`.
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() || !(0.0..=1.0).contains(&value) {
            return None;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "value is in 0..=1, so the product is in 0..=1e6"
        )]
        Some(Self((value * Self::SCALE).round() as u32))
    }

    /// The fraction as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / Self::SCALE
    }
}

/// A cache's defaults for `get_with_options`; every field `None` (the
/// default) leaves that option off unless the call sets it. Units are in
/// the names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheAsideDefaults {
    /// Fail-safe: seconds past its expiry a value may still be served when
    /// the loader fails or times out (1 to 365 days).
    pub fail_safe_max_secs: Option<u64>,
    /// Seconds between two loader attempts of a key served stale after a
    /// failure (1 to 365 days; the options' default is 30).
    pub fail_safe_throttle_secs: Option<u64>,
    /// Milliseconds after which a caller that has a stale value gets it
    /// while the loader finishes in the background (1 to 3,600,000).
    pub soft_timeout_ms: Option<u64>,
    /// Milliseconds after which a caller gets the stale value or a timeout
    /// error (1 to 3,600,000; above `soft_timeout_ms` when both are set).
    pub hard_timeout_ms: Option<u64>,
    /// The fraction of an entry's TTL past which the first read starts one
    /// background refresh (strictly between 0 and 1).
    pub eager_refresh: Option<Fraction>,
    /// Seconds a loader's "absent" answer is remembered (1 to 365 days).
    pub negative_ttl_secs: Option<u64>,
    /// Loaded values' TTLs are lengthened by a random 0 to this fraction
    /// of themselves (above 0, at most 1).
    pub ttl_jitter: Option<Fraction>,
}

impl CacheAsideDefaults {
    /// Checks every set option's range (the same rules as the options'
    /// builder).
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the first option out of range, as
    /// `cache_aside.<option>`.
    pub fn validate(&self) -> Result<(), InvalidConfiguration> {
        let secs = |field: &'static str, value: Option<u64>| match value {
            Some(v) if !(1..=MAX_TTL_SECS).contains(&v) => Err(InvalidConfiguration::new(
                field,
                format!("must be 1 to {MAX_TTL_SECS} seconds"),
            )),
            _ => Ok(()),
        };
        let ms = |field: &'static str, value: Option<u64>| match value {
            Some(v) if !(1..=MAX_LOADER_TIMEOUT_MS).contains(&v) => Err(InvalidConfiguration::new(
                field,
                format!("must be 1 to {MAX_LOADER_TIMEOUT_MS} ms"),
            )),
            _ => Ok(()),
        };
        secs("cache_aside.fail_safe_max_secs", self.fail_safe_max_secs)?;
        secs(
            "cache_aside.fail_safe_throttle_secs",
            self.fail_safe_throttle_secs,
        )?;
        secs("cache_aside.negative_ttl_secs", self.negative_ttl_secs)?;
        ms("cache_aside.soft_timeout_ms", self.soft_timeout_ms)?;
        ms("cache_aside.hard_timeout_ms", self.hard_timeout_ms)?;
        if let (Some(soft), Some(hard)) = (self.soft_timeout_ms, self.hard_timeout_ms)
            && soft >= hard
        {
            return Err(InvalidConfiguration::new(
                "cache_aside.soft_timeout_ms",
                "must be below hard_timeout_ms",
            ));
        }
        if let Some(f) = self.eager_refresh
            && !(f.0 > 0 && f.as_f64() < 1.0)
        {
            return Err(InvalidConfiguration::new(
                "cache_aside.eager_refresh",
                "must be strictly between 0 and 1",
            ));
        }
        if self.ttl_jitter.is_some_and(|f| f.0 == 0) {
            return Err(InvalidConfiguration::new(
                "cache_aside.ttl_jitter",
                "must be above 0 and at most 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_exact_millionths_within_zero_and_one() {
        assert_eq!(Fraction::from_f64(0.8).unwrap().as_f64(), 0.8);
        assert_eq!(Fraction::from_f64(0.1234567).unwrap().as_f64(), 0.123457);
        for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            assert!(Fraction::from_f64(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn each_option_out_of_range_is_named() {
        let fraction = |f| Fraction::from_f64(f);
        for (defaults, field) in [
            (
                CacheAsideDefaults {
                    fail_safe_max_secs: Some(0),
                    ..Default::default()
                },
                "fail_safe_max_secs",
            ),
            (
                CacheAsideDefaults {
                    fail_safe_throttle_secs: Some(MAX_TTL_SECS + 1),
                    ..Default::default()
                },
                "fail_safe_throttle_secs",
            ),
            (
                CacheAsideDefaults {
                    negative_ttl_secs: Some(0),
                    ..Default::default()
                },
                "negative_ttl_secs",
            ),
            (
                CacheAsideDefaults {
                    soft_timeout_ms: Some(0),
                    ..Default::default()
                },
                "soft_timeout_ms",
            ),
            (
                CacheAsideDefaults {
                    hard_timeout_ms: Some(MAX_LOADER_TIMEOUT_MS + 1),
                    ..Default::default()
                },
                "hard_timeout_ms",
            ),
            (
                CacheAsideDefaults {
                    soft_timeout_ms: Some(500),
                    hard_timeout_ms: Some(500),
                    ..Default::default()
                },
                "soft_timeout_ms",
            ),
            (
                CacheAsideDefaults {
                    eager_refresh: fraction(1.0),
                    ..Default::default()
                },
                "eager_refresh",
            ),
            (
                CacheAsideDefaults {
                    eager_refresh: fraction(0.0),
                    ..Default::default()
                },
                "eager_refresh",
            ),
            (
                CacheAsideDefaults {
                    ttl_jitter: fraction(0.0),
                    ..Default::default()
                },
                "ttl_jitter",
            ),
        ] {
            let e = defaults.validate().unwrap_err();
            assert_eq!(e.field, format!("cache_aside.{field}"), "{defaults:?}");
        }
        let all = CacheAsideDefaults {
            fail_safe_max_secs: Some(3600),
            fail_safe_throttle_secs: Some(10),
            soft_timeout_ms: Some(100),
            hard_timeout_ms: Some(2000),
            eager_refresh: fraction(0.8),
            negative_ttl_secs: Some(30),
            ttl_jitter: fraction(1.0),
        };
        all.validate().unwrap();
        CacheAsideDefaults::default().validate().unwrap();
    }
}
