//! In-process store throughput: the cost of one `get` (hit) and one
//! `insert` on a full cache, for
//! - `raw_moka`: a bare `moka::future::Cache<CacheKey, CacheEntry>` with
//!   `max_capacity(50_000)` and no expiry (the baseline);
//! - `raw_moka_boxed` (get only): the same call behind a `Box::pin`ned
//!   future, which is what `#[async_trait]` adds to every store call;
//! - `raw_moka_expiry` (get only): the bare cache plus an `expire_after`
//!   that gives no entry a TTL, as `MokaStore` configures it;
//! - `moka_store`: [`MokaStore`] (`eviction = "tinylfu"`), `max_entries = 50_000`;
//! - `policy_store`: [`PolicyStore`] with each eviction policy,
//!   `max_entries = 50_000`, default shard count (`sieve` is the default
//!   store of a cache).
//!
//! Keys are `key:<rank>` drawn from Zipf(0.99) over 100,000 keys; values
//! are 64 bytes without tags or TTL. Each cache is pre-filled with the
//! 50,000 most popular keys. `get_hit` replays the Zipf stream restricted
//! to keys the store holds after the pre-fill (every request hits);
//! `insert` writes the Zipf stream (mostly replacements, a few new keys
//! that make the policy evict). Each benchmark runs on 1 and 2 threads
//! sharing one cache; each thread has its own current-thread tokio runtime
//! and `block_on`s a batch of 1,024 operations per iteration, so the
//! runtime's cost is amortised. Divan reports time per batch and items/s;
//! the table gives the median per operation.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p strata-infrastructure --bench store
//! ```
//!
//! Last results (2-core shared VM, other jobs running, so +-20% noise;
//! `--sample-count 40`; median ns per operation = median batch time / 1,024;
//! t=2 is the time per operation seen by each of the two threads):
//!
//! | target                  | get_hit 1t | get_hit 2t | insert 1t | insert 2t |
//! |-------------------------|-----------:|-----------:|----------:|----------:|
//! | raw_moka                |        432 |        487 |       982 |     1,595 |
//! | raw_moka_boxed          |        437 |        652 |         - |         - |
//! | raw_moka_expiry (*)     |        384 |        534 |         - |         - |
//! | moka_store              |        822 |        726 |     3,077 |     4,793 |
//! | policy_store lru        |        204 |        262 |       461 |       679 |
//! | policy_store fifo       |        178 |        295 |       456 |       670 |
//! | policy_store lfu        |        235 |        411 |       522 |       655 |
//! | policy_store clock      |        188 |        373 |       534 |       647 |
//! | policy_store sieve      |        188 |        279 |       419 |       717 |
//! | policy_store s3fifo     |        203 |        271 |       519 |       688 |
//! | policy_store arc        |        196 |        365 |       496 |       648 |
//! | policy_store w-tinylfu  |        228 |        339 |       555 |       816 |
//! | policy_store ttl-first  |        151 |        251 |       605 |       921 |
//!
//! (*) from a second run in which raw_moka was 408 / 464 and moka_store
//! 558 / 594. Three further get_hit runs put moka_store / raw_moka at 1.37x,
//! 1.41x and 1.37x on one thread (1.90x in the run above).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use divan::Bencher;
use divan::counter::ItemsCount;
use moka::future::Cache;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Zipf};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, ContentType, EntryVersion, Timestamp,
};
use strata_infrastructure::eviction::PolicyConfig;
use strata_infrastructure::{MokaStore, PolicyStore};
use tokio::runtime::{Builder, Runtime};

fn main() {
    divan::main();
}

const KEYS: usize = 100_000;
const CAPACITY: u64 = 50_000;
const STREAM: usize = 1 << 17;
const BATCH: usize = 1_024;
const VALUE_BYTES: usize = 64;

struct Workload {
    /// `keys[rank]`, most popular first.
    keys: Vec<CacheKey>,
    /// Ranks drawn from Zipf(0.99).
    stream: Vec<u32>,
    entry: CacheEntry,
}

