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

    /// The timestamp as RFC 3339 UTC with milliseconds,
    /// `2026-12-01T19:37:13.042Z`.
    ///
    /// ```
    /// use strata_domain::Timestamp;
    /// assert_eq!(Timestamp::from_millis(1_042).to_rfc3339(), "1970-01-01T00:00:01.042Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            self.0 % 1000
        )
    }

    /// Parses RFC 3339 UTC as [`Timestamp::to_rfc3339`] writes it, with
    /// or without fractional seconds (`2026-12-01T19:37:13Z`); `None` for
    /// anything else (other offsets included) or a time before 1970.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
        let (date, time) = s.split_once(['T', 't'])?;
        let mut date = date.splitn(3, '-');
        let num = |p: Option<&str>, len: usize| -> Option<u64> {
            let p = p?;
            (p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let (y, m, d) = (
            num(date.next(), 4)?,
            num(date.next(), 2)?,
            num(date.next(), 2)?,
        );
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time, None),
        };
        let mut hms = hms.splitn(3, ':');
        let (h, mi, se) = (
            num(hms.next(), 2)?,
            num(hms.next(), 2)?,
            num(hms.next(), 2)?,
        );
        let ms = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                let digits: String = f.chars().chain("00".chars()).take(3).collect();
                digits.parse().ok()?
            }
            Some(_) => return None,
        };
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let days = days_from_civil(y, m, d)?;
        let secs = days * 86_400 + h * 3600 + mi * 60 + se;
        Some(Self(secs * 1000 + ms))
    }

    /// How long after `earlier` this timestamp is; zero when it is not later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Year, month, day of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date; `None` before 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
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

    #[test]
    fn rfc3339_formats_and_parses() {
        let t = Timestamp::from_millis(1_796_153_833_042);
        assert_eq!(t.to_rfc3339(), "2026-12-01T19:37:13.042Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-01T19:37:13.042Z"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-01T19:37:13Z"),
            Some(Timestamp::from_millis(1_796_153_833_000))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T00:00:00.5Z").map(Timestamp::as_millis),
            Some(1_709_164_800_500)
        );
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T19:37:13+01:00",
            "1969-12-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(ms in 0u64..253_402_300_800_000) {
            let t = Timestamp::from_millis(ms);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }

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
