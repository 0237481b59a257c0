//! Real Bazel (Debian's `bazel-bootstrap`) against the running service
//! over HTTP, offline through the stub rule repositories of
//! `../shared/bazel-offline` (`STRATA_BAZEL_OFFLINE`, default beside the
//! clone): a C binary built, `bazel clean`, built again must be all remote
//! cache hits; after a CAS flush through the admin API the AC entries
//! dangle, answer 404, and the third build runs the actions again and
//! succeeds. The same again over gRPC (`--remote_cache=grpc://...` with
//! `--remote_instance_name`), REAPI v2's cache services.
//!
//! Bazel's HTTP cache protocol:
//! <https://bazel.build/remote/caching#http-caching>; its gRPC cache is
//! REAPI v2 (`remote_execution.proto`).

use std::path::{Path, PathBuf};

use strata::config::{AuthSettings, Settings};
use strata_testkit::{SpawnError, find_client, require};
use tokio::process::Command;

use crate::helpers::{api_key, spawn_app_with};

const BAZEL_KEY: &str = "bazel-test-key-0123456789abcdefghijklmnopqrstuvwxyz";
const ADMIN_KEY: &str = "bazel-admin-key-0123456789abcdefghijklmnopqrstuvwxy";

/// The stub `rules_cc` and `rules_java`, or `Missing` when absent.
fn offline_rules() -> Result<PathBuf, SpawnError> {
    let dir = std::env::var_os("STRATA_BAZEL_OFFLINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bazel-offline"));
    if dir.join("rules_cc").is_dir() && dir.join("rules_java").is_dir() {
        Ok(dir.canonicalize().unwrap_or(dir))
    } else {
        Err(SpawnError::Missing {
            binary: "shared/bazel-offline (set STRATA_BAZEL_OFFLINE)",
        })
    }
}

/// A workspace with `//:hello` (a `cc_binary` over a `cc_library`), and a
/// `.bazelrc` pointing at the offline rules and at `remote` (the value of
/// `--remote_cache`, then any further `build` options in `extra`).
fn workspace(dir: &Path, rules: &Path, remote: &str, extra: &str, output_root: &Path) {
    std::fs::write(dir.join("WORKSPACE"), "").unwrap();
    std::fs::write(
        dir.join("BUILD"),
        r#"cc_library(name = "greet", srcs = ["greet.c"], hdrs = ["greet.h"])
cc_binary(name = "hello", srcs = ["hello.c"], deps = [":greet"])
"#,
    )
    .unwrap();
    std::fs::write(dir.join("greet.h"), "const char *greeting(void);\n").unwrap();
    std::fs::write(
        dir.join("greet.c"),
        "#include \"greet.h\"\nconst char *greeting(void) { return \"hello from strata\"; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hello.c"),
        "#include <stdio.h>\n#include \"greet.h\"\nint main(void) { puts(greeting()); return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".bazelrc"),
        format!(
            "startup --output_user_root={root}\n\
             startup --max_idle_secs=120\n\
             build --override_repository=rules_cc={rules}/rules_cc\n\
             build --override_repository=rules_java={rules}/rules_java\n\
             build --spawn_strategy=local\n\
             build --remote_cache={remote}\n\
             build --remote_header=Authorization=Bearer\\ {BAZEL_KEY}\n\
             {extra}",
            root = output_root.display(),
            rules = rules.display(),
        ),
    )
    .unwrap();
}

