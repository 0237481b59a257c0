//! Alert rules: what is watched (a [`Signal`] of a trend), on which
//! sources (a glob over cache names and build-cache stores), under which
//! [`Condition`], for how long, and how bad it is ([`Severity`]).

use std::fmt;

use crate::{KeyPattern, SeriesId};

/// How bad an alert is, as Prometheus alerting rules label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look.
    Info,
    /// Something is wrong and will get worse.
    Warning,
    /// Users are affected now.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Severity; 3] = [Self::Info, Self::Warning, Self::Critical];

    /// `info`, `warning` or `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The severity `text` names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Which side of a value is bad: a hit ratio is bad when low, a miss
/// count or a latency when high.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Lower than usual is bad.
    Low,
    /// Higher than usual is bad.
    High,
}

/// What a rule watches, read once per 10-s window of its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A trend series of the source's newest 10-s point.
    Series(SeriesId),
    /// `errors / requests` of the newest point (none without requests).
    ErrorRate,
    /// Failed authentications in the window, server-wide (source
    /// [`SERVER_SOURCE`]).
    AuthFailures,
    /// Flushes of one store: their count in the trailing hour, and the
    /// largest share of the store one of them removed.
    Flushes,
}

/// The source label of server-wide signals ([`Signal::AuthFailures`]).
pub const SERVER_SOURCE: &str = "server";

impl Signal {
    /// The side of this signal that is bad.
    pub const fn bad_direction(self) -> Direction {
        match self {
            Self::Series(SeriesId::HitRatio) => Direction::Low,
            _ => Direction::High,
        }
    }

    /// The name rules and alerts show: a series id, `error_rate`,
    /// `auth_failures` or `flushes`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Series(s) => s.as_str(),
            Self::ErrorRate => "error_rate",
            Self::AuthFailures => "auth_failures",
            Self::Flushes => "flushes",
        }
    }
}

/// The parameters of an anomaly band: an EWMA control chart (Roberts,
/// "Control chart tests based on geometric moving averages",
/// Technometrics 1959) over the signal's 10-s values, whose band is the
/// EWMA of the absolute deviation from the mean.
///
/// A value is anomalous when it lies on the signal's bad side of the mean
/// by more than `max(k * deviation, min_abs, min_rel * |mean|)`: the
/// floors keep a very steady signal (deviation near 0) from alerting on a
/// blip. The first `warmup` values only train the baseline. Values inside
/// the band update it with weight `alpha`; anomalous ones with
/// `alpha / 10`, so a lasting new level becomes the baseline in about
/// `10 / alpha` windows instead of hiding the anomaly at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnomalyBand {
    /// EWMA weight of a new value, in (0, 1].
    pub alpha: f64,
    /// Width of the band, in mean absolute deviations.
    pub k: f64,
    /// Smallest deviation that counts, in the signal's unit.
    pub min_abs: f64,
    /// Smallest deviation that counts, as a share of the mean.
    pub min_rel: f64,
    /// Values that only train the baseline.
    pub warmup: u32,
}

impl AnomalyBand {
    /// The band `condition = "anomaly"` uses for `signal`: alpha 0.05
    /// (a half-life of about 14 windows, 2.3 minutes), k 4, 30 windows of
    /// warm-up (5 minutes); at least 0.1 below the mean for the hit ratio;
    /// at least double the mean (and 1 ms) for latencies; at least double
    /// (and 10) for counts; at least 0.05 above for the error rate.
    pub fn for_signal(signal: Signal) -> Self {
        let (min_abs, min_rel) = match signal {
            Signal::Series(SeriesId::HitRatio) => (0.1, 0.0),
            Signal::Series(SeriesId::P50 | SeriesId::P99) => (1.0, 1.0),
            Signal::ErrorRate => (0.05, 0.0),
            _ => (10.0, 1.0),
        };
        Self {
            alpha: 0.05,
            k: 4.0,
            min_abs,
            min_rel,
            warmup: 30,
        }
    }
}

