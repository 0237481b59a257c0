//! A wall clock that tests move by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata_domain::{Clock, Timestamp};

/// A [`Clock`] that stands still until a test moves it, so TTL, `Age` and
/// expiry tests advance time instead of waiting on the wall clock
/// (after moka's `common/time/clock.rs` mock).
///
/// Share it as `Arc<ManualClock>` between the code under test (as
/// `Arc<dyn Clock>`) and the test, which calls [`ManualClock::advance`].
///
/// ```
/// use std::time::Duration;
/// use strata_domain::Clock;
/// use strata_testkit::ManualClock;
///
/// let clock = ManualClock::default();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now().saturating_since(start), Duration::from_secs(61));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// 2026-01-01T00:00:00Z in milliseconds since the Unix epoch: the
    /// default start, a realistic time so entry versions seeded from the
    /// clock look like production ones.
    pub const DEFAULT_START_MS: u64 = 1_767_225_600_000;

    /// A clock that reads `start` until moved.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now_ms: AtomicU64::new(start.as_millis()),
        }
    }

    /// A clock that reads the system's wall-clock time now, then stands
    /// still: for tests whose entries also reach real servers (Redis,
    /// Memcached), where absolute expiry times must be near the truth.
    pub fn starting_now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Self::DEFAULT_START_MS, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            });
        Self::new(Timestamp::from_millis(ms))
    }

    /// Moves the clock `by` later (millisecond resolution, saturating).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .now_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(ms))
            });
    }

    /// Sets the clock to `at`, which may be earlier than now (to test a
    /// clock that steps back).
    pub fn set(&self, at: Timestamp) {
        self.now_ms.store(at.as_millis(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// A clock standing at [`ManualClock::DEFAULT_START_MS`].
    fn default() -> Self {
        Self::new(Timestamp::from_millis(Self::DEFAULT_START_MS))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_still_until_advanced_and_can_be_set_back() {
        let clock = ManualClock::default();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().as_millis(), start.as_millis() + 1500);
        clock.set(Timestamp::from_millis(5));
        assert_eq!(clock.now().as_millis(), 5);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now().as_millis(), u64::MAX);
    }
}
