//! Leases against stampedes and stale sets (issue 27, section 3): the port
//! [`LeaseStore`] and its vocabulary. The protocol follows memcached's
//! meta commands (`mg` with `N` vivify-on-miss, the win flag `W`, the
//! stale flag `Z`) and the leases of Nishtala et al., "Scaling Memcache at
//! Facebook" (NSDI 2013, section 3.2.1): the first client that misses a
//! key gets a token; the others wait or get the stale value; a fill with
//! a token that was invalidated in between stores nothing.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::key::CacheKey;
use crate::ports::StoreError;

/// The longest token accepted back from a client, in bytes.
pub const MAX_LEASE_TOKEN_BYTES: usize = 64;

/// An opaque lease token: 1 to [`MAX_LEASE_TOKEN_BYTES`] characters of
/// `[A-Za-z0-9._-]`. Stores make them unguessable (random 64 bits or more)
/// and prefix them with their lease epoch.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// Parses a token a client sent back (`X-Cache-Lease`).
    ///
    /// # Errors
    /// [`InvalidLeaseToken`] when it is empty, too long, or has other
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidLeaseToken> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEASE_TOKEN_BYTES
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidLeaseToken)
        }
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tokens are bearer secrets for one key: kept out of `Debug` output.
impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseToken(..)")
    }
}

/// A lease token that is not 1 to 64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, thiserror::Error)]
#[error("a lease token is 1 to {MAX_LEASE_TOKEN_BYTES} characters of [A-Za-z0-9._-]")]
pub struct InvalidLeaseToken;

/// The answer to [`LeaseStore::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseGrant {
    /// The caller holds the key's lease until it fills the key or the
    /// lease runs out.
    Granted(LeaseToken),
    /// Another client holds the lease; it ends in `remaining` at the latest.
    Pending {
        /// Time left on the other client's lease.
        remaining: Duration,
    },
}

/// The leases of one cache. The token lives where the entry lives: in
/// process for a memory-only cache, in Redis for a cache whose last tier
/// is Redis, so that instances sharing it share the leases.
///
/// Invalidation: [`revoke`](Self::revoke) ends one key's lease (a delete,
/// an invalidation by key or a write without a token),
/// [`revoke_all`](Self::revoke_all) every lease of the cache (a pattern or
/// tag invalidation, a flush). A revoked token never completes.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Gives `key`'s lease to the caller for `ttl`, unless another lease on
    /// it is live.
    ///
    /// # Errors
    /// [`StoreError`] when the backend holding the leases fails.
    async fn acquire(&self, key: &CacheKey, ttl: Duration) -> Result<LeaseGrant, StoreError>;

    /// Whether `token` is still `key`'s live lease.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn holds(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError>;

    /// Ends `key`'s lease if it is still `token`; `Ok(true)` when it was
    /// (the fill stands), `Ok(false)` when it had been revoked or had run
    /// out.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn complete(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError>;

    /// Ends `key`'s lease, whoever holds it.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn revoke(&self, key: &CacheKey) -> Result<(), StoreError>;

    /// Ends every lease of the cache.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn revoke_all(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_short_plain_and_hidden_from_debug() {
        let token = LeaseToken::parse("3-9f86d081884c7d65").unwrap();
        assert_eq!(token.as_str(), "3-9f86d081884c7d65");
        assert_eq!(format!("{token:?}"), "LeaseToken(..)");
        for bad in ["", "a b", "tok\n", &"x".repeat(MAX_LEASE_TOKEN_BYTES + 1)] {
            assert!(LeaseToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
