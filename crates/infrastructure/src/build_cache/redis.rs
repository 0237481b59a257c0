//! [`RedisBuildStore`]: the action cache, and CAS blobs below a size
//! limit, on a Redis server or a Redis Cluster, shared by every Strata
//! instance pointed at it.
//!
//! # Key layout
//!
//! With the key prefix `p` (default `strata:bc:`), the kind `k` (`ac` or
//! `cas`) and the instance's hash tag `{i}` (`{<instance name>}`, `{/}`
//! for the default instance, whose name is empty; `/` alone is never a
//! valid name):
//!
//! - `p{i}:k:<64 hex>`: a string, the entry's bytes (a serialized
//!   `ActionResult`, or a blob);
//! - `p{i}:k:idx`: a sorted set, member = the 64-hex hash, score = its
//!   last access in milliseconds since the Unix epoch by the store's clock
//!   (the `older_than` scope is a `ZRANGEBYSCORE`, O(log n + matching));
//! - `p{i}:k:size`: a hash, hex -> size in bytes. It outlives a value
//!   Redis evicted on its own, so the bookkeeping can be undone exactly;
//! - `p{i}:k:bytes`: an integer, the sum of `size` (for `stats`, O(1));
//! - `pinstances`: a set of every instance name written (it never
//!   shrinks), so listing, stats and flushes of every instance need no
//!   `SCAN` of the keyspace.
//!
//! Every key of one instance and kind shares the hash tag, so in a Cluster
//! they live in one slot and the Lua scripts below, which touch the value,
//! the index, the sizes and the counter of one instance together, are
//! atomic. Different instances spread over the masters. The registry
//! `pinstances` is written (idempotently) before each entry, in its own
//! slot. The prefix should not contain `{` or `}`: it would change the
//! hash tag (a `{x}` in it puts every instance in one slot, which still
//! works; a `{}` breaks the co-location in a Cluster).
//!
//! Run the Redis with a `noeviction` or `volatile-*` `maxmemory-policy`:
//! the store sets no TTLs. Should Redis evict a value anyway, reads and
//! flushes drop its bookkeeping when they meet it.
//!
//! # Flushes
//!
//! A flush selects candidates per instance (`ZSCAN` of the index for
//! `all`, `instance` and `digest_prefix` with `MATCH <prefix>*`; pages of
//! `ZRANGEBYSCORE` for `older_than`; the listed hashes for `digests`),
//! decides each with [`FlushCriteria::matches`], then removes them in
//! batches with one script per batch. The script re-checks the last access
//! (an entry read since it was selected stays) and counts an entry only
//! when its `DEL` returned 1, so concurrent flushes never count an entry
//! twice. A dry run runs the same script, which then only counts.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use redis::{RedisError, Value};
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobWriter, BuildCacheError, Clock, Committed, ContentStore,
    Digest, DigestHash, EntryMeta, FlushCriteria, FlushResult, FlushScope, InstanceName, ReadRange,
    StoreFlushReport, StoreKind, StoreUsage, Timestamp,
};

use super::key::HitCounters;
use super::verify::{BufferedUpload, Verified};
use crate::backends::RedisConn;
use crate::clock::SystemClock;
use crate::{RedisClusterConnection, RedisConnection};

const STORE: &str = "redis";
/// Entries per round trip in listings, flushes and `find_missing`.
const BATCH: usize = 500;

/// Reads an entry (or the part `offset`, `limit` of it) and, when asked,
/// refreshes its last access.
///
/// KEYS: entry, index, sizes, bytes. ARGV: hex, now (ms), touch (0/1),
/// offset, limit (-1: to the end). Returns `{size, chunk, last access}`
/// (the last access before this read), or nil on a miss; a value Redis
/// evicted on its own has its bookkeeping dropped.
static READ: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local booked = redis.call('HGET', KEYS[3], ARGV[1])
  if booked then
    redis.call('HDEL', KEYS[3], ARGV[1])
    redis.call('DECRBY', KEYS[4], booked)
  end
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local size = redis.call('STRLEN', KEYS[1])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local last = tonumber(score or ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  if not score and redis.call('HSETNX', KEYS[3], ARGV[1], size) == 1 then
    redis.call('INCRBY', KEYS[4], size)
  end
end
local off = tonumber(ARGV[4])
local len = size - off
local lim = tonumber(ARGV[5])
if lim >= 0 and lim < len then len = lim end
local chunk = ''
if len > 0 then chunk = redis.call('GETRANGE', KEYS[1], off, off + len - 1) end
return {size, chunk, last}
",
    )
});

