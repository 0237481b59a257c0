//! Miss-ratio curves from miniature simulations over a spatially sampled
//! request stream: the pure, single-threaded core that the live analyzer
//! ([`crate::analysis`]) and `strata simulate` both run.
//!
//! - **SHARDS** (C. Waldspurger, N. Park, A. Garthwaite, I. Ahmad,
//!   "Efficient MRC Construction with SHARDS", FAST'15): a request is
//!   sampled when `hash(key) mod P < T`, so every request of a sampled key
//!   is kept and the sample is a miniature of the stream at rate `R = T/P`.
//!   Its *fixed-size* variant lowers `T` when the tracked keys exceed a
//!   budget; here the budget is [`MrcConfig::max_memory_bytes`] and `T` is
//!   halved (keys whose hash is no longer below `T` leave every
//!   simulation).
//! - **Miniature simulations** (C. Waldspurger, T. Saemundsson, I. Ahmad,
//!   N. Park, "Cache Modeling and Optimization using Miniature
//!   Simulations", USENIX ATC'17): each candidate policy runs, unchanged,
//!   on the sampled stream with its capacity scaled by `R`, at every factor
//!   of [`CAPACITY_FACTORS`]. The policies are [`PolicyConfig::build`]'s,
//!   the very code the store and [`simulate`](super::simulator::simulate)
//!   run.
//! - **Estimator.** SHARDS_adj's correction, generalised to a rate that
//!   changes: each sampled miss stands for `1/R` misses (`R` at that time),
//!   and the miss ratio is their sum over the number of requests the
//!   stream really had. Over- or under-sampling of a hot key then shows up
//!   as hits, as in SHARDS_adj, instead of skewing the ratio.
//! - **Recency.** Every [`MrcConfig::epoch_samples`] sampled requests the
//!   counts are multiplied by [`MrcConfig::decay`], so live estimates
//!   follow a changing workload (1.0 keeps the whole history).
//! - **Fresh starts.** The decayed curves say what each policy *that has
//!   run all along* reaches; a policy whose state went stale in a regime
//!   change (old frequencies, a window sized for the old workload) can be
//!   beaten by the same policy started anew. With
//!   [`MrcConfig::fresh_starts`], a second miniature of each policy, at the
//!   cache's own capacity only, is restarted empty every
//!   [`FRESH_PERIOD_CAPACITIES`] miniature capacities of sampled requests
//!   and measured after [`FRESH_WARMUP_CAPACITIES`] (the fill, whose
//!   compulsory misses a rebuild does not pay: it moves the residents in),
//!   beside the running miniature *over the same requests*. The paired
//!   difference is the gain of a rebuild ([`FreshStart`]); a window ties the
//!   estimate to the cache's size, as the epochs do, so it is at most one
//!   period old. A restart rather than a decay because a stale state is
//!   exactly what decay cannot remove from a running policy.
//!
//! Keys are 64-bit hashes ([`spatial_hash`]), stable across runs and
//! processes, so a live cache and `strata simulate` over the same keys
//! sample the same ones.

use std::collections::HashMap;

use strata_domain::{
    CANDIDATE_POLICIES, CAPACITY_FACTORS, CurvePoint, EvictionPolicyKind, FreshStart,
    MissRatioCurve, MissRatioCurves,
};

use super::simulator::key_to_u64;
use super::{AnyPolicy, EvictionPolicy, PolicyConfig};

/// SHARDS' modulus `P`: rates are multiples of `1 / 2^24`.
pub const SHARDS_MODULUS: u64 = 1 << 24;

/// Default starting sampling rate (1%), the rate of the FAST'15 results.
pub const DEFAULT_SAMPLE_RATE: f64 = 0.01;

/// Default memory bound of one cache's simulations, in bytes (8 MiB).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 8 << 20;

/// Default sampled requests per analysis epoch.
pub const DEFAULT_EPOCH_SAMPLES: u64 = 4096;

/// Default epoch length in miniature capacities ([`MrcConfig::epoch_capacities`]).
pub const DEFAULT_EPOCH_CAPACITIES: f64 = 1.0;

/// Shortest epoch, in sampled requests, when epochs follow the capacity.
pub const MIN_EPOCH_SAMPLES: u64 = 256;

/// Default decay of the counts at each epoch.
pub const DEFAULT_DECAY: f64 = 0.9;

