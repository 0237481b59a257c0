//! The `strata` binary: `strata serve` runs the cache service,
//! `strata simulate` replays a trace through the eviction policies,
//! `strata run` runs (or replays) a task, `strata cache` maintains its cache,
//! `strata export` / `strata import` dump and restore a cache over HTTP,
//! `strata keys generate` makes an API key, `strata config check` checks a
//! configuration without starting, `strata status` asks a running server
//! how it is, `strata completions` writes a shell's completion script.
//! Each lives in its room under the library's `cli/`
//! ([`strata::cli::main_with`]); this file only calls it with the stock
//! backend kinds.

/// jemalloc (tikv-jemallocator) for every allocation but the memory store's
/// records: a Redis-backed request allocates and frees several futures of
/// more than 1 KiB, past glibc's per-thread cache, and jemalloc serves them
/// for 2 us less CPU per Redis GET (`docs/benchmarks.md`, issue 15). The
/// records keep glibc's allocator (see `policy_store::record`), whose
/// 16-byte size classes fit them closer than jemalloc's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    strata::cli::main_with(strata::BackendRegistry::stock())
}
