//! Warm restarts of the real binary: a `persist` memory cache survives a
//! graceful restart (whether `persist` came from the file or from the
//! admin API), a corrupt snapshot is skipped, a stacked cache's L1 is
//! warmed from L2, and `persist` without `data_dir` refuses to start.

use std::path::Path;

use reqwest::StatusCode;
use strata_testkit::{RedisServer, require};

use crate::process::start;

fn write_config(path: &Path, data_dir: Option<&Path>, caches: &str) {
    let server = data_dir.map_or(String::new(), |d| {
        format!("[server]\ndata_dir = {:?}\n", d.display().to_string())
    });
    std::fs::write(path, format!("{server}[log]\nformat = \"json\"\n{caches}"))
        .expect("config written");
}

fn entry(base: &str, cache: &str, key: &str) -> String {
    format!("{base}/v1/caches/{cache}/entries/{key}")
}

const PERSISTED: &str =
    "[caches.p]\npersist = true\nmax_entries = 1000\n[caches.plain]\nmax_entries = 1000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persist_cache_survives_a_graceful_restart_and_a_corrupt_snapshot_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    let data = dir.path().join("data");
    write_config(&config, Some(&data), PERSISTED);
    let service = start(&config, &[]).await;
    let client = reqwest::Client::new();
    let put = |cache: &'static str, key: &'static str, query: &'static str, body: &'static str| {
        let url = format!("{}{query}", entry(&service.base, cache, key));
        let request = client
            .put(url)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(put("p", "a", "", "{\"v\":1}").await, StatusCode::CREATED);
    assert_eq!(
        put("p", "b", "?ttl=300&tags=t", "bee").await,
        StatusCode::CREATED
    );
    assert_eq!(put("plain", "a", "", "gone").await, StatusCode::CREATED);
    let etag = client
        .get(entry(&service.base, "p", "a"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    let log = service.stop().await;
    assert!(log.contains("snapshot written"), "{log}");
    let snapshot = data.join("snapshots").join("p.snap");
    assert!(snapshot.exists());

    let service = start(&config, &[]).await;
    let got = client
        .get(entry(&service.base, "p", "a"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["etag"], etag, "the version survives");
    assert_eq!(
        got.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(got.text().await.unwrap(), "{\"v\":1}");
    let b = client
        .get(entry(&service.base, "p", "b"))
        .send()
        .await
        .unwrap();
    let cache_control = b.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache_control.contains("max-age=2") || cache_control.contains("max-age=3"),
        "{cache_control}"
    );
    // The tag came back too.
    let r = client
        .post(format!("{}/v1/caches/p/invalidations", service.base))
        .header("content-type", "application/json")
        .body(r#"{"tags":["t"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        client
            .get(entry(&service.base, "p", "b"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client
            .get(entry(&service.base, "plain", "a"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "a cache without persist starts empty"
    );
    service.stop().await;

    // Flip one byte: the snapshot is refused whole and the cache starts empty.
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&snapshot, &bytes).unwrap();
    let service = start(&config, &[]).await;
    assert_eq!(
        client
            .get(entry(&service.base, "p", "a"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let ready = client
        .get(format!("{}/health/ready", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let log = service.stop().await;
    assert!(
        log.lines().any(|l| l.contains("\"WARN\"")
            && l.contains("snapshot skipped")
            && l.contains("checksum")),
        "{log}"
    );
}

async fn admin_config(client: &reqwest::Client, base: &str, cache: &str) -> serde_json::Value {
    let r = client
        .get(format!("{base}/admin/v1/caches/{cache}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Issue 26 item 1: `persist` set at run time (and a file `persist`
/// cache changed through "GET, edit, PUT back") is stored with the rest
/// of the configuration, so the restart loads the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_set_at_run_time_survives_a_graceful_restart_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    let data = dir.path().join("data");
    write_config(&config, Some(&data), "[caches.f]\npersist = true\n");
    let service = start(&config, &[]).await;
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/admin/v1/caches/p", service.base))
        .json(&serde_json::json!({ "persist": true }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    // The documented change of a file cache: GET, edit, PUT back.
    let mut edited = admin_config(&client, &service.base, "f").await;
    assert_eq!(edited["persist"], true, "{edited}");
    edited["max_entries"] = 500.into();
    let r = client
        .put(format!("{}/admin/v1/caches/f", service.base))
        .json(&edited)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    for cache in ["p", "f"] {
        let r = client
            .put(entry(&service.base, cache, "k"))
            .body("kept")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let log = service.stop().await;
    assert!(log.contains("snapshot written"), "{log}");

    let service = start(&config, &[]).await;
    for cache in ["p", "f"] {
        let stored = admin_config(&client, &service.base, cache).await;
        assert_eq!(stored["persist"], true, "{cache}: {stored}");
        let got = client
            .get(entry(&service.base, cache, "k"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{cache}: the entry is back");
        assert_eq!(got.text().await.unwrap(), "kept");
    }
    assert_eq!(
        admin_config(&client, &service.base, "f").await["max_entries"],
        500
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_without_data_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    write_config(&config, None, PERSISTED);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "",
                "--config",
            ])
            .arg(&config)
            .output()
            .expect("strata runs")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("[caches.p]") && text.contains("data_dir"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stacked_cache_warms_its_l1_from_l2_after_a_restart() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    let data = dir.path().join("data");
    write_config(
        &config,
        Some(&data),
        &format!(
            "[backends.main]\nkind = \"redis\"\nurl = \"{}\"\n[caches.s]\ntiers = [\"memory\", \"main\"]\n",
            redis.url()
        ),
    );
    let service = start(&config, &[]).await;
    let client = reqwest::Client::new();
    for key in ["hot1", "hot2"] {
        let r = client
            .put(entry(&service.base, "s", key))
            .body("v")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let log = service.stop().await;
    assert!(log.contains("warm keys written"), "{log}");

    let service = start(&config, &[]).await;
    for key in ["hot1", "hot2"] {
        let r = client
            .get(entry(&service.base, "s", key))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-cache"], "HIT-L1", "{key} was warmed");
    }
    let log = service.stop().await;
    assert!(log.contains("L1 warmed from L2"), "{log}");
}
