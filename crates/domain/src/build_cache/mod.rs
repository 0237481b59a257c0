//! The remote build cache's model: Bazel's and ccache's action cache (AC)
//! and content-addressable storage (CAS), in the terms of the Remote
//! Execution API (REAPI, `build.bazel.remote.execution.v2`).
//!
//! - [`Digest`] / [`DigestHash`]: SHA-256 of a blob (lowercase hex) and
//!   its size in bytes; [`Digest::EMPTY`] always exists.
//! - [`InstanceName`]: REAPI's instance name, which scopes every AC entry
//!   and CAS blob (bazel-remote reads it from the HTTP path prefix).
//! - [`StoreKind`]: which of the two stores (`ac` or `cas`).
//! - [`FlushScope`], [`FlushCriteria`], [`FlushResult`]: what an operator
//!   flushes and what each store reports back.
//! - The ports [`ActionCache`], [`ContentStore`] (streaming through
//!   [`BlobWriter`] and [`BlobReader`]) and [`ActionResultFormat`] (the
//!   decoding of a serialized `ActionResult` into its [`ActionResultRefs`]).
//!
//! It knows no protobuf, no file system and no HTTP: the adapters do.

mod action_result;
mod digest;
mod flush;
mod instance;
mod kind;
mod ports;

pub use action_result::{ActionResultFormat, ActionResultRefs, InvalidActionResult};
pub use digest::{Digest, DigestHash, InvalidDigest, SHA256_HEX_LEN};
pub use flush::{DigestPrefix, FlushCriteria, FlushResult, FlushScope, StoreFlushReport};
pub use instance::{InstanceName, InvalidInstanceName, MAX_INSTANCE_NAME_BYTES};
pub use ports::{
    AcEntry, AcWriter, ActionCache, BlobRead, BlobReader, BlobWriter, BuildCacheError, Committed,
    ContentStore, EntryMeta, IndexRebuild, ReadRange, StoreKind, StoreUsage,
};
