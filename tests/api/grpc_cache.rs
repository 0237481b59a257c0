//! The cache API over gRPC (`strata.cache.v1.Cache`), gRPC health with a
//! Redis backend going down and up, and reflection.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use strata::config::{AuditSettings, AuthSettings, BackendSettings, Settings};
use strata_presentation::CacheConfigurationDto;
use strata_presentation::grpc::cache::pb;
use strata_presentation::grpc::cache::pb::cache_client::CacheClient;
use strata_testkit::{RedisServer, require};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::grpc_reapi::{authed, channel};
use crate::helpers::{TestApp, api_key, bearer, eventually, spawn_app_with};

const WRITER: &str = "grpc-cache-writer-0123456789";
const READER: &str = "grpc-cache-reader-0123456789";

async fn spawn() -> (TestApp, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let mut settings = Settings::load(None).expect("default settings");
    settings.caches.insert(
        "sessions".to_owned(),
        CacheConfigurationDto {
            max_value_bytes: Some(1024),
            ..Default::default()
        },
    );
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("app".into(), api_key(WRITER, &[("sessions", "writer")]));
    auth.api_keys
        .insert("viewer".into(), api_key(READER, &[("sessions", "reader")]));
    settings.auth = Some(auth);
    settings.audit = Some(AuditSettings {
        path: path.clone(),
        max_bytes: None,
    });
    (spawn_app_with(settings).await, dir, path)
}