/// How a threshold compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
}

/// When a rule's signal is bad.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    /// A fixed threshold: `"< 0.5"`, `"> 100"`, `"<= 3"`, `">= 1"`.
    Threshold {
        /// How the value compares.
        comparison: Comparison,
        /// With what.
        value: f64,
    },
    /// Off the signal's baseline on its bad side (`"anomaly"`).
    Anomaly(AnomalyBand),
    /// The built-in flush pattern: more than `max_per_hour` flushes of a
    /// store in the trailing hour, or one that removed more than
    /// `max_share` of the store's entries.
    FlushPattern {
        /// Flushes per hour that are still normal (10).
        max_per_hour: u32,
        /// Share of a store one flush may remove (0.5).
        max_share: f64,
    },
}

impl Condition {
    /// Parses a rule's `condition` for `signal`: `"anomaly"`, or a
    /// comparison (`<`, `<=`, `>`, `>=`) and a finite number.
    ///
    /// # Errors
    /// [`AlertRuleError`] naming the text.
    pub fn parse(text: &str, signal: Signal) -> Result<Self, AlertRuleError> {
        let text = text.trim();
        if text == "anomaly" {
            return Ok(Self::Anomaly(AnomalyBand::for_signal(signal)));
        }
        let (comparison, rest) = if let Some(rest) = text.strip_prefix("<=") {
            (Comparison::AtMost, rest)
        } else if let Some(rest) = text.strip_prefix(">=") {
            (Comparison::AtLeast, rest)
        } else if let Some(rest) = text.strip_prefix('<') {
            (Comparison::Below, rest)
        } else if let Some(rest) = text.strip_prefix('>') {
            (Comparison::Above, rest)
        } else {
            return Err(AlertRuleError::new(format!(
                "condition {text:?} must be \"anomaly\" or a comparison such as \"< 0.5\" or \"> 100\""
            )));
        };
        match rest.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Self::Threshold { comparison, value }),
            _ => Err(AlertRuleError::new(format!(
                "condition {text:?}: {:?} is not a finite number",
                rest.trim()
            ))),
        }
    }

    /// Whether `value` passes a threshold (false for the other kinds,
    /// which keep state: see the alert engine).
    pub fn crossed(&self, value: f64) -> bool {
        match *self {
            Self::Threshold {
                comparison,
                value: t,
            } => match comparison {
                Comparison::Below => value < t,
                Comparison::AtMost => value <= t,
                Comparison::Above => value > t,
                Comparison::AtLeast => value >= t,
            },
            Self::Anomaly(_) | Self::FlushPattern { .. } => false,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Threshold { comparison, value } => {
                let op = match comparison {
                    Comparison::Below => "<",
                    Comparison::AtMost => "<=",
                    Comparison::Above => ">",
                    Comparison::AtLeast => ">=",
                };
                write!(f, "{op} {value}")
            }
            Self::Anomaly(_) => f.write_str("anomaly"),
            Self::FlushPattern {
                max_per_hour,
                max_share,
            } => write!(
                f,
                "more than {max_per_hour} flushes an hour, or one removing more than {max_share} of the store"
            ),
        }
    }
}

/// Why a rule is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AlertRuleError(pub String);

impl AlertRuleError {
    fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// The longest `for_secs` a rule may wait: a day.
pub const MAX_FOR_SECS: u64 = 86_400;

/// One alert rule, built-in or from `[[alerts.rules]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// Its name: the `alertname` label, unique among the rules.
    pub name: String,
    /// Which sources it watches: a glob over cache names and build-cache
    /// stores (`ac/disk`, `cas/memory`); `*` for every one.
    pub caches: KeyPattern,
    /// What it watches.
    pub signal: Signal,
    /// When the signal is bad.
    pub condition: Condition,
    /// Seconds the condition must hold before the alert fires (pending
    /// until then); 0 fires at the first bad window.
    pub for_secs: u64,
    /// How bad.
    pub severity: Severity,
    /// Requests a source must have answered in the window for its value
    /// to count (0: any); keeps idle caches from alerting on one miss.
    pub min_requests: u64,
    /// What the alert says, e.g. "hit ratio dropped below its baseline".
    pub summary: String,
}