/// Writes an entry with its bookkeeping.
///
/// KEYS: entry, index, sizes, bytes. ARGV: value, hex, now (ms), replace
/// (0/1). Without replace, a present entry is only touched and 0 is
/// returned; otherwise 1.
static PUT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if ARGV[4] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  return 0
end
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
local size = string.len(ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], size)
redis.call('INCRBY', KEYS[4], size - old)
return 1
",
    )
});

/// Removes (or, in a dry run, counts) a batch of one instance's entries.
///
/// KEYS: index, sizes, bytes, entry 1..n. ARGV: the latest last access
/// still removed ('' for any), dry run (0/1), hex 1..n. An entry goes when
/// it is indexed or present and, with a bound, indexed at or before it.
/// Returns `{entries, bytes}`, counting only values this call deleted (or,
/// dry, found).
static FLUSH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local max = tonumber(ARGV[1])
local dry = ARGV[2] == '1'
local entries, bytes = 0, 0
for i = 4, #KEYS do
  local hex = ARGV[i - 1]
  local score = redis.call('ZSCORE', KEYS[1], hex)
  local exists = redis.call('EXISTS', KEYS[i]) == 1
  local doomed = score or exists
  if max and (not score or tonumber(score) > max) then doomed = false end
  if doomed then
    local size = redis.call('STRLEN', KEYS[i])
    if dry then
      if exists then
        entries = entries + 1
        bytes = bytes + size
      end
    else
      local booked = redis.call('HGET', KEYS[2], hex)
      if booked then
        redis.call('HDEL', KEYS[2], hex)
        redis.call('DECRBY', KEYS[3], booked)
      end
      redis.call('ZREM', KEYS[1], hex)
      if redis.call('DEL', KEYS[i]) == 1 then
        entries = entries + 1
        bytes = bytes + size
      end
    end
  end
end
return {entries, bytes}
",
    )
});

/// Sizes of entries, -1 for an absent one. KEYS: entry 1..n.
static SIZES: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[i] = redis.call('STRLEN', KEYS[i])
  else
    out[i] = -1
  end
end
return out
",
    )
});

/// The action cache, and optionally the CAS for blobs up to
/// [`max_blob_bytes`](RedisBuildStoreBuilder::max_blob_bytes), on Redis
/// (standalone or Cluster). Several Strata instances on one Redis share
/// its entries: the AC written by one is read by all. One store serves
/// both ports.
///
/// Larger blobs are refused with [`BuildCacheError::TooLarge`], at
/// `begin_write` when the size is announced, else as soon as the upload
/// passes the limit: an upload is buffered (at most `max_blob_bytes`),
/// verified and written with one `SET`, so nothing is visible before a
/// verified commit. A stacked store keeps larger blobs on disk.
///
/// Hits and misses count this process's reads; entries and bytes are
/// Redis's, over every instance sharing it. Driver errors become
/// [`BuildCacheError::Unavailable`] with an opaque message; the full error
/// goes to the log. The key layout is in the module docs of
/// `build_cache/redis.rs`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use strata_infrastructure::{RedisBuildStore, RedisConnection, RedisOptions};
/// let connection = RedisConnection::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
/// let store = RedisBuildStore::builder(connection)
///     .key_prefix("strata:bc:")
///     .max_blob_bytes(1 << 20)
///     .build();
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
pub struct RedisBuildStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisBuildStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuildStore")
            .field("prefix", &self.shared.prefix)
            .field("max_blob_bytes", &self.shared.max_blob_bytes)
            .finish_non_exhaustive()
    }
}

struct Shared {
    conn: RedisConn,
    prefix: String,
    /// `<prefix>instances`
    registry: String,
    clock: Arc<dyn Clock>,
    max_blob_bytes: u64,
    max_ac_entry_bytes: u64,
    counters: HitCounters,
}

