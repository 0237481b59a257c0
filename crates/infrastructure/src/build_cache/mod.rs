//! The remote build cache's stores: the [`ActionCache`] and
//! [`ContentStore`] ports of `strata-domain`, for Bazel and ccache.
//!
//! - `verify.rs`: `Verifier`, the SHA-256 and size check every CAS
//!   writer runs before a commit (a blob is never stored under a digest it
//!   does not have).
//! - `memory.rs`: [`MemoryBuildStore`], AC and CAS in process, bounded by
//!   bytes with any [`eviction`](crate::eviction) policy.
//! - `redis/`: [`RedisBuildStore`], the AC (shared by every Strata
//!   instance on one Redis) and small CAS blobs, on the `backends/redis`
//!   connections.
//! - `disk/`: [`DiskBuildStore`], AC and CAS as files (atomic renames,
//!   index rebuilt at start-up), bounded by bytes with LRU eviction
//!   (`eviction::Lru`), split by role: index, eviction, recovery, reader,
//!   writer. Eviction and flushes unlink files outside the index lock.
//! - `stacked.rs`: [`StackedBuildStore`], a memory tier over a disk
//!   tier (read-through fills, writes to both, flushes and stats per tier).
//! - `s3/`: [`S3BuildStore`], AC and CAS as objects in an S3-compatible
//!   bucket shared by every instance (verified uploads, an existence
//!   cache with bounded concurrency for `FindMissingBlobs` and `HEAD`).
//! - `fast_slow.rs`: [`FastSlowBuildStore`], a local tier (memory or
//!   disk) in front of the bucket: read-through fills, write-through
//!   uploads, AC entries in the bucket only when their blobs are there.
//! - `split.rs`: [`SizeSplitContentStore`], small CAS blobs in one store
//!   (a shared Redis) and large ones in another.
//! - `reapi.rs`: [`ProstActionResultFormat`], AC validation's decoding
//!   of REAPI's `ActionResult` (the `bazel-remote-apis` message).
//!
//! The stores share one key type, `(kind, instance, hash)`, in `key.rs`.
//! This wing knows no HTTP and no other wing but `eviction` and, for
//! `redis/`, the Redis connections of `backends`.
//!
//! [`ActionCache`]: strata_domain::ActionCache
//! [`ContentStore`]: strata_domain::ContentStore

mod disk;
mod fast_slow;
mod key;
mod memory;
mod reapi;
mod redis;
mod s3;
mod split;
mod stacked;
mod verify;

pub use disk::{
    DISK_LOW_WATERMARK_PERCENT, DISK_READ_CHUNK_BYTES, DiskBuildStore, DiskBuildStoreBuilder,
    RebuildHook, UnlinkHook,
};
pub use fast_slow::{AcReferences, FastSlowBuildStore};
pub use memory::{MemoryBuildStore, MemoryBuildStoreBuilder};
pub use reapi::ProstActionResultFormat;
pub use redis::{RedisBuildStore, RedisBuildStoreBuilder};
pub use s3::{
    DEFAULT_S3_CONCURRENCY, DEFAULT_S3_EXISTENCE_ENTRIES, DEFAULT_S3_EXISTENCE_TTL_SECS,
    DEFAULT_S3_PART_BYTES, S3_LOW_WATERMARK_PERCENT, S3AccessIndex, S3BuildStore,
    S3BuildStoreBuilder, S3Credentials,
};
pub use split::{DEFAULT_SMALL_BLOB_MAX_BYTES, SizeSplitContentStore};
pub use stacked::{DEFAULT_PROMOTE_MAX_BYTES, StackedBuildStore};

/// Default largest CAS blob, in bytes: 1 GiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 1 << 30;
