//! W-TinyLFU: a small LRU *window* admits every new key; when the window
//! overflows, its victim competes with the main cache's victim and enters
//! the main cache only if a frequency sketch says it is requested more
//! often. The main cache is a segmented LRU (20% probation, 80% protected).
//!
//! Paper: G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient
//! Cache Admission Policy", ACM Transactions on Storage 13(4), 2017; the
//! optional window-size hill climber is Caffeine's (B. Manes, `Caffeine`'s
//! `BoundedLocalCache.climb`, after "Adaptive Software Cache Management",
//! Middleware 2018). The structure follows libCacheSim's `WTinyLFU.c`
//! (window LRU + SLRU 1:4 main, counts added on insert, on main hits and for
//! each window victim, counts halved after `32 x main capacity` weight units
//! of main hits), with a count-min sketch in place of its counting Bloom
//! filter.
//!
//! The bookkeeping (index, the three lists and their weights) is the shared
//! [`Entries`] and [`Segments`]. Invariants: those of [`Segments`] (every
//! resident key linked exactly once, in the list its state names, whose
//! weight sum is kept); `used = window + probation + protected <= capacity`. The window has no
//! hard bound of its own: it holds whatever the main cache does not (about
//! `window_ratio` of the capacity once the cache is full), as in
//! libCacheSim; `insert` rejects weights above the capacity, and in
//! libCacheSim's configuration ([`WTinyLfuConfig::libcachesim`]) above the
//! configured window size. The main cache may briefly exceed its share
//! when a heavy entry is admitted; the total never exceeds the capacity.
//!
//! Ageing: by default Caffeine's (every request counts into 4-bit
//! counters, halved every 10 x capacity additions; see [`SketchAgeing`]),
//! which forgets an old hot set within a few multiples of the capacity in
//! requests; libCacheSim's main-hit ageing is kept for the reference check.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use super::keyed::{Entries, InSegment, Segment, Segments};
use super::sketch::{CountMinSketch, CounterBits};
use super::{EvictionPolicy, PolicyKey};

/// Configuration of [`WTinyLfu`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WTinyLfuConfig {
    /// Share of the capacity given to the admission window, in `(0, 1)`.
    pub window_ratio: f64,
    /// Share of the main cache given to its protected segment, in `(0, 1)`.
    pub protected_ratio: f64,
    /// Adapt the window size with Caffeine's hill climber.
    pub hill_climbing: bool,
    /// When and what the frequency sketch counts, and how it forgets.
    pub ageing: SketchAgeing,
    /// Admit entries heavier than the window (up to the whole capacity), as
    /// Caffeine does; `false` refuses them, as libCacheSim does.
    pub admit_heavier_than_window: bool,
}

impl Default for WTinyLfuConfig {
    fn default() -> Self {
        Self {
            window_ratio: 0.01,
            protected_ratio: 0.8,
            hill_climbing: true,
            ageing: SketchAgeing::default(),
            admit_heavier_than_window: true,
        }
    }
}

impl WTinyLfuConfig {
    /// libCacheSim's `WTinyLFU.c` configuration: a fixed 1% window,
    /// [`SketchAgeing::MainHits`] ageing and no entry heavier than the
    /// window. The shared trace's reference check runs this one, so its
    /// miss counts stay those libCacheSim published.
    pub fn libcachesim() -> Self {
        Self {
            hill_climbing: false,
            ageing: SketchAgeing::MainHits { reset_factor: 32 },
            admit_heavier_than_window: false,
            ..Self::default()
        }
    }
}

