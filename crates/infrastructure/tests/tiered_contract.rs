//! The `CacheStore` contract against `TieredStore`: a `PolicyStore` L1
//! over a `RedisStore` L2 on a real `redis-server`, with a coherence bus.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{
    CoherenceBus, PolicyStore, RedisConnection, RedisOptions, RedisStore, TieredStore,
};
use strata_testkit::{RedisServer, contract::run_store_contract, require};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_store_honours_the_contract() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    let bus = CoherenceBus::connect(&server.url(), "strata:coherence", "contract")
        .await
        .expect("subscribe");
    run_store_contract(|name: CacheName| {
        let (connection, bus) = (connection.clone(), bus.clone());
        async move {
            let l1 = Arc::new(PolicyStore::builder(name.clone()).build()) as Arc<dyn CacheStore>;
            let l2 = Arc::new(RedisStore::builder(connection, name.clone()).build())
                as Arc<dyn CacheStore>;
            Arc::new(
                TieredStore::builder(name, l1, l2)
                    .tier_names("memory", "redis")
                    .bus(bus)
                    .build(),
            ) as Arc<dyn CacheStore>
        }
    })
    .await;
}
