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
    let unit = if curves.byte_mode {
        "max_bytes"
    } else {
        "max_entries"
    };
    let capacity_changes = match (curves.curve(active), active_miss_ratio) {
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
    };
    Recommendation {
        active,
        active_miss_ratio,
        best: best.map(|b| b.0),
        best_miss_ratio: best.map(|b| b.1),
        estimated_gain,
        capacity_changes,
    }
}

/// When `eviction = "auto"` switches policies. Times are counted in
/// evaluations (one per [`AutoTuner::observe`] call: per analysis epoch
/// offline, per `interval_secs` live).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoTuneSettings {
    /// How much lower (absolute) a candidate's estimated miss ratio at the
    /// current capacity must be than the active policy's (default 0.01).
    pub margin: f64,
    /// Consecutive evaluations the same candidate must lead by more than
    /// `margin` (default 3).
    pub window: u32,
    /// Extra margin to switch back to the policy just left (default 0.005).
    pub hysteresis: f64,
    /// Fewest evaluations between two switches (default 6).
    pub min_interval: u32,
}

/// Default [`AutoTuneSettings::margin`].
pub const DEFAULT_AUTO_MARGIN: f64 = 0.01;
/// Default [`AutoTuneSettings::window`].
pub const DEFAULT_AUTO_WINDOW: u32 = 3;
/// Default [`AutoTuneSettings::hysteresis`].
pub const DEFAULT_AUTO_HYSTERESIS: f64 = 0.005;
/// Default [`AutoTuneSettings::min_interval`].
pub const DEFAULT_AUTO_MIN_INTERVAL: u32 = 6;

impl Default for AutoTuneSettings {
    fn default() -> Self {
        Self {
            margin: DEFAULT_AUTO_MARGIN,
            window: DEFAULT_AUTO_WINDOW,
            hysteresis: DEFAULT_AUTO_HYSTERESIS,
            min_interval: DEFAULT_AUTO_MIN_INTERVAL,
        }
    }
}

/// A switch [`AutoTuner::observe`] decided, with the estimates behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoSwitch {
    /// The policy left.
    pub from: EvictionPolicyKind,
    /// The policy chosen.
    pub to: EvictionPolicyKind,
    /// Every candidate's estimated miss ratio at the current capacity, at
    /// the evaluation that decided.
    pub estimates: Vec<(EvictionPolicyKind, f64)>,
}

/// The switching rule of `eviction = "auto"`: start on the default policy;
/// move to the candidate with the lowest estimated miss ratio at the
/// current capacity when it beats the active policy by more than `margin`
/// (plus `hysteresis` when it is the policy last left) for `window`
/// consecutive evaluations, at least `min_interval` evaluations after the
/// previous switch.
///
/// ```
/// use strata_domain::{AutoTuneSettings, AutoTuner, EvictionPolicyKind as P};
/// let mut tuner = AutoTuner::new(P::Sieve, AutoTuneSettings { window: 2, min_interval: 0, ..Default::default() });
/// let estimates = [(P::Sieve, 0.40), (P::Lru, 0.30)];
/// assert!(tuner.observe(&estimates).is_none());
/// assert_eq!(tuner.observe(&estimates).map(|s| s.to), Some(P::Lru));
/// assert_eq!(tuner.active(), P::Lru);
/// ```
#[derive(Clone, Debug)]
pub struct AutoTuner {
    settings: AutoTuneSettings,
    active: EvictionPolicyKind,
    previous: Option<EvictionPolicyKind>,
    leader: Option<(EvictionPolicyKind, u32)>,
    since_switch: u32,
    switches: u64,
}

impl AutoTuner {
    /// A tuner starting on `start`.
    pub fn new(start: EvictionPolicyKind, settings: AutoTuneSettings) -> Self {
        Self {
            settings,
            active: start,
            previous: None,
            leader: None,
            since_switch: settings.min_interval,
            switches: 0,
        }
    }

    /// The policy in force.
    pub fn active(&self) -> EvictionPolicyKind {
        self.active
    }

