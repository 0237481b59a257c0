//! `[alerts]` and `[[alerts.rules]]`: the built-in detectors, operators'
//! rules, and the webhook notifications go to (docs/monitoring.md).

use serde::{Deserialize, Serialize};
use strata_domain::{AlertRule, BuiltinParameters, builtin_rules};

/// Seconds one webhook delivery may take when `webhook_timeout_secs` is
/// not set.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECS: u64 = 10;

/// Deliveries tried per notification when `webhook_max_attempts` is not
/// set.
pub const DEFAULT_WEBHOOK_MAX_ATTEMPTS: u32 = 5;

/// The longest a delivery may take, in seconds.
pub const MAX_WEBHOOK_TIMEOUT_SECS: u64 = 300;

/// One `[[alerts.rules]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSettings {
    /// The rule's name (the `alertname` label), unique, not a built-in
    /// detector's.
    pub name: String,
    /// A glob over cache names and build-cache stores (`ac/disk`,
    /// `cas/memory`); default `*`.
    #[serde(default = "all_caches")]
    pub caches: String,
    /// A series id (`hit_ratio`, `p99`, `evictions`, ...), `error_rate`
    /// or `auth_failures`.
    pub series: String,
    /// `"< 0.5"`, `"> 100"`, `"<= 3"`, `">= 1"` or `"anomaly"`.
    pub condition: String,
    /// Seconds the condition must hold before the alert fires (default 0).
    #[serde(default)]
    pub for_secs: u64,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default = "warning")]
    pub severity: String,
}

fn all_caches() -> String {
    "*".to_owned()
}
fn warning() -> String {
    "warning".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> u64 {
    DEFAULT_WEBHOOK_TIMEOUT_SECS
}
fn default_attempts() -> u32 {
    DEFAULT_WEBHOOK_MAX_ATTEMPTS
}
fn default_flush_max_per_hour() -> u32 {
    BuiltinParameters::default().flush_max_per_hour
}
fn default_flush_max_share() -> f64 {
    BuiltinParameters::default().flush_max_share
}

/// `[alerts]`. Alerts are judged on the trends, so they need
/// `[analytics] enabled` (the default).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSettings {
    /// Run the built-in detectors (default true): `hit_ratio_drop`,
    /// `miss_storm`, `p99_latency_spike`, `eviction_storm`,
    /// `error_rate_rise`, `auth_failure_spike` and `flush_pattern`.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// The flush rule's flushes of one store per hour that are still
    /// normal (default 10).
    #[serde(default = "default_flush_max_per_hour")]
    pub flush_max_per_hour: u32,
    /// The flush rule's share of a store one flush may remove, in (0, 1]
    /// (default 0.5).
    #[serde(default = "default_flush_max_share")]
    pub flush_max_share: f64,
    /// Where fired and resolved alerts are POSTed, as Alertmanager's
    /// webhook JSON (`version` 4). `http://` or `https://`. It may carry
    /// a token, so it is never logged (only its host is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Seconds one delivery may take (default 10, at most 300).
    #[serde(default = "default_timeout")]
    pub webhook_timeout_secs: u64,
    /// Deliveries tried per notification, with back-off doubling from
    /// 1 s (default 5).
    #[serde(default = "default_attempts")]
    pub webhook_max_attempts: u32,
    /// Operators' rules.
    #[serde(default)]
    pub rules: Vec<AlertRuleSettings>,
}

impl Default for AlertsSettings {
    fn default() -> Self {
        Self {
            builtin: true,
            flush_max_per_hour: default_flush_max_per_hour(),
            flush_max_share: default_flush_max_share(),
            webhook_url: None,
            webhook_timeout_secs: DEFAULT_WEBHOOK_TIMEOUT_SECS,
            webhook_max_attempts: DEFAULT_WEBHOOK_MAX_ATTEMPTS,
            rules: Vec::new(),
        }
    }
}

