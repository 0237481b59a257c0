//! [`RedisStore`] and [`RedisClusterStore`]: one cache on a Redis server or
//! a Redis Cluster, through the `redis` crate (a `ConnectionManager` that
//! reconnects by itself, or a `cluster_async::ClusterConnection`).
//!
//! Key layout (see `docs/backends.md`), for cache `c`:
//!
//! - `strata:{c}:k:<key>` — an entry; the value is an [`Envelope`];
//! - `strata:{c}:t:<tag>` — a set of the keys written with `<tag>`;
//! - `strata:{c}:x:<nonce>` — a tag set being invalidated (renamed away,
//!   expires after an hour if the invalidation dies half-way).
//!
//! `{c}` is a Cluster hash tag: every key of a cache lives in one slot, so
//! scripts, `MGET`s and tag bookkeeping are single-slot and atomic, at the
//! cost of one cache living on one master.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, RedisError, RedisFuture, ServerErrorKind, Value};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, InsertOutcome, KeyPattern,
    StoreCapabilities, StoreError, StoreStats, Tag,
};

use crate::SystemClock;
use crate::wire::Envelope;
use crate::wire::ValueCodec;

/// Keys fetched or deleted per round trip in scans and batches.
const SCAN_BATCH: usize = 500;
/// Lifetime of a tag set renamed away for invalidation: 1 hour, in ms.
const PENDING_TAG_SET_TTL_MS: u64 = 60 * 60 * 1000;

/// Writes an entry and records it in its tag sets, atomically.
///
/// KEYS[1] = entry key, KEYS[2..] = tag set keys.
/// ARGV[1] = envelope, ARGV[2] = TTL in ms (0 = none), ARGV[3] = user key.
/// A tag set lives as long as its longest-lived member: it is created
/// with the entry's TTL, extended when a longer-lived member joins, and
/// made persistent when a member without TTL joins. Returns 1 when the
/// key held a value before.
static INSERT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local ttl = tonumber(ARGV[2])
local existed = redis.call('EXISTS', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
  local fresh = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('SADD', KEYS[i], ARGV[3])
  if ttl > 0 then
    local cur = redis.call('PTTL', KEYS[i])
    if fresh or (cur >= 0 and cur < ttl) then
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  elseif not fresh then
    redis.call('PERSIST', KEYS[i])
  end
end
return existed
",
    )
});

/// Renames a tag set away so that writes during the invalidation start a
/// fresh set. KEYS[1] = tag set, KEYS[2] = new name; ARGV[1] = its TTL in
/// ms. Returns 1 when the set existed.
static DETACH_TAG_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  return 1
end
return 0
",
    )
});

/// Connection settings shared by [`RedisConnection`] and
/// [`RedisClusterConnection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long the driver waits for one answer before failing the
    /// request with [`StoreError::Timeout`] (default 2 s).
    pub response_timeout: Duration,
    /// How long one connection attempt may take (default 1 s).
    pub connection_timeout: Duration,
    /// Reconnection attempts after a connection is lost, before requests
    /// fail with [`StoreError::Unavailable`]; the next request starts a new
    /// round (default 3; the circuit breaker is the outer retry policy).
    pub reconnect_retries: usize,
    /// Longest back-off between reconnection attempts (default 1 s).
    pub reconnect_max_delay: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(1),
            reconnect_retries: 3,
            reconnect_max_delay: Duration::from_secs(1),
        }
    }
}

/// A connection to one Redis server, to share among the [`RedisStore`]s
/// of every cache on it (cloning is cheap: one multiplexed connection
/// that reconnects by itself).
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    options: RedisOptions,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Connects to `url` (`redis://host:port/db`), waiting for the first
    /// connection.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid or the server
    /// cannot be reached.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let unavailable = |e: RedisError| StoreError::Unavailable {
            backend: "redis".into(),
            source: Box::new(e),
        };
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connection_timeout))
            .set_number_of_retries(options.reconnect_retries)
            .set_max_delay(options.reconnect_max_delay);
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self { manager, options })
    }
}

/// A connection to a Redis Cluster, to share among the
/// [`RedisClusterStore`]s of every cache on it.
#[derive(Clone)]
pub struct RedisClusterConnection {
    connection: ClusterConnection,
    options: RedisOptions,
}

impl std::fmt::Debug for RedisClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisClusterConnection {
    /// Connects to the cluster through any of `nodes` (`redis://host:port`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no node can be reached or the URLs
    /// are invalid.
    pub async fn connect(nodes: &[String], options: RedisOptions) -> Result<Self, StoreError> {
        let unavailable = |e: RedisError| StoreError::Unavailable {
            backend: "redis-cluster".into(),
            source: Box::new(e),
        };
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .response_timeout(options.response_timeout)
            .connection_timeout(options.connection_timeout)
            .retries(u32::try_from(options.reconnect_retries).unwrap_or(u32::MAX))
            .build()
            .map_err(unavailable)?;
        let connection = client.get_async_connection().await.map_err(unavailable)?;
        Ok(Self {
            connection,
            options,
        })
    }
}