/// Fewest entries a miniature cache at the cache's own capacity should
/// hold: small object-mode caches are sampled at a higher rate (up to 1)
/// so their miniatures keep room for the policies' segments.
pub const MIN_SCALED_ENTRIES: f64 = 2048.0;

/// Period of the fresh-start simulations, in miniature capacities (entries
/// at factor 1) of sampled requests: each is restarted empty this often.
pub const FRESH_PERIOD_CAPACITIES: f64 = 8.0;

/// Warm-up of a fresh-start simulation, in miniature capacities of sampled
/// requests, before its misses count.
pub const FRESH_WARMUP_CAPACITIES: f64 = 2.0;

/// Estimated bytes one simulated key costs (index, slab entry, links and
/// ghost history), for the memory bound.
pub const BYTES_PER_SIMULATED_KEY: u64 = 96;

/// Mixes a 64-bit key (splitmix64's finaliser) so that its low bits are
/// uniform, as SHARDS' `hash(key) mod P` needs.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The spatial hash of a textual key: [`mix64`] of
/// [`key_to_u64`] (so a trace of the same keys hashes the same way).
#[inline]
pub fn spatial_hash(key: &str) -> u64 {
    mix64(key_to_u64(key))
}

/// Whether `hash` is sampled under threshold `t` (`hash mod P < T`).
#[inline]
pub fn is_sampled(hash: u64, threshold: u64) -> bool {
    hash & (SHARDS_MODULUS - 1) < threshold
}

/// The threshold `T` of a rate in `(0, 1]`.
pub fn threshold_of(rate: f64) -> u64 {
    ((rate.clamp(0.0, 1.0) * SHARDS_MODULUS as f64).round() as u64).clamp(1, SHARDS_MODULUS)
}

/// Configuration of [`MiniatureSimulations`].
#[derive(Debug, Clone)]
pub struct MrcConfig {
    /// The cache's capacity (entries, or bytes in byte mode).
    pub capacity: u64,
    /// Whether weights and capacity are bytes.
    pub byte_mode: bool,
    /// The policies simulated, each with the configuration it runs.
    pub policies: Vec<(EvictionPolicyKind, PolicyConfig)>,
    /// The capacity factors simulated (default [`CAPACITY_FACTORS`]); the
    /// estimates `auto` uses are those at factor 1, so an offline replay
    /// may simulate `[1.0]` only and decide the same.
    pub factors: Vec<f64>,
    /// The starting (and highest) sampling rate, in `(0, 1]`; object-mode
    /// caches smaller than [`MIN_SCALED_ENTRIES`] / rate start higher.
    pub sample_rate: f64,
    /// Memory bound of the simulations, in bytes: above it the rate halves.
    pub max_memory_bytes: u64,
    /// Sampled requests per epoch (at most, with `epoch_capacities`).
    pub epoch_samples: u64,
    /// When set, an epoch lasts this many miniature capacities (entries at
    /// factor 1) of sampled requests, between [`MIN_EPOCH_SAMPLES`] and
    /// `epoch_samples`: the decay is then tied to the cache's size, so a
    /// regime change shows in the curves within a bounded number of the
    /// cache's capacities in requests (with the default decay 0.9, a
    /// half-life of about 6.6 capacities), whatever the request rate.
    pub epoch_capacities: Option<f64>,
    /// Factor applied to the counts at the end of each epoch, in `(0, 1]`.
    pub decay: f64,
    /// Also run a fresh-start miniature of every policy at factor 1 (see
    /// the module docs), for [`MissRatioCurve::fresh`]: about one more
    /// simulation per policy in time and memory.
    pub fresh_starts: bool,
}

impl MrcConfig {
    /// Every [`CANDIDATE_POLICIES`] policy at its default configuration, the
    /// default rate, memory bound, epoch and decay.
    pub fn new(capacity: u64, byte_mode: bool) -> Self {
        Self {
            capacity,
            byte_mode,
            policies: candidate_policies(),
            factors: CAPACITY_FACTORS.to_vec(),
            sample_rate: DEFAULT_SAMPLE_RATE,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            epoch_samples: DEFAULT_EPOCH_SAMPLES,
            epoch_capacities: Some(DEFAULT_EPOCH_CAPACITIES),
            decay: DEFAULT_DECAY,
            fresh_starts: true,
        }
    }
}

