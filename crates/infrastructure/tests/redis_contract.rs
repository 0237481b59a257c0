//! The `CacheStore` contract against `RedisStore` on a real `redis-server`.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{RedisConnection, RedisOptions, RedisStore};
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