/// How W-TinyLFU's frequency sketch counts and ages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SketchAgeing {
    /// libCacheSim's `WTinyLFU.c`: counts are added on insert, on main-cache
    /// hits and for each window victim, saturate at 65,535, and are halved
    /// after `reset_factor` main-cache capacities (weight units) of
    /// main-cache hits. A workload that stops hitting the main cache (a loop
    /// larger than the cache, after a Zipf phase) then never ages the old
    /// counts, and the old hot set is never displaced.
    MainHits {
        /// Main-cache capacities of main-cache hits between halvings.
        reset_factor: u64,
    },
    /// Caffeine's `FrequencySketch` (B. Manes, Caffeine 3.x;
    /// `simulator/.../WindowTinyLfuPolicy` records every access): every
    /// request (hit or insert) counts, counters saturate at 15 (4 bits),
    /// and all counters are halved once `sample_factor` times the entries
    /// the sketch is sized for (about the capacity in entries) additions
    /// changed a counter. Old popularity is gone after four halvings, so
    /// after a regime change the new hot set is admitted within a few
    /// multiples of the capacity in requests. The default.
    Sampled {
        /// Sample size over the sized-for entries (Caffeine: 10).
        sample_factor: u64,
    },
}

impl Default for SketchAgeing {
    fn default() -> Self {
        Self::Sampled { sample_factor: 5 }
    }
}

/// Caffeine's counter ceiling: 4-bit counters.
const SAMPLED_MAX_COUNT: u16 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Window,
    Probation,
    Protected,
}

impl Segment for Queue {
    #[inline]
    fn slot(self) -> usize {
        match self {
            Self::Window => 0,
            Self::Probation => 1,
            Self::Protected => 2,
        }
    }
}

/// An entry's policy state: its queue only. The sketch's hash of its key
/// is computed again when needed (on an access, or when it is a victim or
/// a candidate), not stored: 16 bytes less per entry.
#[derive(Debug)]
struct State {
    queue: Queue,
}

impl InSegment<Queue> for State {
    #[inline]
    fn segment(&self) -> Queue {
        self.queue
    }

    #[inline]
    fn set_segment(&mut self, segment: Queue) {
        self.queue = segment;
    }
}

/// Caffeine's hill climber state.
#[derive(Debug, Clone)]
struct Climber {
    requests: u64,
    hits: u64,
    previous_hit_rate: f64,
    step: f64,
}

const CLIMBER_STEP_PERCENT: f64 = 0.0625;
const CLIMBER_STEP_DECAY: f64 = 0.98;
const CLIMBER_RESTART_THRESHOLD: f64 = 0.05;

/// A W-TinyLFU policy over keys `K`, with capacity in weight units.
#[derive(Debug)]
pub struct WTinyLfu<K> {
    entries: Entries<K, State>,
    queues: Segments<Queue, 3>,
    sketch: CountMinSketch,
    hasher: std::hash::BuildHasherDefault<std::hash::DefaultHasher>,
    capacity: u64,
    admit_max: u64,
    main_cap: u64,
    probation_cap: u64,
    protected_cap: u64,
    protected_ratio: f64,
    main_hit_weight: u64,
    ageing: SketchAgeing,
    /// Additions since the last halving ([`SketchAgeing::Sampled`]).
    additions: u64,
    climber: Option<Climber>,
}

impl<K: PolicyKey> WTinyLfu<K> {
    /// Creates an empty W-TinyLFU holding at most `capacity` weight units.
    pub fn new(capacity: u64, config: &WTinyLfuConfig) -> Self {
        let window_cap = ((capacity as f64 * config.window_ratio.clamp(0.0, 1.0)) as u64)
            .max(1)
            .min(capacity);
        let mut policy = Self {
            entries: Entries::default(),
            queues: Segments::default(),
            sketch: CountMinSketch::with_counters(
                4 * capacity.min(1024) as usize,
                // Caffeine's counters stop at 15: four bits hold them.
                match config.ageing {
                    SketchAgeing::Sampled { .. } => CounterBits::Four,
                    SketchAgeing::MainHits { .. } => CounterBits::Sixteen,
                },
            ),
            hasher: Default::default(),
            capacity,
            admit_max: if config.admit_heavier_than_window {
                capacity
            } else {
                window_cap
            },
            main_cap: 0,
            probation_cap: 0,
            protected_cap: 0,
            protected_ratio: config.protected_ratio.clamp(0.0, 1.0),
            main_hit_weight: 0,
            ageing: config.ageing,
            additions: 0,
            climber: config.hill_climbing.then_some(Climber {
                requests: 0,
                hits: 0,
                previous_hit_rate: 0.0,
                step: CLIMBER_STEP_PERCENT * capacity as f64,
            }),
        };
        policy.set_main_cap(capacity - window_cap);
        policy
    }

