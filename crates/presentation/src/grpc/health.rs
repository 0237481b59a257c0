//! `grpc.health.v1.Health` (tonic-health) from the same readiness data as
//! `/health/ready`:
//!
//! - `""` (the server as a whole) and every served gRPC service name:
//!   SERVING while every cache's store answers its ping, NOT_SERVING while
//!   one does not (as `/health/ready` answers 503);
//! - `cache/<name>`: one cache, SERVING while its store answers;
//! - `backend/<name>`: one shared backend, NOT_SERVING while its circuit
//!   breaker is open.
//!
//! [`report`] polls every [`HEALTH_POLL`] and changes a status only when
//! it changes, so `Watch` streams each change once. Health needs no
//! credential, like `/health/*`.

use std::collections::HashMap;
use std::time::Duration;

use strata_domain::CircuitState;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::edge::state::AppState;

/// How often readiness is polled.
pub const HEALTH_POLL: Duration = Duration::from_millis(500);

/// The health service name of cache `name`.
pub fn cache_service(name: &str) -> String {
    format!("cache/{name}")
}

/// The health service name of shared backend `name`.
pub fn backend_service(name: &str) -> String {
    format!("backend/{name}")
}

/// Polls readiness for ever, publishing it to `reporter` under `""`,
/// each of `services`, each cache and each backend. Run it as a task; it
/// ends only when dropped.
pub async fn report(state: AppState, reporter: HealthReporter, services: Vec<&'static str>) {
    let mut last: HashMap<String, ServingStatus> = HashMap::new();
    let mut ticker = tokio::time::interval(HEALTH_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut now: Vec<(String, ServingStatus)> = Vec::new();
        let mut all_ready = true;
        for (cache, error) in state.service.readiness().await {
            all_ready &= error.is_none();
            now.push((cache_service(cache.as_str()), serving(error.is_none())));
        }
        for backend in state.service.backends() {
            now.push((
                backend_service(&backend.name),
                serving(backend.circuit != CircuitState::Open),
            ));
        }
        let overall = serving(all_ready);
        now.push((String::new(), overall));
        for service in &services {
            now.push(((*service).to_owned(), overall));
        }
        for (name, status) in now {
            if last.get(&name) != Some(&status) {
                if status == ServingStatus::NotServing {
                    tracing::warn!(service = %name, "grpc health: not serving");
                } else if last.contains_key(&name) {
                    tracing::info!(service = %name, "grpc health: serving again");
                } else {
                    // The first report of each service: start-up, not news.
                    tracing::debug!(service = %name, "grpc health: serving");
                }
                reporter.set_service_status(&name, status).await;
                last.insert(name, status);
            }
        }
    }
}

fn serving(ok: bool) -> ServingStatus {
    if ok {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}