/// The two connection kinds behind one implementation.
#[derive(Clone)]
enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Escapes Redis glob metacharacters so that `s` matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The implementation shared by both stores.
struct Core {
    conn: Conn,
    backend: &'static str,
    timeout_ms: u64,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
    /// `strata:{c}:`
    cache_prefix: String,
    /// `strata:{c}:k:`
    entry_prefix: String,
    /// `strata:{c}:t:`
    tag_prefix: String,
}

impl Core {
    fn new(
        conn: Conn,
        backend: &'static str,
        options: RedisOptions,
        cache: &CacheName,
        clock: Arc<dyn Clock>,
        codec: ValueCodec,
    ) -> Self {
        let cache_prefix = format!("strata:{{{cache}}}:");
        Self {
            conn,
            backend,
            timeout_ms: u64::try_from(options.response_timeout.as_millis()).unwrap_or(u64::MAX),
            clock,
            codec,
            entry_prefix: format!("{cache_prefix}k:"),
            tag_prefix: format!("{cache_prefix}t:"),
            cache_prefix,
        }
    }

    fn err(&self, e: RedisError) -> StoreError {
        if e.is_timeout() {
            return StoreError::Timeout {
                backend: self.backend.to_owned(),
                timeout_ms: self.timeout_ms,
            };
        }
        let unavailable = matches!(
            e.kind(),
            ErrorKind::Io
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                )
        ) || e.is_connection_dropped()
            || e.is_connection_refusal();
        if unavailable {
            StoreError::Unavailable {
                backend: self.backend.to_owned(),
                source: Box::new(e),
            }
        } else {
            StoreError::Unexpected(Box::new(e))
        }
    }

    fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.entry_prefix, key.as_str())
    }

    fn tag_key(&self, tag: &Tag) -> String {
        format!("{}{}", self.tag_prefix, tag.as_str())
    }

    /// Decodes a stored value; expired entries read as misses.
    fn decode(&self, raw: Option<Vec<u8>>) -> Result<Option<CacheEntry>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let entry = Envelope::decode_with(&raw, &self.codec)?.entry;
        Ok((!entry.is_expired(self.clock.now())).then_some(entry))
    }

    /// One page of `SCAN cursor MATCH pattern`; in a cluster it goes to the
    /// master owning this cache's slot (the hash tag puts every key there).
    async fn scan_page(
        &self,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH);
        let value = match &self.conn {
            Conn::Standalone(c) => {
                let mut c = c.clone();
                cmd.query_async::<Value>(&mut c).await
            }
            Conn::Cluster(c) => {
                let route = Route::with_key(self.cache_prefix.as_bytes(), SlotAddr::Master);
                c.clone()
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await
            }
        }
        .map_err(|e| self.err(e))?;
        let (next, raw): (u64, Vec<Vec<u8>>) =
            redis::from_redis_value(value).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        // Keys that are not UTF-8 were not written by Strata: skip them.
        Ok((
            next,
            raw.into_iter()
                .filter_map(|k| String::from_utf8(k).ok())
                .collect(),
        ))
    }

    async fn unlink(&self, keys: &[String]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))
    }

    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.entry_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        self.decode(raw)
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(SCAN_BATCH) {
            let full: Vec<String> = chunk.iter().map(|k| self.entry_key(k)).collect();
            for raw in self.mget(&full).await? {
                out.push(self.decode(raw)?);
            }
        }
        Ok(out)
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let full = self.entry_key(&key);
        let now = self.clock.now();
        if entry.is_expired(now) {
            // Writing it would only hide the key; the old value must go.
            let removed = self.unlink(std::slice::from_ref(&full)).await?;
            return Ok(if removed > 0 {
                InsertOutcome::Replaced
            } else {
                InsertOutcome::Created
            });
        }
        let ttl_ms = entry.remaining_ttl(now).map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        let payload = Envelope::new(entry.clone()).encode_with(&self.codec)?;
        let mut invocation = INSERT.key(&full);
        for tag in entry.tags() {
            invocation.key(self.tag_key(tag));
        }
        let existed: i64 = invocation
            .arg(payload)
            .arg(ttl_ms)
            .arg(key.as_str())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(if existed == 1 {
            InsertOutcome::Replaced
        } else {
            InsertOutcome::Created
        })
    }

    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let unique = entries.iter().map(|(k, _)| k).collect::<HashSet<_>>().len() == entries.len();
        if unique {
            // The multiplexed connection pipelines concurrent requests.
            try_join_all(entries.into_iter().map(|(k, e)| self.insert(k, e))).await
        } else {
            // Repeated keys: keep the order of writes, as single inserts would.
            let mut out = Vec::with_capacity(entries.len());
            for (k, e) in entries {
                out.push(self.insert(k, e).await?);
            }
            Ok(out)
        }
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        Ok(self.unlink(&[self.entry_key(key)]).await? > 0)
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        // Redis matches bytes, KeyPattern matches characters: narrow the scan
        // by the literal prefix, then match each key here.
        let scan_pattern = format!(
            "{}{}*",
            glob_escape(&self.entry_prefix),
            glob_escape(&pattern.literal_prefix())
        );
        let mut removed = 0;
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page(cursor, &scan_pattern).await?;
            let doomed: Vec<String> = keys
                .into_iter()
                .filter(|k| {
                    k.strip_prefix(&self.entry_prefix)
                        .is_some_and(|user| pattern.matches(user))
                })
                .collect();
            removed += self.unlink(&doomed).await?;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(removed)
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for tag in tags {
            let pending = format!("{}x:{}", self.cache_prefix, nonce());
            let detached: i64 = DETACH_TAG_SET
                .key(self.tag_key(tag))
                .key(&pending)
                .arg(PENDING_TAG_SET_TTL_MS)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.err(e))?;
            if detached == 0 {
                continue;
            }
            let mut cursor = 0u64;
            loop {
                let (next, members): (u64, Vec<String>) = redis::cmd("SSCAN")
                    .arg(&pending)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_BATCH)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(|e| self.err(e))?;
                let full: Vec<String> = members
                    .iter()
                    .map(|m| format!("{}{m}", self.entry_prefix))
                    .collect();
                let raws = self.mget(&full).await?;
                // Members are stale once their entry is rewritten without the
                // tag or removed: delete only entries that still carry it.
                let doomed: Vec<String> = full
                    .into_iter()
                    .zip(raws)
                    .filter_map(|(k, raw)| {
                        let raw = raw?;
                        match Envelope::decode_with(&raw, &self.codec) {
                            Ok(env) if !env.entry.has_tag(tag) => None,
                            // Undecodable values are dropped with the tag.
                            _ => Some(k),
                        }
                    })
                    .collect();
                removed += self.unlink(&doomed).await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            self.unlink(&[pending]).await?;
        }
        Ok(removed)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let pattern = format!("{}*", glob_escape(&self.cache_prefix));
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page(cursor, &pattern).await?;
            self.unlink(&keys).await?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.entry_prefix));
        let mut entries = 0u64;
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page(cursor, &pattern).await?;
            entries += keys.len() as u64;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(StoreStats {
            entries,
            ..StoreStats::default()
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.entry_prefix));
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page(cursor, &pattern).await?;
            let raws = self.mget(&keys).await?;
            for (full, raw) in keys.into_iter().zip(raws) {
                let Some(key) = full
                    .strip_prefix(&self.entry_prefix)
                    .and_then(|user| CacheKey::parse(user).ok())
                else {
                    continue;
                };
                // SCAN may return a key twice.
                if !seen.insert(key.clone()) {
                    continue;
                }
                if let Some(entry) = self.decode(raw)? {
                    out.push((key, entry));
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(out)
    }
}

