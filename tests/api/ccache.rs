//! Real ccache (Debian's, 4.7+) against the running service: a C file
//! compiled twice, each time with a fresh local cache and
//! `remote_only = true`, must be a remote hit the second time, with
//! `layout=flat` on the REST entries API and `layout=bazel` on the build
//! cache's `/ac/` (an instance with `validate_ac = false`: ccache's
//! entries are not `ActionResult`s).
//!
//! ccache's HTTP storage: <https://ccache.dev/manual/4.7.html#_http_storage_backend>.

use std::collections::BTreeMap;
use std::path::Path;

use strata::config::{AuthSettings, BuildCacheInstanceSettings, Settings};
use strata_testkit::{find_client, require};
use tokio::process::Command;

use crate::helpers::{api_key, spawn_app_with};

const CCACHE_KEY: &str = "ccache-test-key-0123456789abcdefghijklmnopqrstuvwxyz";

/// Settings with a `ccache` cache, a build-cache instance `ccache`
/// without AC validation, and one API key, writer on both.
fn settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings load");
    settings
        .caches
        .insert("ccache".to_owned(), Default::default());
    settings.build_cache.instances.insert(
        "ccache".into(),
        BuildCacheInstanceSettings {
            validate_ac: Some(false),
        },
    );
    let mut auth = AuthSettings::default();
    auth.api_keys.insert(
        "ccache".into(),
        api_key(
            CCACHE_KEY,
            &[("ccache", "writer"), ("build-cache", "writer")],
        ),
    );
    settings.auth = Some(auth);
    settings
}

/// Compiles `hello.c` in `src` through ccache with a fresh, empty local
/// cache directory and `remote_storage = remote`, and returns
/// `ccache --print-stats` as counter name -> value.
async fn compile_once(ccache: &Path, src: &Path, remote: &str) -> BTreeMap<String, u64> {
    let local = tempfile::tempdir().expect("local cache dir");
    let config = local.path().join("ccache.conf");
    std::fs::write(&config, "").expect("empty ccache.conf");
    let run = |args: &[&str]| {
        let mut command = Command::new(ccache);
        command
            .args(args)
            .current_dir(src)
            .env("CCACHE_DIR", local.path())
            .env("CCACHE_CONFIGPATH", &config)
            .env("CCACHE_REMOTE_STORAGE", remote)
            .env("CCACHE_REMOTE_ONLY", "true")
            .env_remove("CCACHE_DISABLE");
        command
    };
    let out = run(&["gcc", "-c", "hello.c", "-o", "hello.o"])
        .output()
        .await
        .expect("ccache runs");
    assert!(
        out.status.success(),
        "ccache gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = run(&["--print-stats"]).output().await.expect("stats");
    String::from_utf8_lossy(&stats.stdout)
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once('\t')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Two compiles against `remote`: the first misses and writes, the second
/// (fresh local cache) is a remote hit, and neither sees a storage error.
async fn assert_second_compile_hits(remote: &str) {
    let Some(ccache) = require(find_client("ccache")) else {
        return;
    };
    let src = tempfile::tempdir().expect("source dir");
    std::fs::write(
        src.path().join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )
    .expect("hello.c");

    let first = compile_once(&ccache, src.path(), remote).await;
    assert_eq!(first.get("remote_storage_error"), Some(&0), "{first:?}");
    assert_eq!(first.get("remote_storage_hit"), Some(&0), "{first:?}");
    assert!(first["remote_storage_write"] >= 1, "{first:?}");

    let second = compile_once(&ccache, src.path(), remote).await;
    assert_eq!(second.get("remote_storage_error"), Some(&0), "{second:?}");
    assert_eq!(second.get("remote_storage_hit"), Some(&1), "{second:?}");
    assert_eq!(second.get("remote_storage_write"), Some(&0), "{second:?}");
}

#[tokio::test]
async fn layout_flat_on_the_entries_api_is_a_remote_hit_the_second_time() {
    let app = spawn_app_with(settings()).await;
    let remote = format!(
        "{}/v1/caches/ccache/entries|layout=flat|bearer-token={CCACHE_KEY}",
        app.base
    );
    assert_second_compile_hits(&remote).await;
}

#[tokio::test]
async fn layout_bazel_on_the_build_cache_ac_is_a_remote_hit_the_second_time() {
    let app = spawn_app_with(settings()).await;
    let remote = format!("{}/ccache|layout=bazel|bearer-token={CCACHE_KEY}", app.base);
    assert_second_compile_hits(&remote).await;
}

#[tokio::test]
async fn without_a_credential_ccache_counts_errors_and_stores_nothing() {
    let Some(ccache) = require(find_client("ccache")) else {
        return;
    };
    let app = spawn_app_with(settings()).await;
    let src = tempfile::tempdir().expect("source dir");
    std::fs::write(src.path().join("hello.c"), "int main(void) { return 0; }\n").expect("hello.c");
    let remote = format!("{}/v1/caches/ccache/entries|layout=flat", app.base);
    let stats = compile_once(&ccache, src.path(), &remote).await;
    assert_eq!(stats.get("remote_storage_hit"), Some(&0), "{stats:?}");
    assert!(stats["remote_storage_error"] >= 1, "{stats:?}");
}
