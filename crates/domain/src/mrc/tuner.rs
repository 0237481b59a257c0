//! The switching rule of `eviction = "auto"` ([`AutoTuner`]).

use super::{FreshStart, REBUILD_POLICIES};
use crate::EvictionPolicyKind;

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

/// How far (absolute miss ratio, beyond its noise band) a candidate's
/// fresh start must beat the active policy (the better of its running
/// miniature and its own fresh start) over the same window before [`AutoTuner::observe_all`] judges the candidate by
/// it: a collapse of the active policy, not the edge any fresh start has
/// for a while after a gradual shift (which the running miniatures, and a
/// rebuild, answer).
const FRESH_SWITCH_LEAD: f64 = 0.1;

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

impl AutoSwitch {
    /// Whether this is a rebuild: the same policy built anew, the resident
    /// entries moved in.
    pub fn is_rebuild(&self) -> bool {
        self.from == self.to
    }
}

/// The switching rule of `eviction = "auto"`: start on
/// [`AUTO_START_POLICY`](crate::AUTO_START_POLICY); move to the candidate with the lowest estimated
/// miss ratio at the current capacity when it beats the active policy by
/// more than `margin` plus the measured cost of earlier switches
/// ([`AutoTuner::record_switch_cost`]) (plus `hysteresis` when it is the
/// policy last left) for `window` consecutive evaluations, at least
/// `min_interval` evaluations after the previous switch.
///
/// With [`AutoTuner::observe_fresh`] it also *rebuilds* the active policy,
/// when it is one of [`REBUILD_POLICIES`]
/// (an [`AutoSwitch`] whose `from` and `to` are the same: the policy built
/// anew, the resident entries moved in) when a fresh start of it beats the
/// running one ([`FreshStart::gain`]) by more than `margin` plus the
/// measured switch cost plus the fresh estimate's noise band for `window`
/// consecutive evaluations, at least `min_interval` after the previous
/// switch or rebuild. A rebuild counts as a switch: its cost is measured
/// and raises the bar for the next one; and until the next switch, a
/// later rebuild must also gain more than the last one did (a fresh start's
/// edge that recurs on a stationary workload, as W-TinyLFU's first sketch
/// period on a loop, is not a regime change).
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
    /// Consecutive evaluations a fresh start has beaten the running policy.
    rebuild_streak: u32,
    /// The gain that justified the last rebuild of the active policy (none
    /// since it took over): the next rebuild must beat it too.
    last_rebuild_gain: f64,
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
            rebuild_streak: 0,
            last_rebuild_gain: 0.0,
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
        self.observe_fresh(estimates, None)
    }

    /// [`observe`](Self::observe), also given what a fresh start of the
    /// active policy reaches on recent requests: returns a switch, a
    /// rebuild (`from == to`, see [`AutoSwitch::is_rebuild`]) or nothing.
    /// A switch takes precedence over a rebuild.
    pub fn observe_fresh(
        &mut self,
        estimates: &[(EvictionPolicyKind, f64)],
        fresh: Option<FreshStart>,
    ) -> Option<AutoSwitch> {
        self.since_switch = self.since_switch.saturating_add(1);
        if let Some(switch) = self.consider_switch(estimates) {
            self.rebuild_streak = 0;
            self.last_rebuild_gain = 0.0;
            return Some(switch);
        }
        let needed = self.settings.margin + self.switch_cost + self.last_rebuild_gain;
        let rebuildable = REBUILD_POLICIES.contains(&self.active);
        let Some(fresh) = fresh.filter(|f| rebuildable && f.beats_running(needed)) else {
            self.rebuild_streak = 0;
            return None;
        };
        self.rebuild_streak += 1;
        if self.rebuild_streak < self.settings.window.max(1)
            || self.since_switch < self.settings.min_interval
        {
            return None;
        }
        self.rebuild_streak = 0;
        self.last_rebuild_gain = fresh.gain();
        self.leader = None;
        self.since_switch = 0;
        self.switches += 1;
        self.pending = Some(fresh.miss_ratio);
        Some(AutoSwitch {
            from: self.active,
            to: self.active,
            estimates: estimates.to_vec(),
        })
    }

    /// [`observe_fresh`](Self::observe_fresh), given the fresh-start
    /// estimates of every policy that has one. A switch builds its policy
    /// anew, so a candidate is also judged by what a fresh start of it
    /// reaches against the active policy over the same window (the better
    /// of its running miniature and its own fresh start, so what a rebuild
    /// would win is not credited to a switch; less the fresh estimate's
    /// noise band), when that lead passes `FRESH_SWITCH_LEAD` (0.1) and
    /// says more than the running miniatures do: after a regime change the running
    /// miniature of the policy to switch to carries the old regime too, and
    /// shows its edge only as it adapts (a loop after a Zipf phase: SIEVE
    /// misses every request while W-TinyLFU's running miniature, trained
    /// on the Zipf phase, also misses most of them at first).
    pub fn observe_all(
        &mut self,
        estimates: &[(EvictionPolicyKind, f64)],
        fresh: &[(EvictionPolicyKind, FreshStart)],
    ) -> Option<AutoSwitch> {
        let find = |p: EvictionPolicyKind| fresh.iter().find(|(k, _)| *k == p).map(|(_, f)| *f);
        let active_fresh = find(self.active);
        let current = estimates
            .iter()
            .find(|(p, _)| *p == self.active)
            .map(|&(_, m)| m);
        let adjusted: Vec<(EvictionPolicyKind, f64)> = match (active_fresh, current) {
            (Some(window), Some(current))
                if window.samples as f64 >= super::MIN_DECISION_SAMPLES =>
            {
                estimates
                    .iter()
                    .map(|&(p, m)| {
                        let Some(f) = find(p).filter(|_| p != self.active) else {
                            return (p, m);
                        };
                        // Against the better of the active policy running
                        // on and rebuilt: what a fresh start of the active
                        // policy reaches is a rebuild's to claim.
                        let base = window.running_miss_ratio.min(window.miss_ratio);
                        let lead = base - f.miss_ratio - f.noise_band();
                        if lead > FRESH_SWITCH_LEAD {
                            (p, m.min(current - lead))
                        } else {
                            (p, m)
                        }
                    })
                    .collect()
            }
            _ => estimates.to_vec(),
        };
        let mut switch = self.observe_fresh(&adjusted, active_fresh)?;
        switch.estimates = estimates.to_vec();
        Some(switch)
    }

    fn consider_switch(&mut self, estimates: &[(EvictionPolicyKind, f64)]) -> Option<AutoSwitch> {
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
    fn fresh(running: f64, fresh: f64) -> Option<FreshStart> {
        Some(FreshStart {
            miss_ratio: fresh,
            running_miss_ratio: running,
            samples: 20_000,
        })
    }

    /// After a collapse, a candidate whose running miniature does not lead
    /// (it carries the old regime too) is judged by its fresh start
    /// against the active policy over the same window;
    /// a fresh edge below FRESH_SWITCH_LEAD is left to the running
    /// miniatures.
    #[test]
    fn a_collapse_is_judged_by_the_candidates_fresh_starts() {
        // SIEVE runs at 0.95 over the window; W-TinyLFU's running miniature
        // is no better, but a fresh W-TinyLFU misses 0.40 there.
        let estimates = [(P::Sieve, 0.90), (P::WTinyLfu, 0.90)];
        let window = |p, running, fresh_ratio| (p, fresh(running, fresh_ratio).unwrap());
        let collapse = [
            window(P::Sieve, 0.95, 0.93),
            window(P::WTinyLfu, 0.93, 0.40),
        ];
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        assert!(
            tuner.observe(&estimates).is_none(),
            "the running miniatures tie"
        );
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        let switch = (0..3)
            .find_map(|_| tuner.observe_all(&estimates, &collapse))
            .expect("switches within the window");
        assert_eq!((switch.from, switch.to), (P::Sieve, P::WTinyLfu));
        assert_eq!(
            switch.estimates,
            estimates.to_vec(),
            "reports the running estimates"
        );

        // A fresh edge of 0.05 (under FRESH_SWITCH_LEAD past the band) is
        // the transient any fresh start has: no switch.
        let edge = [
            window(P::Sieve, 0.50, 0.49),
            window(P::WTinyLfu, 0.49, 0.44),
        ];
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..10 {
            assert!(
                tuner
                    .observe_all(&[(P::Sieve, 0.45), (P::WTinyLfu, 0.45)], &edge)
                    .is_none()
            );
        }
    }

    #[test]
    fn a_fresh_start_that_wins_for_the_window_rebuilds_and_counts_as_a_switch() {
        let mut tuner = AutoTuner::new(P::WTinyLfu, settings());
        let estimates = [(P::WTinyLfu, 0.60), (P::Lru, 0.90)];
        // A 0.015 gain clears the margin but not margin + the prior cost.
        for _ in 0..10 {
            assert!(
                tuner
                    .observe_fresh(&estimates, fresh(0.60, 0.585))
                    .is_none()
            );
        }
        assert!(tuner.observe_fresh(&estimates, fresh(0.60, 0.30)).is_none());
        assert!(tuner.observe_fresh(&estimates, fresh(0.60, 0.30)).is_none());
        let rebuild = tuner
            .observe_fresh(&estimates, fresh(0.60, 0.30))
            .expect("a third consecutive win");
        assert!(rebuild.is_rebuild());
        assert_eq!((rebuild.from, tuner.active()), (P::WTinyLfu, P::WTinyLfu));
        assert_eq!(tuner.switches(), 1);
        // The rebuild cost 0.40 over its first evaluation (0.10 spread over 4).
        tuner.record_switch_cost(0.70);
        assert!((tuner.switch_cost() - 0.10).abs() < 1e-9);
        for _ in 0..10 {
            assert!(tuner.observe_fresh(&estimates, fresh(0.60, 0.52)).is_none());
        }
        // Past the cost, the same 0.30 gain again is not enough: it must
        // beat the last rebuild's gain as well.
        for _ in 0..10 {
            assert!(tuner.observe_fresh(&estimates, fresh(0.60, 0.30)).is_none());
        }
        let again = (0..10).find_map(|_| tuner.observe_fresh(&estimates, fresh(0.70, 0.20)));
        assert!(again.is_some_and(|s| s.is_rebuild()));
    }

    #[test]
    fn a_switch_takes_precedence_over_a_rebuild_and_thin_windows_or_other_policies_never_rebuild() {
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        let estimates = [(P::Sieve, 0.60), (P::Lru, 0.30)];
        let made: Vec<_> = (0..3)
            .filter_map(|_| tuner.observe_fresh(&estimates, fresh(0.60, 0.30)))
            .collect();
        assert_eq!(made.len(), 1);
        assert!(!made[0].is_rebuild() && made[0].to == P::Lru);
        let mut tuner = AutoTuner::new(P::WTinyLfu, settings());
        let thin = Some(FreshStart {
            samples: 100,
            ..fresh(0.60, 0.30).unwrap()
        });
        for _ in 0..10 {
            assert!(tuner.observe_fresh(&[(P::WTinyLfu, 0.6)], thin).is_none());
        }
        // SIEVE is no rebuild policy: a fresh start's edge is not acted on.
        let mut tuner = AutoTuner::new(P::Sieve, settings());
        for _ in 0..10 {
            assert!(
                tuner
                    .observe_fresh(&[(P::Sieve, 0.6)], fresh(0.6, 0.3))
                    .is_none()
            );
        }
    }
}
