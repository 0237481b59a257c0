//! [`WebhookNotifier`]: fired and resolved alerts POSTed as
//! Alertmanager's webhook JSON (`version` 4, as documented at
//! <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>),
//! so Alertmanager itself and every chat bridge that speaks it can take
//! them.
//!
//! `notify` only queues: a task delivers, one notification at a time, in
//! order, retrying a failed delivery (a transport error or a non-2xx
//! status) with back-off doubling from `initial_backoff` up to
//! `max_attempts` tries. A full queue ([`WEBHOOK_QUEUE`] notifications)
//! drops the new one with a log line. The URL may carry a token: logs
//! name only its host. Counted in
//! `strata_alert_notifications_total{result="delivered|failed|dropped"}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use strata_domain::{Alert, AlertNotification, AlertNotifier, AlertState, Timestamp};
use tokio::sync::mpsc;

/// Notifications waiting for delivery before new ones are dropped.
pub const WEBHOOK_QUEUE: usize = 1024;

/// The `endsAt` of an alert that still fires (Go's zero time, as
/// Alertmanager sends it).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// See the module docs.
pub struct WebhookNotifier {
    queue: mpsc::Sender<AlertNotification>,
    host: String,
}

/// How a [`WebhookNotifier`] delivers.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// Where to POST.
    pub url: String,
    /// How long one delivery may take.
    pub timeout: Duration,
    /// Tries per notification, at least 1.
    pub max_attempts: u32,
    /// The wait before the second try; doubled before each next one.
    pub initial_backoff: Duration,
    /// `externalURL` in the payload: where the alerts can be seen (the
    /// server's `/admin/v1/alerts`), or empty.
    pub external_url: String,
}

/// Alertmanager's webhook payload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    version: &'static str,
    group_key: String,
    truncated_alerts: u32,
    status: &'static str,
    receiver: &'static str,
    group_labels: BTreeMap<&'static str, String>,
    common_labels: BTreeMap<&'static str, String>,
    common_annotations: BTreeMap<&'static str, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    alerts: Vec<PayloadAlert>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadAlert {
    status: &'static str,
    labels: BTreeMap<&'static str, String>,
    annotations: BTreeMap<&'static str, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
}

/// The labels of `alert`: `alertname`, `cache` (its source) and
/// `severity`.
fn labels(alert: &Alert) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("alertname", alert.rule.clone()),
        ("cache", alert.source.clone()),
        ("severity", alert.severity.as_str().to_owned()),
    ])
}

/// The JSON body for `notification` (one alert per payload).
pub fn alertmanager_payload(notification: &AlertNotification, external_url: &str) -> String {
    let alert = &notification.alert;
    let status = if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    };
    let labels = labels(alert);
    let mut annotations = BTreeMap::from([("summary", alert.summary.clone())]);
    annotations.insert(
        "description",
        format!(
            "{} on {}: value {}{}",
            alert.rule,
            alert.source,
            alert
                .value
                .map_or_else(|| "none".to_owned(), |v| format!("{v}")),
            alert
                .baseline
                .map_or_else(String::new, |b| format!(", baseline {b:.4}"))
        ),
    );
    let fingerprint = {
        let mut h = Sha256::new();
        for (k, v) in &labels {
            h.update(k.as_bytes());
            h.update([0xff]);
            h.update(v.as_bytes());
            h.update([0xff]);
        }
        hex::encode(&h.finalize()[..8])
    };
    let starts = alert.fired_at_ms.unwrap_or(alert.active_since_ms);
    let payload = Payload {
        version: "4",
        group_key: format!("{{}}:{{alertname=\"{}\"}}", alert.rule),
        truncated_alerts: 0,
        status,
        receiver: "strata",
        group_labels: BTreeMap::from([("alertname", alert.rule.clone())]),
        common_labels: labels.clone(),
        common_annotations: annotations.clone(),
        external_url,
        alerts: vec![PayloadAlert {
            status,
            labels,
            annotations,
            starts_at: Timestamp::from_millis(starts).to_rfc3339(),
            ends_at: alert.resolved_at_ms.map_or_else(
                || ZERO_TIME.to_owned(),
                |t| Timestamp::from_millis(t).to_rfc3339(),
            ),
            generator_url: external_url.to_owned(),
            fingerprint,
        }],
    };
    serde_json::to_string(&payload).unwrap_or_else(|_| unreachable!("plain data serialises"))
}

