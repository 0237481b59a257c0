//! Eviction policy throughput.
//!
//! Measures, per policy:
//! - `replay_shared_trace`: trace-replay speed of `simulator::simulate` on
//!   the shared CloudPhysics trace (113,872 requests, byte mode, 256 MiB),
//!   in requests per second. Skipped (with a message) when the trace is not
//!   found in `$STRATA_TRACES_DIR` or `../shared/traces`.
//! - `zipf_access_insert`: raw `access` + `insert`-on-miss throughput of the
//!   policy over 200,000 requests drawn from Zipf(0.99) over 1,000,000 keys,
//!   capacity 10,000 objects (object mode), in operations per second.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p strata-infrastructure --bench eviction
//! ```
//!
//! Last results (2-core shared VM, 2026-11-21, divan median items/s, 20 samples):
//!
//! | policy    | replay_shared_trace | zipf_access_insert |
//! |-----------|---------------------|--------------------|
//! | lru       | 22.4 M/s            | 25.8 M/s           |
//! | fifo      | 23.4 M/s            | 28.0 M/s           |
//! | lfu       | 17.9 M/s            | 18.4 M/s           |
//! | clock     | 20.8 M/s            | 24.8 M/s           |
//! | sieve     | 21.1 M/s            | 27.8 M/s           |
//! | s3fifo    | 18.8 M/s            | 22.5 M/s           |
//! | arc       | 18.4 M/s            | 22.2 M/s           |
//! | w-tinylfu | 15.3 M/s            | 15.1 M/s           |
//! | ttl-first | 10.3 M/s            | 14.9 M/s           |

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use divan::Bencher;
use divan::counter::ItemsCount;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Zipf};
use strata_infrastructure::eviction::simulator::{
    Mode, Request, TraceFormat, read_trace, simulate,
};
use strata_infrastructure::eviction::{EvictionPolicy, PolicyConfig};

fn main() {
    divan::main();
}

const TRACE: &str = "cloudPhysicsIO.oracleGeneral.bin";

fn shared_trace() -> Option<&'static [Request]> {
    static TRACE_REQUESTS: OnceLock<Option<Vec<Request>>> = OnceLock::new();
    TRACE_REQUESTS
        .get_or_init(|| {
            let dir = std::env::var_os("STRATA_TRACES_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces"),
                PathBuf::from,
            );
            let path = dir.join(TRACE);
            match read_trace(&path, &TraceFormat::OracleGeneral) {
                Ok(trace) => Some(trace),
                Err(error) => {
                    eprintln!("skipping replay_shared_trace: {error}");
                    None
                }
            }
        })
        .as_deref()
}

fn policy(name: &str) -> PolicyConfig {
    PolicyConfig::parse(name).unwrap_or_else(|error| panic!("{error}"))
}

#[divan::bench(args = PolicyConfig::NAMES)]
fn replay_shared_trace(bencher: Bencher, name: &str) {
    let Some(trace) = shared_trace() else {
        return;
    };
    let config = policy(name);
    bencher
        .counter(ItemsCount::new(trace.len()))
        .bench(|| simulate(trace, &config, 256 << 20, Mode::Bytes));
}

const ZIPF_REQUESTS: usize = 200_000;
const ZIPF_KEYS: f64 = 1_000_000.0;
const ZIPF_CAPACITY: u64 = 10_000;

fn zipf_keys() -> &'static [u64] {
    static KEYS: OnceLock<Vec<u64>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let zipf = Zipf::new(ZIPF_KEYS, 0.99)
            .unwrap_or_else(|error| panic!("valid Zipf parameters: {error}"));
        let mut rng = StdRng::seed_from_u64(0x5742_4154);
        (0..ZIPF_REQUESTS)
            .map(|_| zipf.sample(&mut rng) as u64)
            .collect()
    })
}

#[divan::bench(args = PolicyConfig::NAMES)]
fn zipf_access_insert(bencher: Bencher, name: &str) {
    let keys = zipf_keys();
    let config = policy(name);
    bencher
        .counter(ItemsCount::new(keys.len()))
        .with_inputs(|| config.build::<u64>(ZIPF_CAPACITY))
        .bench_local_values(|mut cache| {
            let mut evicted = Vec::new();
            let mut hits = 0u64;
            for &key in keys {
                if cache.access(&key) {
                    hits += 1;
                } else {
                    cache.insert(key, 1, None, &mut evicted);
                    evicted.clear();
                }
            }
            hits
        });
}