/// [`CANDIDATE_POLICIES`] with the configuration each runs in a store.
pub fn candidate_policies() -> Vec<(EvictionPolicyKind, PolicyConfig)> {
    CANDIDATE_POLICIES
        .iter()
        .filter_map(|&kind| PolicyConfig::try_from(kind).ok().map(|c| (kind, c)))
        .collect()
}

struct Sim {
    policy: AnyPolicy<u64>,
    /// Estimated misses of the full stream (each sampled miss counts 1/R), decayed.
    misses: f64,
}

/// A fresh-start miniature of one policy at factor 1, and its window's
/// counts beside the running miniature's (see the module docs).
struct Fresh {
    policy: AnyPolicy<u64>,
    /// Sampled requests measured (after the warm-up) in this period.
    measured: u64,
    misses: u64,
    running_misses: u64,
    /// The last complete period's figures.
    last: Option<FreshStart>,
}

impl Fresh {
    fn window(&self) -> Option<FreshStart> {
        (self.measured > 0).then(|| FreshStart {
            miss_ratio: self.misses as f64 / self.measured as f64,
            running_miss_ratio: self.running_misses as f64 / self.measured as f64,
            samples: self.measured,
        })
    }
}

/// The miniature simulations of one cache (see the module docs).
pub struct MiniatureSimulations {
    config: MrcConfig,
    threshold: u64,
    /// `[policy][factor]`.
    sims: Vec<Vec<Sim>>,
    /// One per policy when [`MrcConfig::fresh_starts`] (and factor 1 is
    /// simulated), else empty.
    fresh: Vec<Fresh>,
    /// Sampled requests since the fresh simulations were restarted.
    fresh_age: u64,
    /// Byte mode: the last weight seen for each sampled key.
    sizes: HashMap<u64, u64>,
    mean_weight: f64,
    /// Requests of the full stream, decayed like the misses.
    requests: f64,
    requests_total: u64,
    sampled: u64,
    /// Sampled requests, decayed like the misses, and their squares'
    /// weights (for the effective sample size, Kish's `(Σw)² / Σw²`).
    weight_sum: f64,
    weight_sq_sum: f64,
    /// The policy with the lowest estimate at factor 1, and the epoch
    /// since which it has been.
    leader: Option<(EvictionPolicyKind, u64)>,
    /// Per policy row, the misses of its miniature at factor 1 counted
    /// exactly while it stands for the policy run on the whole stream
    /// (see [`MiniatureSimulations::exact_misses`]), else `None`.
    exact: Vec<Option<u64>>,
    epoch_sampled: u64,
    epochs: u64,
    evicted: Vec<(u64, u64)>,
}

impl MiniatureSimulations {
    /// Empty simulations for `config`.
    pub fn new(config: MrcConfig) -> Self {
        let mut rate = config.sample_rate.clamp(1.0 / SHARDS_MODULUS as f64, 1.0);
        if !config.byte_mode && config.capacity > 0 {
            rate = rate.max((MIN_SCALED_ENTRIES / config.capacity as f64).min(1.0));
        }
        let threshold = threshold_of(rate);
        let mut this = Self {
            sims: Vec::new(),
            fresh: Vec::new(),
            fresh_age: 0,
            threshold,
            sizes: HashMap::new(),
            mean_weight: 0.0,
            requests: 0.0,
            requests_total: 0,
            sampled: 0,
            weight_sum: 0.0,
            weight_sq_sum: 0.0,
            leader: None,
            exact: Vec::new(),
            epoch_sampled: 0,
            epochs: 0,
            evicted: Vec::new(),
            config,
        };
        this.sims = this
            .config
            .policies
            .iter()
            .map(|(_, policy)| {
                this.config
                    .factors
                    .iter()
                    .map(|&f| Sim {
                        policy: policy.build(this.scaled(f)),
                        misses: 0.0,
                    })
                    .collect()
            })
            .collect();
        let whole = !this.config.byte_mode
            && this.threshold == SHARDS_MODULUS
            && this.current_index().is_some();
        this.exact = vec![whole.then_some(0); this.config.policies.len()];
        this.restart_fresh(true);
        this
    }

