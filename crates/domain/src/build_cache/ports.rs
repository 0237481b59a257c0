//! The build cache's storage ports: [`ActionCache`] and [`ContentStore`].

use std::error::Error as StdError;
use std::io;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

pub use super::kind::StoreKind;
use super::{Digest, DigestHash, FlushCriteria, FlushResult, InstanceName};
use crate::Timestamp;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Failure of a build-cache store operation. Adapters map their I/O and
/// driver errors to it; no driver type crosses the port.
#[derive(Debug, thiserror::Error)]
pub enum BuildCacheError {
    /// The uploaded content does not hash to (or is not the size of) the
    /// digest it was uploaded under; nothing was stored. HTTP: 400
    /// `digest_mismatch`.
    #[error(
        "digest mismatch: expected {expected}{}, got {actual}",
        expected_size.map(|n| format!(" of {n} bytes")).unwrap_or_default()
    )]
    DigestMismatch {
        /// The hash the upload claimed.
        expected: DigestHash,
        /// The size it claimed, when it claimed one.
        expected_size: Option<u64>,
        /// What the content really is.
        actual: Digest,
    },
    /// The blob or entry is larger than the store accepts. HTTP: 413.
    #[error("{size_bytes} bytes is over the limit of {limit_bytes} bytes")]
    TooLarge {
        /// Its size (a lower bound when the upload was cut off early).
        size_bytes: u64,
        /// The store's limit.
        limit_bytes: u64,
    },
    /// The store cannot make room for the write, even by evicting. HTTP: 507.
    #[error("cannot make room for {needed_bytes} bytes in a store of {capacity_bytes} bytes")]
    InsufficientStorage {
        /// Bytes the write needs.
        needed_bytes: u64,
        /// The store's capacity.
        capacity_bytes: u64,
    },
    /// A read starts past the end of the blob (gRPC `OUT_OF_RANGE`). HTTP: 416.
    #[error("read offset {offset} is past the end of a {size_bytes}-byte blob")]
    InvalidRange {
        /// The offset asked for.
        offset: u64,
        /// The blob's size.
        size_bytes: u64,
    },
    /// The backend cannot be reached; retrying later may succeed. HTTP: 503.
    #[error("build-cache store {store} is unavailable: {source}")]
    Unavailable {
        /// The store's name.
        store: String,
        /// The cause, with context.
        source: BoxError,
    },
    /// Anything else: an I/O error, corrupted data, a bug. HTTP: 500.
    #[error("build-cache store {store} failed: {source}")]
    Unexpected {
        /// The store's name.
        store: String,
        /// The cause, with context.
        source: BoxError,
    },
}

impl BuildCacheError {
    /// Whether the store failed (an outage, an unexpected error, no room),
    /// as opposed to a request it rightly refused (a digest mismatch, a
    /// blob too large, a range past the end).
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Unexpected { .. } | Self::InsufficientStorage { .. }
        )
    }

    /// An [`Unexpected`](Self::Unexpected) error of `store` from an I/O error.
    pub fn io(store: &str, context: &str, err: io::Error) -> Self {
        Self::Unexpected {
            store: store.to_owned(),
            source: format!("{context}: {err}").into(),
        }
    }
}

/// An AC entry as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcEntry {
    /// The stored bytes: a serialized REAPI `ActionResult`, or anything
    /// when validation is off (ccache's `layout=bazel`).
    pub value: Bytes,
    /// When it was written or last read, by the store's clock (after a
    /// restart of a disk store: the file's modification time).
    pub last_access: Timestamp,
}

/// One entry as a store lists it, for flushes and scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// Its instance.
    pub instance: InstanceName,
    /// Its key (AC) or content hash (CAS).
    pub hash: DigestHash,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// When it was written or last read (see [`AcEntry::last_access`]).
    pub last_access: Timestamp,
}

/// A store's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// The store's name (`memory`, `disk`, ...).
    pub store: String,
    /// Entries held.
    pub entries: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Reads (`get`, `read`) that found the entry.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
}

/// Which part of a blob to read: `offset` bytes in, at most `limit`
/// bytes (`None`: to the end), as gRPC ByteStream's `read_offset` and
/// `read_limit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadRange {
    /// First byte to read.
    pub offset: u64,
    /// Most bytes to read; `None` reads to the end.
    pub limit: Option<u64>,
}

impl ReadRange {
    /// The whole blob.
    pub const FULL: ReadRange = ReadRange {
        offset: 0,
        limit: None,
    };

    /// The `(start, length)` this range selects in a blob of `size` bytes.
    ///
    /// # Errors
    /// [`BuildCacheError::InvalidRange`] when `offset > size`.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), BuildCacheError> {
        if self.offset > size {
            return Err(BuildCacheError::InvalidRange {
                offset: self.offset,
                size_bytes: size,
            });
        }
        let rest = size - self.offset;
        Ok((self.offset, self.limit.map_or(rest, |l| l.min(rest))))
    }
}