/// Builds a [`RedisBuildStore`].
pub struct RedisBuildStoreBuilder {
    conn: RedisConn,
    prefix: String,
    max_blob_bytes: u64,
    max_ac_entry_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisBuildStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuildStoreBuilder")
            .field("prefix", &self.prefix)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("max_ac_entry_bytes", &self.max_ac_entry_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisBuildStoreBuilder {
    /// The prefix of every key (default [`RedisBuildStore::DEFAULT_KEY_PREFIX`],
    /// `strata:bc:`). Stores with the same prefix on one Redis share their
    /// entries; it should not contain `{` or `}` (see the key layout).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The largest CAS blob kept in Redis, in bytes (default
    /// [`RedisBuildStore::DEFAULT_MAX_BLOB_BYTES`], 1 MiB). It also bounds
    /// the memory one upload buffers.
    #[must_use]
    pub fn max_blob_bytes(mut self, bytes: u64) -> Self {
        self.max_blob_bytes = bytes;
        self
    }

    /// The largest AC entry, in bytes (default
    /// [`RedisBuildStore::DEFAULT_MAX_AC_ENTRY_BYTES`], 4 MiB).
    #[must_use]
    pub fn max_ac_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_ac_entry_bytes = bytes;
        self
    }

    /// The clock that stamps last accesses (default the system clock).
    /// Stores sharing a Redis should read the same time, or `older_than`
    /// flushes judge one instance's entries by another's clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store, shared as `Arc` (it serves both ports).
    pub fn build(self) -> Arc<RedisBuildStore> {
        Arc::new(RedisBuildStore {
            shared: Arc::new(Shared {
                conn: self.conn,
                registry: format!("{}instances", self.prefix),
                prefix: self.prefix,
                clock: self.clock,
                max_blob_bytes: self.max_blob_bytes,
                max_ac_entry_bytes: self.max_ac_entry_bytes,
                counters: Default::default(),
            }),
        })
    }
}

impl RedisBuildStore {
    /// Default key prefix: `strata:bc:`.
    pub const DEFAULT_KEY_PREFIX: &'static str = "strata:bc:";
    /// Default largest CAS blob kept in Redis: 1 MiB.
    pub const DEFAULT_MAX_BLOB_BYTES: u64 = 1 << 20;
    /// Default largest AC entry: 4 MiB.
    pub const DEFAULT_MAX_AC_ENTRY_BYTES: u64 = 4 << 20;

    /// Starts building a store on a standalone Redis server.
    pub fn builder(connection: RedisConnection) -> RedisBuildStoreBuilder {
        Self::builder_on(connection.into())
    }

    /// Starts building a store on a Redis Cluster.
    pub fn cluster_builder(connection: RedisClusterConnection) -> RedisBuildStoreBuilder {
        Self::builder_on(connection.into())
    }

