//! [`MemcachedStore`]: one cache on one or more Memcached servers through
//! the synchronous `memcache` crate (client-side hashing over the servers;
//! every call runs in `tokio::task::spawn_blocking`).
//!
//! Key layout (see `docs/backends.md`), for cache `c`:
//!
//! - `strata:c:gen` — the cache's generation `g` (decimal);
//! - `strata:c:<g>:k:<key>` — an entry whose full key fits in 250 bytes;
//! - `strata:c:<g>:h:<32 hex>` — an entry with a longer key, named by the
//!   128-bit FNV-1a hash of the key; the envelope keeps the key, and a read
//!   whose stored key differs is a miss;
//! - `strata:c:<g>:n` — the number of entries created in generation `g`;
//! - `strata:c:tag:<tag>` — the generation of `<tag>`.
//!
//! Flush increments the cache generation: O(1), the old generation's items
//! become unreachable and age out. Tag invalidation increments the tag's
//! generation; an entry records its tags' generations at write time and
//! reads as a miss once any of them changed. A generation key that is
//! missing (never written, or evicted) is created with the current time in
//! ms, so a re-created generation never repeats an old one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use memcache::{Client, MemcacheError};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, InsertOutcome, InvalidationCount,
    KeyPattern, MAX_KEY_BYTES, StoreCapabilities, StoreError, StoreStats, Tag, Timestamp,
};

use crate::SystemClock;
use crate::wire::Envelope;
use crate::wire::ValueCodec;

const BACKEND: &str = "memcached";

/// Longest relative expiration Memcached accepts, in seconds (30 days);
/// anything longer is sent as an absolute Unix time.
pub const MAX_RELATIVE_EXPTIME_SECS: u64 = 30 * 24 * 60 * 60;

/// Memcached's default item size limit (`-I 1m`), in bytes.
pub(crate) const DEFAULT_MAX_ITEM_BYTES: usize = 1024 * 1024;

/// Bytes of Memcached's per-item header counted against the item size
/// limit, rounded up generously.
const ITEM_OVERHEAD_BYTES: usize = 128;

/// Connection settings for [`MemcachedConnection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemcachedOptions {
    /// Connections per server (default 16): also the number of blocking
    /// calls that can run at once against one server.
    pub pool_size: u32,
    /// Socket read and write timeout, and the wait for a pooled
    /// connection (default 1 s).
    pub timeout: Duration,
    /// The servers' item size limit (`memcached -I`), default 1 MiB. Set
    /// the cache's `max_value_bytes` at least 1 KiB below it.
    pub max_item_bytes: usize,
}

impl Default for MemcachedOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            timeout: Duration::from_secs(1),
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
        }
    }
}

/// Connections to a set of Memcached servers, to share among the
/// [`MemcachedStore`]s of every cache on them. Keys are spread over the
/// servers by the client's hash of the full key.
#[derive(Clone)]
pub struct MemcachedConnection {
    client: Client,
    options: MemcachedOptions,
}

impl std::fmt::Debug for MemcachedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl MemcachedConnection {
    /// Connects to `urls` (`memcache://host:port`, one per server).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when a URL is invalid or a server cannot
    /// be reached.
    pub async fn connect(urls: &[String], options: MemcachedOptions) -> Result<Self, StoreError> {
        let urls = urls.to_vec();
        let client = tokio::task::spawn_blocking(move || {
            Client::builder()
                .add_server(urls)?
                .with_max_pool_size(options.pool_size.max(1))
                .with_connection_timeout(options.timeout)
                .with_read_timeout(options.timeout)
                .with_write_timeout(options.timeout)
                .build()
        })
        .await
        .map_err(|e| StoreError::Unexpected(Box::new(e)))?
        .map_err(|e| StoreError::Unavailable {
            backend: BACKEND.into(),
            source: Box::new(e),
        })?;
        Ok(Self { client, options })
    }
}

/// A value bigger than the servers' item size limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "value of {bytes} bytes (with its envelope and key) exceeds the memcached item size limit of \
     {limit} bytes; set the cache's max_value_bytes below it"
)]
pub struct ValueTooLarge {
    /// Bytes the item would take.
    pub bytes: usize,
    /// The configured limit.
    pub limit: usize,
}

