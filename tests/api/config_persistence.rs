//! Configuration that lasts and is shared (issue 16): run-time cache
//! configurations persist in `[server] data_dir` or in Redis
//! (`[cluster] config_backend`), reach every instance, and concurrent
//! changes converge on one version. Each instance is the real `strata`
//! binary, so a restart is a real one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use strata_testkit::{RedisServer, require};

use crate::helpers::eventually;
use crate::process::{Service, start};

/// How long a change may take to reach another instance in these tests
/// (the service applies it within 1 s; the margin is for a loaded machine).
const PROPAGATION: Duration = Duration::from_secs(15);
/// Interval between two polls of a condition.
const POLL: Duration = Duration::from_millis(10);

/// Writes a config for one instance: JSON logs, optional `data_dir`,
/// optional Redis `main` as the shared configuration backend, and a file
/// cache `seeded` with `max_entries = 5`.
fn write_config(
    dir: &Path,
    name: &str,
    data_dir: Option<&Path>,
    redis: Option<&RedisServer>,
) -> PathBuf {
    let mut toml = String::from("[log]\nformat = \"json\"\n\n[server]\n");
    if let Some(data) = data_dir {
        toml.push_str(&format!("data_dir = {:?}\n", data.display().to_string()));
    }
    if let Some(redis) = redis {
        toml.push_str(&format!(
            "\n[backends.main]\nkind = \"redis\"\nurl = {:?}\n\n[cluster]\nconfig_backend = \"main\"\n",
            redis.url()
        ));
    }
    toml.push_str("\n[caches.seeded]\nmax_entries = 5\n");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).expect("config written");
    path
}

async fn get_config(client: &Client, app: &Service, cache: &str) -> Option<(Value, String)> {
    let r = client
        .get(format!("{}/admin/v1/caches/{cache}", app.base))
        .send()
        .await
        .ok()?;
    if r.status() != StatusCode::OK {
        return None;
    }
    let etag = r.headers().get("etag")?.to_str().ok()?.to_owned();
    Some((r.json().await.ok()?, etag))
}

async fn put_config(
    client: &Client,
    app: &Service,
    cache: &str,
    body: Value,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .put(format!("{}/admin/v1/caches/{cache}", app.base))
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    request.send().await.expect("PUT answered")
}