    fn builder_on(conn: RedisConn) -> RedisBuildStoreBuilder {
        RedisBuildStoreBuilder {
            conn,
            prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            max_blob_bytes: Self::DEFAULT_MAX_BLOB_BYTES,
            max_ac_entry_bytes: Self::DEFAULT_MAX_AC_ENTRY_BYTES,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The keys of one instance and kind.
struct Keys {
    /// `p{i}:k:`
    base: String,
    index: String,
    sizes: String,
    bytes: String,
}

impl Keys {
    fn new(prefix: &str, kind: StoreKind, instance: &InstanceName) -> Self {
        let tag = if instance.is_default() {
            "/"
        } else {
            instance.as_str()
        };
        let base = format!("{prefix}{{{tag}}}:{}:", kind.as_str());
        Self {
            index: format!("{base}idx"),
            sizes: format!("{base}size"),
            bytes: format!("{base}bytes"),
            base,
        }
    }

    fn entry(&self, hash: &DigestHash) -> String {
        format!("{}{hash}", self.base)
    }
}

/// A Redis failure as the port's error: logged in full, opaque upward.
fn unavailable(op: &'static str, e: &RedisError) -> BuildCacheError {
    tracing::warn!(store = STORE, op, error = %e, "redis build-cache command failed");
    BuildCacheError::Unavailable {
        store: STORE.to_owned(),
        source: format!("redis {op} failed").into(),
    }
}

/// A reply of an unexpected shape (a bug, or not Strata's keys).
fn unexpected_reply(op: &'static str, detail: &str) -> BuildCacheError {
    tracing::error!(store = STORE, op, detail, "unexpected redis reply");
    BuildCacheError::Unexpected {
        store: STORE.to_owned(),
        source: format!("unexpected redis reply to {op}").into(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A sorted-set score (ms since the epoch) as RESP2 or RESP3 sends it.
fn score(v: &Value) -> Option<u64> {
    let f = match v {
        Value::Double(f) => *f,
        Value::Int(i) => *i as f64,
        other => text(other)?.parse::<f64>().ok()?,
    };
    // Scores are whole milliseconds written by this store.
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

/// `(member, score)` pairs from a flat `[m, s, m, s]` reply (RESP2, `ZSCAN`)
/// or nested `[[m, s], ...]` (RESP3 `ZRANGEBYSCORE .. WITHSCORES`);
/// members that are not a 64-hex hash are skipped (not Strata's).
fn scored(items: &[Value]) -> Vec<(DigestHash, Option<u64>)> {
    let pair = |m: &Value, s: &Value| {
        let hash = DigestHash::parse(&text(m)?).ok()?;
        Some((hash, score(s)))
    };
    if items
        .iter()
        .all(|v| matches!(v, Value::Array(p) if p.len() == 2))
        && !items.is_empty()
    {
        return items
            .iter()
            .filter_map(|v| match v {
                Value::Array(p) => pair(&p[0], &p[1]),
                _ => None,
            })
            .collect();
    }
    items
        .chunks_exact(2)
        .filter_map(|c| pair(&c[0], &c[1]))
        .collect()
}

/// The latest last access an `older_than(age)` flush at `now` removes:
/// `now - last > age` on whole milliseconds means `last <= now - age_ms - 1`.
fn older_than_bound(now: Timestamp, age: std::time::Duration) -> Option<u64> {
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    now.as_millis().checked_sub(age_ms.checked_add(1)?)
}

impl Shared {
    fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    fn keys(&self, kind: StoreKind, instance: &InstanceName) -> Keys {
        Keys::new(&self.prefix, kind, instance)
    }

    fn count(&self, kind: StoreKind, hit: bool) {
        self.counters.count(kind, hit);
    }

    /// Reads `range` of an entry, `(size, chunk, last access)`.
    async fn read(
        &self,
        kind: StoreKind,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
        touch: bool,
    ) -> Result<Option<(u64, Bytes, Timestamp)>, BuildCacheError> {
        let keys = self.keys(kind, instance);
        let limit = range
            .limit
            .map_or_else(|| "-1".to_owned(), |l| l.to_string());
        let found: Option<(u64, Vec<u8>, u64)> = READ
            .key(keys.entry(hash))
            .key(&keys.index)
            .key(&keys.sizes)
            .key(&keys.bytes)
            .arg(hash.to_string())
            .arg(self.clock.now().as_millis())
            .arg(u8::from(touch))
            .arg(range.offset)
            .arg(limit)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("read", &e))?;
        Ok(found
            .map(|(size, chunk, last)| (size, Bytes::from(chunk), Timestamp::from_millis(last))))
    }

    /// Records `instance` in the registry, then writes the entry;
    /// `Ok(false)` when `replace` is off and it was already there.
    async fn put(
        &self,
        kind: StoreKind,
        instance: &InstanceName,
        hash: &DigestHash,
        value: &[u8],
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        let _: i64 = redis::cmd("SADD")
            .arg(&self.registry)
            .arg(instance.as_str())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("register instance", &e))?;
        let keys = self.keys(kind, instance);
        let written: i64 = PUT
            .key(keys.entry(hash))
            .key(&keys.index)
            .key(&keys.sizes)
            .key(&keys.bytes)
            .arg(value)
            .arg(hash.to_string())
            .arg(self.clock.now().as_millis())
            .arg(u8::from(replace))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("put", &e))?;
        Ok(written == 1)
    }

    /// `[only]`, or every registered instance.
    async fn instances(
        &self,
        only: Option<&InstanceName>,
    ) -> Result<Vec<InstanceName>, BuildCacheError> {
        if let Some(only) = only {
            return Ok(vec![only.clone()]);
        }
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&self.registry)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("list instances", &e))?;
        let mut out: Vec<InstanceName> = names
            .iter()
            .filter_map(|n| InstanceName::parse(n).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// One page of `ZSCAN index cursor [MATCH pattern]`.
    async fn scan_index(
        &self,
        keys: &Keys,
        cursor: u64,
        pattern: Option<&str>,
    ) -> Result<(u64, Vec<(DigestHash, Option<u64>)>), BuildCacheError> {
        let mut cmd = redis::cmd("ZSCAN");
        cmd.arg(&keys.index).arg(cursor);
        if let Some(p) = pattern {
            cmd.arg("MATCH").arg(p);
        }
        cmd.arg("COUNT").arg(BATCH);
        let reply: (u64, Vec<Value>) = cmd
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("scan index", &e))?;
        Ok((reply.0, scored(&reply.1)))
    }

    /// One page of the entries last accessed at or before `bound`.
    async fn older_page(
        &self,
        keys: &Keys,
        bound: u64,
        offset: usize,
    ) -> Result<(usize, Vec<(DigestHash, Option<u64>)>), BuildCacheError> {
        let reply: Value = redis::cmd("ZRANGEBYSCORE")
            .arg(&keys.index)
            .arg("-inf")
            .arg(bound)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(offset)
            .arg(BATCH)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("range index", &e))?;
        let Value::Array(items) = reply else {
            return Err(unexpected_reply("ZRANGEBYSCORE", "not an array"));
        };
        // Members in the page, whether or not they parse (paging counts all).
        let members = if items.iter().all(|v| matches!(v, Value::Array(_))) {
            items.len()
        } else {
            items.len() / 2
        };
        Ok((members, scored(&items)))
    }

    /// Runs [`FLUSH`] over `hashes` of one instance.
    async fn flush_batch(
        &self,
        keys: &Keys,
        hashes: &[DigestHash],
        bound: Option<u64>,
        dry_run: bool,
    ) -> Result<(u64, u64), BuildCacheError> {
        if hashes.is_empty() {
            return Ok((0, 0));
        }
        let mut invocation = FLUSH.key(&keys.index);
        invocation.key(&keys.sizes).key(&keys.bytes);
        for h in hashes {
            invocation.key(keys.entry(h));
        }
        invocation
            .arg(bound.map_or_else(String::new, |b| b.to_string()))
            .arg(u8::from(dry_run));
        for h in hashes {
            invocation.arg(h.to_string());
        }
        invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("flush", &e))
    }

    async fn flush_kind(
        &self,
        kind: StoreKind,
        criteria: &FlushCriteria,
    ) -> Result<FlushResult, BuildCacheError> {
        let started = Instant::now();
        let now = self.clock.now();
        let only = match &criteria.scope {
            FlushScope::Instance(name) => Some(name),
            _ => criteria.instance.as_ref(),
        };
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        let dry = criteria.dry_run;
        for instance in self.instances(only).await? {
            let keys = self.keys(kind, &instance);
            let goes = |h: &DigestHash, last: Option<u64>| {
                criteria.matches(&instance, h, last.map_or(now, Timestamp::from_millis), now)
            };
            let mut seen = HashSet::new();
            let mut removed = (0, 0);
            match &criteria.scope {
                FlushScope::Digests(hashes) => {
                    // The instance filter already chose `instance`; calling
                    // `matches` per hash would scan the list again (O(n²)).
                    let picked: Vec<DigestHash> = hashes
                        .iter()
                        .filter(|h| {
                            seen.insert(**h)
                                && (criteria.keep.is_empty()
                                    || !criteria.keep.contains(&(instance.clone(), **h)))
                        })
                        .copied()
                        .collect();
                    for chunk in picked.chunks(BATCH) {
                        let r = self.flush_batch(&keys, chunk, None, dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                    }
                }
                FlushScope::OlderThan(age) => {
                    let Some(bound) = older_than_bound(now, *age) else {
                        continue;
                    };
                    let mut offset = 0;
                    loop {
                        let (members, page) = self.older_page(&keys, bound, offset).await?;
                        if members == 0 {
                            break;
                        }
                        let picked: Vec<DigestHash> = page
                            .into_iter()
                            .filter(|(h, last)| last.is_some() && goes(h, *last))
                            .map(|(h, _)| h)
                            .collect();
                        let r = self.flush_batch(&keys, &picked, Some(bound), dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                        // Handed-in members leave the range unless dry; the
                        // rest stay ahead of the next page.
                        offset += if dry { members } else { members - picked.len() };
                    }
                }
                scope => {
                    let pattern = match scope {
                        FlushScope::DigestPrefix(p) => Some(format!("{}*", p.as_str())),
                        _ => None,
                    };
                    let mut cursor = 0;
                    loop {
                        let (next, page) =
                            self.scan_index(&keys, cursor, pattern.as_deref()).await?;
                        let picked: Vec<DigestHash> = page
                            .into_iter()
                            .filter(|(h, last)| goes(h, *last) && seen.insert(*h))
                            .map(|(h, _)| h)
                            .collect();
                        let r = self.flush_batch(&keys, &picked, None, dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
            report.entries_removed += removed.0;
            report.bytes_reclaimed += removed.1;
        }
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(FlushResult::single(kind, dry, report))
    }

    async fn list_kind(
        &self,
        kind: StoreKind,
        only: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        let mut out = Vec::new();
        for instance in self.instances(only).await? {
            let keys = self.keys(kind, &instance);
            let mut seen = HashSet::new();
            let mut cursor = 0;
            loop {
                let (next, page) = self.scan_index(&keys, cursor, None).await?;
                let page: Vec<(DigestHash, u64)> = page
                    .into_iter()
                    .filter_map(|(h, last)| Some((h, last?)))
                    .filter(|(h, _)| seen.insert(*h))
                    .collect();
                if !page.is_empty() {
                    let mut invocation = SIZES.prepare_invoke();
                    for (h, _) in &page {
                        invocation.key(keys.entry(h));
                    }
                    let sizes: Vec<i64> = invocation
                        .invoke_async(&mut self.conn())
                        .await
                        .map_err(|e| unavailable("list", &e))?;
                    for ((hash, last), size) in page.into_iter().zip(sizes) {
                        // -1: indexed, but the value is gone.
                        if let Ok(size_bytes) = u64::try_from(size) {
                            out.push(EntryMeta {
                                instance: instance.clone(),
                                hash,
                                size_bytes,
                                last_access: Timestamp::from_millis(last),
                            });
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(out)
    }

    async fn usage(&self, kind: StoreKind) -> Result<StoreUsage, BuildCacheError> {
        let (mut entries, mut bytes) = (0, 0);
        for instance in self.instances(None).await? {
            let keys = self.keys(kind, &instance);
            let (n, b): (u64, Option<i64>) = redis::pipe()
                .cmd("ZCARD")
                .arg(&keys.index)
                .cmd("GET")
                .arg(&keys.bytes)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| unavailable("stats", &e))?;
            entries += n;
            bytes += b.map_or(0, |b| u64::try_from(b).unwrap_or(0));
        }
        Ok(self.counters.usage(STORE, kind, entries, bytes))
    }
}

#[async_trait]
impl ActionCache for RedisBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let found = self
            .shared
            .read(StoreKind::Ac, instance, key, ReadRange::FULL, true)
            .await?;
        self.shared.count(StoreKind::Ac, found.is_some());
        Ok(found.map(|(_, value, last_access)| AcEntry { value, last_access }))
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Ac, instance);
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(keys.entry(key))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("peek", &e))?;
        Ok(value.map(Bytes::from))
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        let size = value.len() as u64;
        if size > self.shared.max_ac_entry_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes: self.shared.max_ac_entry_bytes,
            });
        }
        self.shared
            .put(StoreKind::Ac, instance, &key, &value, true)
            .await
            .map(|_| ())
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Ac, instance);
        redis::cmd("EXISTS")
            .arg(keys.entry(key))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("contains", &e))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        self.shared.list_kind(StoreKind::Ac, instance).await
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Ac, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Ac).await?])
    }
}