/// The Memcached expiration for an entry expiring at `expires_at`, seen at
/// `now`: `Some(0)` for no expiry, seconds rounded up when they are at
/// most [`MAX_RELATIVE_EXPTIME_SECS`], otherwise the absolute Unix time
/// in seconds (rounded up, capped at `u32::MAX`), as the protocol requires.
/// `None` when the entry has already expired.
pub fn memcached_exptime(expires_at: Option<Timestamp>, now: Timestamp) -> Option<u32> {
    let Some(at) = expires_at else {
        return Some(0);
    };
    if now >= at {
        return None;
    }
    let secs = (at.as_millis() - now.as_millis()).div_ceil(1000);
    let exptime = if secs <= MAX_RELATIVE_EXPTIME_SECS {
        secs
    } else {
        at.as_millis().div_ceil(1000)
    };
    Some(u32::try_from(exptime).unwrap_or(u32::MAX))
}

/// 128-bit FNV-1a (Fowler–Noll–Vo), a stable non-cryptographic hash: long
/// keys are named by it. Collisions only cost a miss, as the envelope
/// carries the original key.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
}

fn now_ms_generation(clock: &dyn Clock) -> u64 {
    clock.now().as_millis()
}

struct Shared {
    client: Client,
    max_item_bytes: usize,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
    /// `strata:<cache>:`
    prefix: String,
    timeout_ms: u64,
}

/// Where an entry lives in one generation.
struct Slot {
    key: String,
    hashed: bool,
}

impl Shared {
    fn err(&self, e: MemcacheError) -> StoreError {
        match e {
            MemcacheError::IOError(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                StoreError::Timeout {
                    backend: BACKEND.into(),
                    timeout_ms: self.timeout_ms,
                }
            }
            e @ (MemcacheError::IOError(_) | MemcacheError::PoolError(_)) => {
                StoreError::Unavailable {
                    backend: BACKEND.into(),
                    source: Box::new(e),
                }
            }
            MemcacheError::ServerError(memcache::ServerError::Error(msg))
                if msg.contains("too large") =>
            {
                StoreError::Unexpected(Box::new(ValueTooLarge {
                    bytes: 0,
                    limit: self.max_item_bytes,
                }))
            }
            e => StoreError::Unexpected(Box::new(e)),
        }
    }

    fn generation_key(&self) -> String {
        format!("{}gen", self.prefix)
    }

    fn tag_key(&self, tag: &Tag) -> String {
        format!("{}tag:{}", self.prefix, tag.as_str())
    }

    fn count_key(&self, generation: u64) -> String {
        format!("{}{generation}:n", self.prefix)
    }

    fn slot(&self, generation: u64, key: &CacheKey) -> Slot {
        let plain = format!("{}{generation}:k:{}", self.prefix, key.as_str());
        if plain.len() <= MAX_KEY_BYTES {
            Slot {
                key: plain,
                hashed: false,
            }
        } else {
            Slot {
                key: format!(
                    "{}{generation}:h:{:032x}",
                    self.prefix,
                    fnv1a_128(key.as_str().as_bytes())
                ),
                hashed: true,
            }
        }
    }

    /// Reads a generation counter, creating it (at the current time in ms)
    /// when missing.
    fn read_or_create(&self, key: &str) -> Result<u64, StoreError> {
        if let Some(g) = self.client.get::<u64>(key).map_err(|e| self.err(e))? {
            return Ok(g);
        }
        let fresh = now_ms_generation(&*self.clock);
        // `add` fails when another client created it first: read theirs.
        let _ = self.client.add(key, fresh, 0);
        Ok(self
            .client
            .get::<u64>(key)
            .map_err(|e| self.err(e))?
            .unwrap_or(fresh))
    }