    /// The capacity currently given to the main cache, in weight units (the
    /// window holds the rest).
    pub fn main_capacity(&self) -> u64 {
        self.main_cap
    }

    fn set_main_cap(&mut self, main_cap: u64) {
        self.main_cap = main_cap;
        self.protected_cap = (main_cap as f64 * self.protected_ratio) as u64;
        self.probation_cap = main_cap - self.protected_cap;
    }

    fn size(&self, queue: Queue) -> u64 {
        self.queues.size(queue)
    }

    fn main_used(&self) -> u64 {
        self.size(Queue::Probation) + self.size(Queue::Protected)
    }

    fn resident(&self) -> u64 {
        self.size(Queue::Window) + self.main_used()
    }

    /// Moves the oldest protected entries to probation until protected fits.
    fn trim_protected(&mut self) {
        while self.size(Queue::Protected) > self.protected_cap {
            let Some(oldest) = self.queues.back(Queue::Protected) else {
                break;
            };
            self.queues
                .relink(&mut self.entries, oldest, Queue::Probation);
        }
    }

    fn grow_sketch(&mut self) {
        // Keep about four counters per resident entry.
        if self.entries.len() * 4 > self.sketch.width() && self.sketch.width() < (1 << 24) {
            self.sketch.grow();
        }
    }

    /// A count libCacheSim's ageing adds (insert, main hit, window victim).
    fn count(&mut self, hash: u64) {
        if matches!(self.ageing, SketchAgeing::MainHits { .. }) {
            self.grow_sketch();
            self.sketch.increment(hash);
        }
    }

    /// A count Caffeine's ageing adds: one per request (hit or insert).
    fn record_access(&mut self, hash: u64) {
        let SketchAgeing::Sampled { sample_factor } = self.ageing else {
            return;
        };
        self.grow_sketch();
        if self.sketch.increment_capped(hash, SAMPLED_MAX_COUNT) {
            self.additions += 1;
            let sized_for = (self.sketch.width() / 4) as u64;
            if self.additions >= sample_factor.max(1).saturating_mul(sized_for) {
                self.sketch.halve();
                self.additions /= 2;
            }
        }
    }

    /// Links the unlinked entry `idx` into the main cache: the lowest
    /// segment with room, else probation (libCacheSim's SLRU insert).
    fn insert_main(&mut self, idx: u32) {
        let weight = self.entries.get(idx).weight();
        let queue = if self.size(Queue::Probation) + weight <= self.probation_cap {
            Queue::Probation
        } else if self.size(Queue::Protected) + weight <= self.protected_cap {
            Queue::Protected
        } else {
            Queue::Probation
        };
        self.queues.push_front(&mut self.entries, idx, queue);
    }

    fn main_victim(&self) -> Option<u32> {
        self.queues
            .back(Queue::Probation)
            .or_else(|| self.queues.back(Queue::Protected))
    }

