//! The `CacheStore` contract against `MemcachedStore` on real `memcached`
//! servers (two, so that client-side hashing spreads the keys).

use std::sync::Arc;

use bytes::Bytes;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, ContentType, EntryVersion, StoreError,
    Timestamp,
};
use strata_infrastructure::{
    Keyring, MemcachedConnection, MemcachedOptions, MemcachedStore, ValueCodec,
};
use strata_testkit::{MemcachedServer, contract::run_store_contract, require};

async fn connect(servers: &[&MemcachedServer]) -> MemcachedConnection {
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    MemcachedConnection::connect(&urls, MemcachedOptions::default())
        .await
        .expect("connect to memcached")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_store_honours_the_contract() {
    let Some(first) = require(MemcachedServer::spawn()) else {
        return;
    };
    let Some(second) = require(MemcachedServer::spawn()) else {
        return;
    };
    let connection = connect(&[&first, &second]).await;
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        async move {
            Arc::new(MemcachedStore::builder(connection, name).build()) as Arc<dyn CacheStore>
        }
    })
    .await;
}

/// Compresses whatever shrinks and encrypts everything, so that every
/// contract clause goes through both transforms.
fn encrypting_codec() -> ValueCodec {
    let keyring = Keyring::from_base64([("k1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")])
        .expect("valid key");
    ValueCodec::new(Some(0), Some(("k1".to_owned(), Arc::new(keyring)))).expect("valid codec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_store_honours_the_contract_through_an_encrypting_codec() {
    let Some(first) = require(MemcachedServer::spawn()) else {
        return;
    };
    let Some(second) = require(MemcachedServer::spawn()) else {
        return;
    };
    let connection = connect(&[&first, &second]).await;
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        async move {
            Arc::new(
                MemcachedStore::builder(connection, name)
                    .codec(encrypting_codec())
                    .build(),
            ) as Arc<dyn CacheStore>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_the_item_limit_fail_clearly() {
    let Some(server) = require(MemcachedServer::spawn()) else {
        return;
    };
    let connection = connect(&[&server]).await;
    let store = MemcachedStore::builder(connection, CacheName::parse("big").unwrap()).build();
    // Random bytes: the default codec compresses, and this must not shrink.
    let incompressible: Vec<u8> = (0..1024 * 1024).map(|_| rand::random::<u8>()).collect();
    let entry = CacheEntry::new(
        CacheValue::new(Bytes::from(incompressible), ContentType::default()),
        Timestamp::from_millis(0),
        None,
        vec![],
        EntryVersion::new(1),
    );
    let err = store
        .insert(CacheKey::parse("k").unwrap(), entry)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unexpected(_)), "{err:?}");
    assert!(
        err.to_string().contains("item size limit") || format!("{err:?}").contains("ValueTooLarge"),
        "{err}"
    );
}
