//! [`LeaseStore`] adapters (issue 27, section 3): [`MemoryLeases`] for
//! caches whose last tier is in process, and `RedisLeases`
//! (`backends::redis::leases`) for caches whose last tier is Redis, so
//! that the token lives where the entry lives.
//!
//! Tokens are `<epoch>-<16 hex digits>`: 64 random bits from the thread's
//! CSPRNG (`rand::rng`, ChaCha12 reseeded from the OS) behind the lease
//! epoch, which [`LeaseStore::revoke_all`] moves on so that every token
//! issued before it is dead without enumerating them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use strata_domain::{CacheKey, Clock, LeaseGrant, LeaseStore, LeaseToken, StoreError, Timestamp};

/// Acquisitions between two sweeps of expired leases.
const SWEEP_EVERY: u64 = 1024;

/// A token's random part: 64 bits from the thread CSPRNG, as 16 hex digits.
pub(crate) fn random_part() -> String {
    let random: u64 = rand::rng().random();
    format!("{random:016x}")
}

/// A new token of `epoch`: `<epoch>-<16 hex digits>`.
pub(crate) fn new_token(epoch: u64) -> LeaseToken {
    LeaseToken::parse(&format!("{epoch}-{}", random_part()))
        .unwrap_or_else(|_| unreachable!("digits, a dash and hex digits form a valid token"))
}

/// The epoch a token was issued in; `None` for a token no store issued.
pub(crate) fn epoch_of(token: &LeaseToken) -> Option<u64> {
    token.as_str().split_once('-')?.0.parse().ok()
}

/// Leases kept in process: one record per key with a live lease, removed
/// when it is completed or revoked, or swept once expired.
pub struct MemoryLeases {
    clock: Arc<dyn Clock>,
    epoch: AtomicU64,
    acquisitions: AtomicU64,
    leases: Mutex<HashMap<CacheKey, (LeaseToken, Timestamp)>>,
}

impl MemoryLeases {
    /// An empty table on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            epoch: AtomicU64::new(0),
            acquisitions: AtomicU64::new(0),
            leases: Mutex::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, (LeaseToken, Timestamp)>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `token` is `key`'s live lease in the current epoch.
    fn is_live(
        &self,
        table: &HashMap<CacheKey, (LeaseToken, Timestamp)>,
        key: &CacheKey,
        token: &LeaseToken,
    ) -> bool {
        let now = self.clock.now();
        epoch_of(token) == Some(self.epoch.load(Ordering::SeqCst))
            && table
                .get(key)
                .is_some_and(|(held, until)| held == token && now < *until)
    }
}

#[async_trait]
impl LeaseStore for MemoryLeases {
    async fn acquire(&self, key: &CacheKey, ttl: Duration) -> Result<LeaseGrant, StoreError> {
        let now = self.clock.now();
        let mut table = self.table();
        if self.acquisitions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            table.retain(|_, (_, until)| now < *until);
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some((held, until)) = table.get(key)
            && now < *until
            && epoch_of(held) == Some(epoch)
        {
            return Ok(LeaseGrant::Pending {
                remaining: until.saturating_since(now),
            });
        }
        let token = new_token(epoch);
        table.insert(key.clone(), (token.clone(), now.saturating_add(ttl)));
        Ok(LeaseGrant::Granted(token))
    }

    async fn holds(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError> {
        let table = self.table();
        Ok(self.is_live(&table, key, token))
    }

    async fn complete(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError> {
        let mut table = self.table();
        let live = self.is_live(&table, key, token);
        if live {
            table.remove(key);
        }
        Ok(live)
    }

    async fn revoke(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.table().remove(key);
        Ok(())
    }

    async fn revoke_all(&self) -> Result<(), StoreError> {
        let mut table = self.table();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        table.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_testkit::ManualClock;

    fn key(k: &str) -> CacheKey {
        CacheKey::parse(k).unwrap()
    }

    const TTL: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn one_holder_per_key_until_it_completes_or_the_lease_runs_out() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let leases = MemoryLeases::new(clock.clone());
        let LeaseGrant::Granted(token) = leases.acquire(&key("a"), TTL).await.unwrap() else {
            panic!("the first miss gets the lease");
        };
        assert_eq!(
            leases.acquire(&key("a"), TTL).await.unwrap(),
            LeaseGrant::Pending { remaining: TTL }
        );
        assert!(matches!(
            leases.acquire(&key("b"), TTL).await.unwrap(),
            LeaseGrant::Granted(_)
        ));
        assert!(leases.holds(&key("a"), &token).await.unwrap());
        assert!(leases.complete(&key("a"), &token).await.unwrap());
        assert!(
            !leases.complete(&key("a"), &token).await.unwrap(),
            "used once"
        );
        let LeaseGrant::Granted(late) = leases.acquire(&key("a"), TTL).await.unwrap() else {
            panic!("a completed lease frees the key");
        };
        clock.advance(TTL);
        assert!(!leases.holds(&key("a"), &late).await.unwrap(), "ran out");
        assert!(matches!(
            leases.acquire(&key("a"), TTL).await.unwrap(),
            LeaseGrant::Granted(_)
        ));
    }

    #[tokio::test]
    async fn revoked_tokens_never_complete() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let leases = MemoryLeases::new(clock);
        let grant = |g: LeaseGrant| match g {
            LeaseGrant::Granted(t) => t,
            LeaseGrant::Pending { .. } => panic!("expected a grant"),
        };
        let a = grant(leases.acquire(&key("a"), TTL).await.unwrap());
        leases.revoke(&key("a")).await.unwrap();
        assert!(!leases.complete(&key("a"), &a).await.unwrap());
        let b = grant(leases.acquire(&key("b"), TTL).await.unwrap());
        leases.revoke_all().await.unwrap();
        assert!(!leases.holds(&key("b"), &b).await.unwrap());
        let forged = LeaseToken::parse("0-0000000000000000").unwrap();
        assert!(!leases.complete(&key("b"), &forged).await.unwrap());
    }
}
