//! [`Trends`]: every source's [`TrendHistory`], kept in the
//! [`Context`](crate::context) below the commands that feed it (the
//! sampler, configuration changes) and the `get_trends` query that reads
//! it. Off the request path: requests only bump the [`CacheCounters`]
//! (crate::CacheCounters) atomics; a background task of the composition
//! root samples them ([`CacheService::sample_trends`](crate::CacheService::sample_trends)).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use strata_domain::{
    Annotation, AnnotationKind, CacheConfiguration, ChangeCause, TrendHistory, TrendReading,
    TrendSource,
};

/// The window length of the finest range, in milliseconds: sampling more
/// often than this records nothing.
const FINEST_WINDOW_MS: u64 = 10_000;

/// The share of requests the usage report samples when
/// `[analytics] report_sample_rate` is not set.
pub const DEFAULT_REPORT_SAMPLE_RATE: f64 = 0.05;

/// See the module docs.
pub struct Trends {
    enabled: AtomicBool,
    /// The usage report's sampling probability, as `f64` bits.
    report_sample_rate: AtomicU64,
    /// The finest window last sampled (time / 10 s), plus one; 0 before
    /// the first sample.
    sampled_window: AtomicU64,
    histories: Mutex<HashMap<TrendSource, TrendHistory>>,
}

impl Default for Trends {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            report_sample_rate: AtomicU64::new(DEFAULT_REPORT_SAMPLE_RATE.to_bits()),
            sampled_window: AtomicU64::new(0),
            histories: Mutex::default(),
        }
    }
}

impl Trends {
    /// Whether trends are kept (`[analytics] enabled`, default true).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns trends on or off; off, nothing is sampled or annotated.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The probability with which a request is sampled for the usage
    /// report, in (0, 1].
    pub fn report_sample_rate(&self) -> f64 {
        f64::from_bits(self.report_sample_rate.load(Ordering::Relaxed))
    }

    /// Sets [`Trends::report_sample_rate`]; a value outside (0, 1] is
    /// clamped into it.
    pub fn set_report_sample_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            DEFAULT_REPORT_SAMPLE_RATE
        } else {
            rate.clamp(1e-6, 1.0)
        };
        self.report_sample_rate
            .store(rate.to_bits(), Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TrendSource, TrendHistory>> {
        self.histories.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a sample at `now_ms` is due: true once per 10-s window.
    pub(crate) fn due(&self, now_ms: u64) -> bool {
        let window = now_ms / FINEST_WINDOW_MS + 1;
        self.enabled() && self.sampled_window.fetch_max(window, Ordering::Relaxed) < window
    }

    /// Records `readings` taken at `now_ms`; returns the points added.
    pub(crate) fn record(&self, now_ms: u64, readings: Vec<(TrendSource, TrendReading)>) -> usize {
        let mut histories = self.lock();
        readings
            .into_iter()
            .map(|(source, reading)| {
                histories
                    .entry(source)
                    .or_default()
                    .record(now_ms, &reading)
            })
            .sum()
    }

    /// Keeps only the caches `keep` says still exist (build-cache
    /// sources stay).
    pub(crate) fn retain_caches(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|source, _| match source {
            TrendSource::Cache(name) => keep(name),
            TrendSource::BuildCache(_) => true,
        });
    }

    /// Adds `annotation` to `source`'s history.
    pub(crate) fn annotate(&self, source: TrendSource, annotation: Annotation) {
        if self.enabled() {
            self.lock().entry(source).or_default().annotate(annotation);
        }
    }

    /// Runs `read` on `source`'s history, if it has one.
    pub(crate) fn read<T>(
        &self,
        source: &TrendSource,
        read: impl FnOnce(&TrendHistory) -> T,
    ) -> Option<T> {
        self.lock().get(source).map(read)
    }

    /// Every source's newest point of the finest range, by its label (a
    /// cache's name, or a build-cache store's `ac/<store>`).
    pub fn latest_points(&self) -> Vec<(String, strata_domain::TrendPoint)> {
        self.lock()
            .iter()
            .filter_map(|(source, history)| {
                let point = history.points(strata_domain::TrendRange::Hour).last()?;
                let label = match source {
                    TrendSource::Cache(name) | TrendSource::BuildCache(name) => name.clone(),
                };
                Some((label, *point))
            })
            .collect()
    }

    /// A copy of every history, for the archive (about 180 KiB per
    /// source at most).
    pub fn snapshot(&self) -> Vec<(TrendSource, TrendHistory)> {
        self.lock()
            .iter()
            .map(|(s, h)| (s.clone(), h.clone()))
            .collect()
    }

    /// Puts back histories an archive saved (before sampling starts).
    pub fn restore(&self, histories: Vec<(TrendSource, TrendHistory)>) {
        self.lock().extend(histories);
    }

    /// Sources with a history, and the bytes all histories hold now.
    pub fn memory(&self) -> (usize, usize) {
        let histories = self.lock();
        (
            histories.len(),
            histories.values().map(TrendHistory::memory_bytes).sum(),
        )
    }
}

