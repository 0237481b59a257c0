use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{JSON, assert_problem, spawn_app};

#[tokio::test]
async fn invalid_keys_are_400() {
    let app = spawn_app().await;
    let spaced = app
        .send_body(Method::PUT, app.entry("default", "a%20b"), &[], "x")
        .await;
    let body = assert_problem(spaced, StatusCode::BAD_REQUEST, "invalid_key").await;
    assert_eq!(body["field"], "key");
    let long = "k".repeat(251);
    let r = app
        .send_body(Method::PUT, app.entry("default", &long), &[], "x")
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_key").await;
    let max = "k".repeat(250);
    let r = app
        .send_body(Method::PUT, app.entry("default", &max), &[], "x")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let tab = app
        .send(Method::GET, app.entry("default", "a%09b"), &[])
        .await;
    assert_problem(tab, StatusCode::BAD_REQUEST, "invalid_key").await;
}

#[tokio::test]
async fn invalid_ttl_and_tags_are_400() {
    let app = spawn_app().await;
    for ttl in ["0", "31536001", "abc", "-1", ""] {
        let url = app.entry("default", "k") + "?ttl=" + ttl;
        let r = app.send_body(Method::PUT, url, &[], "x").await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_ttl").await;
    }
    let url = app.entry("default", "k") + "?tags=a,,b";
    let r = app.send_body(Method::PUT, url, &[], "x").await;
    let body = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert_eq!(body["field"], "tags");
    assert_problem(
        app.get("default", "k").await,
        StatusCode::NOT_FOUND,
        "entry_not_found",
    )
    .await;
}

#[tokio::test]
async fn unknown_cache_is_404() {
    let app = spawn_app().await;
    let put = app.put("nope", "k", "v").await;
    assert_problem(put, StatusCode::NOT_FOUND, "cache_not_found").await;
    let get = app.get("nope", "k").await;
    assert_problem(get, StatusCode::NOT_FOUND, "cache_not_found").await;
    let stats = app
        .send(Method::GET, app.url("/v1/caches/nope/stats"), &[])
        .await;
    assert_problem(stats, StatusCode::NOT_FOUND, "cache_not_found").await;
}

#[tokio::test]
async fn values_over_the_cache_limit_are_413() {
    let app = spawn_app().await;
    app.create_cache("small", json!({"max_value_bytes": 10}))
        .await;
    let url = app.entry("small", "k");
    let r = app.send_body(Method::PUT, &url, &[], "0123456789").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.send_body(Method::PUT, &url, &[], "0123456789X").await;
    let body = assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "value_too_large").await;
    assert!(
        body["detail"].as_str().unwrap().contains("11 bytes"),
        "{body}"
    );
    assert_eq!(
        app.get("small", "k").await.text().await.unwrap(),
        "0123456789",
        "the old value survives"
    );
}

