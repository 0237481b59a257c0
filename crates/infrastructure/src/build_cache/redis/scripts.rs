//! The Lua scripts of [`RedisBuildStore`](super::RedisBuildStore)
//! (`EVALSHA`, loaded on first use). Each touches the value, the index, the
//! sizes and the byte counter of one instance and kind, which share a hash
//! tag, so each is atomic in a Cluster too. The Lua lives in `scripts/`,
//! one file per script; this module knows only their contracts.

use std::sync::LazyLock;

/// Reads an entry (or the part `offset`, `limit` of it) and, when asked,
/// refreshes its last access.
///
/// KEYS: entry, index, sizes, bytes. ARGV: hex, now (ms), touch (0/1),
/// offset, limit (-1: to the end). Returns `{size, chunk, last access}`
/// (the last access before this read), or nil on a miss; a value Redis
/// evicted on its own has its bookkeeping dropped.
pub(super) static READ: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("scripts/read.lua")));

/// Writes an entry with its bookkeeping.
///
/// KEYS: entry, index, sizes, bytes. ARGV: value, hex, now (ms), replace
/// (0/1). Without replace, a present entry is only touched and 0 is
/// returned; otherwise 1.
pub(super) static PUT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("scripts/put.lua")));

/// Removes (or, in a dry run, counts) a batch of one instance's entries.
///
/// KEYS: index, sizes, bytes, entry 1..n. ARGV: the latest last access
/// still removed ('' for any), dry run (0/1), hex 1..n. An entry goes when
/// it is indexed or present and, with a bound, indexed at or before it.
/// Returns `{entries, bytes}`, counting only values this call deleted (or,
/// dry, found).
/// Never resent after a dropped connection: a second run would count
/// nothing the first removed.
pub(super) static FLUSH: LazyLock<redis::Script> = LazyLock::new(|| {
    crate::backends::redis_once_only(redis::Script::new(include_str!("scripts/flush.lua")))
});

/// Sizes of entries, -1 for an absent one. KEYS: entry 1..n.
pub(super) static SIZES: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("scripts/sizes.lua")));
