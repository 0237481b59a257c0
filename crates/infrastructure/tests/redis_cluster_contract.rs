//! The `CacheStore` contract against `RedisClusterStore` on a real
//! three-master Redis Cluster.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{RedisClusterConnection, RedisClusterStore, RedisOptions};
use strata_testkit::{RedisCluster, contract::run_store_contract, require};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_honours_the_contract() {
    let Some(cluster) = require(RedisCluster::spawn(3)) else {
        return;
    };
    let connection = RedisClusterConnection::connect(&cluster.urls(), RedisOptions::default())
        .await
        .expect("connect to the cluster");
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        async move {
            Arc::new(RedisClusterStore::builder(connection, name).build()) as Arc<dyn CacheStore>
        }
    })
    .await;
}
