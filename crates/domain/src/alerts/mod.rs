//! Alerts: rules over the trend series ([`AlertRule`], the built-in
//! detectors of [`builtin_rules`]), anomaly baselines ([`Baseline`]), the
//! life of an alert ([`AlertState`], [`Alert`]), silences ([`Silence`])
//! and the [`AlertNotifier`] port.
//!
//! Nothing here reads a clock or does I/O: the application's alert engine
//! feeds rules the newest trend points with the time.

mod alert;
mod baseline;
mod rule;

pub use alert::{Alert, AlertNotification, AlertNotifier, AlertState, Silence};
pub use baseline::Baseline;
pub use rule::{
    AlertRule, AlertRuleError, AnomalyBand, BUILTIN_MIN_REQUESTS, BuiltinParameters, Comparison,
    Condition, Direction, MAX_FOR_SECS, SERVER_SOURCE, Severity, Signal, builtin_rules,
};
