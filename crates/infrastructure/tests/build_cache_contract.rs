//! The build-cache contract suite against the memory, disk and stacked
//! (memory over disk) stores.

use std::sync::Arc;

use strata_infrastructure::{DiskBuildStore, MemoryBuildStore, StackedBuildStore};
use strata_testkit::ManualClock;
use strata_testkit::build_cache_contract::run_build_cache_contract;

#[tokio::test]
async fn memory_store_honours_the_build_cache_contract() {
    run_build_cache_contract(|| async {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryBuildStore::builder()
            .max_bytes(1 << 20)
            .clock(clock.clone())
            .build();
        (store, clock)
    })
    .await;
}

#[tokio::test]
async fn disk_store_honours_the_build_cache_contract() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let n = std::sync::atomic::AtomicU32::new(0);
    run_build_cache_contract(|| {
        let dir = root.join(
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        );
        async move {
            let clock = Arc::new(ManualClock::default());
            let store = DiskBuildStore::builder(dir)
                .max_bytes(1 << 20)
                .clock(clock.clone())
                .build()
                .unwrap();
            (store, clock)
        }
    })
    .await;
}

#[tokio::test]
async fn stacked_store_honours_the_build_cache_contract() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let n = std::sync::atomic::AtomicU32::new(0);
    run_build_cache_contract(|| {
        let dir = root.join(
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        );
        async move {
            let clock = Arc::new(ManualClock::default());
            let memory = MemoryBuildStore::builder()
                .max_bytes(1 << 20)
                .clock(clock.clone())
                .build();
            let disk = DiskBuildStore::builder(dir)
                .max_bytes(1 << 20)
                .clock(clock.clone())
                .build()
                .unwrap();
            (Arc::new(StackedBuildStore::new(memory, disk)), clock)
        }
    })
    .await;
}