    /// Increments a generation counter, creating it when missing.
    fn bump(&self, key: &str) -> Result<(), StoreError> {
        match self.client.increment(key, 1) {
            Ok(_) => Ok(()),
            Err(MemcacheError::CommandError(memcache::CommandError::KeyNotFound)) => {
                // Missing: any fresh value differs from what entries recorded.
                let _ = self.client.add(key, now_ms_generation(&*self.clock), 0);
                Ok(())
            }
            Err(e) => Err(self.err(e)),
        }
    }

    fn generation(&self) -> Result<u64, StoreError> {
        self.read_or_create(&self.generation_key())
    }

    /// The entry of `env`, read for `key`; `None` when it is expired,
    /// another key's (hash collision), or carries an outdated tag
    /// generation (checked against `tag_gens`, the current generations by
    /// tag key).
    fn accept(
        &self,
        key: &CacheKey,
        slot: &Slot,
        env: &Envelope,
        tag_gens: &std::collections::HashMap<String, u64>,
    ) -> Option<CacheEntry> {
        if slot.hashed && env.key.as_deref() != Some(key.as_str()) {
            return None;
        }
        if env.entry.is_expired(self.clock.now()) {
            return None;
        }
        let tags = env.entry.tags();
        if env.tag_generations.len() != tags.len() {
            return None;
        }
        let current = tags
            .iter()
            .zip(&env.tag_generations)
            .all(|(t, g)| tag_gens.get(&self.tag_key(t)) == Some(g));
        current.then(|| env.entry.clone())
    }

    fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let generation = self.generation()?;
        let slots: Vec<Slot> = keys.iter().map(|k| self.slot(generation, k)).collect();
        let names: Vec<&str> = slots.iter().map(|s| s.key.as_str()).collect();
        let raws: std::collections::HashMap<String, Vec<u8>> =
            self.client.gets(&names).map_err(|e| self.err(e))?;
        // Decoded once (decompression and decryption included), also for
        // duplicated keys; an undecodable item fails the whole call.
        let envelopes = raws
            .into_iter()
            .map(|(name, raw)| Ok((name, Envelope::decode_owned(raw, &self.codec)?)))
            .collect::<Result<std::collections::HashMap<String, Envelope>, StoreError>>()?;
        // Tags are known only once the envelopes are read: fetch every tag
        // generation in one more round trip.
        let mut tag_keys: Vec<String> = Vec::new();
        for env in envelopes.values() {
            tag_keys.extend(env.entry.tags().iter().map(|t| self.tag_key(t)));
        }
        tag_keys.sort();
        tag_keys.dedup();
        let tag_gens: std::collections::HashMap<String, u64> = if tag_keys.is_empty() {
            Default::default()
        } else {
            let refs: Vec<&str> = tag_keys.iter().map(String::as_str).collect();
            self.client.gets(&refs).map_err(|e| self.err(e))?
        };
        Ok(keys
            .iter()
            .zip(&slots)
            .map(|(key, slot)| {
                envelopes
                    .get(&slot.key)
                    .and_then(|env| self.accept(key, slot, env, &tag_gens))
            })
            .collect())
    }

    fn insert(&self, key: &CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let generation = self.generation()?;
        let slot = self.slot(generation, key);
        let Some(exptime) = memcached_exptime(entry.expires_at(), self.clock.now()) else {
            // Already expired: not written, and it hides the old value.
            let removed = self.remove_slot(generation, &slot)?;
            return Ok(if removed {
                InsertOutcome::Replaced
            } else {
                InsertOutcome::Created
            });
        };
        let tag_generations = entry
            .tags()
            .iter()
            .map(|t| self.read_or_create(&self.tag_key(t)))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope {
            key: slot.hashed.then(|| key.as_str().to_owned()),
            tag_generations,
            entry,
        };
        let bytes = envelope.encode_with(&self.codec)?;
        let item = bytes.len() + slot.key.len() + ITEM_OVERHEAD_BYTES;
        if item > self.max_item_bytes {
            return Err(StoreError::Unexpected(Box::new(ValueTooLarge {
                bytes: item,
                limit: self.max_item_bytes,
            })));
        }
        // Whether a live entry is replaced: memcached keeps an item up to
        // 1 s past its entry's expires_at (exptime is in seconds), so its
        // presence alone would answer Replaced over an expired entry.
        let existed = self.holds_live(key, &slot)?;
        self.client
            .set(&slot.key, bytes.as_slice(), exptime)
            .map_err(|e| match self.err(e) {
                StoreError::Unexpected(inner) if inner.is::<ValueTooLarge>() => {
                    StoreError::Unexpected(Box::new(ValueTooLarge {
                        bytes: item,
                        limit: self.max_item_bytes,
                    }))
                }
                other => other,
            })?;
        if existed {
            Ok(InsertOutcome::Replaced)
        } else {
            let count = self.count_key(generation);
            if let Err(MemcacheError::CommandError(memcache::CommandError::KeyNotFound)) =
                self.client.increment(&count, 1)
            {
                let _ = self.client.add(&count, 1u64, 0);
            }
            Ok(InsertOutcome::Created)
        }
    }

    fn remove_slot(&self, generation: u64, slot: &Slot) -> Result<bool, StoreError> {
        let removed = self.client.delete(&slot.key).map_err(|e| self.err(e))?;
        if removed {
            // Best effort: the count is an estimate.
            let _ = self.client.decrement(&self.count_key(generation), 1);
        }
        Ok(removed)
    }

    fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let generation = self.generation()?;
        let slot = self.slot(generation, key);
        // An item memcached still keeps past its entry's expiry is deleted,
        // but it was not live.
        let live = self.holds_live(key, &slot)?;
        Ok(self.remove_slot(generation, &slot)? && live)
    }

    /// Whether `slot` holds `key`'s entry and it has not expired (tags
    /// are not checked: an entry hidden by a tag invalidation counts).
    fn holds_live(&self, key: &CacheKey, slot: &Slot) -> Result<bool, StoreError> {
        let mut raws: std::collections::HashMap<String, Vec<u8>> = self
            .client
            .gets(&[slot.key.as_str()])
            .map_err(|e| self.err(e))?;
        let Some(raw) = raws.remove(&slot.key) else {
            return Ok(false);
        };
        let Ok(env) = Envelope::decode_owned(raw, &self.codec) else {
            // Undecodable (another codec's key): present, and replaced.
            return Ok(true);
        };
        Ok((!slot.hashed || env.key.as_deref() == Some(key.as_str()))
            && !env.entry.is_expired(self.clock.now()))
    }

    fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        for tag in tags {
            self.bump(&self.tag_key(tag))?;
        }
        // The bump hides every entry written under the old generation
        // without visiting them: how many there were is unknown.
        Ok(InvalidationCount::Uncounted)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.bump(&self.generation_key())
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let generation = self.generation()?;
        let entries = self
            .client
            .get::<u64>(&self.count_key(generation))
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        Ok(StoreStats {
            entries,
            ..StoreStats::default()
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.client.version().map(drop).map_err(|e| self.err(e))
    }
}

/// One cache on Memcached.
///
/// - Capabilities: tag invalidation yes (by generations; it answers
///   [`InvalidationCount::Uncounted`], as Memcached cannot count the
///   entries it hides), pattern invalidation
///   and export no (Memcached cannot enumerate keys), `len` an estimate.
/// - TTL: the envelope's `expires_at` is authoritative (checked on read);
///   Memcached's own expiration is set to the remaining seconds rounded
///   up, or an absolute Unix time beyond 30 days.
/// - `stats().entries` counts entries created minus removed in the current
///   generation: expirations, evictions and tag invalidations are not
///   subtracted. `bytes`, `evictions_capacity`, `expirations` are 0.
/// - Insert reports `Replaced` when an item was present, even one that a
///   tag invalidation had hidden.
/// - Payloads go through the store's [`ValueCodec`] (compression,
///   encryption) on every read and write.
/// - Values whose item (envelope + key + header) exceeds
///   [`MemcachedOptions::max_item_bytes`] fail with
///   [`StoreError::Unexpected`] wrapping [`ValueTooLarge`].
pub struct MemcachedStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

