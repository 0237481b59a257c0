//! [`SystemClock`]: the `Clock` port on the operating system's wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

use strata_domain::{Clock, Timestamp};

/// Wall-clock time from `SystemTime::now()`, in milliseconds since the Unix
/// epoch. A clock set before 1970 reads as the epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}