/// Runs `bazel <args>` in `dir`; panics with its output when it fails.
/// Returns stderr, where Bazel reports cache hits.
async fn bazel(bazel: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bazel)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("BAZELISK_HOME")
        .output()
        .await
        .expect("bazel runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "bazel {args:?} failed ({}):\n{stderr}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The `N remote cache hit` count of a build's summary line, 0 without.
fn remote_hits(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter_map(|l| l.split_once(" remote cache hit"))
        .filter_map(|(before, _)| before.rsplit([' ', ':']).next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

/// The remote cache a test's builds use.
enum Remote {
    /// bazel-remote's HTTP protocol, the instance as the path prefix.
    Http,
    /// REAPI v2 over gRPC, with `--remote_instance_name`.
    Grpc,
}

#[tokio::test]
async fn bazel_builds_from_the_remote_cache_and_rebuilds_after_a_flush() {
    builds_from_the_remote_cache_and_rebuilds_after_a_flush(Remote::Http).await;
}

#[tokio::test]
async fn bazel_builds_over_grpc_from_the_remote_cache_and_rebuilds_after_a_flush() {
    builds_from_the_remote_cache_and_rebuilds_after_a_flush(Remote::Grpc).await;
}

async fn builds_from_the_remote_cache_and_rebuilds_after_a_flush(remote: Remote) {
    let Some(bazel_bin) = require(find_client("bazel")) else {
        return;
    };
    let Some(rules) = require(offline_rules()) else {
        return;
    };
    let mut settings = Settings::load(None).expect("default settings load");
    let mut auth = AuthSettings::default();
    auth.api_keys.insert(
        "bazel".into(),
        api_key(BAZEL_KEY, &[("build-cache", "writer")]),
    );
    auth.api_keys
        .insert("admin".into(), api_key(ADMIN_KEY, &[("*", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;

    let dir = tempfile::tempdir().expect("workspace");
    let output_root = tempfile::tempdir().expect("bazel output root");
    let (url, extra) = match remote {
        Remote::Http => (format!("{}/team-a", app.base), String::new()),
        Remote::Grpc => (
            app.grpc.replace("http://", "grpc://"),
            "build --remote_instance_name=team-a\n".to_owned(),
        ),
    };
    workspace(dir.path(), &rules, &url, &extra, output_root.path());
    let first = bazel(&bazel_bin, dir.path(), &["build", "//:hello"]).await;
    assert_eq!(
        remote_hits(&first),
        0,
        "an empty cache has no hits:\n{first}"
    );
    let stats = app
        .client
        .get(app.url("/admin/v1/cache/stats"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(
        stats["ac"]["entries"].as_u64().unwrap() >= 3,
        "compile, compile, link uploaded their results: {stats}"
    );

    bazel(&bazel_bin, dir.path(), &["clean"]).await;
    let second = bazel(&bazel_bin, dir.path(), &["build", "//:hello"]).await;
    assert!(
        remote_hits(&second) >= 3,
        "the rebuild is served by the remote cache:\n{second}"
    );
    let hello = dir.path().join("bazel-bin/hello");
    let out = Command::new(&hello).output().await.expect("hello runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from strata\n");

    // Flush every CAS blob of the instance: every AC entry now dangles.
    let r = app
        .client
        .post(app.url("/admin/v1/cache/cas/flush"))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"scope": "instance", "instance_name": "team-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    assert!(done["dangling_ac_entries"].as_u64().unwrap() >= 3, "{done}");
    bazel(&bazel_bin, dir.path(), &["clean"]).await;
    let third = bazel(&bazel_bin, dir.path(), &["build", "//:hello"]).await;
    assert_eq!(
        remote_hits(&third),
        0,
        "dangling entries are misses, so Bazel runs the actions:\n{third}"
    );
    let out = Command::new(&hello).output().await.expect("hello runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from strata\n");
    bazel(&bazel_bin, dir.path(), &["shutdown"]).await;
}

/// Two instances on one bucket (`memory+s3`, a real moto server): Bazel
/// builds through A, `bazel clean`, then builds through B, whose memory
/// tier is empty: every action is a remote cache hit served from the
/// bucket, A having stopped first. Then the bucket stops in the middle
/// of the work: a changed source builds through B, whose memory tier
/// still serves the unchanged action while the uploads of the new ones
/// fail cleanly, and the build succeeds.
#[tokio::test]
async fn bazel_on_a_second_instance_hits_what_the_first_put_in_the_bucket() {
    let Some(bazel_bin) = require(find_client("bazel")) else {
        return;
    };
    let Some(rules) = require(offline_rules()) else {
        return;
    };
    let Some(mut moto) = require(strata_testkit::MotoServer::spawn()) else {
        return;
    };
    moto.create_bucket("strata-bazel")
        .expect("create the bucket");
    let keys = tempfile::tempdir().expect("credentials dir");
    let credentials = keys.path().join("aws-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test-secret\n",
    )
    .expect("credentials file");
    let settings = || {
        let mut settings = Settings::load(None).expect("default settings load");
        let mut auth = AuthSettings::default();
        auth.api_keys.insert(
            "bazel".into(),
            api_key(BAZEL_KEY, &[("build-cache", "writer")]),
        );
        settings.auth = Some(auth);
        settings.build_cache.store = Some(strata::config::BuildStoreKind::MemoryS3);
        settings.build_cache.s3 = Some(strata::config::BuildCacheS3Settings {
            bucket: "strata-bazel".into(),
            prefix: "bazel".into(),
            region: "us-east-1".into(),
            endpoint: Some(moto.endpoint()),
            credentials_file: Some(credentials.clone()),
            max_bytes: None,
            index_backend: None,
        });
        settings
    };
    let a = spawn_app_with(settings()).await;
    let b = spawn_app_with(settings()).await;

    let dir = tempfile::tempdir().expect("workspace");
    let output_root = tempfile::tempdir().expect("bazel output root");
    let on_a = format!("{}/team-a", a.base);
    workspace(dir.path(), &rules, &on_a, "", output_root.path());
    let first = bazel(&bazel_bin, dir.path(), &["build", "//:hello"]).await;
    assert_eq!(
        remote_hits(&first),
        0,
        "an empty bucket has no hits:\n{first}"
    );
    bazel(&bazel_bin, dir.path(), &["clean"]).await;
    // A is gone before B serves: what A acknowledged is in the bucket.
    a.handle.stop(false).await;

    let on_b = format!("{}/team-a", b.base);
    workspace(dir.path(), &rules, &on_b, "", output_root.path());
    // Every output is downloaded, so B's memory tier holds all that the
    // build read from the bucket (the default, `toplevel`, skips the
    // object files).
    let second = bazel(
        &bazel_bin,
        dir.path(),
        &["build", "--remote_download_outputs=all", "//:hello"],
    )
    .await;
    assert!(
        remote_hits(&second) >= 3,
        "the build on B is served from the bucket A filled:\n{second}"
    );
    let out = Command::new(dir.path().join("bazel-bin/hello"))
        .output()
        .await
        .expect("hello runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from strata\n");

    // The bucket goes away.
    moto.stop();
    bazel(&bazel_bin, dir.path(), &["clean"]).await;
    std::fs::write(
        dir.path().join("greet.c"),
        "#include \"greet.h\"\nconst char *greeting(void) { return \"hello without a bucket\"; }\n",
    )
    .unwrap();
    let third = bazel(
        &bazel_bin,
        dir.path(),
        &["build", "--remote_download_outputs=all", "//:hello"],
    )
    .await;
    assert!(
        remote_hits(&third) >= 1,
        "hello.c's compile is served from B's memory tier:\n{third}"
    );
    assert!(
        third.contains("Writing to Remote Cache"),
        "the uploads of the new actions failed, as warnings:\n{third}"
    );
    let out = Command::new(dir.path().join("bazel-bin/hello"))
        .output()
        .await
        .expect("hello runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello without a bucket\n"
    );
    bazel(&bazel_bin, dir.path(), &["shutdown"]).await;
}
