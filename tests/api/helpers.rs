//! `spawn_app`: build the real service on a free port and talk to it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Body, Client, IntoUrl, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use strata::config::{ApiKeySettings, GrantSettings, Settings};
use strata_infrastructure::ApiKeyDigest;
use strata_testkit::ManualClock;

/// The `content-type` header of a JSON body.
pub(crate) const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) handle: actix_web::dev::ServerHandle,
    /// The service's wall clock: it stands still until a test advances it.
    pub(crate) clock: Arc<ManualClock>,
    /// `http://127.0.0.1:<grpc port>`, for tonic channels.
    pub(crate) grpc: String,
}

/// Starts the service with the default settings (a `default` cache) plus
/// `extra` caches defined by TOML-equivalent JSON.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(Settings::load(None).expect("default settings load")).await
}

/// Starts the service with `settings`, on a free port, over a
/// [`ManualClock`] that starts at the real time and moves only when the
/// test calls `app.clock.advance(..)`.
pub(crate) async fn spawn_app_with(settings: Settings) -> TestApp {
    spawn_app_from(settings, None).await
}

/// As [`spawn_app_with`], but the client connects from `source` (any
/// address of 127/8 works on Linux, which routes it all to loopback).
pub(crate) async fn spawn_app_from(settings: Settings, source: Option<IpAddr>) -> TestApp {
    spawn_app_built(settings, source, |builder| builder).await
}

/// As [`spawn_app_from`], with `customise` applied to the application's
/// builder (after the test clock is set).
pub(crate) async fn spawn_app_built(
    mut settings: Settings,
    source: Option<IpAddr>,
    customise: impl FnOnce(strata::ApplicationBuilder) -> strata::ApplicationBuilder,
) -> TestApp {
    settings.server.listen = "127.0.0.1:0".into();
    // Never the default 9092: tests run side by side.
    settings.server.grpc_listen = "127.0.0.1:0".into();
    settings.server.workers.get_or_insert(2);
    settings.server.shutdown_timeout_secs = 5;
    let clock = Arc::new(ManualClock::starting_now());
    let app = customise(strata::Application::builder(settings).clock(clock.clone()))
        .build()
        .await
        .expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let grpc = format!(
        "http://127.0.0.1:{}",
        app.grpc_port().expect("the tests' gRPC listener is on")
    );
    let handle = app.handle();
    install_crypto_provider();
    tokio::spawn(app.run());
    TestApp {
        base,
        client: Client::builder()
            .local_address(source)
            .build()
            .expect("client"),
        handle,
        clock,
        grpc,
    }
}

/// Makes ring the process's rustls provider, which reqwest's
/// `rustls-no-provider` needs before any client is built (the server uses
/// ring too). Idempotent.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn entry(&self, cache: &str, key: &str) -> String {
        self.url(&format!("/v1/caches/{cache}/entries/{key}"))
    }

    /// Sends `method` to `url` (a full URL, as [`TestApp::url`] and
    /// [`TestApp::entry`] give) with `headers` and no body.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: impl IntoUrl,
        headers: &[(&str, &str)],
    ) -> Response {
        with_headers(self.client.request(method, url), headers)
            .send()
            .await
            .expect("request sent")
    }

    /// As [`TestApp::send`], with `body`.
    pub(crate) async fn send_body(
        &self,
        method: Method,
        url: impl IntoUrl,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Response {
        with_headers(self.client.request(method, url), headers)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// As [`TestApp::send`], presenting `credential` as a Bearer token.
    pub(crate) async fn send_as(
        &self,
        credential: &str,
        method: Method,
        url: impl IntoUrl,
    ) -> Response {
        bearer(self.client.request(method, url), credential)
            .send()
            .await
            .expect("request sent")
    }

    /// As [`TestApp::send_body`], presenting `credential` as a Bearer token.
    pub(crate) async fn send_body_as(
        &self,
        credential: &str,
        method: Method,
        url: impl IntoUrl,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Response {
        let request = bearer(self.client.request(method, url), credential);
        with_headers(request, headers)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn put(&self, cache: &str, key: &str, body: &'static str) -> Response {
        let text = [("content-type", "text/plain")];
        self.send_body(Method::PUT, self.entry(cache, key), &text, body)
            .await
    }

    pub(crate) async fn get(&self, cache: &str, key: &str) -> Response {
        self.send(Method::GET, self.entry(cache, key), &[]).await
    }

    pub(crate) async fn post_json(&self, path: &str, body: Value) -> Response {
        self.send_body(Method::POST, self.url(path), JSON, body.to_string())
            .await
    }

    pub(crate) async fn put_json(&self, path: &str, body: Value) -> Response {
        self.send_body(Method::PUT, self.url(path), JSON, body.to_string())
            .await
    }

    /// GET `path`, the body as text (e.g. `/metrics`).
    pub(crate) async fn get_text(&self, path: &str) -> String {
        let r = self.send(Method::GET, self.url(path), &[]).await;
        r.text().await.expect("body")
    }

    /// GET `path`, the body as JSON whatever the status.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let r = self.send(Method::GET, self.url(path), &[]).await;
        r.json().await.expect("JSON body")
    }

    /// Creates cache `name` with an admin PUT.
    pub(crate) async fn create_cache(&self, name: &str, config: Value) {
        let r = self
            .put_json(&format!("/admin/v1/caches/{name}"), config)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "creating {name}: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// The value of `response`'s header `name`, when present and text.
pub(crate) fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `request` with every `(name, value)` of `headers` added.
pub(crate) fn with_headers(request: RequestBuilder, headers: &[(&str, &str)]) -> RequestBuilder {
    headers.iter().fold(request, |request, (name, value)| {
        request.header(*name, *value)
    })
}

/// Asserts an RFC 7807 problem response with `status` and `code`; returns the body.
pub(crate) async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:strata:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Polls `check` until it returns true or `deadline` passes.
pub(crate) async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `[auth.api_keys.<id>]` for `secret` (stored as its SHA-256) with
/// `grants` as (cache glob, role) pairs.
pub(crate) fn api_key(secret: &str, grants: &[(&str, &str)]) -> ApiKeySettings {
    ApiKeySettings {
        sha256: ApiKeyDigest::of(secret).to_hex(),
        grants: grants
            .iter()
            .map(|(caches, role)| GrantSettings {
                caches: (*caches).to_owned(),
                role: (*role).to_owned(),
            })
            .collect(),
    }
}

/// `request` with `Authorization: Bearer <credential>` (an API key or a JWT).
pub(crate) fn bearer(request: RequestBuilder, credential: &str) -> RequestBuilder {
    request.header("authorization", format!("Bearer {credential}"))
}

/// Asserts a 401 `unauthorized` problem with the Bearer challenge.
pub(crate) async fn assert_unauthorized(response: Response) {
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some("Bearer realm=\"strata\"")
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// `writer` stores `v` at entry `url` and `reader` reads it back, but
/// `reader`'s own PUT is a 403 `forbidden` problem (both credentials are
/// presented as Bearer tokens: API keys or JWTs).
pub(crate) async fn assert_reader_reads_but_cannot_write(
    app: &TestApp,
    url: &str,
    writer: &str,
    reader: &str,
) {
    let r = app.send_body_as(writer, Method::PUT, url, &[], "v").await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app.send_as(reader, Method::GET, url).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "v");
    let r = app.send_body_as(reader, Method::PUT, url, &[], "w").await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}
