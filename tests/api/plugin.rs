//! The worked plugin (`examples/file_store/`, one file per key), as a
//! plugin author would test it: the contract suite, one test per clause,
//! exact expiry on the injected clock; then a full server with the kind
//! registered through `Application::builder(..).backend(..)`, serving it
//! alone and stacked under the memory tier, and keeping every entry
//! across a reconfiguration (issue 32).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use strata::Settings;

use crate::helpers::spawn_app_built;

#[path = "../../examples/file_store/store.rs"]
mod file_store;

/// The contract, one test per clause, over stores in a temporary
/// directory (removed with the contract); errors against a directory
/// under a regular file.
fn contract() -> strata_testkit::contract::Contract<'static> {
    use strata_domain::{CacheName, CacheStore, Clock};
    use strata_infrastructure::ValueCodec;
    let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
    let root = dir.path().join("data");
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"not a directory").expect("write a file");
    strata_testkit::contract::Contract::on_clock(move |name: CacheName, clock: Arc<dyn Clock>| {
        let provider = file_store::FileStoreProvider::new(root.clone(), clock);
        let _keep = dir.clone();
        async move { Arc::new(provider.store(&name, ValueCodec::default())) as Arc<dyn CacheStore> }
    })
    .unreachable(move |name: CacheName| {
        let clock = Arc::new(strata_testkit::ManualClock::starting_now());
        let provider = file_store::FileStoreProvider::new(blocked.join("under"), clock);
        async move { Arc::new(provider.store(&name, ValueCodec::default())) as Arc<dyn CacheStore> }
    })
}

mod file_store_contract {
    strata_testkit::store_contract!(contract: super::contract());
}

/// Settings read from `toml` in a file of `dir` (so errors name it).
fn settings(dir: &std::path::Path, toml: &str) -> Settings {
    let file = dir.join("strata.toml");
    std::fs::write(&file, toml).expect("write strata.toml");
    Settings::load(Some(&file)).expect("settings load")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_backend_serves_caches_alone_and_stacked_and_keeps_them_across_a_reconfiguration()
{
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let settings = settings(
        dir.path(),
        &format!(
            "[backends.disk]\nkind = \"files\"\ndir = {:?}\ntimeout_ms = 2000\n",
            data.display().to_string()
        ),
    );
    let app = spawn_app_built(settings, None, |b| b.backend("files", file_store::factory)).await;
    app.create_cache("plug", json!({"tiers": ["disk"]})).await;
    app.create_cache(
        "stack",
        json!({"tiers": ["memory", "disk"], "max_entries": 10}),
    )
    .await;
    for (cache, key) in [
        ("plug", "a"),
        ("stack", "a"),
        ("stack", "b"),
        ("stack", "c"),
    ] {
        assert_eq!(
            app.put(cache, key, "on disk").await.status(),
            StatusCode::CREATED
        );
    }
    let r = app.get("plug", "a").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "on disk");
    let files = std::fs::read_dir(&data).unwrap().count();
    assert_eq!(files, 2, "one directory per cache");

    // A directory cannot bound a cache: refused, not ignored.
    let r = app
        .put_json(
            "/admin/v1/caches/plug",
            json!({"tiers": ["disk"], "max_entries": 5}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A new max_entries opens a new store over the same directory: the
    // entries stay (they were deleted from the old store before issue 32).
    let r = app
        .put_json(
            "/admin/v1/caches/stack",
            json!({"tiers": ["memory", "disk"], "max_entries": 20}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    for key in ["a", "b", "c"] {
        let r = app.get("stack", key).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "entry {key} lost by the reconfiguration"
        );
    }

    // Readiness shows the breaker Strata keeps in front of the plugin.
    let health: serde_json::Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["backends"],
        json!([{"name": "disk", "kind": "files", "circuit_breaker": "closed", "breaker_opened_total": 0}]),
        "{health}"
    );
    app.handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_backend_settings_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strata.toml").display().to_string();
    let build = |toml: &str| {
        let settings = settings(dir.path(), toml);
        async move {
            let mut settings = settings;
            settings.server.listen = "127.0.0.1:0".into();
            settings.server.grpc_listen = String::new();
            match strata::Application::builder(settings)
                .backend("files", file_store::factory)
                .build()
                .await
            {
                Ok(_) => panic!("the settings must be refused"),
                Err(e) => format!("{e:#}"),
            }
        }
    };
    let e = build("[backends.disk]\nkind = \"files\"\n").await;
    assert!(
        e.contains("[backends.disk]") && e.contains(&file) && e.contains("dir"),
        "{e}"
    );
    let e = build("[backends.disk]\nkind = \"files\"\ndir = \"/tmp\"\ndri = 1\n").await;
    assert!(e.contains("[backends.disk]") && e.contains("dri"), "{e}");
    let e = build("[backends.disk]\nkind = \"sqlite\"\n").await;
    assert!(
        e.contains("[backends.disk] kind")
            && e.contains("sqlite")
            && e.contains("files, memcached"),
        "{e}"
    );
}