    /// One eviction step (libCacheSim's `WTinyLFU_evict`): drains window
    /// victims into a main cache with room; otherwise one of the window
    /// victim and the main victim is evicted, by estimated frequency.
    fn evict_step(&mut self, evicted: &mut Vec<(K, u64)>) {
        loop {
            let Some(candidate) = self.queues.back(Queue::Window) else {
                if let Some(victim) = self.main_victim() {
                    let entry = self.queues.delete(&mut self.entries, victim);
                    evicted.push(entry.into_parts());
                }
                return;
            };
            let (weight, hash) = {
                let e = self.entries.get(candidate);
                (e.weight(), self.hasher.hash_one(&e.key))
            };
            if self.main_used() + weight <= self.main_cap {
                self.queues.unlink(&mut self.entries, candidate);
                self.insert_main(candidate);
                self.count(hash);
                continue;
            }
            let admitted = match self.main_victim() {
                Some(victim) => {
                    let victim_hash = self.hasher.hash_one(&self.entries.get(victim).key);
                    if self.sketch.estimate(hash) > self.sketch.estimate(victim_hash) {
                        let entry = self.queues.delete(&mut self.entries, victim);
                        evicted.push(entry.into_parts());
                        true
                    } else {
                        false
                    }
                }
                None => false,
            };
            if admitted {
                self.queues.unlink(&mut self.entries, candidate);
                self.insert_main(candidate);
            } else {
                let entry = self.queues.delete(&mut self.entries, candidate);
                evicted.push(entry.into_parts());
            }
            self.count(hash);
            return;
        }
    }

    fn record_main_hit(&mut self, hash: u64, weight: u64) {
        let SketchAgeing::MainHits { reset_factor } = self.ageing else {
            return;
        };
        self.count(hash);
        self.main_hit_weight += weight.max(1);
        if self.main_hit_weight >= reset_factor.max(1).saturating_mul(self.main_cap.max(1)) {
            self.main_hit_weight = 0;
            self.sketch.halve();
        }
    }

    fn climb(&mut self, hit: bool) {
        let sample = (10 * self.entries.len() as u64).max(1000);
        let Some(climber) = self.climber.as_mut() else {
            return;
        };
        climber.requests += 1;
        climber.hits += u64::from(hit);
        if climber.requests < sample {
            return;
        }
        let hit_rate = climber.hits as f64 / climber.requests as f64;
        let change = hit_rate - climber.previous_hit_rate;
        let amount = if change >= 0.0 {
            climber.step
        } else {
            -climber.step
        };
        climber.step = if change.abs() >= CLIMBER_RESTART_THRESHOLD {
            CLIMBER_STEP_PERCENT * self.capacity as f64 * amount.signum()
        } else {
            CLIMBER_STEP_DECAY * amount
        };
        climber.previous_hit_rate = hit_rate;
        climber.requests = 0;
        climber.hits = 0;
        // A positive amount grows the window, i.e. shrinks the main cache.
        let shift = amount.abs() as u64;
        let main_cap = if amount > 0.0 {
            self.main_cap.saturating_sub(shift)
        } else {
            (self.main_cap + shift).min(self.capacity.saturating_sub(1))
        };
        self.set_main_cap(main_cap);
        // Entries that no longer fit in the main cache move to the window.
        while self.main_used() > self.main_cap {
            let Some(victim) = self.main_victim() else {
                break;
            };
            self.queues.relink(&mut self.entries, victim, Queue::Window);
        }
        self.trim_protected();
    }

    /// Walks the three lists and checks them against the index and sizes.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        self.queues.check(&self.entries);
        assert!(self.resident() <= self.capacity);
        assert!(self.main_cap <= self.capacity);
    }
}

