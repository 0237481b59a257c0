//! `AutoTune`: one evaluation of every cache with `eviction = "auto"`.
//!
//! For each such cache with an analyzer and new samples since the last
//! evaluation, the cache's [`AutoTuner`] reads the estimated miss ratios at
//! the current capacity; when it decides a switch, the new policy is put in
//! force through the same run-time switch as an admin change
//! ([`configure_cache::apply`]), published as a `ConfigurationChanged`
//! with cause `auto_tune` and the estimates, and, when an audit log is
//! given, recorded there (`configure`, principal `auto_tune`).
//!
//! When the tuner decides a *rebuild* (a fresh start of the active policy
//! beats the running one, [`AutoTuner::observe_fresh`]), the store is
//! rebuilt the same way ([`configure_cache::rebuild`]: a new store of the
//! same policy, the resident entries moved in), the analyzer is told so
//! its running miniatures of that policy are rebuilt too
//! ([`MrcAnalyzer::rebuilt`](strata_domain::MrcAnalyzer::rebuilt)), and the
//! audit record carries `rebuild = true`.

use strata_domain::{
    AUDIT_OK, AuditAction, AuditLog, AuditRecord, AutoSwitch, AutoTuneSettings, AutoTuner,
    CacheName, ChangeCause, EvictionPolicyKind, Principal,
};

use crate::commands::configure_cache::{self, ConfigureCache};
use crate::context::Context;

/// The principal name auto-tune switches are audited under.
pub const AUTO_TUNE_PRINCIPAL: &str = "auto_tune";

/// A switch made by [`handle`].
#[derive(Clone, Debug, PartialEq)]
pub struct AutoTuneSwitch {
    /// The cache.
    pub cache: CacheName,
    /// The switch and its estimates.
    pub switch: AutoSwitch,
}

pub(crate) async fn handle(
    ctx: &Context,
    settings: AutoTuneSettings,
    audit: Option<&dyn AuditLog>,
) -> Vec<AutoTuneSwitch> {
    let mut decided = Vec::new();
    {
        let mut tuners = ctx
            .tuners
            .by_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let caches = ctx.registry.all();
        tuners.retain(|name, _| {
            caches.iter().any(|c| {
                c.config().name() == name && c.config().eviction() == EvictionPolicyKind::Auto
            })
        });
        for cache in caches {
            let config = cache.config();
            if config.eviction() != EvictionPolicyKind::Auto {
                continue;
            }
            let Some(analyzer) = cache.analyzer() else {
                continue;
            };
            let curves = analyzer.curves();
            let active = config.active_eviction();
            let (tuner, seen, at_switch) = tuners
                .entry(config.name().clone())
                .or_insert_with(|| (AutoTuner::new(active, settings), 0, None));
            if tuner.active() != active {
                *tuner = AutoTuner::new(active, settings);
                *at_switch = None;
            }
            if curves.sampled_requests == *seen {
                continue;
            }
            *seen = curves.sampled_requests;
            let counters = cache.counters().snapshot();
            let now = (counters.misses, counters.hits + counters.misses);
            // The first evaluation after a switch measures what it cost.
            if let Some((misses, reads)) = at_switch.take()
                && now.1 > reads
            {
                let observed = now.0.saturating_sub(misses) as f64 / (now.1 - reads) as f64;
                tuner.record_switch_cost(observed);
            }
            let fresh: Vec<_> = curves
                .curves
                .iter()
                .filter_map(|c| c.fresh.map(|f| (c.policy, f)))
                .collect();
            if let Some(switch) = tuner.observe_all(&curves.at_current_capacity(), &fresh) {
                *at_switch = Some(now);
                decided.push((config.clone(), cache.version(), switch, analyzer.clone()));
            }
        }
    }
    let mut made = Vec::new();
    for (config, version, switch, analyzer) in decided {
        let cause = ChangeCause::AutoTune {
            estimates: switch.estimates.clone(),
        };
        // At the version it evaluated: a newer change (of an admin or of
        // another instance) wins, and this switch fails as a conflict.
        let outcome = if switch.is_rebuild() {
            let rebuilt = configure_cache::rebuild(ctx, config.name(), version, cause).await;
            if rebuilt.is_ok() {
                analyzer.rebuilt(switch.to);
            }
            rebuilt
        } else {
            let Ok(next) = config.to_builder().active_eviction(switch.to).build() else {
                continue;
            };
            let cmd = ConfigureCache {
                principal: Principal::Anonymous,
                config: next,
                expected_version: Some(version),
                explicit: None,
            };
            configure_cache::apply(ctx, cmd, cause).await
        };
        match outcome {
            Ok(_) => {
                tracing::info!(
                    cache = %config.name(),
                    from = switch.from.as_str(),
                    to = switch.to.as_str(),
                    rebuild = switch.is_rebuild(),
                    "auto_tune switched the eviction policy"
                );
                if let Some(log) = audit {
                    let record = audit_record(ctx, config.name(), &switch);
                    if let Err(e) = log.append(&record).await {
                        tracing::warn!(target: "strata::audit", error = %e, "cannot record an auto_tune switch");
                    }
                }
                made.push(AutoTuneSwitch {
                    cache: config.name().clone(),
                    switch,
                });
            }
            Err(e) => {
                tracing::warn!(cache = %config.name(), error = %e, "auto_tune could not switch");
                // The tuner believes it switched: start it again from the store's policy.
                ctx.tuners
                    .by_cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(config.name());
            }
        }
    }
    made
}

fn audit_record(ctx: &Context, cache: &CacheName, switch: &AutoSwitch) -> AuditRecord {
    let mut params = vec![
        ("cause".to_owned(), "auto_tune".to_owned()),
        ("from".to_owned(), switch.from.as_str().to_owned()),
        ("to".to_owned(), switch.to.as_str().to_owned()),
    ];
    if switch.is_rebuild() {
        params.push(("rebuild".to_owned(), "true".to_owned()));
    }
    params.extend(
        switch
            .estimates
            .iter()
            .map(|(policy, m)| (format!("estimate.{}", policy.as_str()), format!("{m:.4}"))),
    );
    AuditRecord {
        time: ctx.clock.now(),
        principal: AUTO_TUNE_PRINCIPAL.to_owned(),
        action: AuditAction::Configure,
        cache: Some(cache.as_str().to_owned()),
        params,
        outcome: AUDIT_OK.to_owned(),
        request_id: None,
        peer: None,
    }
}

#[cfg(test)]
mod tests;
