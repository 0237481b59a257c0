use std::fmt;
use std::time::Duration;

/// Shortest accepted TTL: 1 second.
pub const MIN_TTL_SECS: u64 = 1;
/// Longest accepted TTL: 365 days, in seconds.
pub const MAX_TTL_SECS: u64 = 365 * 24 * 60 * 60;

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// The domain never reads the system clock; timestamps come from the
/// [`Clock`](crate::Clock) port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp moved `d` later, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// How long after `earlier` this timestamp is; zero when it is not later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// A time to live: how long an entry stays readable after it is written,
/// from [`MIN_TTL_SECS`] (1 s) to [`MAX_TTL_SECS`] (365 days), whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(u64);

/// Why a number of seconds is not a valid [`Ttl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TTL must be between {MIN_TTL_SECS} and {MAX_TTL_SECS} seconds, got {secs}")]
pub struct InvalidTtl {
    /// The rejected value in seconds.
    pub secs: u64,
}

impl Ttl {
    /// A TTL of `secs` seconds.
    ///
    /// # Errors
    /// [`InvalidTtl`] outside `MIN_TTL_SECS..=MAX_TTL_SECS`.
    ///
    /// ```
    /// use strata_domain::Ttl;
    /// assert_eq!(Ttl::from_secs(60).unwrap().as_secs(), 60);
    /// assert!(Ttl::from_secs(0).is_err());
    /// ```
    pub fn from_secs(secs: u64) -> Result<Self, InvalidTtl> {
        if (MIN_TTL_SECS..=MAX_TTL_SECS).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(InvalidTtl { secs })
        }
    }

    /// The TTL in seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The TTL as a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ttl_range_is_enforced(secs in 0u64..(MAX_TTL_SECS * 2)) {
            let ok = Ttl::from_secs(secs).is_ok();
            prop_assert_eq!(ok, (1..=MAX_TTL_SECS).contains(&secs));
        }

        #[test]
        fn timestamp_arithmetic_round_trips(t in 0u64..u64::MAX / 2, d in 0u64..1_000_000_000) {
            let start = Timestamp::from_millis(t);
            let later = start.saturating_add(Duration::from_millis(d));
            prop_assert_eq!(later.saturating_since(start), Duration::from_millis(d));
            prop_assert_eq!(start.saturating_since(later), Duration::ZERO);
        }
    }
}
