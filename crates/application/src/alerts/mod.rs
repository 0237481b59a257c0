//! [`Alerts`]: the alert engine. Once per 10-s window, after the trends
//! are sampled, [`CacheService::evaluate_alerts`](crate::CacheService::evaluate_alerts)
//! hands it every source's newest trend point; each rule judges the
//! sources it watches, and each (rule, source) pair moves through
//! pending, firing and resolved like a Prometheus alerting rule. The
//! engine returns the changes; the facade audits them and hands the
//! firing and resolved ones to the [`AlertNotifier`] (which must not
//! block). Nothing here is on the request path: requests only bump
//! atomics ([`Alerts::count_auth_failure`]) or, for flushes, append to a
//! short list ([`Alerts::record_flush`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_domain::{
    Alert, AlertNotification, AlertNotifier, AlertRule, AlertState, Baseline, Condition,
    SERVER_SOURCE, SeriesId, Signal, Silence, TrendPoint,
};

/// Resolved alerts kept for `GET /admin/v1/alerts?state=resolved`; older
/// ones are dropped first.
pub const MAX_ALERT_HISTORY: usize = 1000;

/// Silences kept at once (active or future).
pub const MAX_SILENCES: usize = 1000;

/// The window of the flush rule, in milliseconds: an hour.
const FLUSH_WINDOW_MS: u64 = 3_600_000;

/// The window of the trends the engine reads, in milliseconds.
const WINDOW_MS: u64 = 10_000;

/// A change the engine made: an alert entering or leaving a state, or a
/// firing alert whose silence ended (`from == to == Firing`, to notify
/// only).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChange {
    /// The alert after the change.
    pub alert: Alert,
    /// Its state before (`None`: inactive).
    pub from: Option<AlertState>,
    /// Its state after (`None`: inactive again, a pending alert whose
    /// condition stopped before `for_secs`).
    pub to: Option<AlertState>,
    /// Whether to notify (fired or resolved, and not silenced).
    pub notify: bool,
}

impl AlertChange {
    /// Whether the state changed (audited), as opposed to a notification
    /// of a firing alert whose silence ended.
    pub fn is_transition(&self) -> bool {
        self.from != self.to
    }
}

/// The (rule, source) state: the baseline of anomaly rules, and the alert
/// while it is pending or firing.
#[derive(Default)]
struct Track {
    baseline: Baseline,
    alert: Option<Alert>,
    /// Whether the firing was notified (a silence may have held it back).
    notified: bool,
}

struct FlushEvent {
    at_ms: u64,
    /// Share of the store's entries it removed, 0 to 1.
    share: f64,
}

#[derive(Default)]
struct State {
    rules: Vec<AlertRule>,
    tracks: HashMap<(String, String), Track>,
    history: VecDeque<Alert>,
    silences: Vec<Silence>,
    flushes: HashMap<String, VecDeque<FlushEvent>>,
    /// Per source: the newest point judged, and its `entries` gauge (the
    /// size a flush is measured against).
    last_point: HashMap<String, u64>,
    entries: HashMap<String, u64>,
    /// The failed-authentication count at the last server window, and
    /// that window (time / 10 s).
    auth_seen: u64,
    server_window: u64,
}

/// What the build cache needs to report its flushes to the alert
/// engine: the engine and the clock that stamps them.
#[derive(Clone)]
pub struct FlushWatch {
    /// The engine ([`CacheService::alerts`](crate::CacheService::alerts)).
    pub alerts: Arc<Alerts>,
    /// The clock.
    pub clock: Arc<dyn strata_domain::Clock>,
}

impl FlushWatch {
    /// Records a flush of `source` that removed `removed` entries.
    pub fn record(&self, source: &str, removed: u64) {
        self.alerts
            .record_flush(source, Some(removed), self.clock.now().as_millis());
    }
}

/// See the module docs.
#[derive(Default)]
pub struct Alerts {
    state: Mutex<State>,
    auth_failures: AtomicU64,
    notifier: RwLock<Option<Arc<dyn AlertNotifier>>>,
}