impl AlertRule {
    /// A rule from `[[alerts.rules]]`'s fields.
    ///
    /// # Errors
    /// [`AlertRuleError`] naming the field: an empty or over-long name, a
    /// bad glob, an unknown series, a bad condition or severity, or
    /// `for_secs` above [`MAX_FOR_SECS`].
    pub fn parse(
        name: &str,
        caches: &str,
        series: &str,
        condition: &str,
        for_secs: u64,
        severity: &str,
    ) -> Result<Self, AlertRuleError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        {
            return Err(AlertRuleError::new(format!(
                "name {name:?} must be 1 to 128 characters of letters, digits, '_', '-', '.', ':'"
            )));
        }
        let caches = KeyPattern::parse(caches)
            .map_err(|e| AlertRuleError::new(format!("caches {caches:?}: {e}")))?;
        let signal = match series {
            "error_rate" => Signal::ErrorRate,
            "auth_failures" => Signal::AuthFailures,
            other => Signal::Series(SeriesId::parse(other).ok_or_else(|| {
                AlertRuleError::new(format!(
                    "series {other:?} is not one of {}, error_rate, auth_failures",
                    SeriesId::ALL.map(SeriesId::as_str).join(", ")
                ))
            })?),
        };
        let condition = Condition::parse(condition, signal)?;
        if for_secs > MAX_FOR_SECS {
            return Err(AlertRuleError::new(format!(
                "for_secs {for_secs} is above {MAX_FOR_SECS} (a day)"
            )));
        }
        let severity = Severity::parse(severity).ok_or_else(|| {
            AlertRuleError::new(format!(
                "severity {severity:?} is not info, warning or critical"
            ))
        })?;
        let summary = format!("{} {condition}", signal.as_str());
        Ok(Self {
            name: name.to_owned(),
            caches,
            signal,
            condition,
            for_secs,
            severity,
            min_requests: 0,
            summary,
        })
    }

    /// Whether the rule watches `source` (a cache name, a build-cache
    /// store, or [`SERVER_SOURCE`] for server-wide signals).
    pub fn watches(&self, source: &str) -> bool {
        match self.signal {
            Signal::AuthFailures => source == SERVER_SOURCE,
            _ => source != SERVER_SOURCE && self.caches.matches(source),
        }
    }
}

/// The parameters of the built-in rules ([`builtin_rules`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuiltinParameters {
    /// Flushes of one store per hour that are still normal (10).
    pub flush_max_per_hour: u32,
    /// Share of a store's entries one flush may remove (0.5).
    pub flush_max_share: f64,
}

impl Default for BuiltinParameters {
    fn default() -> Self {
        Self {
            flush_max_per_hour: 10,
            flush_max_share: 0.5,
        }
    }
}

/// Requests in a window below which the built-in detectors ignore it.
pub const BUILTIN_MIN_REQUESTS: u64 = 20;

