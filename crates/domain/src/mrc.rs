//! Miss-ratio curves (MRC): what a cache's miss ratio would be under each
//! eviction policy at several capacities, estimated live from a spatially
//! sampled request stream (SHARDS, Waldspurger et al., FAST'15) replayed
//! through miniature simulations (Waldspurger et al., ATC'17), and the
//! [`AutoTuner`] that switches a cache with `eviction = "auto"` to the
//! policy its curves favour.
//!
//! The estimation itself is the infrastructure's (it runs the eviction
//! policies); this module holds the value objects, the [`MrcAnalyzer`] and
//! [`AnalyzerProvider`] ports and the switching rule, which is pure.

use crate::{CacheConfiguration, CacheKey, EvictionPolicyKind};

/// The capacities each policy is simulated at, as multiples of the cache's
/// own capacity. Bounded, so they are also the Prometheus label values of
/// `capacity_factor`.
pub const CAPACITY_FACTORS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// Index of the factor `1.0` (the cache's own capacity) in
/// [`CAPACITY_FACTORS`].
pub const CURRENT_CAPACITY_INDEX: usize = 2;

/// The policies `eviction = "auto"` and the curves consider: every
/// in-process policy but `ttl-first` (whose ranking needs expiries the
/// sampled stream does not carry) and moka's `tinylfu` (not simulable).
pub const CANDIDATE_POLICIES: [EvictionPolicyKind; 8] = [
    EvictionPolicyKind::Lru,
    EvictionPolicyKind::Fifo,
    EvictionPolicyKind::Lfu,
    EvictionPolicyKind::Clock,
    EvictionPolicyKind::Sieve,
    EvictionPolicyKind::S3Fifo,
    EvictionPolicyKind::Arc,
    EvictionPolicyKind::WTinyLfu,
];

/// The policies a rebuild can help: those whose learned state goes stale in
/// a regime change (W-TinyLFU's sketch and window size, LFU's counts, ARC's
/// target `p`) and that take the resident entries back without losing
/// them. Rebuilding a recency-based policy only drops its reference bits,
/// and S3-FIFO takes moved-in entries into its small queue, which sheds
/// them at the next misses: their fresh-start edge is a transient a
/// rebuild does not reach. [`recommend`] and the [`AutoTuner`] rebuild
/// these only; the curves estimate a fresh start of every policy.
pub const REBUILD_POLICIES: [EvictionPolicyKind; 3] = [
    EvictionPolicyKind::WTinyLfu,
    EvictionPolicyKind::Lfu,
    EvictionPolicyKind::Arc,
];

/// One point of a curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    /// The simulated capacity over the cache's own (one of [`CAPACITY_FACTORS`]).
    pub capacity_factor: f64,
    /// The simulated capacity, in the cache's unit (entries or bytes).
    pub capacity: u64,
    /// The estimated miss ratio, in `[0, 1]`; `None` before any sample.
    pub miss_ratio: Option<f64>,
}

/// One policy's estimated curve, points in [`CAPACITY_FACTORS`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct MissRatioCurve {
    /// The policy.
    pub policy: EvictionPolicyKind,
    /// The points, one per capacity factor.
    pub points: Vec<CurvePoint>,
    /// What a fresh start of the policy reaches on recent requests at the
    /// current capacity; `None` until a fresh simulation has warmed up (or
    /// when the analyzer runs none).
    pub fresh: Option<FreshStart>,
}

/// A fresh start of one policy on recent requests, beside the instance
/// that has run all along, both at the cache's own capacity and over the
/// same sampled requests (a paired comparison: the workload's own noise
/// cancels out).
///
/// The analyzer restarts a fresh miniature simulation of each policy every
/// few multiples of the miniature capacity of sampled requests and reads
/// it once it has warmed up (see the infrastructure's `mrc` module).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FreshStart {
    /// The fresh instance's miss ratio over its window, in `[0, 1]`.
    pub miss_ratio: f64,
    /// The running instance's miss ratio over the same requests, in `[0, 1]`.
    pub running_miss_ratio: f64,
    /// Sampled requests in the window.
    pub samples: u64,
}

impl FreshStart {
    /// How much lower a fresh start's miss ratio is than the running
    /// instance's (never negative).
    pub fn gain(&self) -> f64 {
        (self.running_miss_ratio - self.miss_ratio).max(0.0)
    }

    /// The half-width of the 95% band around the fresh estimate
    /// ([`noise_band`] over the window's samples).
    pub fn noise_band(&self) -> f64 {
        noise_band(self.miss_ratio, self.samples as f64)
    }

