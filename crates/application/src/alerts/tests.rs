use super::*;
use strata_domain::{BuiltinParameters, KeyPattern, Severity, builtin_rules};

const T0: u64 = 1_800_000_000_000;

/// A 10-s point at window `i` with `hits` of 100 reads.
fn point(i: u64, hits: u64) -> TrendPoint {
    let mut values = [0.0_f32; SeriesId::ALL.len()];
    let mut set = |id: SeriesId, v: f64| {
        let at = SeriesId::ALL.iter().position(|s| *s == id).unwrap();
        values[at] = v as f32;
    };
    set(SeriesId::Requests, 100.0);
    set(SeriesId::Hits, hits as f64);
    set(SeriesId::Misses, (100 - hits) as f64);
    set(SeriesId::HitRatio, hits as f64 / 100.0);
    set(SeriesId::Entries, 1000.0);
    TrendPoint {
        at_ms: T0 + i * 10_000,
        values,
    }
}

fn at(i: u64) -> u64 {
    T0 + i * 10_000 + 1
}

fn low_hit_ratio(for_secs: u64) -> AlertRule {
    AlertRule::parse("low", "*", "hit_ratio", "< 0.5", for_secs, "critical").unwrap()
}

#[test]
fn a_threshold_goes_pending_then_firing_then_resolved() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![low_hit_ratio(30)]);
    let c = "orders".to_owned();
    assert!(
        alerts
            .evaluate(at(0), &[(c.clone(), point(0, 90))])
            .is_empty()
    );
    // Bad: pending, then firing once 30 s have passed.
    let ch = alerts.evaluate(at(1), &[(c.clone(), point(1, 25))]);
    assert_eq!(ch.len(), 1);
    assert_eq!(
        (ch[0].from, ch[0].to, ch[0].notify),
        (None, Some(AlertState::Pending), false)
    );
    assert!(
        alerts
            .evaluate(at(2), &[(c.clone(), point(2, 25))])
            .is_empty()
    );
    assert!(
        alerts
            .evaluate(at(3), &[(c.clone(), point(3, 25))])
            .is_empty()
    );
    let ch = alerts.evaluate(at(4), &[(c.clone(), point(4, 25))]);
    assert_eq!(ch[0].to, Some(AlertState::Firing));
    assert!(ch[0].notify);
    assert_eq!(ch[0].alert.severity, Severity::Critical);
    assert_eq!(ch[0].alert.value, Some(0.25));
    assert_eq!(alerts.list(AlertState::Firing).len(), 1);
    assert_eq!(alerts.firing_counts(), [0, 0, 1]);
    // The same point again is not judged twice.
    assert!(
        alerts
            .evaluate(at(4) + 5, &[(c.clone(), point(4, 90))])
            .is_empty()
    );
    // Recovery resolves it, into the history.
    let ch = alerts.evaluate(at(5), &[(c.clone(), point(5, 90))]);
    assert_eq!(
        (ch[0].from, ch[0].to),
        (Some(AlertState::Firing), Some(AlertState::Resolved))
    );
    assert!(ch[0].notify);
    assert!(alerts.list(AlertState::Firing).is_empty());
    let history = alerts.list(AlertState::Resolved);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].resolved_at_ms, Some(at(5)));
}

#[test]
fn a_pending_alert_whose_condition_stops_goes_inactive_silently() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![low_hit_ratio(60)]);
    let c = "c".to_owned();
    alerts.evaluate(at(1), &[(c.clone(), point(1, 10))]);
    let ch = alerts.evaluate(at(2), &[(c.clone(), point(2, 90))]);
    assert_eq!(
        (ch[0].from, ch[0].to, ch[0].notify),
        (Some(AlertState::Pending), None, false)
    );
    assert!(alerts.list(AlertState::Resolved).is_empty());
}

#[test]
fn the_built_in_detector_sees_a_hit_ratio_collapse_and_its_recovery() {
    let alerts = Alerts::default();
    alerts.set_rules(builtin_rules(BuiltinParameters::default()));
    let c = "c".to_owned();
    let mut fired = None;
    let mut resolved = None;
    let mut others = std::collections::BTreeSet::new();
    for i in 0..200 {
        let hits = match i {
            0..100 => 88 + (i % 5),
            100..130 => 20,
            _ => 90,
        };
        for change in alerts.evaluate(at(i), &[(c.clone(), point(i, hits))]) {
            if change.alert.rule != "hit_ratio_drop" {
                others.insert(change.alert.rule);
                continue;
            }
            match change.to {
                Some(AlertState::Firing) => fired = Some(i),
                Some(AlertState::Resolved) => resolved = Some(i),
                _ => {}
            }
        }
    }
    // Pending at window 100, firing once its 60 s have passed.
    assert_eq!(fired, Some(106));
    assert_eq!(resolved, Some(130));
    // The misses rose with it; nothing else moved.
    assert_eq!(others.into_iter().collect::<Vec<_>>(), ["miss_storm"]);
}

