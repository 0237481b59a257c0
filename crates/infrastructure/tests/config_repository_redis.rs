//! `RedisConfigurationRepository` against a real `redis-server`: versions
//! checked on every change, concurrent changes ordered, records readable
//! by a second connection (another instance).

use strata_domain::{
    CacheConfiguration, CacheName, ConfigOrigin, ConfigurationRepository, ExpectedVersion,
    Provenance, SaveError,
};
use strata_infrastructure::{RedisConfigurationRepository, RedisConnection, RedisOptions};
use strata_testkit::{RedisServer, require};

fn config(max_entries: u64) -> CacheConfiguration {
    CacheConfiguration::builder(CacheName::parse("users").unwrap())
        .max_entries(Some(max_entries))
        .build()
        .unwrap()
}

fn runtime() -> Provenance {
    Provenance::new(ConfigOrigin::Runtime, ["max_entries".to_owned()])
}

async fn repository(redis: &RedisServer) -> RedisConfigurationRepository {
    let conn = RedisConnection::connect(&redis.url(), RedisOptions::default())
        .await
        .unwrap();
    RedisConfigurationRepository::new(&conn)
}

#[tokio::test]
async fn versions_are_compared_and_set() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let a = repository(&redis).await;
    let b = repository(&redis).await;
    let users = CacheName::parse("users").unwrap();
    let first = a
        .save(config(10), runtime(), ExpectedVersion::Absent)
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(b.get(&users).await.unwrap(), Some(first.clone()));
    let err = b
        .save(config(11), runtime(), ExpectedVersion::Absent)
        .await
        .unwrap_err();
    assert!(matches!(err, SaveError::Conflict { current: Some(1) }));
    let second = b
        .save(config(11), runtime(), ExpectedVersion::Exactly(1))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let err = a
        .save(config(12), runtime(), ExpectedVersion::Exactly(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SaveError::Conflict { current: Some(2) }));
    assert_eq!(a.list().await.unwrap(), vec![second]);
    let err = a
        .delete(&users, ExpectedVersion::Exactly(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SaveError::Conflict { current: Some(2) }));
    assert!(
        a.delete(&users, ExpectedVersion::Any)
            .await
            .unwrap()
            .is_some()
    );
    assert!(b.list().await.unwrap().is_empty());
    assert!(b.get(&users).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_changes_get_distinct_versions() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let a = repository(&redis).await;
    let b = repository(&redis).await;
    let (x, y) = tokio::join!(
        async {
            let mut v = Vec::new();
            for i in 0..20 {
                v.push(
                    a.save(config(100 + i), runtime(), ExpectedVersion::Any)
                        .await
                        .unwrap()
                        .version,
                );
            }
            v
        },
        async {
            let mut v = Vec::new();
            for i in 0..20 {
                v.push(
                    b.save(config(200 + i), runtime(), ExpectedVersion::Any)
                        .await
                        .unwrap()
                        .version,
                );
            }
            v
        }
    );
    let mut all: Vec<u64> = x.into_iter().chain(y).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<u64>>());
    let stored = a
        .get(&CacheName::parse("users").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 40);
}