    /// Whether rebuilding beats running on by more than `margin` plus the
    /// noise band, over at least [`MIN_DECISION_SAMPLES`] samples.
    pub fn beats_running(&self, margin: f64) -> bool {
        self.samples as f64 >= MIN_DECISION_SAMPLES && self.gain() > margin + self.noise_band()
    }
}

impl MissRatioCurve {
    /// The estimated miss ratio at the cache's own capacity.
    pub fn at_current_capacity(&self) -> Option<f64> {
        self.points
            .get(CURRENT_CAPACITY_INDEX)
            .and_then(|p| p.miss_ratio)
    }
}

/// A snapshot of one cache's analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct MissRatioCurves {
    /// The cache's capacity the factors multiply (entries or bytes).
    pub capacity: u64,
    /// Whether capacities are bytes (`max_bytes`) rather than entries.
    pub byte_mode: bool,
    /// The current spatial sampling rate, in `(0, 1]` (SHARDS `T / P`);
    /// the fixed-size variant lowers it to stay within `max_memory_bytes`.
    pub sampling_rate: f64,
    /// Requests the analyzer has seen hashed (sampled or not).
    pub requests: u64,
    /// Sampled requests replayed through the simulations.
    pub sampled_requests: u64,
    /// Sampled requests dropped because the analyzer's queue was full.
    pub dropped_samples: u64,
    /// Estimated memory the simulations hold, in bytes.
    pub memory_bytes: u64,
    /// The memory bound, in bytes.
    pub max_memory_bytes: u64,
    /// Analysis epochs completed (the estimates are refreshed at each).
    pub epochs: u64,
    /// The effective number of sampled requests behind the estimates once
    /// the decay has weighted them (Kish's `(Σw)² / Σw²`): what the noise
    /// bands are computed over.
    pub effective_samples: f64,
    /// Epochs the policy with the lowest estimate at the current capacity
    /// has led for (0 when it took the lead at the last epoch).
    pub leader_epochs: u64,
    /// One curve per policy, in [`CANDIDATE_POLICIES`] order.
    pub curves: Vec<MissRatioCurve>,
}

impl MissRatioCurves {
    /// The curve of `policy`, if simulated.
    pub fn curve(&self, policy: EvictionPolicyKind) -> Option<&MissRatioCurve> {
        self.curves.iter().find(|c| c.policy == policy)
    }

    /// `(policy, estimated miss ratio at the current capacity)` for every
    /// policy with an estimate.
    pub fn at_current_capacity(&self) -> Vec<(EvictionPolicyKind, f64)> {
        self.curves
            .iter()
            .filter_map(|c| c.at_current_capacity().map(|m| (c.policy, m)))
            .collect()
    }
}

/// The live analysis of one cache: fed on the request path, read by the
/// curves endpoint, the gauges and the auto-tuner.
///
/// Contract: [`MrcAnalyzer::record`] is on the hot path. It MUST only hash
/// the key and, for a sampled key, try to enqueue it (dropping and
/// counting it when a bounded queue is full); it MUST NOT block, allocate
/// for unsampled keys or fail. Analysis runs elsewhere.
pub trait MrcAnalyzer: Send + Sync + 'static {
    /// Records one read of `key`; `weight` is the entry's weight in bytes
    /// when it was found (byte-mode caches simulate with it), `None` on a
    /// miss.
    fn record(&self, key: &CacheKey, weight: Option<u64>);

    /// Records a write of `key` with its weight in bytes (it does not count
    /// as a request: it teaches byte-mode simulations the key's size).
    fn record_write(&self, key: &CacheKey, weight: u64);

    /// The latest estimates.
    fn curves(&self) -> MissRatioCurves;

    /// The capacity and unit this analyzer simulates, to decide whether a
    /// reconfigured cache can keep it: `(capacity, byte_mode)`.
    fn shape(&self) -> (u64, bool);

    /// Tells the analyzer the cache rebuilt `policy` (built anew, the
    /// resident entries moved in), so that its running simulations of that
    /// policy are rebuilt alike and keep standing for the cache. MUST NOT
    /// block; may be dropped when the analyzer is busy. The default ignores it.
    fn rebuilt(&self, policy: EvictionPolicyKind) {
        let _ = policy;
    }
}

/// Opens the analyzer of a cache.
pub trait AnalyzerProvider: Send + Sync + 'static {
    /// An analyzer for `config`, or `None` when the cache is not analysed
    /// (analysis off, or a cache with no bounded in-process tier).
    fn open(&self, config: &CacheConfiguration) -> Option<std::sync::Arc<dyn MrcAnalyzer>>;
}

