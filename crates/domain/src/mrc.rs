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
        })
        .collect();
    let best_band = best.map_or(1.0, |(_, m)| noise_band(m, n));
    let too_thin_to_decide = n < MIN_DECISION_SAMPLES
        || best.is_none()
        || (estimated_gain > 0.0 && estimated_gain <= best_band);
    let auto_would_act = !too_thin_to_decide && estimated_gain > DEFAULT_AUTO_MARGIN;
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

/// The switching rule of `eviction = "auto"`: start on
/// [`AUTO_START_POLICY`](crate::AUTO_START_POLICY); move to the candidate with the lowest estimated
/// miss ratio at the current capacity when it beats the active policy by
/// more than `margin` plus the measured cost of earlier switches
/// ([`AutoTuner::record_switch_cost`]) (plus `hysteresis` when it is the
/// policy last left) for `window` consecutive evaluations, at least
/// `min_interval` evaluations after the previous switch.
///
/// ```
/// use strata_domain::{AutoTuneSettings, AutoTuner, EvictionPolicyKind as P};
/// let mut tuner = AutoTuner::new(P::Sieve, AutoTuneSettings { window: 2, min_interval: 0, ..Default::default() });
/// // A 0.10 lead clears the margin (0.01) and the prior switch cost (0.01).
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
    /// The measured cost of earlier switches, as a miss ratio amortised
    /// over `min_interval` evaluations (see [`AutoTuner::record_switch_cost`]).
    switch_cost: f64,
    /// The estimate of the policy switched to, at the switch, until its
    /// cost is recorded.
    pending: Option<f64>,
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
            // Until a switch is measured, assume one costs the margin:
            // a first switch must then gain twice the margin.
            switch_cost: settings.margin,
            pending: None,
        }
    }

    /// The measured cost of earlier switches the next one must also clear,
    /// as a miss ratio (the margin, as a prior, before any was measured).
    pub fn switch_cost(&self) -> f64 {
        self.switch_cost
    }

    /// Records what the last switch cost: `observed_miss_ratio` is the
    /// miss ratio the cache had between the switch and the first
    /// evaluation after it (the new policy starting from the old one's
    /// residents, without its history). Its excess over the estimate that
    /// chose the policy, spread over the `min_interval` evaluations a
    /// policy is kept at least, is the cost; the tuner keeps the mean of
    /// the last costs (weight 1/2 for the newest), and a later switch must
    /// gain `margin` plus that cost. Ignored when no switch is pending.
    pub fn record_switch_cost(&mut self, observed_miss_ratio: f64) {
        let Some(estimate) = self.pending.take() else {
            return;
        };
        let excess = (observed_miss_ratio - estimate).max(0.0);
        let cost = excess / f64::from(self.settings.min_interval.max(1));
        self.switch_cost = if self.switches <= 1 {
            cost
        } else {
            0.5 * (self.switch_cost + cost)
        };
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
            + self.switch_cost
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
        self.pending = Some(estimate);
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
    fn a_costly_switch_raises_the_bar_for_the_next() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        let to_lru = [(P::Sieve, 0.30), (P::Lru, 0.20), (P::Fifo, 0.40)];
        for _ in 0..3 {
            tuner.observe(&to_lru);
        }
        assert_eq!(tuner.active(), P::Lru);
        // The switch cost 0.08 of miss ratio over the first evaluation:
        // 0.02 once spread over min_interval 4.
        tuner.record_switch_cost(0.28);
        assert!((tuner.switch_cost() - 0.02).abs() < 1e-9);
        tuner.record_switch_cost(0.9);
        assert!((tuner.switch_cost() - 0.02).abs() < 1e-9, "once per switch");
        // A 0.025 lead clears the margin (0.01) but not margin + cost.
        let small = [(P::Lru, 0.20), (P::Fifo, 0.175)];
        for _ in 0..10 {
            assert!(tuner.observe(&small).is_none());
        }
        let large = [(P::Lru, 0.20), (P::Fifo, 0.16)];
        assert!((0..3).any(|_| tuner.observe(&large).is_some()));
        assert_eq!(tuner.active(), P::Fifo);
    }

    #[test]
    fn no_estimate_for_the_active_policy_means_no_switch() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..10 {
            assert!(tuner.observe(&[(P::Lru, 0.0)]).is_none());
        }
    }
}