const CAPABILITIES: StoreCapabilities = StoreCapabilities {
    pattern_invalidation: true,
    tag_invalidation: true,
    export: true,
    exact_len: false,
    shared: true,
};

/// Delegates every [`CacheStore`] method to the store's `core`.
macro_rules! delegate_store {
    ($store:ty) => {
        #[async_trait]
        impl CacheStore for $store {
            fn backend(&self) -> &str {
                self.core.backend
            }

            fn capabilities(&self) -> StoreCapabilities {
                CAPABILITIES
            }

            async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
                self.core.get(key).await
            }

            async fn insert(
                &self,
                key: CacheKey,
                entry: CacheEntry,
            ) -> Result<InsertOutcome, StoreError> {
                self.core.insert(key, entry).await
            }

            async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
                self.core.remove(key).await
            }

            async fn get_many(
                &self,
                keys: &[CacheKey],
            ) -> Result<Vec<Option<CacheEntry>>, StoreError> {
                self.core.get_many(keys).await
            }

            async fn insert_many(
                &self,
                entries: Vec<(CacheKey, CacheEntry)>,
            ) -> Result<Vec<InsertOutcome>, StoreError> {
                self.core.insert_many(entries).await
            }

            async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
                self.core.invalidate_pattern(pattern).await
            }

            async fn invalidate_tags(&self, tags: &[Tag]) -> Result<u64, StoreError> {
                self.core.invalidate_tags(tags).await
            }

            async fn flush(&self) -> Result<(), StoreError> {
                self.core.flush().await
            }

            async fn stats(&self) -> Result<StoreStats, StoreError> {
                self.core.stats().await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                self.core.ping().await
            }

            async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
                self.core.entries().await
            }
        }
    };
}

