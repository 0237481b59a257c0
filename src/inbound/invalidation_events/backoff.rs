//! Exponential reconnection back-off with a cap.

use std::time::Duration;

/// First delay after a failure.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delays that double from [`INITIAL_BACKOFF`] up to [`MAX_BACKOFF`], and
/// start over after [`reset`](Self::reset).
/// use std::time::Duration;
/// use strata_infrastructure::invalidation_events::Backoff;
/// let mut b = Backoff::default();
/// assert_eq!(b.next_delay(), Duration::from_millis(100));
/// assert_eq!(b.next_delay(), Duration::from_millis(200));
/// b.reset();
/// assert_eq!(b.next_delay(), Duration::from_millis(100));
/// ```
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: INITIAL_BACKOFF,
        }
    }
}

impl Backoff {
    /// The delay to wait now; the following one doubles, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        now
    }

    /// After a success: the next failure waits [`INITIAL_BACKOFF`] again.
    pub(crate) fn reset(&mut self) {
        self.next = INITIAL_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..12).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], INITIAL_BACKOFF);
        assert_eq!(delays[1], INITIAL_BACKOFF * 2);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
    }
}