fn set(key: &str, value: &[u8], ttl: Option<u64>, tags: &[&str]) -> pb::SetRequest {
    pb::SetRequest {
        cache: "sessions".into(),
        key: key.into(),
        value: value.to_vec(),
        content_type: "text/plain".into(),
        ttl_secs: ttl,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn get(key: &str) -> pb::GetRequest {
    pb::GetRequest {
        cache: "sessions".into(),
        key: key.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cache_rpc_validates_checks_roles_and_audits_like_rest() {
    let (app, _dir, path) = spawn().await;
    let mut c = CacheClient::new(channel(&app).await);

    let e = c.get(get("k")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = c
        .set(authed(set("k", b"v", None, &[]), READER))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // The first set creates the entry, the second replaces it.
    let mut last = None;
    for (value, created) in [(b"ada".as_slice(), true), (b"ada2".as_slice(), false)] {
        let request = set("user:1", value, Some(60), &["eu", "users"]);
        let r = c.set(authed(request, WRITER)).await.unwrap().into_inner();
        assert_eq!(r.created, created, "set {value:?}");
        last = Some(r);
    }
    let r = last.expect("two sets");
    let hit = c
        .get(authed(get("user:1"), READER))
        .await
        .unwrap()
        .into_inner();
    assert!(hit.found);
    assert_eq!(hit.served_by, pb::ServedBy::HitL1 as i32);
    let entry = hit.entry.unwrap();
    assert_eq!(entry.value, b"ada2");
    assert_eq!(entry.content_type, "text/plain");
    assert_eq!(entry.ttl_remaining_secs, Some(60));
    assert_eq!(entry.tags, vec!["eu", "users"]);
    assert_eq!(entry.etag, r.etag);
    let miss = c
        .get(authed(get("user:404"), READER))
        .await
        .unwrap()
        .into_inner();
    assert!(!miss.found && miss.entry.is_none());
    assert_eq!(miss.served_by, pb::ServedBy::Miss as i32);

    // Cross-protocol: REST reads what gRPC wrote, and the other way round.
    let r = bearer(app.client.get(app.entry("sessions", "user:1")), READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ada2");
    let r = bearer(app.client.put(app.entry("sessions", "user:2")), WRITER)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let hit = c
        .get(authed(get("user:2"), READER))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hit.entry.unwrap().content_type, "application/json");

    // Validation, as REST's.
    for (request, code) in [
        (set("bad key", b"v", None, &[]), Code::InvalidArgument),
        (set("k", b"v", Some(0), &[]), Code::InvalidArgument),
        (set("k", b"v", None, &["bad tag!"]), Code::InvalidArgument),
        (
            pb::SetRequest {
                content_type: "not a type".into(),
                ..set("k", b"v", None, &[])
            },
            Code::InvalidArgument,
        ),
        (set("k", &[0u8; 2000], None, &[]), Code::ResourceExhausted),
        (
            pb::SetRequest {
                cache: "Bad Name".into(),
                ..set("k", b"v", None, &[])
            },
            Code::InvalidArgument,
        ),
        (
            pb::SetRequest {
                cache: "nosuchcache".into(),
                ..set("k", b"v", None, &[])
            },
            // No grant there: refused before existence is revealed, as REST.
            Code::PermissionDenied,
        ),
    ] {
        let e = c.set(authed(request.clone(), WRITER)).await.unwrap_err();
        assert_eq!(e.code(), code, "{request:?}: {e:?}");
    }

    // Delete.
    let d = |key: &str| {
        authed(
            pb::DeleteRequest {
                cache: "sessions".into(),
                key: key.into(),
            },
            WRITER,
        )
    };
    assert!(c.delete(d("user:2")).await.unwrap().into_inner().deleted);
    assert!(!c.delete(d("user:2")).await.unwrap().into_inner().deleted);

    // Batches.
    let r = c
        .batch_set(authed(
            pb::BatchSetRequest {
                cache: "sessions".into(),
                entries: vec![
                    set("b:1", b"1", None, &["batch"]),
                    set("b:2", b"2", None, &["batch"]),
                    set("user:1", b"again", None, &[]),
                ],
            },
            WRITER,
        ))
        .await
        .unwrap()
        .into_inner();
    let created: Vec<bool> = r.results.iter().map(|x| x.created).collect();
    assert_eq!(created, vec![true, true, false]);
    let e = c
        .batch_set(authed(
            pb::BatchSetRequest {
                cache: "sessions".into(),
                entries: vec![set("b:3", b"3", None, &[]), set("bad key", b"x", None, &[])],
            },
            WRITER,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("entries[1]") || e.message().contains("key"),
        "{e:?}"
    );
    let r = c
        .batch_get(authed(
            pb::BatchGetRequest {
                cache: "sessions".into(),
                keys: vec!["b:1".into(), "b:3".into(), "b:2".into()],
            },
            READER,
        ))
        .await
        .unwrap()
        .into_inner();
    let found: Vec<(String, bool)> = r.results.iter().map(|x| (x.key.clone(), x.found)).collect();
    assert_eq!(
        found,
        vec![
            ("b:1".into(), true),
            ("b:3".into(), false),
            ("b:2".into(), true)
        ]
    );
    let e = c
        .batch_get(authed(
            pb::BatchGetRequest {
                cache: "sessions".into(),
                keys: (0..1001).map(|i| format!("k{i}")).collect(),
            },
            READER,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    // Invalidate by tags, pattern and keys; no selector is refused.
    use pb::invalidate_request::Selector;
    let inv = |selector: Option<Selector>| {
        authed(
            pb::InvalidateRequest {
                cache: "sessions".into(),
                selector,
                ..Default::default()
            },
            WRITER,
        )
    };
    // Each selector after the entry (if any) it is meant to catch is set.
    for (set_first, selector, invalidated) in [
        (
            None,
            Selector::Tags(pb::TagList {
                tags: vec!["batch".into()],
            }),
            2,
        ),
        (Some("user:3"), Selector::Pattern("user:*".into()), 2),
        (
            Some("k1"),
            Selector::Keys(pb::KeyList {
                keys: vec!["k1".into(), "k2".into()],
            }),
            1,
        ),
    ] {
        if let Some(key) = set_first {
            c.set(authed(set(key, b"x", None, &[]), WRITER))
                .await
                .unwrap();
        }
        let n = c.invalidate(inv(Some(selector.clone()))).await.unwrap();
        let n = n.into_inner();
        assert_eq!(n.invalidated, Some(invalidated), "{selector:?}");
        assert!(n.counted, "an in-memory cache counts: {selector:?}");
    }
    let e = c.invalidate(inv(None)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .invalidate(inv(Some(Selector::Pattern(String::new()))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Stats and ListCaches.
    let s = c
        .stats(authed(
            pb::StatsRequest {
                cache: "sessions".into(),
            },
            READER,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.cache, "sessions");
    assert!(s.inserts >= 5, "{s:?}");
    assert!(s.hits >= 3 && s.misses >= 1, "{s:?}");
    let list = c
        .list_caches(authed(pb::ListCachesRequest {}, READER))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = list.caches.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["sessions"],
        "a reader sees the caches it holds a role on"
    );
    assert_eq!(list.caches[0].max_value_bytes, Some(1024));
    let json: Value = serde_json::from_str(&list.caches[0].configuration_json).unwrap();
    assert_eq!(json["max_value_bytes"], 1024);

    // The audit file: the invalidations by tags and pattern, and the
    // reader's refused Set.
    let records: Vec<Value> = std::fs::read_to_string(&path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let grpc: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["params"]
                .as_array()
                .is_some_and(|p| p.contains(&serde_json::json!(["protocol", "grpc"])))
        })
        .collect();
    let summary: Vec<(String, String, String)> = grpc
        .iter()
        .map(|r| {
            (
                r["principal"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expect = |p: &str, a: &str, o: &str| (p.to_owned(), a.to_owned(), o.to_owned());
    assert!(
        summary.contains(&expect("viewer", "forbidden", "forbidden")),
        "{records:?}"
    );
    assert_eq!(
        summary
            .iter()
            .filter(|s| **s == expect("app", "invalidate", "ok"))
            .count(),
        2,
        "{records:?}"
    );
    assert!(
        !std::fs::read_to_string(&path).unwrap().contains(WRITER),
        "no key in the audit file"
    );
    // The unauthenticated call at the start is recorded too (off the call's path).
    let refused = eventually(Duration::from_secs(10), || async {
        std::fs::read_to_string(&path).unwrap().lines().any(|l| {
            l.contains(r#""action":"unauthorized""#) && l.contains(r#"["protocol","grpc"]"#)
        })
    })
    .await;
    assert!(refused, "no unauthorized record");
    app.handle.stop(true).await;
}

async fn watch_until(
    stream: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    want: ServingStatus,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(m))) if m.status == want as i32 => return true,
            Ok(Ok(Some(_))) => continue,
            _ => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_not_serving_while_redis_is_down_and_back() {
    let Some(mut redis) = require(RedisServer::spawn()) else {
        return;
    };
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "shared".to_owned(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(300),
        },
    );
    settings.caches.insert(
        "remote".to_owned(),
        CacheConfigurationDto {
            tiers: Some(vec!["shared".into()]),
            ..Default::default()
        },
    );
    let app = spawn_app_with(settings).await;
    let mut health = HealthClient::new(channel(&app).await);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let mut overall = health.watch(check("")).await.unwrap().into_inner();
    assert!(watch_until(&mut overall, ServingStatus::Serving).await);
    for service in [
        "cache/remote",
        "cache/default",
        "strata.cache.v1.Cache",
        "google.bytestream.ByteStream",
    ] {
        let s = health.check(check(service)).await.unwrap().into_inner();
        assert_eq!(s.status, ServingStatus::Serving as i32, "{service}");
    }
    let unknown = health.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    redis.stop();
    assert!(
        watch_until(&mut overall, ServingStatus::NotServing).await,
        "health did not go NOT_SERVING while redis was down"
    );
    let s = health
        .check(check("cache/remote"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, ServingStatus::NotServing as i32);
    let s = health
        .check(check("cache/default"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        s.status,
        ServingStatus::Serving as i32,
        "the memory cache is fine"
    );
    let ready = app.send(Method::GET, app.url("/health/ready"), &[]).await;
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the same readiness data"
    );

    redis.restart().expect("redis restarts on the same port");
    assert!(
        watch_until(&mut overall, ServingStatus::Serving).await,
        "health did not come back after redis did"
    );
    app.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let app = spawn_app_with(Settings::load(None).unwrap()).await;
    let mut client = ServerReflectionClient::new(channel(&app).await);
    let mut ask = async |message: MessageRequest| {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(message),
        };
        let mut stream = client
            .server_reflection_info(futures_util::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().expect("a response")
    };
    let response = ask(MessageRequest::ListServices(String::new())).await;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in ["strata.cache.v1.Cache", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == want), "{names:?}");
    }
    let symbol = MessageRequest::FileContainingSymbol("strata.cache.v1.Cache".into());
    let response = ask(symbol).await;
    assert!(
        matches!(
            response.message_response,
            Some(MessageResponse::FileDescriptorResponse(_))
        ),
        "{response:?}"
    );
    app.handle.stop(true).await;
}

/// gRPC calls on entries count in the cache's trends as HTTP ones do:
/// requests, hits and misses, latency, and value bytes both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_count_in_the_trends() {
    let mut settings = Settings::load(None).expect("default settings");
    settings.analytics.sample_interval_ms = 10;
    let app = spawn_app_with(settings).await;
    app.create_cache("grpc-trends", serde_json::json!({"max_entries": 100}))
        .await;
    let mut c = CacheClient::new(channel(&app).await);
    let path =
        "/v1/caches/grpc-trends/trends?series=requests,hits,misses,bytes_read,bytes_written,p99";
    let points = |body: &Value, series: &str| {
        body["series"][series]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    // The cache's first sample opens its windows; wait for a first point.
    let mut seen = 0;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(10));
        if eventually(Duration::from_secs(2), || async {
            !points(&app.get_json(path).await, "requests").is_empty()
        })
        .await
        {
            seen = points(&app.get_json(path).await, "requests").len();
            break;
        }
    }
    assert!(seen > 0, "no first trend point");
    let mut request = set("k", b"0123456789", None, &[]);
    request.cache = "grpc-trends".into();
    c.set(request).await.unwrap();
    for key in ["k", "k", "absent"] {
        let mut request = get(key);
        request.cache = "grpc-trends".into();
        c.get(request).await.unwrap();
    }
    app.clock.advance(Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || async {
            points(&app.get_json(path).await, "requests").len() > seen
        })
        .await
    );
    let body = app.get_json(path).await;
    let last = |series: &str| points(&body, series).last().unwrap()[1].clone();
    assert_eq!(last("requests"), 4.0, "{body}");
    assert_eq!(last("hits"), 2.0, "{body}");
    assert_eq!(last("misses"), 1.0, "{body}");
    assert_eq!(last("bytes_written"), 10.0, "{body}");
    assert_eq!(last("bytes_read"), 20.0, "{body}");
    assert!(last("p99").as_f64().unwrap() > 0.0, "{body}");
}

/// A cache with `confirm_destructive` takes a gRPC pattern invalidation
/// only with `confirm` naming it (FAILED_PRECONDITION otherwise), and a
/// dry run counts without removing or confirming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_invalidations_confirm_and_dry_run_like_http() {
    let app = spawn_app_with(Settings::load(None).expect("default settings")).await;
    app.create_cache(
        "guarded",
        serde_json::json!({"max_entries": 100, "confirm_destructive": true}),
    )
    .await;
    let mut c = CacheClient::new(channel(&app).await);
    for key in ["k1", "k2", "other"] {
        let mut request = set(key, b"v", None, &[]);
        request.cache = "guarded".into();
        c.set(request).await.unwrap();
    }
    let invalidate = |confirm: Option<&str>, dry_run: bool| pb::InvalidateRequest {
        cache: "guarded".into(),
        selector: Some(pb::invalidate_request::Selector::Pattern("k*".into())),
        confirm: confirm.map(str::to_owned),
        dry_run,
    };
    let e = c.invalidate(invalidate(None, false)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = c
        .invalidate(invalidate(Some("other"), false))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let dry = c
        .invalidate(invalidate(None, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dry.invalidated, Some(2));
    let mut probe = get("k1");
    probe.cache = "guarded".into();
    assert!(
        c.get(probe.clone()).await.unwrap().into_inner().found,
        "a dry run removes nothing"
    );
    let done = c
        .invalidate(invalidate(Some("guarded"), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.invalidated, Some(2));
    assert!(!c.get(probe).await.unwrap().into_inner().found);
}