/// One cache on a standalone Redis server.
///
/// - Values are [`Envelope`]s under `strata:{<cache>}:k:<key>`, written
///   with `SET .. PX <remaining ttl ms>`; entries already expired at insert
///   are not written (and remove the key). Payloads go through the store's
///   [`ValueCodec`] (compression, encryption) on every read and write.
/// - Tags: one Redis set per tag, updated in the same Lua script as the
///   entry; invalidation deletes the members whose envelope still carries
///   the tag and returns how many it deleted.
/// - Pattern invalidation and flush `SCAN` the cache's prefix and `UNLINK`
///   in batches of 500 (never `KEYS`).
/// - `stats().entries` is a `SCAN` count (O(entries), `exact_len` false);
///   `bytes`, `evictions_capacity` and `expirations` are 0: Redis does not
///   count them per prefix.
pub struct RedisStore {
    core: Core,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.core.cache_prefix)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisStore`].
pub struct RedisStoreBuilder {
    connection: RedisConnection,
    cache: CacheName,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
}

impl RedisStoreBuilder {
    /// The clock used to turn `expires_at` into `PX` and to hide expired
    /// entries (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The payload transforms (compression, encryption) for every value
    /// written and read (default [`ValueCodec::default`]: zstd from 1 KiB,
    /// no encryption).
    pub fn codec(mut self, codec: ValueCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The store.
    pub fn build(self) -> RedisStore {
        RedisStore {
            core: Core::new(
                Conn::Standalone(self.connection.manager),
                "redis",
                self.connection.options,
                &self.cache,
                self.clock,
                self.codec,
            ),
        }
    }
}

impl RedisStore {
    /// Starts building the store of `cache` on `connection`.
    pub fn builder(connection: RedisConnection, cache: CacheName) -> RedisStoreBuilder {
        RedisStoreBuilder {
            connection,
            cache,
            clock: Arc::new(SystemClock),
            codec: ValueCodec::default(),
        }
    }
}

delegate_store!(RedisStore);

/// One cache on a Redis Cluster; behaves as [`RedisStore`].
///
/// The `{<cache>}` hash tag puts all of a cache's keys in one slot: batches
/// and tag scripts are single-slot, and `SCAN` is sent to that slot's
/// master only. One cache is therefore limited to one master's memory and
/// throughput; different caches spread over the cluster.
pub struct RedisClusterStore {
    core: Core,
}

impl std::fmt::Debug for RedisClusterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterStore")
            .field("prefix", &self.core.cache_prefix)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisClusterStore`].
pub struct RedisClusterStoreBuilder {
    connection: RedisClusterConnection,
    cache: CacheName,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
}

impl RedisClusterStoreBuilder {
    /// The clock used to turn `expires_at` into `PX` and to hide expired
    /// entries (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The payload transforms (compression, encryption) for every value
    /// written and read (default [`ValueCodec::default`]: zstd from 1 KiB,
    /// no encryption).
    pub fn codec(mut self, codec: ValueCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The store.
    pub fn build(self) -> RedisClusterStore {
        RedisClusterStore {
            core: Core::new(
                Conn::Cluster(self.connection.connection),
                "redis-cluster",
                self.connection.options,
                &self.cache,
                self.clock,
                self.codec,
            ),
        }
    }
}

impl RedisClusterStore {
    /// Starts building the store of `cache` on `connection`.
    pub fn builder(
        connection: RedisClusterConnection,
        cache: CacheName,
    ) -> RedisClusterStoreBuilder {
        RedisClusterStoreBuilder {
            connection,
            cache,
            clock: Arc::new(SystemClock),
            codec: ValueCodec::default(),
        }
    }
}

delegate_store!(RedisClusterStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_makes_literals() {
        let p = glob_escape("strata:{a.b-c}:k:x*y?[z]\\");
        assert_eq!(p, r"strata:{a.b\-c}:k:x\*y\?\[z\]\\");
        let pat = KeyPattern::parse(&p).unwrap();
        assert!(pat.matches("strata:{a.b-c}:k:x*y?[z]\\"));
        assert!(!pat.matches("strata:{a.b-c}:k:xxyy[z]\\"));
    }
}
