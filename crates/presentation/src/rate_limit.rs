//! Per-principal rate limits (`[auth.rate_limits]`): token buckets from
//! `governor`, keyed by the principal's name (its `Display`: the key id,
//! or `anonymous`).
//!
//! - The admin bucket is taken by flush, create/reconfigure and delete
//!   (`admin.rs`), after authentication and before the operation runs.
//! - The optional request bucket is taken by every request that has an
//!   acting principal (the [`Acting`](crate::auth::Acting) extractor).
//!
//! A limited request is 429 `rate_limited` with `Retry-After` (whole
//! seconds, at least 1), counted in `strata_rate_limited_total{action}`
//! (`admin` or `request`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use strata_domain::Principal;

use crate::error::ApiError;

/// Checks between two sweeps of idle principals' buckets.
const RETAIN_EVERY: u64 = 4096;

/// One token bucket per principal, for one `action`.
pub struct PrincipalLimiter {
    action: &'static str,
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
}

impl PrincipalLimiter {
    /// `per_minute` tokens a minute, at most `burst` at once: the admin
    /// bucket (`action="admin"`).
    pub fn admin(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::new("admin", Quota::per_minute(per_minute).allow_burst(burst))
    }

    /// `per_second` tokens a second, at most `burst` at once: the bucket
    /// of every request (`action="request"`).
    pub fn requests(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::new("request", Quota::per_second(per_second).allow_burst(burst))
    }

    fn new(action: &'static str, quota: Quota) -> Self {
        Self {
            action,
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token from `principal`'s bucket.
    ///
    /// # Errors
    /// 429 `rate_limited` with the seconds until a token is back, when the
    /// bucket is empty.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&principal.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                metrics::counter!("strata_rate_limited_total", "action" => self.action)
                    .increment(1);
                tracing::info!(
                    target: "strata::audit",
                    %principal,
                    action = self.action,
                    "rate limited"
                );
                ApiError::rate_limited(whole_seconds(wait))
            })
    }
}

/// `wait` rounded up to whole seconds, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The limiters in force; each `None` when off.
#[derive(Clone, Default)]
pub struct RateLimits {
    /// Admin operations (flush, create/reconfigure, delete).
    pub admin: Option<Arc<PrincipalLimiter>>,
    /// Every request with an acting principal.
    pub requests: Option<Arc<PrincipalLimiter>>,
}

impl RateLimits {
    /// Takes an admin token from `principal`'s bucket, when limited.
    ///
    /// # Errors
    /// 429 `rate_limited` when the bucket is empty.
    pub fn admin(&self, principal: &Principal) -> Result<(), ApiError> {
        self.admin.as_ref().map_or(Ok(()), |l| l.check(principal))
    }

    /// Takes a request token from `principal`'s bucket, when limited.
    ///
    /// # Errors
    /// 429 `rate_limited` when the bucket is empty.
    pub fn request(&self, principal: &Principal) -> Result<(), ApiError> {
        self.requests
            .as_ref()
            .map_or(Ok(()), |l| l.check(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_at_least_a_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn each_principal_has_its_own_bucket() {
        let one = NonZeroU32::MIN;
        let limiter = PrincipalLimiter::admin(one, NonZeroU32::new(2).unwrap());
        let a = Principal::Anonymous;
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let err = limiter.check(&a).unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        assert_eq!(err.code(), "rate_limited");
    }
}
