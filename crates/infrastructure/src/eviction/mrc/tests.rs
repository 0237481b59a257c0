//! SHARDS accuracy: on synthetic traces of 2 million requests, the curves
//! sampled at 1% are within 0.01 (mean absolute error) of the exact ones,
//! for every candidate policy; and the fixed-size variant keeps its bound.

use super::*;
use crate::eviction::simulator::{Mode, Request, simulate};
use crate::eviction::synthetic;

const REQUESTS: usize = 2_000_000;
/// The smallest object-mode capacity sampled at exactly 1%
/// (`MIN_SCALED_ENTRIES / 0.01`).
const CAPACITY: u64 = 204_800;

fn sampled_curves(trace: &[Request], config: MrcConfig) -> MiniatureSimulations {
    let mut sims = MiniatureSimulations::new(config);
    for request in trace {
        sims.add_requests(1);
        sims.record(mix64(request.key), None);
    }
    sims
}

/// Every (policy, factor) point: (exact, sampled).
fn compare(name: &str, trace: &[Request]) -> Vec<(EvictionPolicyKind, f64, f64, f64)> {
    let config = MrcConfig {
        sample_rate: 0.01,
        decay: 1.0,
        max_memory_bytes: u64::MAX,
        ..MrcConfig::new(CAPACITY, false)
    };
    let policies = config.policies.clone();
    let sims = sampled_curves(trace, config);
    assert!((sims.rate() - 0.01).abs() < 1e-4, "rate {}", sims.rate());
    let curves = sims.curves(0);
    let mut points = Vec::new();
    for ((kind, policy), curve) in policies.iter().zip(&curves.curves) {
        for point in &curve.points {
            let exact = simulate(trace, policy, point.capacity, Mode::Objects).miss_ratio;
            let sampled = point.miss_ratio.unwrap_or(f64::NAN);
            points.push((*kind, point.capacity_factor, exact, sampled));
        }
    }
    eprintln!("{name}: {} sampled of {}", sims.sampled(), trace.len());
    for (kind, factor, exact, sampled) in &points {
        eprintln!(
            "  {:>9} x{factor:<4} exact {exact:.4} sampled {sampled:.4} error {:+.4}",
            kind.as_str(),
            sampled - exact
        );
    }
    points
}

fn assert_mae(name: &str, points: &[(EvictionPolicyKind, f64, f64, f64)], bound: f64) {
    for kind in strata_domain::CANDIDATE_POLICIES {
        let errors: Vec<f64> = points
            .iter()
            .filter(|p| p.0 == kind)
            .map(|p| (p.3 - p.2).abs())
            .collect();
        let mae = errors.iter().sum::<f64>() / errors.len() as f64;
        eprintln!("{name}: {:>9} MAE {mae:.4}", kind.as_str());
        assert!(mae <= bound, "{name}: {kind} MAE {mae:.4} > {bound}");
    }
}

#[test]
fn shards_at_one_percent_is_within_0_01_on_zipf_0_8() {
    let trace = synthetic::zipf(1_000_000, 0.8, REQUESTS, 11, 0);
    assert_mae("zipf-0.8", &compare("zipf-0.8", &trace), 0.01);
}

#[test]
fn shards_at_one_percent_is_within_0_01_on_zipf_1_0() {
    let trace = synthetic::zipf(1_000_000, 1.0, REQUESTS, 12, 0);
    assert_mae("zipf-1.0", &compare("zipf-1.0", &trace), 0.01);
}

#[test]
fn shards_at_one_percent_is_within_0_01_on_zipf_with_scans() {
    let trace = synthetic::zipf_with_scans(1_000_000, 1.0, REQUESTS, 50_000, 20_000, 13);
    assert_mae("zipf+scans", &compare("zipf+scans", &trace), 0.01);
}

#[test]
fn shards_at_one_percent_is_within_0_01_on_a_loop() {
    let trace = synthetic::looping(CAPACITY * 13 / 10, REQUESTS);
    assert_mae("loop", &compare("loop", &trace), 0.01);
}

#[test]
fn the_fixed_size_variant_lowers_the_rate_to_stay_within_its_bound() {
    let trace = synthetic::zipf(200_000, 0.9, 300_000, 5, 0);
    let bound = 256 * 1024;
    let sims = sampled_curves(
        &trace,
        MrcConfig {
            sample_rate: 1.0,
            decay: 1.0,
            max_memory_bytes: bound,
            ..MrcConfig::new(20_000, false)
        },
    );
    assert!(sims.rate() < 0.5, "rate {}", sims.rate());
    assert!(sims.memory_bytes() <= bound, "{}", sims.memory_bytes());
    // Still a curve: miss ratios fall with capacity for LRU.
    let curves = sims.curves(0);
    let lru: Vec<f64> = curves.curves[0]
        .points
        .iter()
        .filter_map(|p| p.miss_ratio)
        .collect();
    assert_eq!(lru.len(), CAPACITY_FACTORS.len());
    assert!(lru.windows(2).all(|w| w[1] <= w[0] + 0.01), "{lru:?}");
    let exact = simulate(
        &trace,
        &PolicyConfig::parse("lru").unwrap_or_else(|e| panic!("{e}")),
        20_000,
        Mode::Objects,
    );
    assert!(
        (lru[2] - exact.miss_ratio).abs() < 0.03,
        "{} vs {}",
        lru[2],
        exact.miss_ratio
    );
}

#[test]
fn decay_follows_a_change_of_workload() {
    // A loop the cache cannot hold, then a small hot set it can.
    let mut trace = synthetic::looping(30_000, 200_000);
    trace.extend(synthetic::zipf(2_000, 1.0, 200_000, 3, 1_000_000));
    let sims = sampled_curves(
        &trace,
        MrcConfig {
            sample_rate: 1.0,
            epoch_samples: 4096,
            decay: 0.5,
            ..MrcConfig::new(10_000, false)
        },
    );
    let lru = sims
        .at_current_capacity(EvictionPolicyKind::Lru)
        .unwrap_or(1.0);
    assert!(lru < 0.05, "recent estimate {lru} still shows the loop");
}