/// What one capacity change would do to the active policy's estimated
/// miss ratio.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityChange {
    /// The new capacity over the current one (one of [`CAPACITY_FACTORS`], not 1).
    pub capacity_factor: f64,
    /// The new capacity, in the cache's unit.
    pub capacity: u64,
    /// The estimate at the current capacity.
    pub miss_ratio_now: f64,
    /// The estimate at the new capacity.
    pub miss_ratio_after: f64,
    /// A sentence, e.g. "doubling max_bytes (1000 to 2000) lowers the
    /// estimated miss ratio from 0.31 to 0.22".
    pub summary: String,
}

/// Fewest effective sampled requests ([`MissRatioCurves::effective_samples`])
/// before the recommendation calls a difference between policies real.
pub const MIN_DECISION_SAMPLES: f64 = 1024.0;

/// The half-width of a 95% band around a miss-ratio estimate `m` drawn
/// from `n` effective sampled requests: `1.96 * sqrt(m (1 - m) / n)`, the
/// binomial (normal-approximation) interval. A lower bound: SHARDS samples
/// whole keys, whose requests are correlated. `1.0` when `n` is 0.
pub fn noise_band(m: f64, n: f64) -> f64 {
    if n <= 0.0 {
        return 1.0;
    }
    1.96 * (m.clamp(0.0, 1.0) * (1.0 - m.clamp(0.0, 1.0)) / n).sqrt()
}

/// One policy's estimate at the current capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyEstimate {
    /// The policy.
    pub policy: EvictionPolicyKind,
    /// Its estimated miss ratio, in `[0, 1]`.
    pub miss_ratio: f64,
    /// The half-width of its 95% band ([`noise_band`]).
    pub noise_band: f64,
    /// What a fresh start of it reaches on recent requests, when known.
    pub fresh: Option<FreshStart>,
}

/// What each capacity change would do under one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyCapacityChanges {
    /// The policy.
    pub policy: EvictionPolicyKind,
    /// One change per capacity factor other than 1.
    pub changes: Vec<CapacityChange>,
}

/// The advice [`recommend`] derives from a cache's curves.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// The policy in force.
    pub active: EvictionPolicyKind,
    /// Its estimated miss ratio at the current capacity.
    pub active_miss_ratio: Option<f64>,
    /// The policy with the lowest estimate at the current capacity.
    pub best: Option<EvictionPolicyKind>,
    /// That lowest estimate.
    pub best_miss_ratio: Option<f64>,
    /// `active_miss_ratio - best_miss_ratio` (0 when the active policy is best).
    pub estimated_gain: f64,
    /// The active policy's estimate at every other capacity factor.
    pub capacity_changes: Vec<CapacityChange>,
    /// Every policy's estimate at the current capacity with its noise band.
    pub estimates: Vec<PolicyEstimate>,
    /// The effective sampled requests are fewer than
    /// [`MIN_DECISION_SAMPLES`], or the best policy's lead is inside the
    /// noise band: the curves cannot tell the policies apart yet.
    pub too_thin_to_decide: bool,
    /// Analysis epochs the best policy has led for.
    pub best_held_epochs: u64,
    /// Whether `auto`'s rule would move to the best policy once the lead
    /// holds: the gain clears [`DEFAULT_AUTO_MARGIN`] and the curves are not
    /// too thin.
    pub auto_would_act: bool,
    /// The capacity what-ifs of every policy (the active one's are
    /// `capacity_changes`).
    pub capacity_what_ifs: Vec<PolicyCapacityChanges>,
    /// Rebuild the active policy (built anew, the resident entries moved
    /// in): it is one of [`REBUILD_POLICIES`], a fresh start of it beats
    /// the running one on recent requests by more than
    /// [`DEFAULT_AUTO_MARGIN`] plus the fresh estimate's noise band
    /// ([`FreshStart::beats_running`]), and no switch is advised (a switch
    /// builds the new policy anew too).
    pub rebuild: bool,
    /// The active policy's running miss ratio minus a fresh start's over
    /// the same recent requests ([`FreshStart::gain`]); 0 when unknown.
    pub rebuild_gain: f64,
}

