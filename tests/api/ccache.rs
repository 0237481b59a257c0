//! Real ccache (Debian's) against the build cache's `/ac/` with
//! `layout=bazel`: a second compile from an empty local cache is a remote
//! hit.

use std::path::Path;

use strata::config::{BuildCacheInstanceSettings, Settings};
use strata_testkit::{SpawnError, require};

use crate::helpers::spawn_app_with;

/// `ccache` and `gcc` on the PATH, or the testkit's skip (or, with
/// `STRATA_REQUIRE_SERVERS=1`, panic).
fn tools() -> Option<()> {
    for binary in ["ccache", "gcc"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(binary).is_file()));
        if !found {
            return require::<()>(Err(SpawnError::Missing { binary }));
        }
    }
    Some(())
}

/// Compiles `src` with ccache, a fresh local cache under `dir`, remote
/// storage only; returns `ccache --print-stats`.
async fn compile(dir: &Path, remote: &str, src: &Path) -> String {
    let local = tempfile::tempdir_in(dir).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new("ccache");
        cmd.args(args)
            .current_dir(dir)
            .env("CCACHE_DIR", local.path())
            .env("CCACHE_CONFIGPATH", local.path().join("ccache.conf"))
            .env("CCACHE_REMOTE_STORAGE", remote)
            .env("CCACHE_REMOTE_ONLY", "true")
            .env("CCACHE_BASEDIR", dir);
        cmd
    };
    let out = run(&["gcc", "-c", src.to_str().unwrap(), "-o", "out.o"])
        .output()
        .await
        .expect("ccache runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = run(&["--print-stats"]).output().await.expect("stats");
    String::from_utf8_lossy(&stats.stdout).into_owned()
}

fn stat(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_second_compile_is_a_remote_hit_with_layout_bazel() {
    if tools().is_none() {
        return;
    }
    let mut settings = Settings::load(None).expect("default settings");
    settings.build_cache.instances.insert(
        "ccache".into(),
        BuildCacheInstanceSettings {
            validate_ac: Some(false),
        },
    );
    let app = spawn_app_with(settings).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.c");
    std::fs::write(&src, "int answer(void) { return 42; }\n").unwrap();
    let remote = format!("{}/ccache|layout=bazel", app.base);

    let first = compile(dir.path(), &remote, &src).await;
    assert_eq!(stat(&first, "remote_storage_hit"), 0, "{first}");
    assert!(stat(&first, "remote_storage_miss") >= 1, "{first}");
    let second = compile(dir.path(), &remote, &src).await;
    assert_eq!(stat(&second, "remote_storage_hit"), 1, "{second}");
}