/// What one source's newest point says to one rule: the value, and the
/// requests of the window.
fn reading(signal: Signal, point: &TrendPoint) -> Option<f64> {
    match signal {
        Signal::Series(id) => point.value(id),
        Signal::ErrorRate => {
            let requests = point.value(SeriesId::Requests).unwrap_or(0.0);
            (requests > 0.0).then(|| point.value(SeriesId::Errors).unwrap_or(0.0) / requests)
        }
        Signal::AuthFailures | Signal::Flushes => None,
    }
}

impl Alerts {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the rules (the built-in ones and `[[alerts.rules]]`).
    /// Pending and firing alerts of rules that are gone are dropped
    /// without a notification.
    pub fn set_rules(&self, rules: Vec<AlertRule>) {
        let mut state = self.lock();
        state
            .tracks
            .retain(|(rule, _), _| rules.iter().any(|r| &r.name == rule));
        state.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<AlertRule> {
        self.lock().rules.clone()
    }

    /// Sends notifications to `notifier` from now on (none before).
    pub fn set_notifier(&self, notifier: Arc<dyn AlertNotifier>) {
        *self.notifier.write().unwrap_or_else(|e| e.into_inner()) = Some(notifier);
    }

    /// Counts one failed authentication (for `auth_failure_spike`).
    pub fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a flush of `source` at `now_ms` that removed `removed`
    /// entries, or every entry (`None`): its share is measured against
    /// the source's `entries` in its newest trend point (0 when unknown
    /// or empty). Dry runs are not flushes.
    pub fn record_flush(&self, source: &str, removed: Option<u64>, now_ms: u64) {
        let mut state = self.lock();
        let size = state.entries.get(source).copied().unwrap_or(0);
        let share = match (removed, size) {
            (_, 0) => 0.0,
            (None, _) => 1.0,
            (Some(n), size) => (n as f64 / size as f64).min(1.0),
        };
        let events = state.flushes.entry(source.to_owned()).or_default();
        events.push_back(FlushEvent {
            at_ms: now_ms,
            share,
        });
        // Bounded: more than this many is already an alert.
        if events.len() > 10_000 {
            events.pop_front();
        }
    }

    /// Judges `points` (every source's newest 10-s trend point) at
    /// `now_ms`, and the server-wide and flush signals once per 10-s
    /// window. Points already judged are skipped; pending and firing
    /// alerts of sources missing from `points` resolve.
    pub fn evaluate(&self, now_ms: u64, points: &[(String, TrendPoint)]) -> Vec<AlertChange> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut changes = Vec::new();
        let rules = state.rules.clone();
        let fresh: Vec<&(String, TrendPoint)> = points
            .iter()
            .filter(|(source, point)| {
                state
                    .last_point
                    .get(source)
                    .is_none_or(|&at| point.at_ms > at)
            })
            .collect();
        for (source, point) in &fresh {
            state.last_point.insert(source.clone(), point.at_ms);
            if let Some(entries) = point.value(SeriesId::Entries) {
                state.entries.insert(source.clone(), entries as u64);
            }
        }
        state
            .last_point
            .retain(|source, _| points.iter().any(|(s, _)| s == source));
        let window = now_ms / WINDOW_MS;
        let server_due = window > state.server_window;
        let auth_delta = if server_due {
            state.server_window = window;
            let total = self.auth_failures.load(Ordering::Relaxed);
            let delta = total.saturating_sub(state.auth_seen);
            state.auth_seen = total;
            Some(delta as f64)
        } else {
            None
        };
        for rule in &rules {
            match (rule.signal, rule.condition) {
                (Signal::AuthFailures, _) => {
                    if let Some(delta) = auth_delta {
                        changes.extend(step(state, rule, SERVER_SOURCE, Some(delta), now_ms));
                    }
                }
                (
                    Signal::Flushes,
                    Condition::FlushPattern {
                        max_per_hour,
                        max_share,
                    },
                ) => {
                    if !server_due {
                        continue;
                    }
                    // Flushes of closed 10-s windows only: one in the
                    // window now open counts at the next judgement.
                    let cutoff = now_ms - now_ms % WINDOW_MS;
                    let since = cutoff.saturating_sub(FLUSH_WINDOW_MS);
                    let mut sources: Vec<String> = state.flushes.keys().cloned().collect();
                    sources.extend(
                        state
                            .tracks
                            .keys()
                            .filter(|(r, _)| r == &rule.name)
                            .map(|(_, s)| s.clone()),
                    );
                    sources.sort_unstable();
                    sources.dedup();
                    for source in sources.into_iter().filter(|s| rule.watches(s)) {
                        let (count, share) = match state.flushes.get_mut(&source) {
                            Some(events) => {
                                while events.front().is_some_and(|e| e.at_ms <= since) {
                                    events.pop_front();
                                }
                                let closed = events.iter().filter(|e| e.at_ms < cutoff);
                                let (count, share) =
                                    closed.fold((0, 0.0_f64), |(n, s), e| (n + 1, s.max(e.share)));
                                (count, share)
                            }
                            None => (0, 0.0),
                        };
                        if state.flushes.get(&source).is_some_and(VecDeque::is_empty) {
                            state.flushes.remove(&source);
                        }
                        let bad = count > max_per_hour as usize || share > max_share;
                        let value = Some(count as f64);
                        changes.extend(step_with(state, rule, &source, bad, value, None, now_ms));
                    }
                }
                (Signal::Flushes, _) => {}
                (signal, _) => {
                    for (source, point) in fresh.iter().filter(|(s, _)| rule.watches(s)) {
                        let requests = point.value(SeriesId::Requests).unwrap_or(0.0);
                        let value = if requests < rule.min_requests as f64 {
                            None
                        } else {
                            reading(signal, point)
                        };
                        changes.extend(step(state, rule, source, value, now_ms));
                    }
                }
            }
        }
        // Sources that are gone (a deleted cache): their alerts resolve.
        let gone: Vec<(String, String)> = state
            .tracks
            .keys()
            .filter(|(rule, source)| {
                source != SERVER_SOURCE
                    && !points.iter().any(|(s, _)| s == source)
                    && rules
                        .iter()
                        .any(|r| &r.name == rule && r.signal != Signal::Flushes)
            })
            .cloned()
            .collect();
        for key in gone {
            if let Some(rule) = rules.iter().find(|r| r.name == key.0) {
                changes.extend(step_with(state, rule, &key.1, false, None, None, now_ms));
            }
            state.tracks.remove(&key);
        }
        changes
    }

