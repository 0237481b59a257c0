//! The `CacheStore` contract against `MemcachedStore` on real `memcached`
//! servers (two, so that client-side hashing spreads the keys).

use std::sync::Arc;

use bytes::Bytes;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, ContentType, EntryVersion, StoreError,
    Timestamp,
};
use strata_infrastructure::{MemcachedConnection, MemcachedOptions, MemcachedStore, ValueCodec};
use strata_testkit::{MemcachedServer, contract::Contract, require};

async fn connect(servers: &[&MemcachedServer]) -> MemcachedConnection {
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    MemcachedConnection::connect(&urls, MemcachedOptions::default())
        .await
        .expect("connect to memcached")
}

#[path = "common/store_contract.rs"]
mod common;

/// Runs the contract on `MemcachedStore`s over two fresh servers, through
/// `codec` when given (the default codec otherwise); the errors clause
/// also runs on a store whose server was stopped after it connected.
async fn honours_the_contract(codec: Option<ValueCodec>) {
    let Some(first) = require(MemcachedServer::spawn()) else {
        return;
    };
    let Some(second) = require(MemcachedServer::spawn()) else {
        return;
    };
    let Some(mut stopped) = require(MemcachedServer::spawn()) else {
        return;
    };
    let connection = connect(&[&first, &second]).await;
    let lost = connect(&[&stopped]).await;
    stopped.stop();
    Contract::server_expiry(|name: CacheName| {
        let mut builder = MemcachedStore::builder(connection.clone(), name);
        if let Some(codec) = codec.clone() {
            builder = builder.codec(codec);
        }
        async move { Arc::new(builder.build()) as Arc<dyn CacheStore> }
    })
    .unreachable(|name: CacheName| {
        let store = MemcachedStore::builder(lost.clone(), name).build();
        async move { Arc::new(store) as Arc<dyn CacheStore> }
    })
    .check_all()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_store_honours_the_contract() {
    honours_the_contract(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_store_honours_the_contract_through_an_encrypting_codec() {
    honours_the_contract(Some(common::encrypting_codec())).await;
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
