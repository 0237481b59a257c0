//! [`RedisLeases`]: the leases of a cache whose last tier is Redis (issue
//! 27, section 3), shared by every instance on that Redis.
//!
//! Keys, in the cache's slot (`{c}` is its Cluster hash tag):
//! - `strata:{c}:l:<key>`: the key's lease token, with the lease TTL as
//!   its `PX`;
//! - `strata:{c}:le`: the lease epoch, `INCR`ed by `revoke_all`; a token
//!   carries the epoch it was issued in and completes only in that epoch.
//!
//! Flushing the cache (`strata:{c}:*`) removes both, which ends every
//! lease. `acquire` and `complete` are scripts marked `once_only`: a
//! second run would find the first run's effect (the lease set, or gone)
//! and answer otherwise, so they are never resent after a dropped
//! connection.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, RedisError};
use strata_domain::{CacheKey, CacheName, LeaseGrant, LeaseStore, LeaseToken, StoreError};

use super::connection::{Conn, once_only};
use crate::leases::{epoch_of, random_part};

/// Sets the key's lease unless one is live. KEYS[1] = lease key,
/// KEYS[2] = epoch key; ARGV[1] = random part, ARGV[2] = TTL in ms.
/// Returns `{1, token}` when granted, `{0, remaining ms}` when pending.
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    once_only(redis::Script::new(
        r"
local epoch = redis.call('GET', KEYS[2]) or '0'
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #epoch + 1) == epoch .. '-' then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = epoch .. '-' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token}
",
    ))
});

/// Ends the key's lease if it is ARGV[1] in the current epoch.
/// KEYS[1] = lease key, KEYS[2] = epoch key; ARGV[2] = 1 to delete it,
/// 0 only to check. Returns 1 when it was live.
static COMPLETE: LazyLock<redis::Script> = LazyLock::new(|| {
    once_only(redis::Script::new(
        r"
local epoch = redis.call('GET', KEYS[2]) or '0'
if redis.call('GET', KEYS[1]) == ARGV[1] and string.sub(ARGV[1], 1, #epoch + 1) == epoch .. '-' then
  if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
  return 1
end
return 0
",
    ))
});

/// The leases of one cache in Redis; see the module docs.
pub struct RedisLeases {
    conn: Conn,
    backend: &'static str,
    /// `strata:{c}:l:`
    lease_prefix: String,
    /// `strata:{c}:le`
    epoch_key: String,
}

impl RedisLeases {
    /// The leases of `cache` on `conn`, reported as `backend` in errors.
    pub(crate) fn new(conn: Conn, backend: &'static str, cache: &CacheName) -> Self {
        Self {
            conn,
            backend,
            lease_prefix: format!("strata:{{{cache}}}:l:"),
            epoch_key: format!("strata:{{{cache}}}:le"),
        }
    }

    fn lease_key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.lease_prefix, key.as_str())
    }

    fn err(&self, e: RedisError) -> StoreError {
        StoreError::Unavailable {
            backend: self.backend.to_owned(),
            source: Box::new(e),
        }
    }

    async fn check(
        &self,
        key: &CacheKey,
        token: &LeaseToken,
        end: bool,
    ) -> Result<bool, StoreError> {
        if epoch_of(token).is_none() {
            return Ok(false);
        }
        let live: i64 = COMPLETE
            .key(self.lease_key(key))
            .key(&self.epoch_key)
            .arg(token.as_str())
            .arg(if end { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(live == 1)
    }
}

#[async_trait]
impl LeaseStore for RedisLeases {
    async fn acquire(&self, key: &CacheKey, ttl: Duration) -> Result<LeaseGrant, StoreError> {
        // The script prefixes the epoch it reads, atomically.
        let random = random_part();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let (granted, answer): (i64, redis::Value) = ACQUIRE
            .key(self.lease_key(key))
            .key(&self.epoch_key)
            .arg(&random)
            .arg(ttl_ms)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        if granted == 1 {
            let token: String =
                redis::from_redis_value(answer).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
            let token =
                LeaseToken::parse(&token).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
            return Ok(LeaseGrant::Granted(token));
        }
        let remaining_ms: i64 =
            redis::from_redis_value(answer).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        Ok(LeaseGrant::Pending {
            remaining: Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0)),
        })
    }

    async fn holds(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError> {
        self.check(key, token, false).await
    }

    async fn complete(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError> {
        self.check(key, token, true).await
    }

    async fn revoke(&self, key: &CacheKey) -> Result<(), StoreError> {
        let _: i64 = self
            .conn
            .clone()
            .del(self.lease_key(key))
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn revoke_all(&self) -> Result<(), StoreError> {
        let _: i64 = self
            .conn
            .clone()
            .incr(&self.epoch_key, 1)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