impl WebhookNotifier {
    /// Starts the delivery task (inside a tokio runtime).
    ///
    /// # Errors
    /// The URL cannot be parsed, or the HTTP client cannot be built.
    pub fn spawn(options: WebhookOptions) -> Result<Self, String> {
        let url = reqwest::Url::parse(&options.url)
            .map_err(|e| format!("webhook_url is not a URL: {e}"))?;
        let host = url.host_str().unwrap_or("?").to_owned();
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        let (queue, mut rx) = mpsc::channel::<AlertNotification>(WEBHOOK_QUEUE);
        let task_host = host.clone();
        tokio::spawn(async move {
            while let Some(notification) = rx.recv().await {
                let body = alertmanager_payload(&notification, &options.external_url);
                let mut backoff = options.initial_backoff;
                let mut attempt = 1;
                loop {
                    let sent = client
                        .post(url.clone())
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let failure = match sent {
                        Ok(r) if r.status().is_success() => None,
                        Ok(r) => Some(format!("status {}", r.status().as_u16())),
                        // Without the URL: it may hold a token.
                        Err(e) => Some(e.without_url().to_string()),
                    };
                    let Some(failure) = failure else {
                        metrics::counter!("strata_alert_notifications_total", "result" => "delivered").increment(1);
                        break;
                    };
                    if attempt >= options.max_attempts.max(1) {
                        metrics::counter!("strata_alert_notifications_total", "result" => "failed")
                            .increment(1);
                        tracing::error!(host = %task_host, rule = %notification.alert.rule, attempts = attempt, error = %failure, "alert webhook failed; notification dropped");
                        break;
                    }
                    tracing::warn!(host = %task_host, rule = %notification.alert.rule, attempt, error = %failure, "alert webhook failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
            }
        });
        Ok(Self { queue, host })
    }
}

impl AlertNotifier for WebhookNotifier {
    fn notify(&self, notification: AlertNotification) {
        if let Err(e) = self.queue.try_send(notification) {
            metrics::counter!("strata_alert_notifications_total", "result" => "dropped")
                .increment(1);
            tracing::error!(host = %self.host, error = %e, "alert webhook queue full or closed; notification dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::Severity;

    fn alert(state: AlertState) -> AlertNotification {
        AlertNotification {
            alert: Alert {
                rule: "hit_ratio_drop".into(),
                source: "orders".into(),
                severity: Severity::Warning,
                state,
                value: Some(0.25),
                baseline: Some(0.9),
                active_since_ms: 1_000,
                fired_at_ms: Some(61_000),
                resolved_at_ms: (state == AlertState::Resolved).then_some(121_000),
                summary: "the hit ratio dropped".into(),
                silenced: false,
            },
        }
    }

    #[test]
    fn the_payload_is_alertmanager_s() {
        let body: serde_json::Value = serde_json::from_str(&alertmanager_payload(
            &alert(AlertState::Firing),
            "http://s/",
        ))
        .unwrap();
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        let a = &body["alerts"][0];
        assert_eq!(a["labels"]["alertname"], "hit_ratio_drop");
        assert_eq!(a["labels"]["cache"], "orders");
        assert_eq!(a["labels"]["severity"], "warning");
        assert_eq!(a["startsAt"], "1970-01-01T00:01:01.000Z");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
        let resolved: serde_json::Value =
            serde_json::from_str(&alertmanager_payload(&alert(AlertState::Resolved), "")).unwrap();
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["alerts"][0]["endsAt"], "1970-01-01T00:02:01.000Z");
        assert_eq!(resolved["alerts"][0]["fingerprint"], a["fingerprint"]);
    }

    #[tokio::test]
    async fn delivers_in_order_and_retries_a_failed_delivery() {
        // reqwest is built without a provider of its own (the server
        // installs ring at start).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let strata_testkit::WebhookReceiver { url, mut bodies } =
            strata_testkit::WebhookReceiver::start(vec![500, 503]).await;
        let notifier = WebhookNotifier::spawn(WebhookOptions {
            url,
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(1),
            external_url: String::new(),
        })
        .unwrap();
        notifier.notify(alert(AlertState::Firing));
        notifier.notify(alert(AlertState::Resolved));
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let body: serde_json::Value =
                serde_json::from_slice(&bodies.recv().await.unwrap()).unwrap();
            statuses.push(body["status"].as_str().unwrap().to_owned());
        }
        // Two refused tries of the firing one, then it, then the resolved.
        assert_eq!(statuses, ["firing", "firing", "firing", "resolved"]);
    }
}