    /// Pending or firing alerts (`state`), or the resolved ones, newest
    /// first.
    pub fn list(&self, state: AlertState) -> Vec<Alert> {
        let s = self.lock();
        let mut alerts: Vec<Alert> = match state {
            AlertState::Resolved => s.history.iter().rev().cloned().collect(),
            _ => s
                .tracks
                .values()
                .filter_map(|t| t.alert.clone())
                .filter(|a| a.state == state)
                .collect(),
        };
        if state != AlertState::Resolved {
            alerts.sort_by(|a, b| {
                b.active_since_ms
                    .cmp(&a.active_since_ms)
                    .then_with(|| a.rule.cmp(&b.rule))
                    .then_with(|| a.source.cmp(&b.source))
            });
        }
        alerts
    }

    /// Firing alerts per severity (info, warning, critical), for the
    /// `strata_alerts_firing` gauge.
    pub fn firing_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for alert in self.list(AlertState::Firing) {
            counts[alert.severity as usize] += 1;
        }
        counts
    }

    /// Adds `silence`.
    ///
    /// # Errors
    /// A text when [`MAX_SILENCES`] are already kept.
    pub fn add_silence(&self, silence: Silence, now_ms: u64) -> Result<(), String> {
        let mut state = self.lock();
        state.silences.retain(|s| s.ends_at_ms > now_ms);
        if state.silences.len() >= MAX_SILENCES {
            return Err(format!(
                "{MAX_SILENCES} silences are active or scheduled; remove one first"
            ));
        }
        state.silences.push(silence);
        Ok(())
    }

    /// Removes the silence `id`; whether there was one.
    pub fn remove_silence(&self, id: &str) -> Option<Silence> {
        let mut state = self.lock();
        let at = state.silences.iter().position(|s| s.id == id)?;
        Some(state.silences.remove(at))
    }

    /// Silences active or scheduled at `now_ms`, soonest end first.
    pub fn silences(&self, now_ms: u64) -> Vec<Silence> {
        let mut state = self.lock();
        state.silences.retain(|s| s.ends_at_ms > now_ms);
        let mut silences = state.silences.clone();
        silences.sort_by_key(|s| s.ends_at_ms);
        silences
    }

    /// Hands `change`'s notification to the notifier, if it has one and
    /// the change asks for it.
    pub(crate) fn notify(&self, change: &AlertChange) {
        if !change.notify {
            return;
        }
        if let Some(notifier) = self
            .notifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            notifier.notify(AlertNotification {
                alert: change.alert.clone(),
            });
        }
    }
}

