//! Every setting of a cache survives every configuration repository: a
//! property over generated configurations (all fields, provenance
//! included) saved and read back through the file repository (reopened,
//! as after a restart) and the Redis one (a real `redis-server`, read by
//! a second connection, as another instance would).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use strata_domain::{
    CacheAsideDefaults, CacheConfiguration, CacheConfigurationParts, CacheName, Compression,
    ConfigOrigin, ConfigurationRepository, EvictionPolicyKind, ExpectedVersion, Fraction,
    Provenance, StalePolicy, StoredConfiguration, TierName, Ttl,
};
use strata_infrastructure::{
    FileConfigurationRepository, RedisConfigurationRepository, RedisConnection, RedisOptions,
};
use strata_testkit::{RedisServer, require};

/// Generated cases per repository.
const CASES: u32 = 64;

fn ttl() -> impl Strategy<Value = Option<Ttl>> {
    proptest::option::of((1u64..=31_536_000).prop_map(|s| Ttl::from_secs(s).unwrap()))
}

fn policy() -> impl Strategy<Value = EvictionPolicyKind> {
    proptest::sample::select(EvictionPolicyKind::ALL.to_vec())
}

/// Any cache-aside defaults, valid or not (the domain filters).
fn cache_aside() -> impl Strategy<Value = CacheAsideDefaults> {
    let secs = || proptest::option::of(1u64..=31_536_000);
    let ms = || proptest::option::of(1u64..=3_600_000);
    let fraction = || {
        proptest::option::of(
            (1u32..=1_000_000)
                .prop_map(|m| Fraction::from_f64(f64::from(m) / 1_000_000.0).unwrap()),
        )
    };
    (secs(), secs(), ms(), ms(), fraction(), secs(), fraction()).prop_map(
        |(
            fail_safe_max_secs,
            fail_safe_throttle_secs,
            soft_timeout_ms,
            hard_timeout_ms,
            eager_refresh,
            negative_ttl_secs,
            ttl_jitter,
        )| CacheAsideDefaults {
            fail_safe_max_secs,
            fail_safe_throttle_secs,
            soft_timeout_ms,
            hard_timeout_ms,
            eager_refresh,
            negative_ttl_secs,
            ttl_jitter,
        },
    )
}

/// Any valid configuration: raw settings, kept when the domain accepts them.
fn configuration() -> impl Strategy<Value = CacheConfiguration> {
    let tiers = prop_oneof![
        Just(vec!["memory"]),
        Just(vec!["memory", "redis"]),
        Just(vec!["redis"]),
        Just(vec!["memcached"]),
    ];
    let compression = prop_oneof![
        Just(Compression::None),
        any::<u64>().prop_map(|threshold_bytes| Compression::Zstd { threshold_bytes }),
    ];
    (
        (
            "[a-z0-9][a-z0-9._-]{0,20}",
            tiers,
            policy(),
            policy(),
            any::<bool>(),
        ),
        (
            proptest::option::of(1u64..1 << 40),
            proptest::option::of(1u64..1 << 40),
            ttl(),
            1u64..=strata_domain::HARD_MAX_VALUE_BYTES,
            ttl(),
        ),
        (
            compression,
            proptest::option::of("[A-Za-z0-9_-]{1,64}"),
            any::<bool>(),
            proptest::option::of(1u64..1 << 40),
            cache_aside(),
            (0u64..100_000, 0u64..100_000, 0u64..=3_600),
        ),
    )
        .prop_filter_map(
            "breaks an invariant",
            |(
                (name, tiers, eviction, auto_active, confirm_destructive),
                (max_entries, max_bytes, default_ttl, max_value_bytes, l1_max_ttl),
                (
                    compression,
                    encryption_key_id,
                    persist,
                    snapshot_interval_secs,
                    cache_aside,
                    (stale_if_error_secs, stale_while_revalidate_secs, lease_ttl_secs),
                ),
            )| {
                // A struct literal: a new setting must be generated here.
                CacheConfiguration::from_parts(CacheConfigurationParts {
                    name: CacheName::parse(&name).ok()?,
                    tiers: tiers.iter().map(|t| TierName::parse(t).unwrap()).collect(),
                    eviction,
                    auto_active,
                    max_entries,
                    max_bytes,
                    default_ttl,
                    max_value_bytes,
                    l1_max_ttl,
                    compression,
                    encryption_key_id,
                    persist,
                    snapshot_interval_secs,
                    cache_aside,
                    stale: StalePolicy {
                        stale_if_error_secs,
                        stale_while_revalidate_secs,
                        lease_ttl_secs,
                    },
                    confirm_destructive,
                })
                .ok()
            },
        )
}

fn provenance() -> impl Strategy<Value = Provenance> {
    let origin = prop_oneof![Just(ConfigOrigin::File), Just(ConfigOrigin::Runtime)];
    let explicit = proptest::collection::btree_set("[a-z_]{1,24}", 0..6);
    (origin, explicit).prop_map(|(origin, explicit)| Provenance::new(origin, explicit))
}

/// Saves `config` and asserts `read` gives back exactly what was saved.
async fn round_trip<R, F>(
    repo: &dyn ConfigurationRepository,
    config: CacheConfiguration,
    provenance: Provenance,
    read: R,
) -> Result<(), TestCaseError>
where
    R: FnOnce(CacheName) -> F,
    F: std::future::Future<Output = Option<StoredConfiguration>>,
{
    let saved = repo
        .save(config.clone(), provenance.clone(), ExpectedVersion::Any)
        .await
        .map_err(|e| TestCaseError::fail(format!("save: {e}")))?;
    prop_assert_eq!(&saved.config, &config);
    prop_assert_eq!(&saved.provenance, &provenance);
    let back = read(config.name().clone()).await;
    prop_assert_eq!(back, Some(saved));
    Ok(())
}

/// A runner without failure files (the shrunk case is in the panic).
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_setting_survives_the_file_repository() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runner()
        .run(&(configuration(), provenance()), |(config, provenance)| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path();
            let repo = FileConfigurationRepository::open(path).unwrap();
            runtime.block_on(round_trip(&repo, config, provenance, |name| async move {
                // Reopened: what a restart reads.
                let reopened = FileConfigurationRepository::open(path).unwrap();
                reopened.get(&name).await.unwrap()
            }))
        })
        .unwrap();
}

#[test]
fn every_setting_survives_the_redis_repository() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connect = || async {
        let conn = RedisConnection::connect(&redis.url(), RedisOptions::default())
            .await
            .unwrap();
        RedisConfigurationRepository::new(&conn)
    };
    let (writer, reader) = runtime.block_on(async { (connect().await, connect().await) });
    let reader = &reader;
    runner()
        .run(&(configuration(), provenance()), |(config, provenance)| {
            runtime.block_on(round_trip(&writer, config, provenance, |name| async move {
                reader.get(&name).await.unwrap()
            }))
        })
        .unwrap();
}
