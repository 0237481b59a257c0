//! The web console (`/console`): its security over plain HTTP, then every
//! screen the issue names in a real browser, headless Chromium driven
//! through chromedriver by fantoccini.
//!
//! The browser test is one test with one server and one chromedriver,
//! running its steps in order (log in, browse 100,000 keys to the last
//! page, preview a 10 MiB value, configuration edits and a concurrent
//! change, invalidation after a dry run, a build-cache flush through dry
//! run and typed confirmation, a refused form without CSRF token, log out,
//! a reader's view and forged POST). A failing step saves a screenshot as
//! `<target>/console-screenshots/failed-<step>.png`; every screen's
//! screenshot is saved there too (docs/console.md shows them).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata::config::{AuditSettings, AuthSettings, Settings};
use strata_testkit::{ChromeDriver, require};

use crate::helpers::{TestApp, api_key, header, spawn_app, spawn_app_with};

const ADMIN: &str = "console-admin-key-0123456789";
const READER: &str = "console-reader-key-0123456789";

/// A server with an admin (`ops`) and a reader (`viewer`) key and an
/// audit file.
async fn spawn_secured() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("ops".into(), api_key(ADMIN, &[("*", "admin")]));
    auth.api_keys
        .insert("viewer".into(), api_key(READER, &[("*", "reader")]));
    settings.auth = Some(auth);
    settings.audit = Some(AuditSettings {
        path: dir.path().join("audit.jsonl"),
        max_bytes: None,
    });
    (spawn_app_with(settings).await, dir)
}

/// The value of input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
fn encode_form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `strata_session=<id>` pair of a response's `Set-Cookie`.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    header(response, "set-cookie")?
        .split(';')
        .next()
        .filter(|c| c.starts_with("strata_session=") && c.len() > "strata_session=".len())
        .map(str::to_owned)
}

