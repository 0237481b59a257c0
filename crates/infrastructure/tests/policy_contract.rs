//! The `CacheStore` contract against `PolicyStore`, once per eviction policy,
//! in object mode and in byte mode.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore, Clock};
use strata_infrastructure::PolicyStore;
use strata_infrastructure::eviction::PolicyConfig;
use strata_testkit::contract::run_store_contract_on_clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_store_honours_the_contract_with_every_policy() {
    for policy in PolicyConfig::NAMES {
        for bytes in [false, true] {
            // PolicyStore reads the clock it is given: expiry is checked exactly.
            run_store_contract_on_clock(move |name: CacheName, clock: Arc<dyn Clock>| async move {
                let builder = PolicyStore::builder(name)
                    .policy(PolicyConfig::parse(policy).expect("known policy"))
                    .clock(clock);
                let builder = if bytes {
                    builder.max_bytes(Some(1 << 30))
                } else {
                    builder.max_entries(Some(10_000))
                };
                Arc::new(builder.build()) as Arc<dyn CacheStore>
            })
            .await;
        }
    }
}
