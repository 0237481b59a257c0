//! Wiring of `[alerts]`: the rules in force and the webhook notifier. The
//! rules are judged by the trends' sampler (src/trends.rs) right after
//! each sample.

use std::sync::Arc;
use std::time::Duration;

use strata_application::CacheService;
use strata_infrastructure::{WebhookNotifier, WebhookOptions};

use crate::Settings;

/// Puts `[alerts]`' rules in force on `service`, and its webhook (inside
/// a tokio runtime).
///
/// # Errors
/// A bad `[alerts]` section ([`AlertsSettings::rules`](crate::config::AlertsSettings::rules)),
/// or a webhook URL that cannot be used.
pub(crate) fn configure(settings: &Settings, service: &CacheService) -> anyhow::Result<()> {
    let alerts = &settings.alerts;
    let rules = alerts.rules()?;
    if !settings.analytics.enabled && !rules.is_empty() {
        tracing::warn!(
            "[analytics] enabled = false: alert rules are judged on the trends, so none is judged"
        );
    }
    tracing::info!(rules = rules.len(), "alert rules in force");
    service.alerts().set_rules(rules);
    if let Some(url) = &alerts.webhook_url {
        // reqwest is built without a provider of its own (ring only, as
        // the server's TLS): install it unless one is already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let notifier = WebhookNotifier::spawn(WebhookOptions {
            url: url.clone(),
            timeout: Duration::from_secs(alerts.webhook_timeout_secs),
            max_attempts: alerts.webhook_max_attempts,
            initial_backoff: Duration::from_secs(1),
            external_url: String::new(),
        })
        .map_err(|e| anyhow::anyhow!("[alerts] {e}"))?;
        service.alerts().set_notifier(Arc::new(notifier));
    }
    Ok(())
}