/// The built-in detectors, each on every source, with the methods
/// docs/monitoring.md describes: `hit_ratio_drop`, `miss_storm`,
/// `p99_latency_spike`, `eviction_storm` and `error_rate_rise` are
/// anomaly bands ([`AnomalyBand::for_signal`]) on the source's 10-s
/// series; `auth_failure_spike` is one on the server's failed
/// authentications; `flush_pattern` is the flush rule.
pub fn builtin_rules(params: BuiltinParameters) -> Vec<AlertRule> {
    let all = || KeyPattern::parse("*").unwrap_or_else(|_| unreachable!("`*` is a valid glob"));
    let anomaly = |name: &str, signal: Signal, for_secs, severity, summary: &str| AlertRule {
        name: name.to_owned(),
        caches: all(),
        signal,
        condition: Condition::Anomaly(AnomalyBand::for_signal(signal)),
        for_secs,
        severity,
        min_requests: if signal == Signal::AuthFailures {
            0
        } else {
            BUILTIN_MIN_REQUESTS
        },
        summary: summary.to_owned(),
    };
    vec![
        anomaly(
            "hit_ratio_drop",
            Signal::Series(SeriesId::HitRatio),
            60,
            Severity::Warning,
            "the hit ratio dropped below its baseline",
        ),
        anomaly(
            "miss_storm",
            Signal::Series(SeriesId::Misses),
            30,
            Severity::Warning,
            "misses rose far above their baseline",
        ),
        anomaly(
            "p99_latency_spike",
            Signal::Series(SeriesId::P99),
            60,
            Severity::Warning,
            "p99 latency rose far above its baseline",
        ),
        anomaly(
            "eviction_storm",
            Signal::Series(SeriesId::Evictions),
            60,
            Severity::Warning,
            "evictions rose far above their baseline",
        ),
        anomaly(
            "error_rate_rise",
            Signal::ErrorRate,
            30,
            Severity::Critical,
            "the share of requests answered with a server error rose",
        ),
        anomaly(
            "auth_failure_spike",
            Signal::AuthFailures,
            0,
            Severity::Warning,
            "failed authentications rose far above their baseline",
        ),
        AlertRule {
            name: "flush_pattern".to_owned(),
            caches: all(),
            signal: Signal::Flushes,
            condition: Condition::FlushPattern {
                max_per_hour: params.flush_max_per_hour,
                max_share: params.flush_max_share,
            },
            for_secs: 0,
            severity: Severity::Warning,
            min_requests: 0,
            summary: format!(
                "more than {} flushes of one store within an hour, or one flush removing more than {} of it",
                params.flush_max_per_hour, params.flush_max_share
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions() {
        let hr = Signal::Series(SeriesId::HitRatio);
        assert!(Condition::parse("< 0.5", hr).unwrap().crossed(0.4));
        assert!(!Condition::parse("< 0.5", hr).unwrap().crossed(0.5));
        assert!(Condition::parse("<=0.5", hr).unwrap().crossed(0.5));
        assert!(Condition::parse(">= 100", hr).unwrap().crossed(100.0));
        assert!(Condition::parse(" > 100 ", hr).unwrap().crossed(101.0));
        assert!(matches!(
            Condition::parse("anomaly", hr).unwrap(),
            Condition::Anomaly(_)
        ));
        for bad in ["", "= 3", "< x", "> NaN", "> inf", "anomalous"] {
            assert!(Condition::parse(bad, hr).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_rules_and_names_the_bad_field() {
        let rule =
            AlertRule::parse("low-hr", "orders*", "hit_ratio", "< 0.5", 60, "critical").unwrap();
        assert!(rule.watches("orders-eu"));
        assert!(!rule.watches("users"));
        assert!(!rule.watches(SERVER_SOURCE));
        assert_eq!(rule.severity, Severity::Critical);
        let err = |r: Result<AlertRule, AlertRuleError>| r.unwrap_err().0;
        assert!(err(AlertRule::parse("", "*", "hits", "> 1", 0, "info")).contains("name"));
        assert!(err(AlertRule::parse("a", "*", "hitz", "> 1", 0, "info")).contains("series"));
        assert!(err(AlertRule::parse("a", "*", "hits", "> 1", 0, "fatal")).contains("severity"));
        assert!(
            err(AlertRule::parse("a", "*", "hits", "> 1", 90_000, "info")).contains("for_secs")
        );
        let auth = AlertRule::parse("a", "*", "auth_failures", "> 5", 0, "info").unwrap();
        assert!(auth.watches(SERVER_SOURCE) && !auth.watches("orders"));
    }

    #[test]
    fn builtins_have_unique_names() {
        let rules = builtin_rules(BuiltinParameters::default());
        let mut names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len());
    }
}
