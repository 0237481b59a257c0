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

/// The stock kinds go through the registry as plugins do. A kind
/// `counted-redis` whose factory counts its calls and then calls the
/// stock `redis` factory (`BackendRegistry::get`) is what `build` opens
/// `[backends.main]` with, once per instance; and what it returns is
/// served as a stock Redis backend, not wrapped as a plugin: readiness
/// reports kind `redis`, the shared configuration repository
/// (`[cluster] config_backend`) and the coherence bus run on its
/// connection, so a cache created on A reaches B and A's write drops B's
/// L1 copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_opens_a_stock_kind_through_its_registered_factory() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use strata_testkit::{RedisServer, require};

    use crate::helpers::eventually;

    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[backends.main]\nkind = \"counted-redis\"\nurl = {:?}\ntimeout_ms = 1000\n\n\
         [cluster]\nconfig_backend = \"main\"\n",
        redis.url()
    );
    let opened = Arc::new(AtomicUsize::new(0));
    let stock = strata::BackendRegistry::stock()
        .get("redis")
        .expect("the stock registry has redis");
    let counted = {
        let opened = opened.clone();
        move |args: strata::BackendArgs| {
            opened.fetch_add(1, Ordering::SeqCst);
            stock.open(args)
        }
    };
    let mut apps = Vec::new();
    for _ in 0..2 {
        let counted = counted.clone();
        apps.push(
            spawn_app_built(settings(dir.path(), &toml), None, move |b| {
                b.backend("counted-redis", counted)
            })
            .await,
        );
    }
    assert_eq!(opened.load(Ordering::SeqCst), 2, "one open per instance");
    let (a, b) = (&apps[0], &apps[1]);

    let health = a.get_json("/health/ready").await;
    assert_eq!(
        health["backends"],
        json!([{"name": "main", "kind": "redis", "circuit_breaker": "closed", "breaker_opened_total": 0}]),
        "{health}"
    );

    // Configuration sync on the backend's connection and bus.
    a.create_cache("counted", json!({"tiers": ["memory", "main"]}))
        .await;
    let synced = eventually(Duration::from_secs(10), || async {
        b.client
            .get(b.url("/admin/v1/caches/counted"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(synced, "B never loaded the cache A created");

    // Coherence: B's L1 copy is dropped by A's write.
    assert_eq!(
        a.put("counted", "k", "v1").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(b.get("counted", "k").await.text().await.unwrap(), "v1");
    let r = b.get("counted", "k").await;
    assert_eq!(
        r.headers().get("x-cache").and_then(|v| v.to_str().ok()),
        Some("HIT-L1")
    );
    assert!(a.put("counted", "k", "v2").await.status().is_success());
    let seen = eventually(Duration::from_secs(10), || async {
        b.get("counted", "k")
            .await
            .text()
            .await
            .is_ok_and(|t| t == "v2")
    })
    .await;
    assert!(seen, "B kept serving its stale L1 copy");
    for app in &apps {
        app.handle.stop(false).await;
    }
}