/// Logs in over plain HTTP: the session cookie and its CSRF token.
async fn login(app: &TestApp, credential: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/console/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pre = session_cookie(&r).expect("a pre-login session");
    let csrf = hidden(&r.text().await.unwrap(), "csrf").expect("the form's token");
    let r = client
        .post(app.url("/console/login"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("csrf", csrf.as_str()),
            ("credential", credential),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login accepted");
    let cookie = session_cookie(&r).expect("a session cookie");
    assert_ne!(cookie, pre, "a fresh session id after login");
    let set = header(&r, "set-cookie").unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=28800",
        "Path=/console",
    ] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "no TLS here: {set}");
    let page = client
        .get(app.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let csrf = hidden(&page.text().await.unwrap(), "csrf").expect("the session's token");
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_carry_the_security_headers_and_assets_are_cached_by_etag() {
    let (app, _dir) = spawn_secured().await;
    let r = app.send(Method::GET, app.url("/console/login"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&r, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );
    let mut total = 0;
    for asset in [
        "htmx.min.js",
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "console.css",
        "console.js",
    ] {
        let url = app.url(&format!("/console/assets/{asset}"));
        let r = app.send(Method::GET, &url, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        let etag = header(&r, "etag").unwrap();
        assert!(
            header(&r, "cache-control")
                .unwrap()
                .contains("max-age=31536000")
        );
        total += r.bytes().await.unwrap().len();
        let r = app
            .send(Method::GET, &url, &[("if-none-match", &etag)])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{asset}");
    }
    assert!(total < 300_000, "assets weigh {total} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_the_console_opens_as_anonymous_and_still_checks_csrf() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = session_cookie(&r).expect("an anonymous session for the CSRF token");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<span class="anonymous" id="principal">anonymous</span>"#),
        "{html}"
    );
    let r = client
        .post(app.url("/console/caches/default/invalidate"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("kind", "pattern"),
            ("value", "*"),
            ("action", "run"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("csrf_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refuses_a_bad_key_and_a_reader_cannot_post_admin_forms() {
    let (app, _dir) = spawn_secured().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location").as_deref(), Some("/console/login"));
    let r = client.get(app.url("/console/login")).send().await.unwrap();
    let pre = session_cookie(&r).unwrap();
    let csrf = hidden(&r.text().await.unwrap(), "csrf").unwrap();
    let r = client
        .post(app.url("/console/login"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("csrf", csrf.as_str()),
            ("credential", "wrong"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A login form without its token is refused before the key is looked at.
    let r = client
        .post(app.url("/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[("credential", ADMIN)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (cookie, csrf) = login(&app, READER).await;
    let r = client
        .post(app.url("/console/caches/default/config"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("csrf", csrf.as_str()),
            ("step", "apply"),
            ("max_entries", "5"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a reader's forged POST");
    let r = client
        .post(app.url("/console/build-cache/flush"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[
            ("csrf", csrf.as_str()),
            ("target", "ac"),
            ("scope", "all"),
            ("action", "run"),
            ("confirm", "all"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let audit = std::fs::read_to_string(_dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"viewer\"") && l.contains("forbidden")),
        "the refusals are audited with the reader's principal: {audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_shared_config_backend_instances_share_console_sessions() {
    let Some(redis) = require(strata_testkit::RedisServer::spawn()) else {
        return;
    };
    let spawn = || async {
        let mut settings = Settings::load(None).expect("default settings");
        settings.backends.insert(
            "main".into(),
            strata::config::BackendSettings::Redis {
                url: redis.url(),
                timeout_ms: None,
            },
        );
        settings.cluster.config_backend = Some("main".into());
        let mut auth = AuthSettings::default();
        auth.api_keys
            .insert("ops".into(), api_key(ADMIN, &[("*", "admin")]));
        settings.auth = Some(auth);
        spawn_app_with(settings).await
    };
    let (a, b) = (spawn().await, spawn().await);
    let (cookie, csrf) = login(&a, ADMIN).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(b.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a login on one instance works on the other"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(r#"<span id="principal">ops</span>"#)
    );
    let r = client
        .post(b.url("/console/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = client
        .get(a.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a logout on one ends it on all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_cache_lookup_shows_the_action_result_and_downloads_its_outputs() {
    use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
    use prost::Message as _;
    let (app, _dir) = spawn_secured().await;
    let output = b"object code".to_vec();
    let digest = |b: &[u8]| reapi::Digest {
        hash: sha(b),
        size_bytes: b.len() as i64,
    };
    let r = app
        .client
        .put(app.url(&format!("/cas/{}", sha(&output))))
        .bearer_auth(ADMIN)
        .body(output.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let result = reapi::ActionResult {
        output_files: vec![reapi::OutputFile {
            path: "out/a.o".into(),
            digest: Some(digest(&output)),
            ..Default::default()
        }],
        exit_code: 3,
        stdout_raw: b"compiled <ok>".to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    let action = sha(b"the action");
    let r = app
        .client
        .put(app.url(&format!("/ac/{action}")))
        .bearer_auth(ADMIN)
        .body(result)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (cookie, _) = login(&app, READER).await;
    let page = app
        .client
        .get(app.url(&format!(
            "/console/build-cache?digest={action}&instance=default"
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<strong id="exit-code">3</strong>"#),
        "{page}"
    );
    assert!(
        page.contains("out/a.o") && page.contains("compiled &lt;ok&gt;"),
        "{page}"
    );
    let link = format!("/console/build-cache/cas/{}?instance=", sha(&output));
    assert!(page.contains(&link), "{page}");
    assert!(!page.contains("flush-form"), "a reader gets no flush form");
    let blob = app
        .client
        .get(app.url(&link))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), StatusCode::OK);
    assert_eq!(blob.bytes().await.unwrap(), output);

    // The instances: the unnamed one hit once (the lookup), and its charts.
    assert!(
        page.contains(r#"<table class="instances" id="instances">"#)
            && page.contains(r#"<a href="/console/build-cache?trends=default">default</a>"#),
        "{page}"
    );
    let stats: serde_json::Value = app
        .client
        .get(app.url("/admin/v1/cache/stats"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["instances"][0]["instance"], "default", "{stats}");
    assert!(stats["instances"][0]["hits"].as_u64() >= Some(1), "{stats}");
    let charts = app
        .client
        .get(app.url("/console/build-cache?trends=default&range=24h"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        charts.contains(r#"id="instance-trends""#)
            && charts.contains(r#"<a class="current" href="/console/build-cache?trends=default&amp;range=24h">24h</a>"#)
            && (charts.contains("Requests") || charts.contains(r#"id="no-trends""#)),
        "{charts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_shown_to_admins_on_every_cache_only() {
    let (app, _dir) = spawn_secured().await;
    let get = |cookie: String, path: &'static str| {
        let request = app.client.get(app.url(path)).header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    let (admin, _) = login(&app, ADMIN).await;
    let r = get(admin.clone(), "/console/alerts").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    for id in [
        "firing-none",
        "pending-none",
        "resolved-none",
        "silences-none",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}: {page}");
    }
    let overview = get(admin, "/console").await.text().await.unwrap();
    assert!(
        overview.contains(r#"id="firing-alerts-none""#),
        "{overview}"
    );
    let (reader, _) = login(&app, READER).await;
    assert_eq!(
        get(reader.clone(), "/console/alerts").await.status(),
        StatusCode::FORBIDDEN
    );
    let overview = get(reader, "/console").await.text().await.unwrap();
    assert!(
        overview.contains("Alerts are shown to admins"),
        "{overview}"
    );
}

// ---------------------------------------------------------------- browser

/// A browser session on `driver`, with exactly the flags the issue gives.
async fn browser(driver: &ChromeDriver) -> Client {
    let profile = driver.profile_dir("console").expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium(),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .expect("a browser session");
    client
        .set_window_size(1280, 1000)
        .await
        .expect("window size");
    client
}

/// Where screenshots go: `<target dir>/console-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/api-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves the browser's screen as `<name>.png`.
async fn screenshot(client: &Client, name: &str) {
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(screenshot_dir().join(format!("{name}.png")), png);
    }
}

type Step<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// Runs step `name`; on a failure saves `failed-<name>.png`, then fails.
async fn step<'a>(client: &'a Client, name: &str, body: Step<'a>) {
    if let Err(panic) = std::panic::AssertUnwindSafe(body).catch_unwind().await {
        screenshot(client, &format!("failed-{name}")).await;
        std::panic::resume_unwind(panic);
    }
}

/// The text of the element `css`, waiting for it to appear.
async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("element text")
}

/// Whether the page has an element `css` (no waiting).
async fn has(client: &Client, css: &str) -> bool {
    client.find(Locator::Css(css)).await.is_ok()
}

/// Fills the form `form` (name, value pairs; select elements by value)
/// and clicks `submit`.
async fn fill_and_submit(client: &Client, form: &str, fields: &[(&str, &str)], submit: &str) {
    for (name, value) in fields {
        let field = client
            .find(Locator::Css(&format!("{form} [name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("{form} {name}: {e}"));
        if field.tag_name().await.unwrap() == "select" {
            field.select_by_value(value).await.expect("select");
        } else {
            field.clear().await.expect("clear");
            field.send_keys(value).await.expect("type");
        }
    }
    client
        .find(Locator::Css(submit))
        .await
        .unwrap_or_else(|e| panic!("{submit}: {e}"))
        .click()
        .await
        .expect("click");
}

/// POSTs `body` (form-encoded) to `path` from the page, with the
/// browser's cookie, as a forged request would; returns the status.
async fn post_from_page(client: &Client, path: &str, body: &str) -> u64 {
    let status = client
        .execute_async(
            "const [path, body, done] = arguments;
             fetch(path, {method: 'POST', body, credentials: 'same-origin', redirect: 'manual',
                          headers: {'content-type': 'application/x-www-form-urlencoded'}})
               .then(r => done(r.status), e => done(String(e)));",
            vec![json!(path), json!(body)],
        )
        .await
        .expect("fetch ran");
    status
        .as_u64()
        .unwrap_or_else(|| panic!("fetch failed: {status}"))
}

/// SHA-256 of `bytes` in hex.
fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_every_screen_in_a_real_browser() {
    let Some(driver) = require(ChromeDriver::spawn()) else {
        return;
    };
    let (app, dir) = spawn_secured().await;
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(ADMIN);
    let put_config = |name: &'static str, body: Value| {
        admin(app.client.put(app.url(&format!("/admin/v1/caches/{name}"))))
            .json(&body)
            .send()
    };
    // Fixtures through the API: 100,000 keys, a 10 MiB value, caches to
    // edit and invalidate, blobs in a build-cache instance.
    assert!(
        put_config("browse", json!({"max_entries": 200_000}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    for chunk in 0..100 {
        let entries: Vec<Value> = (0..1000)
            .map(|i| json!({"key": format!("k{:06}", chunk * 1000 + i), "value": "v"}))
            .collect();
        let r = admin(
            app.client
                .post(app.url("/v1/caches/browse/entries:batchPut")),
        )
        .json(&json!({ "entries": entries }))
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(
        put_config("big", json!({"max_value_bytes": 16 << 20}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let big = vec![b'x'; 10 << 20];
    let r = admin(app.client.put(app.entry("big", "blob")))
        .header("content-type", "text/plain")
        .body(big)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(
        put_config("cfg", json!({"max_entries": 100}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        put_config("inv", json!({"confirm_destructive": true}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    for key in (0..20)
        .map(|i| format!("user:{i}"))
        .chain((0..5).map(|i| format!("order:{i}")))
    {
        let r = admin(app.client.put(app.entry("inv", &key)))
            .body("v")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let blobs: Vec<Vec<u8>> = (0..3).map(|i| format!("blob {i}").into_bytes()).collect();
    for blob in &blobs {
        let r = admin(
            app.client
                .put(app.url(&format!("/team-a/cas/{}", sha(blob)))),
        )
        .body(blob.clone())
        .send()
        .await
        .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    let client = browser(&driver).await;
    let c = &client;
    let base = app.base.clone();

    step(
        c,
        "login",
        Box::pin(async {
            c.goto(&format!("{base}/console")).await.unwrap();
            assert!(
                c.current_url()
                    .await
                    .unwrap()
                    .path()
                    .ends_with("/console/login")
            );
            fill_and_submit(c, "form", &[("credential", ADMIN)], "button[type=submit]").await;
            assert_eq!(text(c, "#principal").await, "ops");
            screenshot(c, "overview").await;
        }),
    )
    .await;

    step(c, "browse", Box::pin(async {
        c.goto(&format!("{base}/console/caches/browse/keys?limit=1000")).await.unwrap();
        screenshot(c, "keys").await;
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0;
        loop {
            pages += 1;
            let keys = c
                .execute("return Array.from(document.querySelectorAll('a.key')).map(a => a.textContent);", vec![])
                .await
                .unwrap();
            seen.extend(keys.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()));
            if has(c, "#scan-end").await {
                break;
            }
            let next = c
                .find(Locator::Css("#next-page"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .expect("next href");
            c.goto(&format!("{base}{next}")).await.unwrap();
            assert!(pages < 1000, "the scan ends");
        }
        assert_eq!(seen.len(), 100_000, "every key, to the last page ({pages} pages)");
    }))
    .await;

    step(
        c,
        "preview",
        Box::pin(async {
            c.goto(&format!("{base}/console/caches/big/entry?key=blob"))
                .await
                .unwrap();
            assert!(text(c, "#entry-size").await.starts_with("10485760 bytes"));
            assert!(
                text(c, "#preview-truncated")
                    .await
                    .contains("10485760 bytes")
            );
            screenshot(c, "entry").await;
            let sizes = c
                .execute(
                    "return performance.getEntriesByType('resource')
                   .filter(e => e.name.includes('/entry/preview'))
                   .map(e => e.encodedBodySize);",
                    vec![],
                )
                .await
                .unwrap();
            let sizes: Vec<u64> = sizes
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap())
                .collect();
            assert!(!sizes.is_empty(), "the preview was fetched");
            for size in sizes {
                assert!(
                    size > 0 && size <= 64 * 1024,
                    "the preview sent {size} bytes"
                );
            }
        }),
    )
    .await;

    step(
        c,
        "config",
        Box::pin(async {
            c.goto(&format!("{base}/console/caches/cfg/config"))
                .await
                .unwrap();
            fill_and_submit(c, "#config-form", &[("max_entries", "0")], "#review").await;
            let error = text(c, "#max_entries-error").await;
            assert!(!error.is_empty(), "the error beside max_entries");
            screenshot(c, "config-error").await;
            fill_and_submit(
                c,
                "#config-form",
                &[("max_entries", "500"), ("eviction", "lru")],
                "#review",
            )
            .await;
            let diff = text(c, "#diff").await;
            assert!(
                diff.contains("max_entries") && diff.contains("500") && diff.contains("eviction"),
                "{diff}"
            );
            screenshot(c, "config-diff").await;
            c.find(Locator::Css("#apply"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            assert_eq!(text(c, "#new-version").await, "2");
            let stored: Value = admin(app.client.get(app.url("/admin/v1/caches/cfg")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(stored["max_entries"], 500);
            assert_eq!(stored["eviction"], "lru");
        }),
    )
    .await;

    step(
        c,
        "conflict",
        Box::pin(async {
            c.goto(&format!("{base}/console/caches/cfg/config"))
                .await
                .unwrap();
            fill_and_submit(c, "#config-form", &[("max_entries", "700")], "#review").await;
            text(c, "#diff").await;
            // Someone else changes it between the review and the apply.
            let r = admin(app.client.patch(app.url("/admin/v1/caches/cfg")))
                .header("content-type", "application/merge-patch+json")
                .body(r#"{"default_ttl": 60}"#)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            c.find(Locator::Css("#apply"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            assert!(text(c, "#conflict").await.contains("now at version 3"));
            let stored: Value = admin(app.client.get(app.url("/admin/v1/caches/cfg")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(stored["max_entries"], 500, "not overwritten");
            assert_eq!(stored["default_ttl"], 60);
        }),
    )
    .await;

    step(
        c,
        "invalidate",
        Box::pin(async {
            c.goto(&format!("{base}/console/caches/inv/invalidate"))
                .await
                .unwrap();
            fill_and_submit(
                c,
                "#invalidate-form",
                &[("kind", "pattern"), ("value", "user:*")],
                "#dry-run",
            )
            .await;
            assert_eq!(text(c, "#dry-run-count").await, "20");
            let listed: Value = admin(app.client.get(app.url("/v1/caches/inv/keys?limit=1000")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                listed["keys"].as_array().unwrap().len(),
                25,
                "the dry run removed nothing"
            );
            screenshot(c, "invalidate-dry-run").await;
            // The cache is protected: the run needs its name typed.
            fill_and_submit(c, "#run-form", &[("confirm", "inv")], "#run").await;
            assert_eq!(text(c, "#invalidated-count").await, "20");
            let listed: Value = admin(app.client.get(app.url("/v1/caches/inv/keys?limit=1000")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                listed["keys"].as_array().unwrap().len(),
                5,
                "the orders stay"
            );
        }),
    )
    .await;

    step(
        c,
        "flush",
        Box::pin(async {
            c.goto(&format!("{base}/console/build-cache"))
                .await
                .unwrap();
            screenshot(c, "build-cache").await;
            fill_and_submit(
                c,
                "#flush-form",
                &[("target", "cas"), ("scope", "team-a")],
                "#flush-dry-run",
            )
            .await;
            assert_eq!(text(c, "#flush-preview-entries").await, "3");
            let r = admin(
                app.client
                    .get(app.url(&format!("/team-a/cas/{}", sha(&blobs[0])))),
            )
            .send()
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "the dry run removed nothing");
            screenshot(c, "flush-dry-run").await;
            fill_and_submit(
                c,
                "#flush-confirm-form",
                &[("confirm", "team-a")],
                "#flush-run",
            )
            .await;
            assert_eq!(text(c, "#flush-entries").await, "3");
            assert!(!has(c, "#flush-partial").await);
            let r = admin(
                app.client
                    .get(app.url(&format!("/team-a/cas/{}", sha(&blobs[0])))),
            )
            .send()
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "flushed");
        }),
    )
    .await;

    step(
        c,
        "csrf",
        Box::pin(async {
            c.goto(&format!("{base}/console/caches/inv/invalidate"))
                .await
                .unwrap();
            let status = post_from_page(
                c,
                "/console/caches/inv/invalidate",
                "kind=pattern&value=*&action=run&confirm=inv",
            )
            .await;
            assert_eq!(status, 403, "no CSRF token");
            let listed: Value = admin(app.client.get(app.url("/v1/caches/inv/keys")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                listed["keys"].as_array().unwrap().len(),
                5,
                "nothing removed"
            );
        }),
    )
    .await;

    step(
        c,
        "audit",
        Box::pin(async {
            c.goto(&format!("{base}/console/audit?principal=ops&action=flush"))
                .await
                .unwrap();
            let rows = text(c, "#audit").await;
            assert!(
                rows.contains("via=console") && rows.contains("ops"),
                "{rows}"
            );
            screenshot(c, "audit").await;
        }),
    )
    .await;

    let mut old_session = None;
    step(
        c,
        "logout",
        Box::pin(async {
            let cookies = c.get_all_cookies().await.unwrap();
            old_session = cookies
                .iter()
                .find(|k| k.name() == "strata_session")
                .map(|k| format!("strata_session={}", k.value()));
            c.find(Locator::Css("#logout"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            text(c, "#credential").await;
            c.goto(&format!("{base}/console")).await.unwrap();
            assert!(
                c.current_url()
                    .await
                    .unwrap()
                    .path()
                    .ends_with("/console/login")
            );
        }),
    )
    .await;
    // The server ended the session: its old cookie no longer works.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(app.url("/console"))
        .header(
            "cookie",
            old_session.expect("a session cookie before logout"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    step(
        c,
        "reader",
        Box::pin(async {
            c.goto(&format!("{base}/console/login")).await.unwrap();
            fill_and_submit(c, "form", &[("credential", READER)], "button[type=submit]").await;
            assert_eq!(text(c, "#principal").await, "viewer");
            c.goto(&format!("{base}/console/caches/cfg")).await.unwrap();
            text(c, "#entries").await;
            assert!(!has(c, "a[href$='/config']").await, "no configuration link");
            screenshot(c, "cache-reader").await;
            // Reading a configuration is an admin action, as in the API.
            c.goto(&format!("{base}/console/caches/cfg/config"))
                .await
                .unwrap();
            assert!(text(c, ".error").await.contains("lacks the admin role"));
            assert!(!has(c, "#config-form").await, "a reader sees no edit form");
            c.goto(&format!("{base}/console/caches/inv/invalidate"))
                .await
                .unwrap();
            assert!(!has(c, "#invalidate-form").await);
            c.goto(&format!("{base}/console/build-cache"))
                .await
                .unwrap();
            assert!(!has(c, "#flush-form").await);
            let csrf = c
                .find(Locator::Css("input[name=csrf]"))
                .await
                .unwrap()
                .attr("value")
                .await
                .unwrap()
                .unwrap();
            let status = post_from_page(
                c,
                "/console/caches/inv/invalidate",
                &format!("csrf={csrf}&kind=pattern&value=*&action=run&confirm=inv"),
            )
            .await;
            assert_eq!(status, 403, "a reader's forged POST");
            c.find(Locator::Css("#logout"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            text(c, "#credential").await;
        }),
    )
    .await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"ops\"")
            && l.contains("\"invalidate\"")
            && l.contains("console")),
        "the console's invalidation is audited as ops"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_from_a_jwt_ends_with_the_token() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    const SECRET: &str = "console-jwt-secret-0123456789abcdef";
    let mut settings = Settings::load(None).expect("default settings");
    settings.auth = Some(AuthSettings {
        jwt: Some(strata::config::JwtSettings::hs256(SECRET)),
        ..AuthSettings::default()
    });
    let app = spawn_app_with(settings).await;
    let now_secs = strata_domain::Clock::now(app.clock.as_ref()).as_secs();
    let token = encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice", "exp": now_secs + 600, "strata": ["reader:*"]}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/console/login")).send().await.unwrap();
    let pre = session_cookie(&r).unwrap();
    let csrf = hidden(&r.text().await.unwrap(), "csrf").unwrap();
    let r = client
        .post(app.url("/console/login"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[("csrf", &csrf), ("credential", &token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = header(&r, "set-cookie").unwrap();
    let max_age: u64 = set
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{set}"));
    assert!(
        (590..=600).contains(&max_age),
        "the cookie lasts as long as the token, not 8 h: {set}"
    );
    let cookie = session_cookie(&r).unwrap();
    let r = client
        .get(app.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Past the token's exp, the session is over on the server too.
    app.clock.advance(std::time::Duration::from_secs(601));
    let r = client
        .get(app.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location").as_deref(), Some("/console/login"));
}