    /// Restarts the fresh-start simulations empty (`forget`: also drop the
    /// last period's figures, after a change of scale).
    fn restart_fresh(&mut self, forget: bool) {
        self.fresh_age = 0;
        if !self.config.fresh_starts || self.current_index().is_none() {
            self.fresh.clear();
            return;
        }
        let capacity = self.scaled(1.0);
        let fresh: Vec<Fresh> = self
            .config
            .policies
            .iter()
            .enumerate()
            .map(|(row, (_, config))| Fresh {
                policy: config.build(capacity),
                measured: 0,
                misses: 0,
                running_misses: 0,
                last: if forget {
                    None
                } else {
                    self.fresh.get(row).and_then(|f| f.window().or(f.last))
                },
            })
            .collect();
        self.fresh = fresh;
    }

    /// Miniature capacities of sampled requests, as sampled requests.
    fn capacities_of_samples(&self, k: f64) -> u64 {
        let mut entries = self.scaled(1.0) as f64;
        if self.config.byte_mode && self.mean_weight >= 1.0 {
            entries /= self.mean_weight;
        }
        ((entries * k) as u64).max(1)
    }

    /// The current threshold `T` (a hash is sampled when `hash mod P < T`).
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The current sampling rate `T / P`.
    pub fn rate(&self) -> f64 {
        self.threshold as f64 / SHARDS_MODULUS as f64
    }

    /// Sampled requests replayed so far.
    pub fn sampled(&self) -> u64 {
        self.sampled
    }

    /// Epochs completed so far.
    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// Sampled requests in the current epoch's length.
    pub fn epoch_len(&self) -> u64 {
        let most = self.config.epoch_samples.max(1);
        let Some(k) = self.config.epoch_capacities else {
            return most;
        };
        let mut entries = self.scaled(1.0) as f64;
        if self.config.byte_mode {
            if self.mean_weight < 1.0 {
                return most;
            }
            entries /= self.mean_weight;
        }
        ((entries * k) as u64).clamp(MIN_EPOCH_SAMPLES.min(most), most)
    }

    fn scaled(&self, factor: f64) -> u64 {
        ((self.config.capacity as f64 * factor * self.rate()).round() as u64).max(1)
    }

    /// Counts `n` requests of the full stream (sampled or not).
    pub fn add_requests(&mut self, n: u64) {
        self.requests += n as f64;
        self.requests_total += n;
    }

    /// Takes `n` requests of the full stream back out of the counts (reads
    /// whose samples were dropped before replay), never below zero.
    pub fn forget_requests(&mut self, n: u64) {
        self.requests = (self.requests - n as f64).max(0.0);
        self.requests_total = self.requests_total.saturating_sub(n);
    }

    /// Teaches byte-mode simulations the weight of a sampled key (a write;
    /// not a request). Ignored for keys not sampled.
    pub fn record_write(&mut self, hash: u64, weight: u64) {
        if self.config.byte_mode && is_sampled(hash, self.threshold) {
            self.sizes.insert(hash, weight.max(1));
        }
    }