impl AlertsSettings {
    /// Every rule in force: the built-in detectors (when `builtin`), then
    /// `[[alerts.rules]]`, and the checks of the section.
    ///
    /// # Errors
    /// A bad rule (`[[alerts.rules]] #<n> (<name>): ...`, naming the
    /// field), a duplicate name, `flush_max_share` outside (0, 1], a
    /// `webhook_url` that is not http(s), a `webhook_timeout_secs` of 0
    /// or above 300, or `webhook_max_attempts` of 0 or above 20.
    pub fn rules(&self) -> anyhow::Result<Vec<AlertRule>> {
        if !(self.flush_max_share > 0.0 && self.flush_max_share <= 1.0) {
            anyhow::bail!(
                "[alerts] flush_max_share must be above 0 and at most 1, not {}",
                self.flush_max_share
            );
        }
        if let Some(url) = &self.webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("[alerts] webhook_url must start with http:// or https://");
        }
        if self.webhook_timeout_secs == 0 || self.webhook_timeout_secs > MAX_WEBHOOK_TIMEOUT_SECS {
            anyhow::bail!(
                "[alerts] webhook_timeout_secs must be 1 to {MAX_WEBHOOK_TIMEOUT_SECS}, not {}",
                self.webhook_timeout_secs
            );
        }
        if !(1..=20).contains(&self.webhook_max_attempts) {
            anyhow::bail!(
                "[alerts] webhook_max_attempts must be 1 to 20, not {}",
                self.webhook_max_attempts
            );
        }
        let mut rules = if self.builtin {
            builtin_rules(BuiltinParameters {
                flush_max_per_hour: self.flush_max_per_hour,
                flush_max_share: self.flush_max_share,
            })
        } else {
            Vec::new()
        };
        let builtin: Vec<String> = builtin_rules(BuiltinParameters::default())
            .into_iter()
            .map(|r| r.name)
            .collect();
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("[[alerts.rules]] #{} ({})", i + 1, r.name);
            let rule = AlertRule::parse(
                &r.name,
                &r.caches,
                &r.series,
                &r.condition,
                r.for_secs,
                &r.severity,
            )
            .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            if builtin.contains(&rule.name) || rules.iter().any(|x| x.name == rule.name) {
                anyhow::bail!(
                    "{at}: the name is already taken (names are unique, and the built-in detectors' names are reserved)"
                );
            }
            rules.push(rule);
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, series: &str, condition: &str) -> AlertRuleSettings {
        AlertRuleSettings {
            name: name.into(),
            caches: "*".into(),
            series: series.into(),
            condition: condition.into(),
            for_secs: 60,
            severity: "warning".into(),
        }
    }

    #[test]
    fn builtins_then_operators_rules() {
        let settings = AlertsSettings {
            rules: vec![rule("low-hr", "hit_ratio", "< 0.5")],
            ..Default::default()
        };
        let rules = settings.rules().unwrap();
        assert_eq!(rules.last().unwrap().name, "low-hr");
        assert!(rules.iter().any(|r| r.name == "flush_pattern"));
        let off = AlertsSettings {
            builtin: false,
            ..settings
        };
        assert_eq!(off.rules().unwrap().len(), 1);
    }

    #[test]
    fn names_the_bad_rule_and_field() {
        let bad = |rules| {
            AlertsSettings {
                rules,
                ..Default::default()
            }
            .rules()
            .unwrap_err()
            .to_string()
        };
        let e = bad(vec![rule("x", "hitz", "< 1")]);
        assert!(e.contains("#1 (x)") && e.contains("series"), "{e}");
        let e = bad(vec![rule("x", "hits", "< 1"), rule("x", "hits", "< 2")]);
        assert!(e.contains("#2 (x)") && e.contains("taken"), "{e}");
        let e = bad(vec![rule("miss_storm", "hits", "< 1")]);
        assert!(e.contains("reserved"), "{e}");
        let e = AlertsSettings {
            webhook_url: Some("ftp://x".into()),
            ..Default::default()
        }
        .rules()
        .unwrap_err()
        .to_string();
        assert!(e.contains("webhook_url"), "{e}");
    }
}
