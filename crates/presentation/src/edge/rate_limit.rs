//! Per-principal rate limits (`[auth.rate_limits]`): token buckets from
//! `governor`, keyed by the principal's name (its `Display`: the key id,
//! or `anonymous`).
//!
//! - The admin bucket is taken by flush, create/reconfigure and delete
//!   (`admin.rs`), after authentication and before the operation runs.
//! - The optional request bucket is taken by every request that has an
//!   acting principal (the [`Acting`](crate::edge::auth::Acting) extractor).
//!
//! - The failed-authentication bucket ([`PeerLimiter`]) is keyed by the
//!   peer's address, not a principal: each refused credential takes a
//!   token, and a peer whose bucket ran dry is refused before its
//!   credentials are checked, until a token is back.
//!
//! A limited request is 429 `rate_limited` with `Retry-After` (whole
//! seconds, at least 1), counted in `strata_rate_limited_total{action}`
//! (`admin`, `request` or `failed_auth`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use strata_domain::Principal;

use crate::edge::error::ApiError;

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

/// Peers tracked at most by a [`PeerLimiter`], in each of its two maps
/// (failure buckets, blocked peers). Past it, after a sweep of idle
/// entries, a new peer's failures are not counted (and a warning is
/// logged), so memory stays bounded under a flood of source addresses.
pub const MAX_TRACKED_PEERS: usize = 65_536;

/// Failed authentications per peer address (brute force): one token
/// bucket per peer, taken by each refused credential. A peer whose bucket
/// is empty is blocked until a token is back; while blocked, every request
/// of it that presents a credential, good or bad, is 429 before the
/// credential is checked, so guessing gains nothing. IPv6 peers are keyed
/// by their /64 (one host usually holds a whole /64).
pub struct PeerLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    failures: AtomicU64,
}

impl PeerLimiter {
    /// `per_minute` failures a minute, at most `burst` at once.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            blocked: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
        }
    }

    /// Refuses `peer` while it is blocked.
    ///
    /// # Errors
    /// 429 `rate_limited`, with the seconds until it is unblocked.
    pub fn check(&self, peer: IpAddr) -> Result<(), ApiError> {
        let peer = bucket_key(peer);
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&peer) {
            Some(&until) if until > now => Err(limited(peer, until - now)),
            Some(_) => {
                blocked.remove(&peer);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a refused credential of `peer`.
    ///
    /// # Errors
    /// 429 `rate_limited` when this failure empties the bucket: the peer
    /// is blocked from now on, for the seconds until a token is back.
    pub fn failed(&self, peer: IpAddr) -> Result<(), ApiError> {
        let peer = bucket_key(peer);
        if self.failures.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.limiter.retain_recent();
        }
        if self.limiter.len() >= MAX_TRACKED_PEERS {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            if self.limiter.len() >= MAX_TRACKED_PEERS {
                tracing::warn!(
                    target: "strata::audit",
                    max = MAX_TRACKED_PEERS,
                    "failed-authentication limiter full; this failure is not counted"
                );
                return Ok(());
            }
        }
        let Err(not_until) = self.limiter.check_key(&peer) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.limiter.clock().now());
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.len() >= MAX_TRACKED_PEERS {
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < MAX_TRACKED_PEERS {
            blocked.insert(peer, now + wait);
        }
        Err(limited(peer, wait))
    }
}

/// The bucket of `peer`: itself for IPv4 (and IPv4-mapped IPv6), its /64
/// for IPv6.
fn bucket_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// 429 for a failed-authentication limit, counted and logged.
fn limited(peer: IpAddr, wait: Duration) -> ApiError {
    metrics::counter!("strata_rate_limited_total", "action" => "failed_auth").increment(1);
    tracing::info!(target: "strata::audit", %peer, action = "failed_auth", "rate limited");
    ApiError::rate_limited(whole_seconds(wait))
}

/// The limiters in force; each `None` when off.
#[derive(Clone, Default)]
pub struct RateLimits {
    /// Admin operations (flush, create/reconfigure, delete).
    pub admin: Option<Arc<PrincipalLimiter>>,
    /// Every request with an acting principal.
    pub requests: Option<Arc<PrincipalLimiter>>,
    /// Failed authentications per peer address.
    pub failed_auth: Option<Arc<PeerLimiter>>,
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

impl RateLimits {
    /// Refuses `peer` while it is blocked for failed authentications.
    ///
    /// # Errors
    /// 429 `rate_limited`.
    pub fn failed_auth_check(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.failed_auth, peer) {
            (Some(l), Some(peer)) => l.check(peer),
            _ => Ok(()),
        }
    }

    /// Counts a refused credential of `peer`.
    ///
    /// # Errors
    /// 429 `rate_limited` when it empties the peer's bucket.
    pub fn failed_auth(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.failed_auth, peer) {
            (Some(l), Some(peer)) => l.failed(peer),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_blocked_after_its_failure_burst_and_others_are_not() {
        let limiter = PeerLimiter::new(NonZeroU32::MIN, NonZeroU32::new(2).unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.failed(a).is_ok());
        assert!(limiter.failed(a).is_ok());
        let err = limiter.failed(a).unwrap_err();
        assert_eq!(err.status().as_u16(), 429);
        assert_eq!(limiter.check(a).unwrap_err().code(), "rate_limited");
        assert!(limiter.check(b).is_ok());
        assert!(limiter.failed(b).is_ok());
    }

    #[test]
    fn ipv6_peers_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| bucket_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:2"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
    }

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