#[async_trait]
impl ContentStore for RedisBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    fn max_blob_bytes(&self) -> u64 {
        self.shared.max_blob_bytes
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            return Ok(Some(0));
        }
        let keys = self.shared.keys(StoreKind::Cas, instance);
        // The empty blob is never stored, so length 0 means absent.
        let len: u64 = redis::cmd("STRLEN")
            .arg(keys.entry(hash))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("contains", &e))?;
        Ok((len > 0).then_some(len))
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Cas, instance);
        let wanted: Vec<&Digest> = digests.iter().filter(|d| !d.is_empty_blob()).collect();
        let mut missing = Vec::new();
        for chunk in wanted.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for d in chunk {
                pipe.cmd("STRLEN").arg(keys.entry(d.hash()));
            }
            let lens: Vec<u64> = pipe
                .query_async(&mut self.shared.conn())
                .await
                .map_err(|e| unavailable("find missing", &e))?;
            missing.extend(
                chunk
                    .iter()
                    .zip(lens)
                    .filter(|(d, len)| *len != d.size_bytes())
                    .map(|(d, _)| **d),
            );
        }
        Ok(missing)
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            self.shared.count(StoreKind::Cas, true);
            return BlobRead::from_bytes(Bytes::new(), range).map(Some);
        }
        let found = self
            .shared
            .read(StoreKind::Cas, instance, hash, range, true)
            .await?;
        self.shared.count(StoreKind::Cas, found.is_some());
        let Some((size, chunk, _)) = found else {
            return Ok(None);
        };
        let (_, len) = range.resolve(size)?;
        if chunk.len() as u64 != len {
            return Err(unexpected_reply("read", "chunk of the wrong length"));
        }
        let mut read = BlobRead::from_bytes(chunk, ReadRange::FULL)?;
        read.size_bytes = size;
        Ok(Some(read))
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        Ok(Box::new(RedisWriter {
            store: Arc::clone(&self.shared),
            instance: instance.clone(),
            hash,
            upload: BufferedUpload::new(hash, expected_size, self.shared.max_blob_bytes)?,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        self.shared.list_kind(StoreKind::Cas, instance).await
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Cas, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Cas).await?])
    }
}

