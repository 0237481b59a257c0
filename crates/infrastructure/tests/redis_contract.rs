//! The `CacheStore` contract against `RedisStore` on a real `redis-server`.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{Keyring, RedisConnection, RedisOptions, RedisStore, ValueCodec};
use strata_testkit::{RedisServer, contract::run_store_contract, require};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_honours_the_contract() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        async move { Arc::new(RedisStore::builder(connection, name).build()) as Arc<dyn CacheStore> }
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
async fn redis_store_honours_the_contract_through_an_encrypting_codec() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        async move {
            Arc::new(
                RedisStore::builder(connection, name)
                    .codec(encrypting_codec())
                    .build(),
            ) as Arc<dyn CacheStore>
        }
    })
    .await;
}