/// Polls until `cache` on `app` has `max_entries` (and returns its body).
async fn wait_for(client: &Client, app: &Service, cache: &str, max_entries: u64) -> Value {
    let until = Instant::now() + PROPAGATION;
    loop {
        let seen = get_config(client, app, cache).await.map(|(body, _)| body);
        if let Some(body) = &seen
            && body["max_entries"] == json!(max_entries)
        {
            return body.clone();
        }
        assert!(
            Instant::now() < until,
            "{cache} on {} never got max_entries {max_entries}: {seen:?}",
            app.base
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn entry_round_trip(client: &Client, app: &Service, cache: &str) {
    let url = format!("{}/v1/caches/{cache}/entries/k", app.base);
    let put = client.put(&url).body("v").send().await.expect("put");
    assert!(put.status().is_success(), "{}", put.status());
    let got = client.get(&url).send().await.expect("get");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.text().await.expect("body"), "v");
}

#[tokio::test]
async fn a_cache_created_on_one_instance_serves_on_the_other() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = start(&write_config(dir.path(), "a", None, Some(&redis)), &[]).await;
    let b = start(&write_config(dir.path(), "b", None, Some(&redis)), &[]).await;
    let client = Client::new();
    let created = put_config(&client, &a, "shared", json!({"max_entries": 100}), None).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let on_b = wait_for(&client, &b, "shared", 100).await;
    assert_eq!(on_b["sources"]["max_entries"], "runtime");
    assert_eq!(on_b["sources"]["eviction"], "default");
    entry_round_trip(&client, &b, "shared").await;

    // A reconfiguration and a delete on B reach A too.
    let changed = put_config(&client, &b, "shared", json!({"max_entries": 200}), None).await;
    assert_eq!(changed.status(), StatusCode::OK);
    wait_for(&client, &a, "shared", 200).await;
    let deleted = client
        .delete(format!("{}/admin/v1/caches/shared", b.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = eventually(PROPAGATION, || async {
        get_config(&client, &a, "shared").await.is_none()
    })
    .await;
    assert!(gone, "the delete on B never reached A");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn shared_configurations_survive_a_restart_of_both_instances() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (config_a, config_b) = (
        write_config(dir.path(), "a", None, Some(&redis)),
        write_config(dir.path(), "b", None, Some(&redis)),
    );
    let a = start(&config_a, &[]).await;
    let b = start(&config_b, &[]).await;
    let client = Client::new();
    let r = put_config(&client, &a, "lasting", json!({"max_entries": 77}), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A run-time change of a file cache wins over the file after restarts.
    let r = put_config(&client, &a, "seeded", json!({"max_entries": 9}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    wait_for(&client, &b, "lasting", 77).await;
    wait_for(&client, &b, "seeded", 9).await;
    a.stop().await;
    b.stop().await;

    let a = start(&config_a, &[]).await;
    let b = start(&config_b, &[]).await;
    let mut versions = Vec::new();
    for app in [&a, &b] {
        let (lasting, etag) = get_config(&client, app, "lasting")
            .await
            .expect("lasting exists");
        assert_eq!(lasting["max_entries"], 77);
        assert_eq!(etag, format!("\"{}\"", lasting["version"]));
        versions.push(lasting["version"].clone());
        let (seeded, _) = get_config(&client, app, "seeded")
            .await
            .expect("seeded exists");
        assert_eq!(seeded["max_entries"], 9);
        assert_eq!(seeded["sources"]["max_entries"], "runtime");
        entry_round_trip(&client, app, "lasting").await;
    }
    assert_eq!(versions[0], versions[1]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_standalone_instance_keeps_run_time_changes_in_its_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = write_config(dir.path(), "solo", Some(&data), None);
    let client = Client::new();
    let app = start(&config, &[]).await;
    let (seeded, _) = get_config(&client, &app, "seeded").await.expect("seeded");
    assert_eq!(seeded["sources"]["max_entries"], "file");
    assert_eq!(seeded["sources"]["tiers"], "default");
    let r = put_config(&client, &app, "kept", json!({"max_entries": 42}), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = put_config(&client, &app, "seeded", json!({"max_entries": 8}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
    assert!(data.join("caches.json").is_file());

    let app = start(&config, &[]).await;
    let (kept, _) = get_config(&client, &app, "kept")
        .await
        .expect("kept survived");
    assert_eq!(kept["max_entries"], 42);
    assert_eq!(kept["sources"]["max_entries"], "runtime");
    let (seeded, _) = get_config(&client, &app, "seeded").await.expect("seeded");
    assert_eq!(seeded["max_entries"], 8);
    // Deleting the run-time change of a file cache: the file seeds it
    // again at the next start-up.
    let r = client
        .delete(format!("{}/admin/v1/caches/seeded", app.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(get_config(&client, &app, "seeded").await.is_none());
    app.stop().await;
    let app = start(&config, &[]).await;
    let (seeded, _) = get_config(&client, &app, "seeded")
        .await
        .expect("seeded again");
    assert_eq!(seeded["max_entries"], 5);
    assert_eq!(seeded["sources"]["max_entries"], "file");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_reconfigurations_on_two_instances_converge() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = start(&write_config(dir.path(), "a", None, Some(&redis)), &[]).await;
    let b = start(&write_config(dir.path(), "b", None, Some(&redis)), &[]).await;
    let client = Client::new();
    let r = put_config(&client, &a, "race", json!({"max_entries": 10}), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    wait_for(&client, &b, "race", 10).await;
    let (_, tag_a) = get_config(&client, &a, "race").await.expect("on a");
    let (_, tag_b) = get_config(&client, &b, "race").await.expect("on b");
    assert_eq!(tag_a, tag_b);

    // With If-Match on the same version, one wins and the other learns it.
    let (ra, rb) = tokio::join!(
        put_config(
            &client,
            &a,
            "race",
            json!({"max_entries": 11}),
            Some(&tag_a)
        ),
        put_config(
            &client,
            &b,
            "race",
            json!({"max_entries": 12}),
            Some(&tag_b)
        ),
    );
    let (sa, sb) = (ra.status(), rb.status());
    let (winner, loser, winner_entries) = match (sa, sb) {
        (StatusCode::OK, StatusCode::CONFLICT) => (ra, rb, 11),
        (StatusCode::CONFLICT, StatusCode::OK) => (rb, ra, 12),
        other => panic!("expected one 200 and one 409, got {other:?}"),
    };
    let won: Value = winner.json().await.expect("json");
    let problem =
        crate::helpers::assert_problem(loser, StatusCode::CONFLICT, "version_conflict").await;
    assert_eq!(problem["current_version"], won["version"]);
    converged(&client, &a, &b, winner_entries).await;

    // Without If-Match both apply, one after the other, and both converge.
    let (ra, rb) = tokio::join!(
        put_config(&client, &a, "race", json!({"max_entries": 21}), None),
        put_config(&client, &b, "race", json!({"max_entries": 22}), None),
    );
    assert_eq!((ra.status(), rb.status()), (StatusCode::OK, StatusCode::OK));
    let (va, vb): (Value, Value) = (ra.json().await.expect("a"), rb.json().await.expect("b"));
    assert_ne!(va["version"], vb["version"]);
    let last = if va["version"].as_u64() > vb["version"].as_u64() {
        21
    } else {
        22
    };
    converged(&client, &a, &b, last).await;
    a.stop().await;
    b.stop().await;
}

/// Polls until both instances serve `race` at one version with `max_entries`.
async fn converged(client: &Client, a: &Service, b: &Service, max_entries: u64) {
    let until = Instant::now() + PROPAGATION;
    loop {
        let seen = (
            get_config(client, a, "race").await,
            get_config(client, b, "race").await,
        );
        if matches!(&seen, (Some((x, tx)), Some((y, ty)))
            if tx == ty && x == y && x["max_entries"] == json!(max_entries))
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "the instances did not converge on max_entries {max_entries}: {seen:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_corrupt_state_file_fails_start_up_and_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let state = data.join("caches.json");
    let corrupt = b"{\"format\":1,\"caches\":[{\"name\":\"torn";
    std::fs::write(&state, corrupt).expect("state written");
    let config = write_config(dir.path(), "corrupt", Some(&data), None);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "",
            "--config",
        ])
        .arg(&config)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("strata runs");
    // A server that starts would never exit: kill it after a deadline.
    let exited = eventually(PROPAGATION, || {
        let done = matches!(child.try_wait(), Ok(Some(_)));
        async move { done }
    })
    .await;
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("strata reaped");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "strata started on a corrupt state file:\n{text}"
    );
    assert!(text.contains(&state.display().to_string()), "{text}");
    assert!(text.contains("corrupt"), "{text}");
    assert_eq!(std::fs::read(&state).expect("state kept"), corrupt);
}