#[test]
fn eleven_flushes_in_an_hour_fire_the_flush_rule_and_ten_do_not() {
    let alerts = Alerts::default();
    alerts.set_rules(builtin_rules(BuiltinParameters::default()));
    let empty = "empty".to_owned();
    // An empty store: no flush removes a share of it.
    let mut p = point(0, 90);
    p.values[SeriesId::ALL
        .iter()
        .position(|s| *s == SeriesId::Entries)
        .unwrap()] = 0.0;
    alerts.evaluate(at(0), &[(empty.clone(), p)]);
    for i in 0..10 {
        alerts.record_flush("empty", None, at(0) + i);
    }
    let ch = alerts.evaluate(at(1), &[(empty.clone(), p)]);
    assert!(ch.is_empty(), "{ch:?}");
    alerts.record_flush("empty", None, at(1) + 1);
    let ch = alerts.evaluate(at(2), &[(empty.clone(), p)]);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(ch[0].alert.rule, "flush_pattern");
    assert_eq!(ch[0].to, Some(AlertState::Firing));
    assert_eq!(ch[0].alert.value, Some(11.0));
    // An hour after the first flush, fewer than 11 remain: resolved.
    let later = at(0) + 3_600_000 + 10_000;
    let ch = alerts.evaluate(later, &[(empty.clone(), p)]);
    assert_eq!(ch[0].to, Some(AlertState::Resolved), "{ch:?}");
}

#[test]
fn one_flush_removing_more_than_half_a_store_fires() {
    let alerts = Alerts::default();
    alerts.set_rules(builtin_rules(BuiltinParameters::default()));
    let c = "c".to_owned();
    alerts.evaluate(at(0), &[(c.clone(), point(0, 90))]);
    alerts.record_flush("c", Some(400), at(0) + 1);
    assert!(
        alerts
            .evaluate(at(1), &[(c.clone(), point(1, 90))])
            .is_empty()
    );
    alerts.record_flush("c", Some(600), at(1) + 1);
    let ch = alerts.evaluate(at(2), &[(c.clone(), point(2, 90))]);
    assert_eq!(ch[0].alert.rule, "flush_pattern");
}

#[test]
fn a_silence_holds_notifications_back_until_it_ends() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![low_hit_ratio(0)]);
    let c = "c".to_owned();
    alerts
        .add_silence(
            Silence {
                id: "s1".into(),
                rule: "low".into(),
                caches: KeyPattern::parse("c*").unwrap(),
                starts_at_ms: at(0),
                ends_at_ms: at(2),
                created_by: "ops".into(),
                comment: "maintenance".into(),
            },
            at(0),
        )
        .unwrap();
    let ch = alerts.evaluate(at(1), &[(c.clone(), point(1, 10))]);
    assert_eq!(ch[0].to, Some(AlertState::Firing));
    assert!(!ch[0].notify && ch[0].alert.silenced);
    // The silence ends while it fires: notified then, once.
    let ch = alerts.evaluate(at(2), &[(c.clone(), point(2, 10))]);
    assert!(ch[0].notify && !ch[0].is_transition());
    assert!(
        alerts
            .evaluate(at(3), &[(c.clone(), point(3, 10))])
            .is_empty()
    );
    assert_eq!(alerts.silences(at(3)), vec![]);
}

#[test]
fn a_resolved_alert_whose_firing_was_silenced_is_not_notified() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![low_hit_ratio(0)]);
    alerts
        .add_silence(
            Silence {
                id: "s".into(),
                rule: "low".into(),
                caches: KeyPattern::parse("*").unwrap(),
                starts_at_ms: 0,
                ends_at_ms: u64::MAX,
                created_by: "ops".into(),
                comment: String::new(),
            },
            at(0),
        )
        .unwrap();
    let c = "c".to_owned();
    alerts.evaluate(at(1), &[(c.clone(), point(1, 10))]);
    let ch = alerts.evaluate(at(2), &[(c.clone(), point(2, 90))]);
    assert_eq!(ch[0].to, Some(AlertState::Resolved));
    assert!(!ch[0].notify);
    assert!(alerts.remove_silence("s").is_some());
    assert!(alerts.remove_silence("s").is_none());
}

#[test]
fn failed_authentications_are_a_server_signal() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![
        AlertRule::parse("auth", "*", "auth_failures", "> 5", 0, "warning").unwrap(),
    ]);
    alerts.evaluate(at(0), &[]);
    for _ in 0..6 {
        alerts.count_auth_failure();
    }
    let ch = alerts.evaluate(at(1), &[]);
    assert_eq!(ch[0].alert.source, SERVER_SOURCE);
    assert_eq!(ch[0].alert.value, Some(6.0));
    let ch = alerts.evaluate(at(2), &[]);
    assert_eq!(ch[0].to, Some(AlertState::Resolved));
}

#[test]
fn a_deleted_cache_s_alert_resolves() {
    let alerts = Alerts::default();
    alerts.set_rules(vec![low_hit_ratio(0)]);
    alerts.evaluate(at(1), &[("c".to_owned(), point(1, 10))]);
    let ch = alerts.evaluate(at(2), &[]);
    assert_eq!(ch[0].to, Some(AlertState::Resolved));
    assert!(alerts.list(AlertState::Firing).is_empty());
}

#[test]
fn idle_windows_are_not_judged_by_built_in_detectors() {
    let alerts = Alerts::default();
    alerts.set_rules(builtin_rules(BuiltinParameters::default()));
    let c = "c".to_owned();
    for i in 0..50 {
        alerts.evaluate(at(i), &[(c.clone(), point(i, 90))]);
    }
    // 5 requests, all misses: below the volume the detectors need.
    let mut p = point(50, 0);
    p.values[0] = 5.0;
    assert!(alerts.evaluate(at(50), &[(c.clone(), p)]).is_empty());
}