/// A store's start-up index rebuild while it runs: the store serves
/// meanwhile (a read the partial index misses looks at the backing file),
/// but its stats show only what is indexed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRebuild {
    /// The rebuilding store's name (`disk`).
    pub store: String,
    /// Files found so far.
    pub files_found: u64,
    /// Milliseconds since the rebuild started.
    pub elapsed_ms: u64,
}

/// The pull side of a streamed blob read. Runtime-agnostic: the HTTP layer
/// turns it into a body stream (e.g. with `futures_util::stream::unfold`).
#[async_trait]
pub trait BlobReader: Send {
    /// The next chunk, or `None` at the end.
    ///
    /// # Errors
    /// An I/O error of the backend; the read is then unusable.
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>>;
}

/// A blob being read.
pub struct BlobRead {
    /// The whole blob's size in bytes.
    pub size_bytes: u64,
    /// The bytes the reader will yield (the resolved [`ReadRange`]).
    pub len: u64,
    /// The content.
    pub reader: Box<dyn BlobReader>,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead")
            .field("size_bytes", &self.size_bytes)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BlobRead {
    /// A read over bytes already in memory, `range` of `blob`.
    ///
    /// # Errors
    /// [`BuildCacheError::InvalidRange`].
    pub fn from_bytes(blob: Bytes, range: ReadRange) -> Result<Self, BuildCacheError> {
        let size = blob.len() as u64;
        let (start, len) = range.resolve(size)?;
        // Both fit in usize: they are within `blob`'s length.
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        let chunk = blob.slice(start..start + len_usize);
        Ok(Self {
            size_bytes: size,
            len,
            reader: Box::new(OnceReader(Some(chunk))),
        })
    }

    /// A whole blob held in memory, read as one chunk.
    pub fn whole(blob: Bytes) -> Self {
        Self::from_chunk(blob.len() as u64, blob)
    }

    /// A read of `chunk`, already in memory, out of a blob of
    /// `size_bytes` (a ranged read's chunk is shorter than the blob).
    pub fn from_chunk(size_bytes: u64, chunk: Bytes) -> Self {
        Self {
            size_bytes,
            len: chunk.len() as u64,
            reader: Box::new(OnceReader(Some(chunk))),
        }
    }

    /// Reads everything into memory (tests, small AC-sized blobs).
    ///
    /// # Errors
    /// The reader's I/O error.
    pub async fn into_bytes(mut self) -> io::Result<Bytes> {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.reader.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

struct OnceReader(Option<Bytes>);

#[async_trait]
impl BlobReader for OnceReader {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        Ok(self.0.take().filter(|c| !c.is_empty()))
    }
}

/// A finished upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The digest now stored.
    pub digest: Digest,
    /// Whether the blob was new (false: it was already there).
    pub created: bool,
}

/// The push side of a streamed blob upload, from
/// [`ContentStore::begin_write`]. It is `Send` so an HTTP handler whose
/// body is `!Send` can push chunks into it.
///
/// Contract: nothing is visible under the digest before
/// [`commit`](Self::commit) succeeds; `commit` MUST verify the SHA-256 and
/// (when one was given) the size, and on a mismatch MUST store nothing and
/// answer [`BuildCacheError::DigestMismatch`]; dropping a writer without
/// committing MUST store nothing and leave no temporary data behind.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends a chunk.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] as soon as the content passes the
    /// store's limit or the announced size; I/O errors.
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError>;

    /// Verifies and stores the blob.
    ///
    /// # Errors
    /// [`BuildCacheError::DigestMismatch`], [`BuildCacheError::InsufficientStorage`],
    /// I/O errors.
    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError>;
}

/// The action cache port: serialized `ActionResult`s (or raw bytes) keyed
/// by `(instance, action digest hash)`.
///
/// Contract (checked by `strata_testkit::build_cache_contract`):
/// - entries of different instances never see each other;
/// - `put` replaces a present entry;
/// - `get` counts a hit or a miss and refreshes the last access; `peek`
///   and `list` do neither;
/// - `flush` removes exactly the entries [`FlushCriteria::matches`]
///   selects (by the store's clock), removes nothing in a dry run, and
///   counts each removed entry once even under concurrent flushes;
/// - methods are safe to call concurrently.
#[async_trait]
pub trait ActionCache: Send + Sync + 'static {
    /// The store's name in reports and metrics (`memory`, `disk`, ...).
    fn store_name(&self) -> &str;

    /// Reads an entry; `Ok(None)` on a miss.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError>;

    /// Reads an entry as [`get`](Self::get) does (a hit or a miss
    /// counted, the last access refreshed), as a stream of chunks, so an
    /// entry of any size passes through a bounded buffer (ccache reads
    /// whole results from `/ac/`). The default reads the whole entry with
    /// `get` and yields it as one chunk; a store that keeps entries in
    /// files (disk) streams them.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn get_streamed(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        Ok(self
            .get(instance, key)
            .await?
            .map(|entry| BlobRead::whole(entry.value)))
    }

    /// Reads an entry's bytes without counting a hit or refreshing it.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError>;

    /// Writes an entry, replacing any present one.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`], [`BuildCacheError::InsufficientStorage`],
    /// backend failures.
    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError>;

    /// Starts writing an entry from a stream of chunks, so an entry of any
    /// size passes through a bounded buffer (ccache stores whole results
    /// under `/ac/`). `None` (the default) when the store only takes whole
    /// values through [`put`](Self::put); callers then buffer.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend cannot start the write.
    async fn begin_put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
    ) -> Result<Option<Box<dyn AcWriter>>, BuildCacheError> {
        let _ = (instance, key);
        Ok(None)
    }

    /// Whether an entry is present (no hit counted).
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError>;

    /// Every entry's metadata, of one instance or (`None`) all.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError>;

    /// Removes the entries `criteria` selects (or, in a dry run, reports
    /// them). A stacked store reports one [`StoreFlushReport`] per tier
    /// and records a failing tier's error in its report instead of
    /// failing the whole flush.
    ///
    /// [`StoreFlushReport`]: super::StoreFlushReport
    ///
    /// # Errors
    /// [`BuildCacheError`] when a single store fails outright.
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;

    /// Counters, one per tier (memory first).
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;
}

