//! [`S3AccessIndex`]: the object tier's access index in Redis, which
//! least-recently-used eviction across every instance on the bucket
//! needs (S3 keeps no access times), and the sweeper's lease.
//!
//! Keys, with `t` = `{<bucket>/<prefix>}` (one hash tag, so one Cluster
//! slot and atomic scripts):
//!
//! - `strata:s3:t:at`: a sorted set, object key -> last access (ms since
//!   the Unix epoch, by the tier's clock);
//! - `strata:s3:t:size`: a hash, object key -> size in bytes;
//! - `strata:s3:t:bytes`: the sum of the sizes;
//! - `strata:s3:t:sweeper`: the lease of the one sweeper running
//!   (`SET NX PX`, a random token, released only by its holder).

use std::sync::LazyLock;
use std::time::Duration;

use redis::RedisError;
use strata_domain::{BuildCacheError, Timestamp};

use crate::backends::RedisConn;
use crate::{RedisClusterConnection, RedisConnection};

/// Records an access: KEYS at, size, bytes; ARGV key, now (ms), size.
/// Returns the bytes indexed after it.
static TOUCH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return redis.call('INCRBY', KEYS[3], tonumber(ARGV[3]) - old)
",
    )
});

/// Forgets a key: KEYS at, size, bytes; ARGV key, the last access it must
/// still have ('' for any). Returns its size, or -1 when it was accessed
/// since (then nothing changes).
static FORGET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if ARGV[2] ~= '' then
  local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if (not s) or tonumber(s) ~= tonumber(ARGV[2]) then return -1 end
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if old then
  redis.call('DECRBY', KEYS[3], old)
  return tonumber(old)
end
return 0
",
    )
});

/// Releases the lease when the token is still ours: KEYS lease; ARGV token.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// The access index of one bucket and prefix, on a Redis backend.
#[derive(Clone)]
pub struct S3AccessIndex {
    conn: RedisConn,
    at: String,
    size: String,
    bytes: String,
    lease: String,
}

impl std::fmt::Debug for S3AccessIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3AccessIndex")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

fn unavailable(op: &str, e: &RedisError) -> BuildCacheError {
    tracing::warn!(op, error = %e, "the object tier's access index failed");
    BuildCacheError::Unavailable {
        store: "s3-index".to_owned(),
        source: format!("redis {op} failed").into(),
    }
}

impl S3AccessIndex {
    /// The index on a standalone Redis; `scope` names the bucket and
    /// prefix it covers (instances sharing a bucket and prefix must pass
    /// the same).
    pub fn new(connection: RedisConnection, scope: &str) -> Self {
        Self::on(connection.into(), scope)
    }

    /// The index on a Redis Cluster (every key in one slot).
    pub fn cluster(connection: RedisClusterConnection, scope: &str) -> Self {
        Self::on(connection.into(), scope)
    }

    pub(crate) fn on(conn: RedisConn, scope: &str) -> Self {
        let tag = format!("strata:s3:{{{}}}:", scope.replace(['{', '}'], "_"));
        Self {
            conn,
            at: format!("{tag}at"),
            size: format!("{tag}size"),
            bytes: format!("{tag}bytes"),
            lease: format!("{tag}sweeper"),
        }
    }

    /// Records an access of `key` (`size_bytes` bytes) at `now`; the
    /// bytes indexed after it.
    pub(super) async fn touch(
        &self,
        key: &str,
        now: Timestamp,
        size_bytes: u64,
    ) -> Result<u64, BuildCacheError> {
        let total: i64 = TOUCH
            .key(&self.at)
            .key(&self.size)
            .key(&self.bytes)
            .arg(key)
            .arg(now.as_millis())
            .arg(size_bytes)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("touch", &e))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Forgets `key`, only if its last access is still `last_access`
    /// when given; its size, or `None` when it was accessed since.
    pub(super) async fn forget(
        &self,
        key: &str,
        last_access: Option<u64>,
    ) -> Result<Option<u64>, BuildCacheError> {
        let size: i64 = FORGET
            .key(&self.at)
            .key(&self.size)
            .key(&self.bytes)
            .arg(key)
            .arg(last_access.map(|a| a.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("forget", &e))?;
        Ok(u64::try_from(size).ok())
    }

    /// The bytes indexed.
    ///
    /// # Errors
    /// [`BuildCacheError::Unavailable`] when Redis fails.
    pub async fn bytes(&self) -> Result<u64, BuildCacheError> {
        let total: Option<i64> = redis::cmd("GET")
            .arg(&self.bytes)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("get bytes", &e))?;
        Ok(total.and_then(|t| u64::try_from(t).ok()).unwrap_or(0))
    }

    /// The `n` least recently used keys with their last access (ms).
    pub(super) async fn oldest(&self, n: usize) -> Result<Vec<(String, u64)>, BuildCacheError> {
        let page: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(&self.at)
            .arg(0)
            .arg(n.saturating_sub(1))
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("zrange", &e))?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "scores are whole milliseconds"
        )]
        Ok(page.into_iter().map(|(k, s)| (k, s as u64)).collect())
    }

    /// Takes the sweeper lease for `ttl` with `token`; whether we hold it.
    pub(super) async fn acquire(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, BuildCacheError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.lease)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("acquire the sweeper lease", &e))?;
        Ok(set.is_some())
    }

    /// Releases the lease if `token` still holds it.
    pub(super) async fn release(&self, token: &str) -> Result<(), BuildCacheError> {
        let _: i64 = RELEASE
            .key(&self.lease)
            .arg(token)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("release the sweeper lease", &e))?;
        Ok(())
    }
}