fn workload() -> &'static Workload {
    static WORKLOAD: OnceLock<Workload> = OnceLock::new();
    WORKLOAD.get_or_init(|| {
        let keys = (0..KEYS)
            .map(|rank| CacheKey::parse(&format!("key:{rank}")).expect("valid key"))
            .collect();
        let zipf = Zipf::new(KEYS as f64, 0.99).expect("valid Zipf parameters");
        let mut rng = StdRng::seed_from_u64(0x5354_5241);
        let stream = (0..STREAM)
            .map(|_| zipf.sample(&mut rng) as u32 - 1)
            .collect();
        let entry = CacheEntry::new(
            CacheValue::new(Bytes::from(vec![b'v'; VALUE_BYTES]), ContentType::default()),
            Timestamp::from_millis(0),
            None,
            Vec::new(),
            EntryVersion::new(1),
        );
        Workload {
            keys,
            stream,
            entry,
        }
    })
}

thread_local! {
    static RUNTIME: Runtime = Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    /// Where this thread is in the stream; `None` before its first batch.
    static CURSOR: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Where the next thread to run a batch starts in the stream.
static NEXT_START: AtomicUsize = AtomicUsize::new(0);

fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The next `BATCH` keys of `stream` for this thread (threads start at
/// different offsets so they do not walk the stream in lock-step).
fn next_batch(stream: &[CacheKey]) -> &[CacheKey] {
    let start = CURSOR.with(|cursor| {
        let at = cursor
            .get()
            .unwrap_or_else(|| NEXT_START.fetch_add(STREAM / 2 + 4_099, Ordering::Relaxed));
        let start = at % (stream.len() - BATCH);
        cursor.set(Some(start + BATCH));
        start
    });
    &stream[start..start + BATCH]
}

fn zipf_keys() -> Vec<CacheKey> {
    let w = workload();
    w.stream
        .iter()
        .map(|&r| w.keys[r as usize].clone())
        .collect()
}

fn hottest() -> impl Iterator<Item = CacheKey> {
    workload().keys[..CAPACITY as usize].iter().cloned()
}

fn raw_moka() -> Cache<CacheKey, CacheEntry> {
    prefill_raw(Cache::builder().max_capacity(CAPACITY).build())
}

/// `cache` with the hottest keys inserted and its pending work done.
fn prefill_raw(cache: Cache<CacheKey, CacheEntry>) -> Cache<CacheKey, CacheEntry> {
    block_on(async {
        for key in hottest() {
            cache.insert(key, workload().entry.clone()).await;
        }
        cache.run_pending_tasks().await;
    });
    cache
}

/// The Zipf stream restricted to keys the bare `cache` holds now.
fn raw_hits(cache: &Cache<CacheKey, CacheEntry>) -> Vec<CacheKey> {
    zipf_keys()
        .into_iter()
        .filter(|k| cache.contains_key(k))
        .collect()
}

/// Times batches of `get`s of `stream` on the bare `cache`.
fn bench_raw_get(bencher: Bencher, cache: &Cache<CacheKey, CacheEntry>, stream: &[CacheKey]) {
    bencher.counter(ItemsCount::new(BATCH)).bench(|| {
        block_on(async {
            let mut found = 0usize;
            for key in next_batch(stream) {
                found += usize::from(cache.get(key).await.is_some());
            }
            found
        })
    });
}

fn prefill(store: &dyn CacheStore) {
    block_on(async {
        for key in hottest() {
            store
                .insert(key, workload().entry.clone())
                .await
                .expect("in-process insert");
        }
        store.stats().await.expect("in-process stats");
    });
}

fn moka_store() -> MokaStore {
    let store = MokaStore::builder(CacheName::parse("bench").expect("valid name"))
        .max_entries(Some(CAPACITY))
        .build();
    prefill(&store);
    store
}

fn policy_store(policy: &str) -> PolicyStore {
    let store = PolicyStore::builder(CacheName::parse("bench").expect("valid name"))
        .policy(PolicyConfig::parse(policy).expect("known policy"))
        .max_entries(Some(CAPACITY))
        .build();
    prefill(&store);
    store
}

/// The Zipf stream restricted to keys `store` holds now.
fn hits(store: &dyn CacheStore) -> Vec<CacheKey> {
    let keys = zipf_keys();
    block_on(async {
        let mut held = Vec::with_capacity(keys.len());
        for key in keys {
            if store.get(&key).await.expect("in-process get").is_some() {
                held.push(key);
            }
        }
        held
    })
}

fn bench_get(bencher: Bencher, store: &dyn CacheStore, stream: &[CacheKey]) {
    bencher.counter(ItemsCount::new(BATCH)).bench(|| {
        block_on(async {
            let mut found = 0usize;
            for key in next_batch(stream) {
                found += usize::from(store.get(key).await.ok().flatten().is_some());
            }
            found
        })
    });
}

fn bench_insert(bencher: Bencher, store: &dyn CacheStore) {
    let stream = zipf_keys();
    let entry = &workload().entry;
    bencher.counter(ItemsCount::new(BATCH)).bench(|| {
        block_on(async {
            for key in next_batch(&stream) {
                let _ = store.insert(key.clone(), entry.clone()).await;
            }
        })
    });
}

mod get_hit {
    use super::*;

    #[divan::bench(threads = [1, 2])]
    fn raw_moka(bencher: Bencher) {
        let cache = super::raw_moka();
        let stream = raw_hits(&cache);
        bench_raw_get(bencher, &cache, &stream);
    }

    #[divan::bench(threads = [1, 2])]
    fn raw_moka_boxed(bencher: Bencher) {
        let cache = super::raw_moka();
        let stream = raw_hits(&cache);
        bencher.counter(ItemsCount::new(BATCH)).bench(|| {
            block_on(async {
                let mut found = 0usize;
                for key in next_batch(&stream) {
                    let get: Pin<Box<dyn Future<Output = Option<CacheEntry>> + Send + '_>> =
                        Box::pin(cache.get(key));
                    found += usize::from(get.await.is_some());
                }
                found
            })
        });
    }

    /// Raw moka with a per-entry `Expiry` that gives no entry a TTL, as
    /// `MokaStore` configures it: isolates the cost of `expire_after`.
    #[divan::bench(threads = [1, 2])]
    fn raw_moka_expiry(bencher: Bencher) {
        struct NoTtl;
        impl moka::Expiry<CacheKey, CacheEntry> for NoTtl {
            fn expire_after_create(
                &self,
                _: &CacheKey,
                _: &CacheEntry,
                _: std::time::Instant,
            ) -> Option<std::time::Duration> {
                None
            }
        }
        let cache = prefill_raw(
            Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(NoTtl)
                .build(),
        );
        let stream = raw_hits(&cache);
        bench_raw_get(bencher, &cache, &stream);
    }

    #[divan::bench(threads = [1, 2])]
    fn moka_store(bencher: Bencher) {
        let store = super::moka_store();
        let stream = hits(&store);
        bench_get(bencher, &store, &stream);
    }

    #[divan::bench(args = PolicyConfig::NAMES, threads = [1, 2])]
    fn policy_store(bencher: Bencher, policy: &str) {
        let store = super::policy_store(policy);
        let stream = hits(&store);
        bench_get(bencher, &store, &stream);
    }
}

mod insert {
    use super::*;

    #[divan::bench(threads = [1, 2])]
    fn raw_moka(bencher: Bencher) {
        let cache = super::raw_moka();
        let stream = zipf_keys();
        let entry = &workload().entry;
        bencher.counter(ItemsCount::new(BATCH)).bench(|| {
            block_on(async {
                for key in next_batch(&stream) {
                    cache.insert(key.clone(), entry.clone()).await;
                }
            })
        });
    }

    #[divan::bench(threads = [1, 2])]
    fn moka_store(bencher: Bencher) {
        bench_insert(bencher, &super::moka_store());
    }

    #[divan::bench(args = PolicyConfig::NAMES, threads = [1, 2])]
    fn policy_store(bencher: Bencher, policy: &str) {
        bench_insert(bencher, &super::policy_store(policy));
    }
}