/// Reads `curves` for a cache running `active`: the best policy at the
/// current capacity with its estimated gain, and what each capacity change
/// would buy under the active policy.
pub fn recommend(curves: &MissRatioCurves, active: EvictionPolicyKind) -> Recommendation {
    let estimates = curves.at_current_capacity();
    let active_miss_ratio = estimates.iter().find(|(p, _)| *p == active).map(|e| e.1);
    let best = estimates.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let estimated_gain = match (active_miss_ratio, best) {
        (Some(a), Some((_, b))) => (a - b).max(0.0),
        _ => 0.0,
    };
    let capacity_changes = capacity_changes_of(curves, active);
    let n = curves.effective_samples;
    let estimates_with_bands: Vec<PolicyEstimate> = estimates
        .iter()
        .map(|&(policy, m)| PolicyEstimate {
            policy,
            miss_ratio: m,
            noise_band: noise_band(m, n),
            fresh: curves.curve(policy).and_then(|c| c.fresh),
        })
        .collect();
    let best_band = best.map_or(1.0, |(_, m)| noise_band(m, n));
    let too_thin_to_decide = n < MIN_DECISION_SAMPLES
        || best.is_none()
        || (estimated_gain > 0.0 && estimated_gain <= best_band);
    let auto_would_act = !too_thin_to_decide && estimated_gain > DEFAULT_AUTO_MARGIN;
    let fresh = curves.curve(active).and_then(|c| c.fresh);
    let rebuild = !auto_would_act
        && REBUILD_POLICIES.contains(&active)
        && fresh.is_some_and(|f| f.beats_running(DEFAULT_AUTO_MARGIN));
    let capacity_what_ifs = curves
        .curves
        .iter()
        .map(|c| PolicyCapacityChanges {
            policy: c.policy,
            changes: capacity_changes_of(curves, c.policy),
        })
        .collect();
    Recommendation {
        active,
        active_miss_ratio,
        best: best.map(|b| b.0),
        best_miss_ratio: best.map(|b| b.1),
        estimated_gain,
        capacity_changes,
        estimates: estimates_with_bands,
        too_thin_to_decide,
        best_held_epochs: curves.leader_epochs,
        auto_would_act,
        capacity_what_ifs,
        rebuild,
        rebuild_gain: fresh.map_or(0.0, |f| f.gain()),
    }
}