/// Builds a [`MemcachedStore`].
pub struct MemcachedStoreBuilder {
    connection: MemcachedConnection,
    cache: CacheName,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
}

impl MemcachedStoreBuilder {
    /// The clock for expirations and generation seeds (default
    /// [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The payload transforms (compression, encryption) for every value
    /// written and read (default [`ValueCodec::default`]: zstd from 1 KiB,
    /// no encryption). The item size limit applies to the transformed
    /// envelope.
    pub fn codec(mut self, codec: ValueCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The store.
    pub fn build(self) -> MemcachedStore {
        let options = self.connection.options;
        MemcachedStore {
            shared: Arc::new(Shared {
                client: self.connection.client,
                max_item_bytes: options.max_item_bytes,
                clock: self.clock,
                codec: self.codec,
                prefix: format!("strata:{}:", self.cache),
                timeout_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

impl MemcachedStore {
    /// Starts building the store of `cache` on `connection`.
    pub fn builder(connection: MemcachedConnection, cache: CacheName) -> MemcachedStoreBuilder {
        MemcachedStoreBuilder {
            connection,
            cache,
            clock: Arc::new(SystemClock),
            codec: ValueCodec::default(),
        }
    }

    async fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let span = super::client_span(BACKEND, operation);
        tracing::Instrument::instrument(tokio::task::spawn_blocking(move || f(&shared)), span)
            .await
            .map_err(|e| StoreError::Unexpected(Box::new(e)))?
    }
}

#[async_trait]
impl CacheStore for MemcachedStore {
    fn backend(&self) -> &str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            pattern_invalidation: false,
            tag_invalidation: true,
            export: false,
            exact_len: false,
            shared: true,
        }
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let key = key.clone();
        let mut one = self.run("get", move |s| s.get_many(&[key])).await?;
        Ok(one.pop().flatten())
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        self.run("insert", move |s| s.insert(&key, entry)).await
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.run("remove", move |s| s.remove(&key)).await
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let keys = keys.to_vec();
        self.run("get_many", move |s| s.get_many(&keys)).await
    }

    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.run("insert_many", move |s| {
            entries.into_iter().map(|(k, e)| s.insert(&k, e)).collect()
        })
        .await
    }

    async fn invalidate_pattern(&self, _pattern: &KeyPattern) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported {
            backend: BACKEND.into(),
            operation: "pattern invalidation",
        })
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let tags = tags.to_vec();
        self.run("invalidate_tags", move |s| s.invalidate_tags(&tags))
            .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.run("flush", Shared::flush).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.run("stats", Shared::stats).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", Shared::ping).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn at(ms: u64) -> Option<Timestamp> {
        Some(Timestamp::from_millis(ms))
    }

    #[test]
    fn exptime_is_relative_up_to_30_days_then_absolute() {
        let now = Timestamp::from_millis(NOW);
        assert_eq!(memcached_exptime(None, now), Some(0));
        assert_eq!(memcached_exptime(at(NOW), now), None, "expired");
        assert_eq!(memcached_exptime(at(NOW - 1), now), None, "expired");
        assert_eq!(memcached_exptime(at(NOW + 1), now), Some(1), "rounds up");
        assert_eq!(memcached_exptime(at(NOW + 1_000), now), Some(1));
        assert_eq!(memcached_exptime(at(NOW + 1_001), now), Some(2));
        let thirty_days_ms = MAX_RELATIVE_EXPTIME_SECS * 1000;
        assert_eq!(
            memcached_exptime(at(NOW + thirty_days_ms), now),
            Some(2_592_000),
            "exactly 30 days is still relative"
        );
        let later = NOW + thirty_days_ms + 1_000;
        assert_eq!(
            memcached_exptime(at(later), now),
            Some(u32::try_from(later / 1000).unwrap()),
            "beyond 30 days: absolute Unix seconds"
        );
        assert_eq!(
            memcached_exptime(at(u64::MAX), now),
            Some(u32::MAX),
            "capped"
        );
    }

    #[test]
    fn fnv1a_128_known_vectors() {
        // Reference values from the FNV specification's test suite.
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