impl<K: PolicyKey> EvictionPolicy<K> for WTinyLfu<K> {
    fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(idx) = self.entries.index(key) else {
            self.climb(false);
            return false;
        };
        let (queue, weight) = {
            let e = self.entries.get(idx);
            (e.state.queue, e.weight())
        };
        let hash = self.hasher.hash_one(key);
        self.record_access(hash);
        match queue {
            Queue::Window => {
                self.queues
                    .move_to_front(&mut self.entries, Queue::Window, idx);
            }
            Queue::Probation => {
                self.record_main_hit(hash, weight);
                self.queues.relink(&mut self.entries, idx, Queue::Protected);
                self.trim_protected();
            }
            Queue::Protected => {
                self.record_main_hit(hash, weight);
                self.queues
                    .move_to_front(&mut self.entries, Queue::Protected, idx);
            }
        }
        self.climb(true);
        true
    }

    fn insert(
        &mut self,
        key: K,
        weight: u64,
        _expires_at_ms: Option<u64>,
        evicted: &mut Vec<(K, u64)>,
    ) -> bool {
        self.remove(&key);
        if weight > self.capacity || weight > self.admit_max || weight > super::MAX_WEIGHT {
            return false;
        }
        while self.resident() + weight > self.capacity {
            let before = self.resident();
            self.evict_step(evicted);
            if before == 0 {
                break;
            }
        }
        let hash = self.hasher.hash_one(&key);
        let state = State {
            queue: Queue::Window,
        };
        let idx = self.entries.alloc(key, weight, state);
        self.queues
            .push_front(&mut self.entries, idx, Queue::Window);
        self.count(hash);
        self.record_access(hash);
        true
    }

    fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.entries.index(key)?;
        Some(self.queues.delete(&mut self.entries, idx).weight())
    }

    fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .index(key)
            .map(|idx| &self.entries.get(idx).key)
    }

    fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
        for entry in self.entries.iter() {
            f(&entry.key, entry.weight());
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn used(&self) -> u64 {
        self.resident()
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        let out = self.queues.collect(
            &self.entries,
            &[Queue::Window, Queue::Probation, Queue::Protected],
        );
        self.entries.clear();
        self.queues.clear();
        self.sketch.clear();
        self.main_hit_weight = 0;
        self.additions = 0;
        out
    }

    fn frequency_hint(&self, key: &K) -> u32 {
        u32::from(self.sketch.estimate(self.hasher.hash_one(key)))
    }

    fn seed_frequency<Q>(&mut self, key: &Q, hint: u32)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Counted as the requests the hint stands for, up to the ageing's
        // ceiling, but not as additions towards the next halving: a
        // migration must not age the sketch it seeds.
        let hash = self.hasher.hash_one(key);
        self.grow_sketch();
        let most = match self.ageing {
            SketchAgeing::Sampled { .. } => SAMPLED_MAX_COUNT,
            SketchAgeing::MainHits { .. } => u16::MAX,
        };
        for _ in 0..hint.min(u32::from(most)) {
            if !self.sketch.increment_capped(hash, most) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Switches an LFU cache of 100 entries (key 7 requested 30 times,
    /// the rest once) into W-TinyLFU, with or without the frequency hints,
    /// then runs 100 challengers (each requested four times in the window)
    /// through its admission contests; returns whether key 7 and key 3
    /// (a cold key) are still resident.
    fn after_switch(carry_over: bool) -> (bool, bool) {
        use super::super::{AnyPolicy, LfuConfig, PolicyConfig, migrate};
        let mut evicted = Vec::new();
        let mut lfu: AnyPolicy<u64> = PolicyConfig::Lfu(LfuConfig).build(100);
        for key in 0..100u64 {
            lfu.insert(key, 1, None, &mut evicted);
        }
        for _ in 0..30 {
            lfu.access(&7);
        }
        assert_eq!(lfu.frequency_hint(&7), 31);
        let mut next: AnyPolicy<u64> = PolicyConfig::WTinyLfu(WTinyLfuConfig::default()).build(100);
        if carry_over {
            migrate(&mut lfu, &mut next, &mut evicted);
        } else {
            for (key, weight) in lfu.drain() {
                next.insert(key, weight, None, &mut evicted);
            }
        }
        assert_eq!(next.len(), 100, "the switch keeps every resident");
        for challenger in 1_000..1_100u64 {
            next.insert(challenger, 1, None, &mut evicted);
            for _ in 0..3 {
                next.access(&challenger);
            }
        }
        (next.contains(&7), next.contains(&3))
    }

    #[test]
    fn a_key_hot_before_a_switch_into_w_tinylfu_survives_contests_a_cold_one_loses() {
        assert_eq!(after_switch(true), (true, false));
        // Without the hints the hot key is as cold as the rest, and loses.
        assert_eq!(after_switch(false), (false, false));
    }

    #[test]
    fn a_frequent_key_is_not_displaced_by_a_scan() {
        let mut cache = WTinyLfu::new(100, &WTinyLfuConfig::default());
        let mut evicted = Vec::new();
        for k in 0..100u64 {
            cache.insert(k, 1, None, &mut evicted);
        }
        for _ in 0..5 {
            for k in 0..50u64 {
                assert!(cache.access(&k));
            }
        }
        for k in 1000..2000u64 {
            if !cache.access(&k) {
                cache.insert(k, 1, None, &mut evicted);
            }
        }
        let kept = (0..50u64).filter(|k| cache.contains(k)).count();
        assert!(kept >= 45, "the scan displaced {} hot keys", 50 - kept);
        cache.check_invariants();
    }

    #[test]
    fn rejects_weights_above_the_window_only_in_libcachesim_mode() {
        let mut cache = WTinyLfu::new(1000, &WTinyLfuConfig::libcachesim());
        let mut evicted = Vec::new();
        assert!(cache.insert(1, 10, None, &mut evicted));
        assert!(!cache.insert(2, 11, None, &mut evicted));
        assert!(evicted.is_empty());
        let mut cache = WTinyLfu::new(1000, &WTinyLfuConfig::default());
        for k in 0..100u64 {
            assert!(cache.insert(k, 9, None, &mut evicted));
        }
        assert!(cache.insert(1000, 600, None, &mut evicted));
        assert!(cache.contains(&1000));
        assert!(cache.used() <= 1000);
        assert!(!evicted.is_empty());
        cache.check_invariants();
        assert!(!cache.insert(1001, 1001, None, &mut evicted));
    }

    #[test]
    fn hill_climbing_keeps_invariants() {
        let config = WTinyLfuConfig {
            hill_climbing: true,
            ..WTinyLfuConfig::default()
        };
        let mut cache = WTinyLfu::new(50, &config);
        let mut evicted = Vec::new();
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = (x >> 33) % 200;
            if !cache.access(&k) {
                cache.insert(k, 1, None, &mut evicted);
            }
        }
        cache.check_invariants();
        assert!(cache.main_capacity() < 50);
    }
}

/// Adaptive W-TinyLFU (the hill climber on by default) against LRU and the
/// fixed 1% window: within 0.02 of the better of the two on a
/// recency-biased trace and on a frequency-biased one.
#[cfg(test)]
mod adaptive_tests {
    use crate::eviction::simulator::{Mode, simulate};
    use crate::eviction::synthetic;
    use crate::eviction::{LruConfig, PolicyConfig, WTinyLfuConfig};

    fn compare(name: &str, trace: &[crate::eviction::simulator::Request], capacity: u64) {
        let adaptive: PolicyConfig = WTinyLfuConfig::default().into();
        let fixed: PolicyConfig = WTinyLfuConfig {
            hill_climbing: false,
            ..WTinyLfuConfig::default()
        }
        .into();
        let lru: PolicyConfig = LruConfig.into();
        let run = |c: &PolicyConfig| simulate(trace, c, capacity, Mode::Objects).miss_ratio;
        let (a, f, l) = (run(&adaptive), run(&fixed), run(&lru));
        eprintln!("{name}: adaptive {a:.4} fixed-window {f:.4} lru {l:.4}");
        assert!(
            a <= f.min(l) + 0.02,
            "{name}: adaptive {a:.4}, fixed {f:.4}, lru {l:.4}"
        );
    }

    #[test]
    fn adaptive_w_tinylfu_is_within_0_02_of_the_better_of_lru_and_a_fixed_window() {
        assert!(WTinyLfuConfig::default().hill_climbing, "on by default");
        compare(
            "recency",
            &synthetic::recency(1_500, 0.05, 1_000_000, 22),
            1000,
        );
        compare(
            "zipf-0.9",
            &synthetic::zipf(20_000, 0.9, 1_000_000, 20, 0),
            1000,
        );
    }
}
