//! The `CacheStore` contract against the in-process `MokaStore`.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::MokaStore;
use strata_testkit::contract::run_store_contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_honours_the_contract() {
    run_store_contract(|name: CacheName| async move {
        Arc::new(
            MokaStore::builder(name)
                .max_entries(Some(10_000))
                .max_bytes(None)
                .build(),
        ) as Arc<dyn CacheStore>
    })
    .await;
}