/// The annotation of a configuration change from `before` (none: the
/// cache was created) to `after`, at `at_ms`.
pub(crate) fn change_annotation(
    before: Option<&CacheConfiguration>,
    after: &CacheConfiguration,
    cause: &ChangeCause,
    at_ms: u64,
) -> Annotation {
    let kind = match cause {
        ChangeCause::AutoTune { estimates } => AnnotationKind::AutoSwitch {
            estimates: estimates
                .iter()
                .map(|(policy, miss_ratio)| (policy.as_str().to_owned(), *miss_ratio))
                .collect(),
        },
        _ => AnnotationKind::Configuration,
    };
    let summary = match before {
        None => "created".to_owned(),
        Some(before) => {
            let settings = |c: &CacheConfiguration| {
                [
                    (
                        "tiers",
                        format!(
                            "{:?}",
                            c.tiers().iter().map(|t| t.as_str()).collect::<Vec<_>>()
                        ),
                    ),
                    ("eviction", c.eviction().as_str().to_owned()),
                    ("active_policy", c.active_eviction().as_str().to_owned()),
                    ("max_entries", format!("{:?}", c.max_entries())),
                    ("max_bytes", format!("{:?}", c.max_bytes())),
                    (
                        "default_ttl",
                        format!("{:?}", c.default_ttl().map(|t| t.as_secs())),
                    ),
                    ("max_value_bytes", c.max_value_bytes().to_string()),
                    (
                        "l1_max_ttl",
                        format!("{:?}", c.l1_max_ttl().map(|t| t.as_secs())),
                    ),
                    ("compression", format!("{:?}", c.compression())),
                    ("persist", c.persist().to_string()),
                ]
            };
            let changed: Vec<String> = settings(before)
                .into_iter()
                .zip(settings(after))
                .filter(|((_, a), (_, b))| a != b)
                .map(|((name, a), (_, b))| format!("{name}: {a} -> {b}"))
                .collect();
            if changed.is_empty() {
                "other settings".to_owned()
            } else {
                changed.join("; ")
            }
        }
    };
    Annotation {
        at_ms,
        kind,
        cause: cause.as_str().to_owned(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::config;
    use strata_domain::{EvictionPolicyKind, TrendTotals};

    #[test]
    fn samples_once_per_window_and_only_when_enabled() {
        let trends = Trends::default();
        assert!(trends.due(10_000));
        assert!(!trends.due(19_999));
        assert!(trends.due(20_000));
        trends.set_enabled(false);
        assert!(!trends.due(30_000));
    }

    #[test]
    fn records_and_forgets_deleted_caches() {
        let trends = Trends::default();
        let reading = TrendReading {
            totals: TrendTotals::default(),
            entries: 1,
            bytes: 2,
        };
        let a = TrendSource::Cache("a".into());
        let b = TrendSource::BuildCache("cas/memory".into());
        trends.record(
            0,
            vec![(a.clone(), reading.clone()), (b.clone(), reading.clone())],
        );
        assert_eq!(trends.record(10_000, vec![(a.clone(), reading)]), 1);
        trends.retain_caches(|name| name != "a");
        assert!(trends.read(&a, |_| ()).is_none());
        assert!(trends.read(&b, |_| ()).is_some());
        assert_eq!(trends.memory().0, 1);
    }

    #[test]
    fn an_annotation_names_what_changed() {
        let before = config("c", None, 10);
        let after = before
            .to_builder()
            .eviction(EvictionPolicyKind::Lru)
            .build()
            .unwrap();
        let a = change_annotation(Some(&before), &after, &ChangeCause::Admin, 5);
        assert_eq!(a.cause, "admin");
        assert!(a.summary.contains("eviction: "), "{}", a.summary);
        assert!(a.summary.contains("-> lru"), "{}", a.summary);
        assert!(!a.summary.contains("max_entries"), "{}", a.summary);
        let auto = change_annotation(
            Some(&before),
            &after,
            &ChangeCause::AutoTune {
                estimates: vec![(EvictionPolicyKind::Lru, 0.25)],
            },
            5,
        );
        assert_eq!(
            auto.kind,
            AnnotationKind::AutoSwitch {
                estimates: vec![("lru".into(), 0.25)]
            }
        );
        assert_eq!(
            change_annotation(None, &after, &ChangeCause::Admin, 5).summary,
            "created"
        );
    }
}
