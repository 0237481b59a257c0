//! Fresh-start estimates and the "rebuild" recommendation: after a regime
//! change (Zipf plus scans, then a loop of 1.2x the capacity) a fresh start
//! of a policy whose state went stale beats the running one and a rebuild
//! is recommended; on a stationary Zipf trace it never is.

use strata_domain::{CANDIDATE_POLICIES, recommend};

use super::*;
use crate::eviction::synthetic;

const CAPACITY: u64 = 2_000;
const FIRST: usize = 200_000;
const LEN: usize = 400_000;

/// For each epoch: (request index, policies a rebuild is recommended for
/// when each is the active one).
fn rebuilds(
    trace: &[crate::eviction::simulator::Request],
) -> Vec<(usize, Vec<EvictionPolicyKind>)> {
    let mut sims = MiniatureSimulations::new(MrcConfig {
        factors: vec![1.0],
        ..MrcConfig::new(CAPACITY, false)
    });
    let mut out = Vec::new();
    for (i, request) in trace.iter().enumerate() {
        sims.add_requests(1);
        if sims.record(mix64(request.key), None) {
            let curves = sims.curves(0);
            let rebuild = CANDIDATE_POLICIES
                .iter()
                .copied()
                .filter(|&p| recommend(&curves, p).rebuild)
                .collect();
            out.push((i + 1, rebuild));
        }
    }
    out
}

#[test]
fn a_rebuild_is_recommended_after_a_regime_change_and_not_on_a_stationary_trace() {
    let c = CAPACITY as usize;
    let shifted = synthetic::zipf_scans_then_loop(
        10 * CAPACITY,
        0.9,
        10 * c,
        2 * c,
        FIRST,
        CAPACITY * 6 / 5,
        LEN,
        0x3131_0001,
    );
    let after = rebuilds(&shifted);
    for policy in CANDIDATE_POLICIES {
        if let Some((at, _)) = after.iter().find(|(_, p)| p.contains(&policy)) {
            eprintln!("regime change: a rebuild of {policy} first recommended at request {at}");
        }
    }
    let stationary = synthetic::zipf(20 * CAPACITY, 0.9, LEN, 0x3131_0002, 0);
    let steady = rebuilds(&stationary);
    for (at, policies) in steady.iter().filter(|(_, p)| !p.is_empty()) {
        eprintln!("stationary: rebuild at {at}: {policies:?}");
    }
    assert!(
        after
            .iter()
            .any(|(at, p)| *at > FIRST && p.contains(&EvictionPolicyKind::WTinyLfu)),
        "no rebuild of w-tinylfu recommended after the shift"
    );
    assert!(
        after.iter().all(|(at, p)| *at > FIRST || p.is_empty()),
        "a rebuild recommended before the shift"
    );
    assert!(
        steady.iter().all(|(_, p)| p.is_empty()),
        "a rebuild on a stationary trace"
    );
}
