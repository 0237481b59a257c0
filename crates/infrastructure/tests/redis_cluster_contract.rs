//! The `CacheStore` contract against `RedisClusterStore` on a real
//! three-master Redis Cluster.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{
    Keyring, RedisClusterConnection, RedisClusterStore, RedisOptions, ValueCodec,
};
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
    // Again through a compressing and encrypting codec, on the same
    // cluster (fresh cache names per run).
    let keyring = Keyring::from_base64([("k1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")])
        .expect("valid key");
    let codec =
        ValueCodec::new(Some(0), Some(("k1".to_owned(), Arc::new(keyring)))).expect("valid codec");
    run_store_contract(|name: CacheName| {
        let connection = connection.clone();
        let codec = codec.clone();
        async move {
            Arc::new(
                RedisClusterStore::builder(connection, name)
                    .codec(codec)
                    .build(),
            ) as Arc<dyn CacheStore>
        }
    })
    .await;
}
