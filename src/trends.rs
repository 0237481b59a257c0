//! Wiring of `[analytics]`: turns the trends on or off, restores them
//! from `[server] data_dir`, and runs the sampler that feeds them (and
//! saves them) off the request path, judging the alert rules after each
//! sample.

use std::sync::Arc;
use std::time::Duration;

use strata_application::{BuildCacheService, CacheService};
use strata_domain::{AuditLog, Clock, TrendArchive};
use strata_infrastructure::FileTrendArchive;

use crate::Settings;

/// Applies `[analytics]` to `service`: off, nothing more; on, loads the
/// archive under `data_dir` (a file that cannot be read is logged and
/// the history starts empty) and spawns the sampler. Returns the archive
/// to save at shutdown.
pub(crate) async fn start(
    settings: &Settings,
    service: &CacheService,
    build_cache: Option<BuildCacheService>,
    clock: &Arc<dyn Clock>,
    audit: Option<Arc<dyn AuditLog>>,
) -> Option<Arc<dyn TrendArchive>> {
    let analytics = &settings.analytics;
    service.trends().set_enabled(analytics.enabled);
    service
        .trends()
        .set_report_sample_rate(analytics.report_sample_rate);
    if !analytics.enabled {
        return None;
    }
    let archive = settings
        .server
        .data_dir
        .as_deref()
        .map(|dir| Arc::new(FileTrendArchive::in_dir(dir)) as Arc<dyn TrendArchive>);
    if let Some(archive) = &archive {
        match archive.load().await {
            Ok(histories) => {
                tracing::info!(sources = histories.len(), "trends loaded");
                service.trends().restore(histories);
            }
            Err(e) => tracing::error!(error = %e, "trends not loaded: the history starts empty"),
        }
    }
    let every = Duration::from_millis(analytics.sample_interval_ms.max(1));
    let save_every_ms = analytics.save_interval_secs.saturating_mul(1000);
    let (service, clock, saving) = (service.clone(), clock.clone(), archive.clone());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_save = clock.now().as_millis();
        loop {
            ticks.tick().await;
            service.sample_trends(build_cache.as_ref()).await;
            // Cheap when nothing is new: each point is judged once.
            service.evaluate_alerts(audit.as_deref()).await;
            let now = clock.now().as_millis();
            if let Some(archive) = &saving
                && now.saturating_sub(last_save) >= save_every_ms
            {
                last_save = now;
                save(archive.as_ref(), &service).await;
            }
        }
    });
    archive
}

/// Saves every history to `archive`, logging a failure.
pub(crate) async fn save(archive: &dyn TrendArchive, service: &CacheService) {
    let histories = service.trends().snapshot();
    let sources = histories.len();
    match archive.save(histories).await {
        Ok(()) => tracing::debug!(sources, "trends saved"),
        Err(e) => tracing::warn!(error = %e, "trends not saved"),
    }
}