/// What each capacity factor other than 1 would do to `policy`'s estimate.
fn capacity_changes_of(
    curves: &MissRatioCurves,
    policy: EvictionPolicyKind,
) -> Vec<CapacityChange> {
    let now = curves
        .curve(policy)
        .and_then(MissRatioCurve::at_current_capacity);
    let unit = if curves.byte_mode {
        "max_bytes"
    } else {
        "max_entries"
    };
    match (curves.curve(policy), now) {
        (Some(curve), Some(now)) => curve
            .points
            .iter()
            .filter(|p| p.capacity_factor != 1.0)
            .filter_map(|p| {
                let after = p.miss_ratio?;
                let verb = if p.capacity_factor == 0.25 {
                    "quartering"
                } else if p.capacity_factor == 0.5 {
                    "halving"
                } else if p.capacity_factor == 2.0 {
                    "doubling"
                } else if p.capacity_factor == 4.0 {
                    "quadrupling"
                } else {
                    "scaling"
                };
                let direction = if after < now {
                    "lowers"
                } else if after > now {
                    "raises"
                } else {
                    "keeps"
                };
                Some(CapacityChange {
                    capacity_factor: p.capacity_factor,
                    capacity: p.capacity,
                    miss_ratio_now: now,
                    miss_ratio_after: after,
                    summary: format!(
                        "{verb} {unit} ({} to {}) {direction} the estimated miss ratio from {now:.2} to {after:.2}",
                        curves.capacity, p.capacity
                    ),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

mod tuner;

pub use tuner::{
    AutoSwitch, AutoTuneSettings, AutoTuner, DEFAULT_AUTO_HYSTERESIS, DEFAULT_AUTO_MARGIN,
    DEFAULT_AUTO_MIN_INTERVAL, DEFAULT_AUTO_WINDOW,
};

#[cfg(test)]
mod tests {
    use super::*;
    use EvictionPolicyKind as P;

    fn curves() -> MissRatioCurves {
        let curve = |policy, ratios: [f64; 5]| MissRatioCurve {
            policy,
            points: CAPACITY_FACTORS
                .iter()
                .zip(ratios)
                .map(|(&f, m)| CurvePoint {
                    capacity_factor: f,
                    capacity: (1000.0 * f) as u64,
                    miss_ratio: Some(m),
                })
                .collect(),
            fresh: None,
        };
        MissRatioCurves {
            capacity: 1000,
            byte_mode: true,
            sampling_rate: 0.01,
            requests: 1,
            sampled_requests: 1,
            dropped_samples: 0,
            memory_bytes: 0,
            max_memory_bytes: 1,
            epochs: 0,
            effective_samples: 10_000.0,
            leader_epochs: 3,
            curves: vec![
                curve(P::Sieve, [0.5, 0.4, 0.31, 0.22, 0.1]),
                curve(P::Lru, [0.5, 0.4, 0.25, 0.2, 0.1]),
            ],
        }
    }

    #[test]
    fn the_recommendation_names_the_best_policy_and_capacity_changes() {
        let r = recommend(&curves(), P::Sieve);
        assert_eq!(r.best, Some(P::Lru));
        assert!((r.estimated_gain - 0.06).abs() < 1e-9);
        let doubling = r
            .capacity_changes
            .iter()
            .find(|c| c.capacity_factor == 2.0)
            .unwrap();
        assert_eq!(
            doubling.summary,
            "doubling max_bytes (1000 to 2000) lowers the estimated miss ratio from 0.31 to 0.22"
        );
        assert_eq!(r.capacity_changes.len(), 4);
        assert_eq!(recommend(&curves(), P::Lru).estimated_gain, 0.0);
    }

    #[test]
    fn the_recommendation_gives_bands_what_ifs_for_every_policy_and_when_it_is_too_thin() {
        let r = recommend(&curves(), P::Sieve);
        assert_eq!(r.estimates.len(), 2);
        // 1.96 * sqrt(0.25 * 0.75 / 10,000) = 0.0085.
        let lru = r.estimates.iter().find(|e| e.policy == P::Lru).unwrap();
        assert!((lru.noise_band - 0.0085).abs() < 1e-4, "{lru:?}");
        assert!(!r.too_thin_to_decide);
        assert!(r.auto_would_act, "a 0.06 lead over 10,000 samples");
        assert_eq!(r.best_held_epochs, 3);
        assert_eq!(r.capacity_what_ifs.len(), 2);
        assert!(r.capacity_what_ifs.iter().all(|w| w.changes.len() == 4));
        let thin = MissRatioCurves {
            effective_samples: 500.0,
            ..curves()
        };
        let r = recommend(&thin, P::Sieve);
        assert!(r.too_thin_to_decide && !r.auto_would_act);
        // A lead inside the band: 0.004 over 10,000 samples.
        let mut close = curves();
        close.curves[1].points[CURRENT_CAPACITY_INDEX].miss_ratio = Some(0.306);
        let r = recommend(&close, P::Sieve);
        assert!(r.too_thin_to_decide && !r.auto_would_act, "{r:?}");
    }

    #[test]
    fn the_recommendation_rebuilds_when_a_fresh_start_beats_the_running_policy() {
        let with_fresh = |running: f64, fresh: f64, samples: u64| {
            let mut c = curves();
            c.curves[1].policy = P::WTinyLfu;
            c.curves[1].fresh = Some(FreshStart {
                miss_ratio: fresh,
                running_miss_ratio: running,
                samples,
            });
            c
        };
        let r = recommend(&with_fresh(0.5, 0.3, 20_000), P::WTinyLfu);
        assert!(r.rebuild, "{r:?}");
        assert!((r.rebuild_gain - 0.2).abs() < 1e-9);
        let lru = r
            .estimates
            .iter()
            .find(|e| e.policy == P::WTinyLfu)
            .unwrap();
        assert_eq!(lru.fresh.map(|f| f.miss_ratio), Some(0.3));
        // Within the margin plus the band, or over too few samples: no.
        assert!(!recommend(&with_fresh(0.5, 0.485, 20_000), P::WTinyLfu).rebuild);
        assert!(!recommend(&with_fresh(0.5, 0.3, 500), P::WTinyLfu).rebuild);
        // Sieve is active and a switch is advised: no rebuild.
        let mut c = with_fresh(0.5, 0.3, 20_000);
        c.curves[0].fresh = c.curves[1].fresh;
        let r = recommend(&c, P::Sieve);
        assert!(r.auto_would_act && !r.rebuild);
        assert_eq!(recommend(&curves(), P::Lru).rebuild_gain, 0.0);
        // LRU is no rebuild policy: its fresh start is shown, never acted on.
        let mut lru = with_fresh(0.5, 0.3, 20_000);
        lru.curves[1].policy = P::Lru;
        let r = recommend(&lru, P::Lru);
        assert!(!r.rebuild && r.rebuild_gain > 0.19, "{r:?}");
    }
}
