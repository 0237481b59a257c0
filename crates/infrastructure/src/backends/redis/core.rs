//! [`Core`]: the implementation both Redis stores share, on either
//! connection kind: key layout, envelope decoding, scans, tag sets and the
//! mapping of driver errors to `StoreError`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::try_join_all;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, Clock, InsertOutcome, KeyPattern, StoreCapabilities,
    StoreError, StoreStats, Tag,
};

use super::connection::{Conn, RedisOptions};
use super::scripts::{DETACH_TAG_SET, INSERT};
use crate::wire::{Envelope, ValueCodec};

/// Keys fetched or deleted per round trip in scans and batches.
const SCAN_BATCH: usize = 500;
/// Lifetime of a tag set renamed away for invalidation: 1 hour, in ms.
const PENDING_TAG_SET_TTL_MS: u64 = 60 * 60 * 1000;
/// Envelopes up to this size (bytes) without tags are written with one
/// `SET .. GET` (Redis >= 6.2), which answers with the previous value; larger
/// ones, and entries with tags, go through the [`INSERT`] script, which
/// answers only whether the key existed. `SET .. GET` costs Redis about a
/// quarter of the script's CPU (0.7 against 2.5 µs per write, measured with
/// `redis-cli --pipe`), but it sends the old value back.
const SET_GET_MAX_BYTES: usize = 16 * 1024;

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
pub(super) struct Core {
    conn: Conn,
    pub(super) backend: &'static str,
    timeout_ms: u64,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
    /// `strata:{c}:`
    pub(super) cache_prefix: String,
    /// `strata:{c}:k:`
    entry_prefix: String,
    /// `strata:{c}:t:`
    tag_prefix: String,
}

impl Core {
    pub(super) fn new(
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
        let entry = Envelope::decode_owned(raw, &self.codec)?.entry;
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
            Conn::Standalone(_) => cmd.query_async::<Value>(&mut self.conn.clone()).await,
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

    pub(super) async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.entry_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        self.decode(raw)
    }