/// An action-cache entry being written from a stream
/// ([`ActionCache::begin_put`]). Nothing is visible until
/// [`commit`](Self::commit) installs the whole entry, replacing any
/// present one; dropping the writer before, or a failed commit, stores
/// nothing.
#[async_trait]
pub trait AcWriter: Send {
    /// Appends `chunk`.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] once the entry passes the store's
    /// limit; backend failures.
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError>;

    /// Installs the entry.
    ///
    /// # Errors
    /// [`BuildCacheError::InsufficientStorage`], backend failures.
    async fn commit(self: Box<Self>) -> Result<(), BuildCacheError>;
}

/// The content-addressable storage port: blobs keyed by
/// `(instance, SHA-256 of their content)`, streamed in and out.
///
/// Contract (checked by `strata_testkit::build_cache_contract`), besides
/// [`ActionCache`]'s isolation, flush and concurrency points:
/// - the empty blob ([`Digest::EMPTY`]) exists in every instance: `read`
///   yields no bytes, `contains` is `Some(0)`, `find_missing` never lists
///   it, and writing it stores nothing;
/// - [`BlobWriter`]'s contract: verified, atomic commits;
/// - a read never yields partial or wrong content: it reads a blob that
///   was complete when the read began (a concurrent flush or eviction may
///   make later reads miss);
/// - `read` counts a hit or a miss; `contains` and `find_missing` do not.
#[async_trait]
pub trait ContentStore: Send + Sync + 'static {
    /// The store's name in reports and metrics.
    fn store_name(&self) -> &str;

    /// The largest blob this store accepts, in bytes.
    fn max_blob_bytes(&self) -> u64;

    /// The blob's size when present.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError>;

    /// The digests of `digests` that are not stored (a stored blob of
    /// another size counts as missing), in the given order.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let mut missing = Vec::new();
        for d in digests {
            if d.is_empty_blob() {
                continue;
            }
            if self.contains(instance, d.hash()).await? != Some(d.size_bytes()) {
                missing.push(*d);
            }
        }
        Ok(missing)
    }

    /// Opens a blob for reading `range` of it; `Ok(None)` on a miss.
    ///
    /// # Errors
    /// [`BuildCacheError::InvalidRange`]; backend failures.
    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError>;

    /// Starts an upload of the blob `hash`, of `expected_size` bytes when
    /// known (a `Content-Length`; `None` for a chunked body).
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] when `expected_size` is over
    /// [`max_blob_bytes`](Self::max_blob_bytes); backend failures.
    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError>;

    /// Every blob's metadata, of one instance or (`None`) all.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError>;

    /// See [`ActionCache::flush`].
    ///
    /// # Errors
    /// [`BuildCacheError`] when a single store fails outright.
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;

    /// Counters, one per tier (memory first).
    ///
    /// # Errors
    /// [`BuildCacheError`] when the backend fails.
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;

    /// The start-up index rebuild while it runs (a disk store started
    /// over existing files); `None` when there is none, which is always
    /// the case for a store without an index to rebuild (the default).
    fn index_rebuild(&self) -> Option<IndexRebuild> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_and_reject_past_the_end() {
        assert_eq!(ReadRange::FULL.resolve(10).unwrap(), (0, 10));
        let r = ReadRange {
            offset: 4,
            limit: Some(3),
        };
        assert_eq!(r.resolve(10).unwrap(), (4, 3));
        assert_eq!(r.resolve(5).unwrap(), (4, 1));
        assert_eq!(
            ReadRange {
                offset: 10,
                limit: None
            }
            .resolve(10)
            .unwrap(),
            (10, 0)
        );
        assert!(matches!(
            ReadRange {
                offset: 11,
                limit: None
            }
            .resolve(10),
            Err(BuildCacheError::InvalidRange { .. })
        ));
    }
}
