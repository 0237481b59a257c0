//! Protected mode: without API keys, only peers in `auth.trusted_networks`
//! may act, and a non-loopback listen address needs `auth.mode = "off"`.
//! The server listens on 127.0.0.1 and trusts only `127.0.0.1/32`; the
//! client connects from 127.0.0.2 to be "outside".

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use strata::config::{AuthMode, AuthSettings, Settings};

use crate::helpers::{TestApp, api_key, assert_problem, spawn_app_from};

const INSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const KEY: &str = "protected-key-0123456789";

fn settings(mode: AuthMode, with_key: bool) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings {
        trusted_networks: vec!["127.0.0.1/32".to_owned()],
        mode,
        ..AuthSettings::default()
    };
    if with_key {
        auth.api_keys
            .insert("ops".into(), api_key(KEY, &[("*", "admin")]));
    }
    settings.auth = Some(auth);
    settings
}

async fn spawn(mode: AuthMode, with_key: bool, source: IpAddr) -> TestApp {
    spawn_app_from(settings(mode, with_key), Some(source)).await
}

#[tokio::test]
async fn an_untrusted_peer_gets_403_protected_mode_but_health_stays_open() {
    let app = spawn(AuthMode::On, false, OUTSIDE).await;
    let body = assert_problem(
        app.get("default", "k").await,
        StatusCode::FORBIDDEN,
        "protected_mode",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or_default();
    for hint in ["[auth.api_keys]", "auth.trusted_networks", "auth.mode"] {
        assert!(detail.contains(hint), "{detail}");
    }
    assert_problem(
        app.put("default", "k", "v").await,
        StatusCode::FORBIDDEN,
        "protected_mode",
    )
    .await;
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("GET sent");
    assert_eq!(live.status(), StatusCode::OK);
    app.handle.stop(true).await;
}

#[tokio::test]
async fn a_trusted_peer_acts_as_today() {
    let app = spawn(AuthMode::On, false, INSIDE).await;
    assert_eq!(
        app.put("default", "k", "v").await.status(),
        StatusCode::CREATED
    );
    let got = app.get("default", "k").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.text().await.expect("body"), "v");
    app.handle.stop(true).await;
}

#[tokio::test]
async fn mode_off_lets_an_untrusted_peer_act() {
    let app = spawn(AuthMode::Off, false, OUTSIDE).await;
    assert_eq!(
        app.put("default", "k", "v").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("default", "k").await.status(), StatusCode::OK);
    app.handle.stop(true).await;
}

#[tokio::test]
async fn with_api_keys_authentication_applies_instead() {
    let app = spawn(AuthMode::On, true, OUTSIDE).await;
    let with_key = app
        .client
        .put(app.entry("default", "k"))
        .header("content-type", "text/plain")
        .header("authorization", format!("Bearer {KEY}"))
        .body("v")
        .send()
        .await
        .expect("PUT sent");
    assert_eq!(with_key.status(), StatusCode::CREATED);
    assert_problem(
        app.get("default", "k").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.handle.stop(true).await;
}

fn public(mode: AuthMode) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.listen = "0.0.0.0:0".into();
    settings.server.grpc_listen = String::new();
    settings.server.workers = Some(1);
    settings.server.shutdown_timeout_secs = 5;
    settings.auth = Some(AuthSettings {
        mode,
        ..AuthSettings::default()
    });
    settings
}

#[tokio::test]
async fn a_public_listen_address_without_keys_needs_mode_off() {
    let Err(err) = strata::Application::build(public(AuthMode::On)).await else {
        panic!("0.0.0.0 without API keys and auth.mode = on must not build");
    };
    let msg = format!("{err:#}");
    assert!(msg.contains("auth.mode"), "{msg}");
    assert!(msg.contains("[auth.api_keys]"), "{msg}");

    let mut default_auth = public(AuthMode::On);
    default_auth.auth = None;
    assert!(
        strata::Application::build(default_auth).await.is_err(),
        "no [auth] section counts as auth.mode = on"
    );

    let app = strata::Application::build(public(AuthMode::Off))
        .await
        .expect("auth.mode = off builds on 0.0.0.0");
    let handle = app.handle();
    let running = tokio::spawn(app.run());
    handle.stop(true).await;
    running.await.expect("server task").expect("server stops");
}
