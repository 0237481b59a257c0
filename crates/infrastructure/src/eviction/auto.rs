//! `eviction = "auto"` offline: a trace replayed through the live logic
//! (SHARDS sampling and miniature simulations of [`mrc`](super::mrc), the
//! domain's [`AutoTuner`]), with the cache switching policies as the store
//! does: the new policy is built empty and the resident entries are moved
//! into it, oldest first, with their frequency hints ([`migrate`]). When a
//! fresh start of the active policy beats the running one
//! ([`AutoTuner::observe_fresh`]), the policy is *rebuilt*: built anew with
//! the resident entries moved in and no frequency carried over (the stale
//! state is what a rebuild drops), and the miniatures of that policy are
//! rebuilt the same way ([`MiniatureSimulations::rebuild`]).
//! `strata simulate --policies auto` and the auto suite in
//! `docs/eviction.md` run this.
//!
//! Offline, the tuner evaluates once per analysis epoch (live, once per
//! `[analysis] auto_interval_secs`), and each switch's cost is the miss
//! ratio between it and the next evaluation
//! ([`AutoTuner::record_switch_cost`]).

use strata_domain::{
    AUTO_START_POLICY, AutoSwitch, AutoTuneSettings, AutoTuner, CANDIDATE_POLICIES,
    EvictionPolicyKind,
};

use super::mrc::{MiniatureSimulations, MrcConfig, mix64};
use super::simulator::{Mode, Request, SimulationResult};
use super::{AnyPolicy, EvictionPolicy, PolicyConfig, migrate};

/// A switch made during an auto replay.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoReplaySwitch {
    /// Index of the request after which the switch happened.
    pub at_request: u64,
    /// The switch and its estimates.
    pub switch: AutoSwitch,
}

/// The outcome of [`simulate_auto`].
#[derive(Debug, Clone)]
pub struct AutoReplay {
    /// Misses and ratios, under the policy name `auto`.
    pub result: SimulationResult,
    /// The switches, in order.
    pub switches: Vec<AutoReplaySwitch>,
    /// The policy in force at the end.
    pub last: EvictionPolicyKind,
    /// Misses over the first `checkpoint` requests of
    /// [`simulate_auto_with_checkpoint`] (all of them for
    /// [`simulate_auto`]): the replay is online, so this is what a replay
    /// of that prefix alone misses.
    pub misses_at_checkpoint: u64,
    /// Per policy, the misses of its running miniature when that stood for
    /// the fixed policy on the whole trace of hashed keys
    /// ([`MiniatureSimulations::exact_misses`]: a cache smaller than
    /// [`MIN_SCALED_ENTRIES`](super::mrc::MIN_SCALED_ENTRIES) entries, in
    /// object mode, whose curves sample every request); the policies that
    /// were rebuilt are left out. For every policy but W-TinyLFU (whose
    /// sketch hashes keys) this is its miss count on `requests` themselves,
    /// without a replay of its own.
    pub fixed_misses: Vec<(EvictionPolicyKind, u64)>,
}

fn build(policy: EvictionPolicyKind, capacity: u64) -> AnyPolicy<u64> {
    PolicyConfig::try_from(policy)
        .unwrap_or(PolicyConfig::Sieve(super::SieveConfig))
        .build(capacity)
}

/// Replays `requests` against a cache of `capacity` starting on
/// [`AUTO_START_POLICY`] and switching as `auto` does,
/// with curves estimated by `mrc` (its capacity and mode are set from the
/// arguments) and switches decided by `settings`.
pub fn simulate_auto(
    requests: &[Request],
    capacity: u64,
    mode: Mode,
    mrc: MrcConfig,
    settings: AutoTuneSettings,
) -> AutoReplay {
    simulate_auto_with_checkpoint(requests, capacity, mode, mrc, settings, requests.len())
}

/// [`simulate_auto`], also counting the misses over the first `checkpoint`
/// requests ([`AutoReplay::misses_at_checkpoint`]; a checkpoint past the
/// end counts them all).
pub fn simulate_auto_with_checkpoint(
    requests: &[Request],
    capacity: u64,
    mode: Mode,
    mrc: MrcConfig,
    settings: AutoTuneSettings,
    checkpoint: usize,
) -> AutoReplay {
    let byte_mode = mode == Mode::Bytes;
    let mut sims = MiniatureSimulations::new(MrcConfig {
        capacity,
        byte_mode,
        ..mrc
    });
    let mut tuner = AutoTuner::new(AUTO_START_POLICY, settings);
    let mut cache = build(tuner.active(), capacity);
    let mut evicted = Vec::new();
    let mut switches = Vec::new();
    let (mut misses, mut byte_misses, mut bytes) = (0u64, 0u64, 0u64);
    let mut misses_at_checkpoint = (checkpoint == 0).then_some(0);
    // Misses and requests since the last switch, until the next evaluation
    // measures what it cost.
    let mut since_switch: Option<(u64, u64)> = None;
    for (i, request) in requests.iter().enumerate() {
        let size = u64::from(request.size);
        bytes += size;
        let hit = cache.access(&request.key);
        if let Some((m, n)) = since_switch.as_mut() {
            *m += u64::from(!hit);
            *n += 1;
        }
        if !hit {
            misses += 1;
            byte_misses += size;
            let weight = if byte_mode { size } else { 1 };
            if weight <= capacity {
                cache.insert(request.key, weight, None, &mut evicted);
                evicted.clear();
            }
        }
        if i + 1 == checkpoint {
            misses_at_checkpoint = Some(misses);
        }
        sims.add_requests(1);
        let epoch_ended = sims.record(mix64(request.key), byte_mode.then_some(size));
        if epoch_ended && let Some((m, n)) = since_switch.take() {
            tuner.record_switch_cost(m as f64 / n.max(1) as f64);
        }
        if epoch_ended
            && let Some(switch) = tuner.observe_all(&sims.estimates(), &sims.fresh_starts())
        {
            since_switch = Some((0, 0));
            let mut next = build(switch.to, capacity);
            if switch.is_rebuild() {
                for (key, weight) in cache.drain() {
                    next.insert(key, weight, None, &mut evicted);
                }
                sims.rebuild(switch.to);
            } else {
                migrate(&mut cache, &mut next, &mut evicted);
            }
            evicted.clear();
            cache = next;
            switches.push(AutoReplaySwitch {
                at_request: i as u64 + 1,
                switch,
            });
        }
    }
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    AutoReplay {
        result: SimulationResult {
            policy: "auto".to_owned(),
            capacity,
            mode,
            requests: requests.len() as u64,
            misses,
            miss_ratio: ratio(misses, requests.len() as u64),
            byte_misses,
            byte_miss_ratio: ratio(byte_misses, bytes),
        },
        switches,
        last: tuner.active(),
        misses_at_checkpoint: misses_at_checkpoint.unwrap_or(misses),
        fixed_misses: CANDIDATE_POLICIES
            .iter()
            .filter_map(|&p| sims.exact_misses(p).map(|m| (p, m)))
            .collect(),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod suite;