    pub(super) async fn get_many(
        &self,
        keys: &[CacheKey],
    ) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(SCAN_BATCH) {
            let full: Vec<String> = chunk.iter().map(|k| self.entry_key(k)).collect();
            for raw in self.mget(&full).await? {
                out.push(self.decode(raw)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn insert(
        &self,
        key: CacheKey,
        entry: CacheEntry,
    ) -> Result<InsertOutcome, StoreError> {
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
        let envelope = Envelope::new(entry);
        let payload = envelope.encode_with(&self.codec)?;
        let entry = envelope.entry;
        if entry.tags().is_empty() && payload.len() <= SET_GET_MAX_BYTES {
            // Sized once (the command's arguments are copied into it).
            let mut set = redis::Cmd::with_capacity(6, full.len() + payload.len() + 32);
            set.arg("SET").arg(&full).arg(payload).arg("GET");
            if ttl_ms > 0 {
                set.arg("PX").arg(ttl_ms);
            }
            let previous: Value = set
                .query_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.err(e))?;
            return Ok(if matches!(previous, Value::Nil) {
                InsertOutcome::Created
            } else {
                InsertOutcome::Replaced
            });
        }
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

    pub(super) async fn insert_many(
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

    pub(super) async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        Ok(self.unlink(&[self.entry_key(key)]).await? > 0)
    }

    pub(super) async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
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

    pub(super) async fn invalidate_tags(&self, tags: &[Tag]) -> Result<u64, StoreError> {
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
                        match Envelope::decode_owned(raw, &self.codec) {
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

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
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

    pub(super) async fn stats(&self) -> Result<StoreStats, StoreError> {
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

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
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

impl Core {
    /// One `SCAN` page: the cursor is Redis's own; a key may come twice.
    pub(super) async fn entries_page(
        &self,
        cursor: u64,
        _limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.entry_prefix));
        let (next, keys) = self.scan_page(cursor, &pattern).await?;
        let raws = self.mget(&keys).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for (full, raw) in keys.into_iter().zip(raws) {
            let Some(key) = full
                .strip_prefix(&self.entry_prefix)
                .and_then(|user| CacheKey::parse(user).ok())
            else {
                continue;
            };
            if let Some(entry) = self.decode(raw)? {
                entries.push((key, entry));
            }
        }
        let next = (next != 0).then_some(next);
        if next.is_some_and(|n| n >= strata_domain::MAX_ENTRIES_CURSOR) {
            return Err(StoreError::Unexpected(
                format!("redis SCAN cursor {next:?} does not fit in 63 bits").into(),
            ));
        }
        Ok(strata_domain::EntriesPage { entries, next })
    }
}

pub(super) const CAPABILITIES: StoreCapabilities = StoreCapabilities {
    pattern_invalidation: true,
    tag_invalidation: true,
    export: true,
    exact_len: false,
    shared: true,
};

/// Defines one Redis store type over a [`Core`]: the store, its `Debug`
/// (the key prefix only), its builder (`clock`, `codec`, `build`) and its
/// `CacheStore` implementation, every method delegated to the core. The
/// standalone and the cluster store differ only in their connection,
/// backend name and docs.
macro_rules! redis_store {
    (
        $(#[$store_doc:meta])*
        store: $store:ident,
        $(#[$builder_doc:meta])*
        builder: $builder:ident,
        connection: $connection:ty,
        backend: $backend:literal,
        open: |$c:ident| $open:expr $(,)?
    ) => {
        $(#[$store_doc])*
        pub struct $store {
            core: $crate::backends::redis::core::Core,
        }

        impl ::std::fmt::Debug for $store {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($store))
                    .field("prefix", &self.core.cache_prefix)
                    .finish_non_exhaustive()
            }
        }

        $(#[$builder_doc])*
        pub struct $builder {
            connection: $connection,
            cache: ::strata_domain::CacheName,
            clock: ::std::sync::Arc<dyn ::strata_domain::Clock>,
            codec: $crate::wire::ValueCodec,
        }

        impl $builder {
            /// The clock used to turn `expires_at` into `PX` and to hide expired
            /// entries (default [`SystemClock`](crate::SystemClock)).
            pub fn clock(mut self, clock: ::std::sync::Arc<dyn ::strata_domain::Clock>) -> Self {
                self.clock = clock;
                self
            }

            /// The payload transforms (compression, encryption) for every value
            /// written and read (default [`ValueCodec::default`](crate::ValueCodec::default):
            /// zstd from 1 KiB, no encryption).
            pub fn codec(mut self, codec: $crate::wire::ValueCodec) -> Self {
                self.codec = codec;
                self
            }

            /// The store.
            pub fn build(self) -> $store {
                let $c = self.connection;
                let (conn, options) = $open;
                $store {
                    core: $crate::backends::redis::core::Core::new(
                        conn,
                        $backend,
                        options,
                        &self.cache,
                        self.clock,
                        self.codec,
                    ),
                }
            }
        }

        impl $store {
            /// Starts building the store of `cache` on `connection`.
            pub fn builder(connection: $connection, cache: ::strata_domain::CacheName) -> $builder {
                $builder {
                    connection,
                    cache,
                    clock: ::std::sync::Arc::new($crate::SystemClock),
                    codec: $crate::wire::ValueCodec::default(),
                }
            }
        }

        #[::async_trait::async_trait]
        impl ::strata_domain::CacheStore for $store {
            fn backend(&self) -> &str {
                self.core.backend
            }

            fn capabilities(&self) -> ::strata_domain::StoreCapabilities {
                $crate::backends::redis::core::CAPABILITIES
            }

            async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
                ::tracing::Instrument::instrument(self.core.get(key), $crate::backends::client_span(self.core.backend, "get")).await
            }

            async fn insert(
                &self,
                key: CacheKey,
                entry: CacheEntry,
            ) -> Result<InsertOutcome, StoreError> {
                ::tracing::Instrument::instrument(self.core.insert(key, entry), $crate::backends::client_span(self.core.backend, "insert")).await
            }

            async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
                ::tracing::Instrument::instrument(self.core.remove(key), $crate::backends::client_span(self.core.backend, "remove")).await
            }

            async fn get_many(
                &self,
                keys: &[CacheKey],
            ) -> Result<Vec<Option<CacheEntry>>, StoreError> {
                ::tracing::Instrument::instrument(self.core.get_many(keys), $crate::backends::client_span(self.core.backend, "get_many")).await
            }

            async fn insert_many(
                &self,
                entries: Vec<(CacheKey, CacheEntry)>,
            ) -> Result<Vec<InsertOutcome>, StoreError> {
                ::tracing::Instrument::instrument(self.core.insert_many(entries), $crate::backends::client_span(self.core.backend, "insert_many")).await
            }

            async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
                ::tracing::Instrument::instrument(self.core.invalidate_pattern(pattern), $crate::backends::client_span(self.core.backend, "invalidate_pattern")).await
            }

            async fn invalidate_tags(&self, tags: &[Tag]) -> Result<::strata_domain::InvalidationCount, StoreError> {
                // Redis visits every tagged key: the count is exact.
                ::tracing::Instrument::instrument(self.core.invalidate_tags(tags), $crate::backends::client_span(self.core.backend, "invalidate_tags")).await.map(::strata_domain::InvalidationCount::Exact)
            }

            async fn flush(&self) -> Result<(), StoreError> {
                ::tracing::Instrument::instrument(self.core.flush(), $crate::backends::client_span(self.core.backend, "flush")).await
            }

            async fn stats(&self) -> Result<StoreStats, StoreError> {
                ::tracing::Instrument::instrument(self.core.stats(), $crate::backends::client_span(self.core.backend, "stats")).await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                ::tracing::Instrument::instrument(self.core.ping(), $crate::backends::client_span(self.core.backend, "ping")).await
            }

            async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
                ::tracing::Instrument::instrument(self.core.entries(), $crate::backends::client_span(self.core.backend, "entries")).await
            }

            async fn entries_page(
                &self,
                cursor: u64,
                limit: usize,
            ) -> Result<strata_domain::EntriesPage, StoreError> {
                self.core.entries_page(cursor, limit).await
            }
        }
    };
}

pub(super) use redis_store;

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
