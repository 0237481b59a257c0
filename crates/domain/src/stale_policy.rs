//! [`StalePolicy`]: how a cache serves around expiry and failure (issue
//! 27, sections 2 and 3): stale-if-error and stale-while-revalidate
//! windows (RFC 5861) and leases against stampedes (memcached's meta
//! protocol `mg` flags `N`, `W`, `Z`; Nishtala et al., "Scaling Memcache
//! at Facebook", NSDI 2013, section 3.2.1). Set per cache as top-level
//! `stale_if_error`, `stale_while_revalidate` and `lease_ttl`, in seconds;
//! 0, the default, turns each off.

use std::time::Duration;

use crate::invalid_configuration::InvalidConfiguration;
use crate::time::MAX_TTL_SECS;

/// The longest lease: 1 hour, in seconds. A lease is the time one client
/// has to recompute a value; past it, another client may take over.
pub const MAX_LEASE_TTL_SECS: u64 = 3_600;

/// A cache's stale windows and lease TTL, in seconds; 0 is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StalePolicy {
    /// Seconds past its freshness an entry may still be served when the
    /// backend fails (RFC 5861 `stale-if-error`): a stacked cache keeps
    /// its L1 copies this long past their TTL and their `l1_max_ttl`, and
    /// serves them only while the shared tier fails. 0 to 365 days.
    pub stale_if_error_secs: u64,
    /// Seconds past expiry during which a hit is served stale while one
    /// client, the holder of the key's lease, refreshes it (RFC 5861
    /// `stale-while-revalidate`). Stores keep entries this long past their
    /// TTL. 0 to 365 days; needs `lease_ttl_secs`.
    pub stale_while_revalidate_secs: u64,
    /// Seconds a lease lasts: the first client that misses a key (or reads
    /// it stale) gets a token to fill it with; the others wait or get the
    /// stale value. 0 (off) to [`MAX_LEASE_TTL_SECS`].
    pub lease_ttl_secs: u64,
}

impl StalePolicy {
    /// The stale-if-error window; zero when off.
    pub fn stale_if_error(&self) -> Duration {
        Duration::from_secs(self.stale_if_error_secs)
    }

    /// The stale-while-revalidate window; zero when off.
    pub fn stale_while_revalidate(&self) -> Duration {
        Duration::from_secs(self.stale_while_revalidate_secs)
    }

    /// The lease TTL, `None` when leases are off.
    pub fn lease_ttl(&self) -> Option<Duration> {
        (self.lease_ttl_secs > 0).then(|| Duration::from_secs(self.lease_ttl_secs))
    }

    /// Checks the ranges, and that stale-while-revalidate has leases to
    /// pick the one client that refreshes.
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the setting (`stale_if_error`,
    /// `stale_while_revalidate` or `lease_ttl`).
    pub fn validate(&self) -> Result<(), InvalidConfiguration> {
        for (field, secs) in [
            ("stale_if_error", self.stale_if_error_secs),
            ("stale_while_revalidate", self.stale_while_revalidate_secs),
        ] {
            if secs > MAX_TTL_SECS {
                return Err(InvalidConfiguration::new(
                    field,
                    format!("must be 0 (off) to {MAX_TTL_SECS} seconds"),
                ));
            }
        }
        if self.lease_ttl_secs > MAX_LEASE_TTL_SECS {
            return Err(InvalidConfiguration::new(
                "lease_ttl",
                format!("must be 0 (off) to {MAX_LEASE_TTL_SECS} seconds"),
            ));
        }
        if self.stale_while_revalidate_secs > 0 && self.lease_ttl_secs == 0 {
            return Err(InvalidConfiguration::new(
                "stale_while_revalidate",
                "needs lease_ttl above 0: the lease picks the one client that refreshes \
                 while the others are served stale",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_bounded_and_revalidation_needs_leases() {
        let ok = StalePolicy {
            stale_if_error_secs: 60,
            stale_while_revalidate_secs: 10,
            lease_ttl_secs: 5,
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.lease_ttl(), Some(Duration::from_secs(5)));
        let no_lease = StalePolicy {
            lease_ttl_secs: 0,
            ..ok
        };
        assert_eq!(
            no_lease.validate().unwrap_err().field,
            "stale_while_revalidate"
        );
        let long_lease = StalePolicy {
            lease_ttl_secs: MAX_LEASE_TTL_SECS + 1,
            ..ok
        };
        assert_eq!(long_lease.validate().unwrap_err().field, "lease_ttl");
        let long_window = StalePolicy {
            stale_if_error_secs: MAX_TTL_SECS + 1,
            ..ok
        };
        assert_eq!(long_window.validate().unwrap_err().field, "stale_if_error");
        assert!(StalePolicy::default().validate().is_ok());
        assert_eq!(StalePolicy::default().lease_ttl(), None);
    }
}