    /// Replays one request of key `hash` (its weight in bytes when known)
    /// through every simulation, if the key is sampled; returns whether it
    /// was. Does not count it in [`add_requests`](Self::add_requests).
    /// Returns `true` when this request ended an epoch.
    pub fn record(&mut self, hash: u64, weight: Option<u64>) -> bool {
        if !is_sampled(hash, self.threshold) {
            return false;
        }
        let weight = if self.config.byte_mode {
            let known = weight.or_else(|| self.sizes.get(&hash).copied());
            let w = known.unwrap_or(self.mean_weight.round().max(1.0) as u64);
            if let Some(w) = known {
                self.sizes.insert(hash, w);
                self.mean_weight += (w as f64 - self.mean_weight) / (self.sampled as f64 + 1.0);
            }
            w.max(1)
        } else {
            1
        };
        let miss_cost = 1.0 / self.rate();
        let current = self.current_index();
        let measuring = self.fresh_age >= self.capacities_of_samples(FRESH_WARMUP_CAPACITIES);
        for (row, sims) in self.sims.iter_mut().enumerate() {
            for (f, sim) in sims.iter_mut().enumerate() {
                let hit = sim.policy.access(&hash);
                if measuring
                    && Some(f) == current
                    && let Some(fresh) = self.fresh.get_mut(row)
                {
                    fresh.measured += 1;
                    fresh.running_misses += u64::from(!hit);
                }
                if hit {
                    continue;
                }
                if Some(f) == current
                    && let Some(Some(exact)) = self.exact.get_mut(row)
                {
                    *exact += 1;
                }
                sim.misses += miss_cost;
                if weight <= sim.policy.capacity() {
                    sim.policy.insert(hash, weight, None, &mut self.evicted);
                    self.evicted.clear();
                }
            }
        }
        for fresh in &mut self.fresh {
            if fresh.policy.access(&hash) {
                continue;
            }
            fresh.misses += u64::from(measuring);
            if weight <= fresh.policy.capacity() {
                fresh.policy.insert(hash, weight, None, &mut self.evicted);
                self.evicted.clear();
            }
        }
        self.fresh_age += 1;
        if self.fresh_age >= self.capacities_of_samples(FRESH_PERIOD_CAPACITIES) {
            self.restart_fresh(false);
        }
        self.sampled += 1;
        self.weight_sum += 1.0;
        self.weight_sq_sum += 1.0;
        self.epoch_sampled += 1;
        if self.memory_bytes() > self.config.max_memory_bytes && self.threshold > 1 {
            self.lower_rate();
        }
        if self.epoch_sampled >= self.epoch_len() {
            self.epoch_sampled = 0;
            self.epochs += 1;
            let decay = self.config.decay.clamp(0.0, 1.0);
            if decay < 1.0 {
                self.requests *= decay;
                self.weight_sum *= decay;
                self.weight_sq_sum *= decay * decay;
                for sim in self.sims.iter_mut().flatten() {
                    sim.misses *= decay;
                }
            }
            let best = self
                .estimates()
                .into_iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|b| b.0);
            match (best, self.leader) {
                (Some(p), Some((q, _))) if p == q => {}
                (Some(p), _) => self.leader = Some((p, self.epochs)),
                (None, _) => self.leader = None,
            }
            return true;
        }
        false
    }

    /// Fixed-size SHARDS: halves `T`, drops the keys no longer sampled and
    /// rebuilds each simulation at its new scaled capacity, reinserting the
    /// kept keys oldest first.
    fn lower_rate(&mut self) {
        self.threshold = (self.threshold / 2).max(1);
        self.exact.fill(None);
        let threshold = self.threshold;
        self.sizes.retain(|&h, _| is_sampled(h, threshold));
        let scaled: Vec<u64> = self
            .config
            .factors
            .iter()
            .map(|&f| self.scaled(f))
            .collect();
        for (row, (_, config)) in self.sims.iter_mut().zip(&self.config.policies) {
            for (sim, &capacity) in row.iter_mut().zip(&scaled) {
                let kept = sim.policy.drain();
                let mut fresh = config.build(capacity);
                for (key, weight) in kept {
                    if is_sampled(key, threshold) {
                        fresh.insert(key, weight, None, &mut self.evicted);
                        self.evicted.clear();
                    }
                }
                sim.policy = fresh;
            }
        }
        self.restart_fresh(true);
    }

    /// Mirrors a rebuild of the cache's `policy` (built anew, the resident
    /// entries moved in) in its running miniatures, so that they keep
    /// standing for the cache; its fresh-start window starts over.
    pub fn rebuild(&mut self, policy: EvictionPolicyKind) {
        let Some(row) = self.row(policy) else {
            return;
        };
        let config = self.config.policies[row].1.clone();
        self.exact[row] = None;
        for sim in &mut self.sims[row] {
            let capacity = sim.policy.capacity();
            let kept = sim.policy.drain();
            let mut fresh = config.build(capacity);
            for (key, weight) in kept {
                fresh.insert(key, weight, None, &mut self.evicted);
                self.evicted.clear();
            }
            sim.policy = fresh;
        }
        if let Some(fresh) = self.fresh.get_mut(row) {
            fresh.measured = 0;
            fresh.misses = 0;
            fresh.running_misses = 0;
            fresh.last = None;
        }
    }

    /// What a fresh start of `policy` reaches on recent requests beside
    /// the running miniature: the current period's window once it holds
    /// at least a warm-up's length of samples, else the last complete
    /// period's; `None` before either.
    pub fn fresh_start(&self, policy: EvictionPolicyKind) -> Option<FreshStart> {
        let row = self.row(policy)?;
        let fresh = self.fresh.get(row)?;
        let enough = self.capacities_of_samples(FRESH_WARMUP_CAPACITIES);
        match fresh.window() {
            Some(w) if w.samples >= enough => Some(w),
            _ => fresh.last,
        }
    }

    /// [`fresh_start`](Self::fresh_start) of every policy that has one.
    pub fn fresh_starts(&self) -> Vec<(EvictionPolicyKind, FreshStart)> {
        self.config
            .policies
            .iter()
            .filter_map(|&(kind, _)| self.fresh_start(kind).map(|f| (kind, f)))
            .collect()
    }

    /// The exact number of misses of `policy`'s miniature at the cache's
    /// own capacity, while that miniature is the policy itself run on every
    /// replayed request: object mode, the rate has been 1 throughout (a cache smaller
    /// than [`MIN_SCALED_ENTRIES`] entries starts there, and the memory
    /// bound never lowered it) and the row was never
    /// [rebuilt](Self::rebuild). The keys are the hashes given to
    /// [`record`](Self::record), so the count equals
    /// [`simulate`](super::simulator::simulate)'s over the same hashes; for a
    /// policy whose decisions never depend on a key's value (all but
    /// W-TinyLFU, whose sketch hashes keys) it equals the count over any
    /// keys the hashes rename one to one. `None` otherwise.
    pub fn exact_misses(&self, policy: EvictionPolicyKind) -> Option<u64> {
        let row = self.row(policy)?;
        self.exact.get(row).copied().flatten()
    }

    /// Estimated memory the simulations hold, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        let keys: usize = self
            .sims
            .iter()
            .flatten()
            .map(|s| s.policy.len())
            .sum::<usize>()
            + self.fresh.iter().map(|f| f.policy.len()).sum::<usize>();
        keys as u64 * BYTES_PER_SIMULATED_KEY + self.sizes.len() as u64 * 32
    }

    /// The estimated miss ratio of policy row `row` at factor index `f`.
    fn ratio(&self, row: usize, f: usize) -> Option<f64> {
        if self.sampled == 0 || self.requests <= 0.0 {
            return None;
        }
        Some((self.sims[row][f].misses / self.requests).clamp(0.0, 1.0))
    }

    /// The estimated miss ratio of `policy` at the cache's own capacity.
    pub fn at_current_capacity(&self, policy: EvictionPolicyKind) -> Option<f64> {
        let row = self.row(policy)?;
        self.ratio(row, self.current_index()?)
    }

    /// The row of `policy` in the simulations, if simulated.
    fn row(&self, policy: EvictionPolicyKind) -> Option<usize> {
        self.config.policies.iter().position(|(k, _)| *k == policy)
    }

    fn current_index(&self) -> Option<usize> {
        self.config.factors.iter().position(|&f| f == 1.0)
    }

    /// `(policy, estimate at the current capacity)` for every policy.
    pub fn estimates(&self) -> Vec<(EvictionPolicyKind, f64)> {
        let Some(f) = self.current_index() else {
            return Vec::new();
        };
        (0..self.config.policies.len())
            .filter_map(|row| self.ratio(row, f).map(|m| (self.config.policies[row].0, m)))
            .collect()
    }

    /// The curves now, with the queue counters the caller keeps.
    pub fn curves(&self, dropped_samples: u64) -> MissRatioCurves {
        MissRatioCurves {
            capacity: self.config.capacity,
            byte_mode: self.config.byte_mode,
            sampling_rate: self.rate(),
            requests: self.requests_total,
            sampled_requests: self.sampled,
            dropped_samples,
            memory_bytes: self.memory_bytes(),
            max_memory_bytes: self.config.max_memory_bytes,
            epochs: self.epochs,
            effective_samples: if self.weight_sq_sum > 0.0 {
                self.weight_sum * self.weight_sum / self.weight_sq_sum
            } else {
                0.0
            },
            leader_epochs: self.leader.map_or(0, |(_, since)| self.epochs - since),
            curves: self
                .config
                .policies
                .iter()
                .enumerate()
                .map(|(row, (kind, _))| MissRatioCurve {
                    policy: *kind,
                    fresh: self.fresh_start(*kind),
                    points: self
                        .config
                        .factors
                        .iter()
                        .enumerate()
                        .map(|(f, &factor)| CurvePoint {
                            capacity_factor: factor,
                            capacity: (self.config.capacity as f64 * factor).round() as u64,
                            miss_ratio: self.ratio(row, f),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl std::fmt::Debug for MiniatureSimulations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniatureSimulations")
            .field("capacity", &self.config.capacity)
            .field("rate", &self.rate())
            .field("sampled", &self.sampled)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fresh_tests;