/// Judges `value` under `rule` on `source` (thresholds and anomaly bands).
fn step(
    state: &mut State,
    rule: &AlertRule,
    source: &str,
    value: Option<f64>,
    now_ms: u64,
) -> Option<AlertChange> {
    let key = (rule.name.clone(), source.to_owned());
    let track = state.tracks.entry(key).or_default();
    let (bad, baseline) = match (&rule.condition, value) {
        (Condition::Anomaly(band), Some(v)) => {
            let before = track.baseline.mean();
            let bad = track.baseline.judge(v, band, rule.signal.bad_direction());
            (bad, Some(before))
        }
        (condition, Some(v)) => (condition.crossed(v), None),
        (_, None) => (false, None),
    };
    step_with(state, rule, source, bad, value, baseline, now_ms)
}

/// Moves `rule`'s alert on `source` by whether its condition holds now.
fn step_with(
    state: &mut State,
    rule: &AlertRule,
    source: &str,
    bad: bool,
    value: Option<f64>,
    baseline: Option<f64>,
    now_ms: u64,
) -> Option<AlertChange> {
    let silenced = state
        .silences
        .iter()
        .any(|s| s.covers(&rule.name, source, now_ms));
    let key = (rule.name.clone(), source.to_owned());
    let track = state.tracks.entry(key).or_default();
    let current = track.alert.take();
    match (current, bad) {
        (None, false) => None,
        (None, true) => {
            let fires = rule.for_secs == 0;
            let alert = Alert {
                rule: rule.name.clone(),
                source: source.to_owned(),
                severity: rule.severity,
                state: if fires {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                },
                value,
                baseline,
                active_since_ms: now_ms,
                fired_at_ms: fires.then_some(now_ms),
                resolved_at_ms: None,
                summary: rule.summary.clone(),
                silenced,
            };
            track.notified = fires && !silenced;
            track.alert = Some(alert.clone());
            Some(AlertChange {
                to: Some(alert.state),
                notify: track.notified,
                alert,
                from: None,
            })
        }
        (Some(mut alert), true) => {
            alert.value = value;
            alert.baseline = baseline.or(alert.baseline);
            alert.silenced = silenced;
            let change = match alert.state {
                AlertState::Pending
                    if now_ms.saturating_sub(alert.active_since_ms) >= rule.for_secs * 1000 =>
                {
                    alert.state = AlertState::Firing;
                    alert.fired_at_ms = Some(now_ms);
                    track.notified = !silenced;
                    Some(AlertChange {
                        alert: alert.clone(),
                        from: Some(AlertState::Pending),
                        to: Some(AlertState::Firing),
                        notify: !silenced,
                    })
                }
                AlertState::Firing if !track.notified && !silenced => {
                    track.notified = true;
                    Some(AlertChange {
                        alert: alert.clone(),
                        from: Some(AlertState::Firing),
                        to: Some(AlertState::Firing),
                        notify: true,
                    })
                }
                _ => None,
            };
            track.alert = Some(alert);
            change
        }
        (Some(mut alert), false) => {
            let from = alert.state;
            alert.value = value;
            alert.silenced = silenced;
            if from == AlertState::Firing {
                alert.state = AlertState::Resolved;
                alert.resolved_at_ms = Some(now_ms);
                if state.history.len() == MAX_ALERT_HISTORY {
                    state.history.pop_front();
                }
                state.history.push_back(alert.clone());
                let notify = track.notified;
                track.notified = false;
                Some(AlertChange {
                    alert,
                    from: Some(from),
                    to: Some(AlertState::Resolved),
                    notify,
                })
            } else {
                Some(AlertChange {
                    alert,
                    from: Some(from),
                    to: None,
                    notify: false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
