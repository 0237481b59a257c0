//! Alerts as they live: [`AlertState`] (pending, firing, resolved, like
//! Prometheus alerting rules), [`Alert`], [`Silence`], and the
//! [`AlertNotifier`] port that tells the outside world.

use crate::KeyPattern;

use super::rule::Severity;

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition holds, not yet for the rule's `for_secs`.
    Pending,
    /// The condition has held for `for_secs`: notified.
    Firing,
    /// The condition stopped holding after the alert fired.
    Resolved,
}

impl AlertState {
    /// `pending`, `firing` or `resolved`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    /// The state `text` names.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Firing, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One alert: a rule whose condition held on one source.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The rule's name (`alertname`).
    pub rule: String,
    /// The source: a cache name, a build-cache store (`cas/disk`) or
    /// `server`.
    pub source: String,
    /// The rule's severity.
    pub severity: Severity,
    /// Where it is.
    pub state: AlertState,
    /// The signal's latest value (NaN-free; `None` when the window had
    /// none).
    pub value: Option<f64>,
    /// The baseline it was judged against, for anomaly rules.
    pub baseline: Option<f64>,
    /// When the condition started to hold, Unix milliseconds.
    pub active_since_ms: u64,
    /// When it fired, Unix milliseconds.
    pub fired_at_ms: Option<u64>,
    /// When it resolved, Unix milliseconds.
    pub resolved_at_ms: Option<u64>,
    /// What the rule says about it.
    pub summary: String,
    /// Whether a silence covered it when it last changed state.
    pub silenced: bool,
}

/// A silence: no notifications for one rule's alerts on the sources its
/// glob matches, between two times. Alerts still change state and are
/// listed (with `silenced: true`); a firing alert whose silence ends is
/// notified then, as Alertmanager does.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    /// Its id (random, URL-safe).
    pub id: String,
    /// The rule it silences.
    pub rule: String,
    /// The sources it covers.
    pub caches: KeyPattern,
    /// From, Unix milliseconds.
    pub starts_at_ms: u64,
    /// Until (exclusive), Unix milliseconds.
    pub ends_at_ms: u64,
    /// Who created it (a principal's id).
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it silences `rule` on `source` at `now_ms`.
    pub fn covers(&self, rule: &str, source: &str, now_ms: u64) -> bool {
        self.rule == rule
            && (self.starts_at_ms..self.ends_at_ms).contains(&now_ms)
            && self.caches.matches(source)
    }
}

/// A state change worth telling: an alert fired or resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertNotification {
    /// The alert after the change ([`AlertState::Firing`] or
    /// [`AlertState::Resolved`]).
    pub alert: Alert,
}

/// Where notifications go (a webhook with Alertmanager's payload).
///
/// `notify` must not block: an adapter queues the notification and
/// delivers it (with retries) off the caller's path, and drops it, with a
/// log line, when its queue is full.
pub trait AlertNotifier: Send + Sync {
    /// Queues `notification` for delivery.
    fn notify(&self, notification: AlertNotification);
}