    /// Switches decided so far.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// One evaluation over `(policy, estimated miss ratio at the current
    /// capacity)`; returns the switch to make, if any (the tuner then
    /// considers it made).
    pub fn observe(&mut self, estimates: &[(EvictionPolicyKind, f64)]) -> Option<AutoSwitch> {
        self.since_switch = self.since_switch.saturating_add(1);
        let current = estimates
            .iter()
            .find(|(p, _)| *p == self.active)
            .map(|&(_, m)| m)?;
        let best = estimates
            .iter()
            .filter(|(p, _)| *p != self.active)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied();
        let Some((candidate, estimate)) = best else {
            self.leader = None;
            return None;
        };
        let needed = self.settings.margin
            + if Some(candidate) == self.previous {
                self.settings.hysteresis
            } else {
                0.0
            };
        if current - estimate <= needed {
            self.leader = None;
            return None;
        }
        let count = match self.leader {
            Some((p, n)) if p == candidate => n + 1,
            _ => 1,
        };
        self.leader = Some((candidate, count));
        if count < self.settings.window.max(1) || self.since_switch < self.settings.min_interval {
            return None;
        }
        let switch = AutoSwitch {
            from: self.active,
            to: candidate,
            estimates: estimates.to_vec(),
        };
        self.previous = Some(self.active);
        self.active = candidate;
        self.leader = None;
        self.since_switch = 0;
        self.switches += 1;
        Some(switch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EvictionPolicyKind as P;

    fn settings() -> AutoTuneSettings {
        AutoTuneSettings {
            margin: 0.01,
            window: 3,
            hysteresis: 0.005,
            min_interval: 4,
        }
    }

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
    fn a_lead_within_the_margin_never_switches() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..20 {
            assert!(
                tuner
                    .observe(&[(P::Sieve, 0.30), (P::Lru, 0.291)])
                    .is_none()
            );
        }
        assert_eq!(tuner.active(), P::Sieve);
    }

    #[test]
    fn a_lead_must_hold_for_the_window() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        let lead = [(P::Sieve, 0.30), (P::Lru, 0.20)];
        let tie = [(P::Sieve, 0.30), (P::Lru, 0.30)];
        assert!(tuner.observe(&lead).is_none());
        assert!(tuner.observe(&lead).is_none());
        assert!(tuner.observe(&tie).is_none(), "the streak is broken");
        assert!(tuner.observe(&lead).is_none());
        assert!(tuner.observe(&lead).is_none());
        let switch = tuner.observe(&lead).expect("third consecutive lead");
        assert_eq!((switch.from, switch.to), (P::Sieve, P::Lru));
        assert_eq!(switch.estimates, lead.to_vec());
    }

    #[test]
    fn switching_back_needs_the_hysteresis_and_the_interval() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        let to_lru = [(P::Sieve, 0.30), (P::Lru, 0.20)];
        for _ in 0..3 {
            tuner.observe(&to_lru);
        }
        assert_eq!(tuner.active(), P::Lru);
        // Sieve leads by 0.012: above the margin, below margin + hysteresis.
        let back = [(P::Sieve, 0.288), (P::Lru, 0.30)];
        for _ in 0..10 {
            assert!(tuner.observe(&back).is_none());
        }
        // A clear lead switches back, but not before min_interval.
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..3 {
            tuner.observe(&to_lru);
        }
        let clear = [(P::Sieve, 0.20), (P::Lru, 0.30)];
        let at = (1..=10)
            .find(|_| tuner.observe(&clear).is_some())
            .expect("switches back");
        assert_eq!(at, 4, "min_interval 4 evaluations after the switch");
        assert_eq!(tuner.active(), P::Sieve);
        assert_eq!(tuner.switches(), 2);
    }

    #[test]
    fn no_estimate_for_the_active_policy_means_no_switch() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..10 {
            assert!(tuner.observe(&[(P::Lru, 0.0)]).is_none());
        }
    }
}