#[tokio::test]
async fn unsupported_media_types_are_415() {
    let app = spawn_app().await;
    let r = app
        .send_body(
            Method::POST,
            app.url("/v1/caches/default/entries:batchGet"),
            &[("content-type", "text/plain")],
            "keys=a",
        )
        .await;
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let url = app.url("/v1/caches/default/entries:batchGet");
    let r = app.send_body(Method::POST, url, JSON, "{not json").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    for (method, url, status, code) in [
        (
            Method::GET,
            app.url("/v2/whatever"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PATCH,
            app.entry("default", "k"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            app.url("/v1/caches/bad%20name/stats"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ] {
        let r = app.send(method.clone(), &url, &[]).await;
        assert_eq!(r.status(), status, "{method} {url}");
        assert_problem(r, status, code).await;
    }
}

#[tokio::test]
async fn method_not_allowed_lists_the_resource_methods_in_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (
            "PATCH",
            "/v1/caches/default/entries/k",
            "GET, HEAD, PUT, DELETE",
        ),
        ("DELETE", "/v1/caches", "GET"),
        ("GET", "/v1/caches/default/entries:batchGet", "POST"),
        (
            "POST",
            "/admin/v1/caches/default",
            "GET, PUT, PATCH, DELETE",
        ),
        ("TRACE", "/health/live", "GET"),
        ("PUT", "/metrics", "GET"),
    ] {
        let r = app.send(method.parse().unwrap(), app.url(path), &[]).await;
        assert_eq!(
            r.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

/// serde reads a struct from a JSON array of its fields in order; the
/// schema says every body is an object, so an array is refused and
/// nothing is configured.
#[tokio::test]
async fn json_bodies_that_are_not_objects_are_400() {
    let app = spawn_app().await;
    let url = app.url("/admin/v1/caches/arrays");
    let r = app.send_body(Method::PUT, &url, JSON, "[null, null]").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app.send(Method::GET, &url, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let url = app.url("/v1/caches/default/entries:batchGet");
    let r = app.send_body(Method::POST, url, JSON, " [[\"k\"]]").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// Issue 26 item 3: `?tll=60` used to answer 201 and store an entry that
/// never expires.
#[tokio::test]
async fn unknown_query_parameters_are_400_naming_the_accepted_ones() {
    let app = spawn_app().await;
    for (query, unknown) in [("tll=60", "tll"), ("tag=", "tag"), ("ttl=60&foo=1", "foo")] {
        let url = app.entry("default", "k") + "?" + query;
        let r = app.send_body(Method::PUT, url, &[], "x").await;
        let body = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert_eq!(body["field"], unknown, "{query}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("\"{unknown}\"")), "{detail}");
        assert!(detail.contains("`ttl`, `tags`"), "{detail}");
    }
    // Nothing was stored by the refused PUTs.
    assert_problem(
        app.get("default", "k").await,
        StatusCode::NOT_FOUND,
        "entry_not_found",
    )
    .await;
    // A GET takes no parameters (not even a PUT's `ttl`).
    let r = app
        .send(Method::GET, app.entry("default", "k") + "?ttl=5", &[])
        .await;
    let body = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("takes no query parameters"),
        "{body}"
    );
    let r = app
        .send(
            Method::GET,
            app.url("/v1/caches/default/stats?verbose=1"),
            &[],
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    let r = app
        .send(Method::GET, app.url("/admin/v1/caches/default?x=1"), &[])
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    // The accepted ones still work, percent-encoded names included.
    let url = app.entry("default", "k") + "?%74tl=60&tags=a";
    let r = app.send_body(Method::PUT, url, &[], "x").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Probes ignore query strings: load balancers add their own.
    let r = app
        .send(Method::GET, app.url("/health/live?lb=1"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Every problem `code` the code base defines: the string literal after
/// `StatusCode::<NAME>,` in each `ApiError` constructor call
/// (`ApiError::with_code(`, `ApiError::new(`, `Self::new(`), read from the
/// sources of the crates that answer HTTP.
fn defined_problem_codes() -> std::collections::BTreeSet<String> {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("crates/presentation/src"), &mut files);
    sources(&root.join("src"), &mut files);
    let mut codes = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source reads");
        for call in ["with_code(", "ApiError::new(", "Self::new("] {
            for (at, _) in text.match_indices(call) {
                let rest = text[at + call.len()..].trim_start();
                let Some(rest) = rest.strip_prefix("StatusCode::") else {
                    continue;
                };
                let rest = rest.trim_start_matches(|c: char| c.is_ascii_uppercase() || c == '_');
                let Some(rest) = rest.trim_start().strip_prefix(',') else {
                    continue;
                };
                let Some(rest) = rest.trim_start().strip_prefix('"') else {
                    continue;
                };
                let code: String = rest.chars().take_while(|c| *c != '"').collect();
                codes.insert(code);
            }
        }
    }
    codes
}

/// The README's error list names every problem code a client can get
/// (issue 26 item 16: it lacked 409 `version_conflict` and the build
/// cache's codes).
#[test]
fn the_readme_lists_every_problem_code() {
    let codes = defined_problem_codes();
    // The extraction itself works: codes of several files are found.
    for known in [
        "invalid_key",
        "version_conflict",
        "digest_mismatch",
        "internal",
    ] {
        assert!(codes.contains(known), "{known} not found in {codes:?}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README reads");
    let start = readme
        .find("Errors are RFC 7807")
        .expect("the README's error list");
    let section = &readme[start..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| !section.contains(&format!("`{code}`")))
        .collect();
    assert!(missing.is_empty(), "README's error list lacks {missing:?}");
}
