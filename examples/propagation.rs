//! Invalidation propagation latency between two Strata instances.
//!
//! Spawns a throw-away redis-server (testkit), two in-process service
//! instances A and B over it with cache `t` = memory over Redis, and then,
//! `STRATA_PROPAGATION_ROUNDS` times (default 1000): warms key `k` into B's
//! L1, updates it through A, and measures the time from A's write returning
//! until B's read returns the new value (B's L1 copy dropped by the
//! pub/sub message, the next read goes to L2). Prints p50, p90, p99 and max
//! in microseconds.
//!
//! ```text
//! cargo run --release --example propagation
//! ```

#![allow(clippy::print_stdout)] // an example reports on stdout

use std::time::{Duration, Instant};

use bytes::Bytes;
use strata::config::{BackendSettings, Settings};
use strata_application::commands::put_entry::PutEntry;
use strata_application::queries::get_entry::GetEntry;
use strata_domain::{CacheKey, CacheName, CacheValue, ContentType, HitTier, Principal};
use strata_presentation::CacheConfigurationDto;
use strata_testkit::RedisServer;

async fn instance(redis_url: &str) -> anyhow::Result<strata::Application> {
    let mut settings = Settings::load(None).map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.grpc_listen = String::new();
    settings.backends.insert(
        "main".into(),
        BackendSettings::Redis {
            url: redis_url.to_owned(),
            timeout_ms: None,
        },
    );
    settings.caches.insert(
        "t".into(),
        CacheConfigurationDto {
            tiers: Some(vec!["memory".into(), "main".into()]),
            ..Default::default()
        },
    );
    strata::Application::build(settings).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("STRATA_PROPAGATION_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let redis = RedisServer::spawn().map_err(|e| anyhow::anyhow!("redis-server: {e}"))?;
    let a = instance(&redis.url()).await?;
    let b = instance(&redis.url()).await?;
    let cache = CacheName::parse("t")?;
    let key = CacheKey::parse("k")?;
    let text = ContentType::parse("text/plain")?;
    let put = |round: usize| PutEntry {
        principal: Principal::Anonymous,
        cache: cache.clone(),
        key: key.clone(),
        value: CacheValue::new(Bytes::from(round.to_string()), text.clone()),
        ttl: None,
        tags: Vec::new(),
        lease: None,
    };
    let get = || GetEntry {
        principal: Principal::Anonymous,
        cache: cache.clone(),
        key: key.clone(),
    };
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        a.service().put(put(round)).await?;
        // Warm B's L1 with this round's value.
        loop {
            let hit = b.service().get(get()).await?;
            if hit.is_some_and(|h| {
                h.tier == HitTier::L1 && h.entry.value().bytes() == round.to_string().as_bytes()
            }) {
                break;
            }
        }
        let next = (round + rounds).to_string();
        a.service().put(put(round + rounds)).await?;
        let written = Instant::now();
        loop {
            let hit = b.service().get(get()).await?;
            if hit.is_some_and(|h| h.entry.value().bytes() == next.as_bytes()) {
                break;
            }
            if written.elapsed() > Duration::from_secs(5) {
                anyhow::bail!("round {round}: B never saw the update");
            }
            tokio::task::yield_now().await;
        }
        samples.push(written.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "propagation A->B over {} rounds: p50 {} us, p90 {} us, p99 {} us, max {} us",
        samples.len(),
        pct(0.50).as_micros(),
        pct(0.90).as_micros(),
        pct(0.99).as_micros(),
        samples[samples.len() - 1].as_micros()
    );
    Ok(())
}