/// A CAS upload into Redis: at most `max_blob_bytes` buffered (the
/// verifier refuses more before it is kept), verified, then one `SET`.
/// Dropped uncommitted, it leaves nothing.
struct RedisWriter {
    store: Arc<Shared>,
    instance: InstanceName,
    hash: DigestHash,
    upload: BufferedUpload,
}

#[async_trait]
impl BlobWriter for RedisWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        self.upload.push(&chunk)
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        match self.upload.finish()? {
            Verified::Empty(digest) => Ok(Committed {
                digest,
                created: false,
            }),
            Verified::Content(digest, bytes) => {
                let created = self
                    .store
                    .put(StoreKind::Cas, &self.instance, &self.hash, &bytes, false)
                    .await?;
                Ok(Committed { digest, created })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_share_one_hash_tag_per_instance() {
        let k = Keys::new(
            "strata:bc:",
            StoreKind::Ac,
            &InstanceName::parse("team-a/linux").unwrap(),
        );
        assert_eq!(k.index, "strata:bc:{team-a/linux}:ac:idx");
        assert_eq!(
            k.entry(&DigestHash::EMPTY),
            format!("strata:bc:{{team-a/linux}}:ac:{}", DigestHash::EMPTY)
        );
        let d = Keys::new("p:", StoreKind::Cas, &InstanceName::default());
        assert_eq!(d.sizes, "p:{/}:cas:size");
        assert_eq!(d.bytes, "p:{/}:cas:bytes");
    }

    #[test]
    fn older_than_bound_matches_the_criteria() {
        let now = Timestamp::from_millis(100_000);
        let bound = older_than_bound(now, Duration::from_secs(90)).unwrap();
        assert_eq!(bound, 9_999);
        let c = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(90)));
        let i = InstanceName::default();
        assert!(c.matches(&i, &DigestHash::EMPTY, Timestamp::from_millis(bound), now));
        assert!(!c.matches(
            &i,
            &DigestHash::EMPTY,
            Timestamp::from_millis(bound + 1),
            now
        ));
        let half = older_than_bound(now, Duration::from_micros(1_500)).unwrap();
        assert_eq!(half, 99_998);
        assert!(older_than_bound(now, Duration::from_secs(100)).is_none());
    }

    #[test]
    fn scored_reads_flat_and_nested_replies() {
        let hex = DigestHash::EMPTY.to_string();
        let flat = vec![
            Value::BulkString(hex.clone().into_bytes()),
            Value::BulkString(b"42".to_vec()),
            Value::BulkString(b"not-a-hash".to_vec()),
            Value::BulkString(b"1".to_vec()),
        ];
        assert_eq!(scored(&flat), vec![(DigestHash::EMPTY, Some(42))]);
        let nested = vec![Value::Array(vec![
            Value::BulkString(hex.into_bytes()),
            Value::Double(7.0),
        ])];
        assert_eq!(scored(&nested), vec![(DigestHash::EMPTY, Some(7))]);
    }
}
