//! The command line around the service (issue 26, items 18-22): what
//! `strata serve` says at start, `strata config check`, `strata status`
//! and `GET /admin/v1/status`, shell completions, and `strata keys
//! generate`'s split of stdout and stderr. Every test runs the one binary
//! cargo built for the tests (`CARGO_BIN_EXE_strata`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata::config::{AuthSettings, Settings};

use crate::helpers::{api_key, assert_unauthorized, bearer, spawn_app, spawn_app_with};

/// `strata <args>` in `dir`, without backtraces (so two runs' stderr can
/// be compared), with `env` added.
fn strata(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("STRATA_CONFIG")
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("strata runs")
}

/// As [`strata`], off the test's runtime (the server under test runs on it).
async fn strata_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        strata(&std::env::temp_dir(), &args, &env)
    })
    .await
    .expect("strata thread")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

#[tokio::test]
async fn start_names_the_configuration_and_each_listener_and_audits_no_config_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "[log]\nformat = \"json\"\n[caches.sessions]\nmax_entries = 100\n",
    )
    .unwrap();
    let service = crate::process::start(&config, &[]).await;
    let base = service.base.clone();
    let live = reqwest::get(format!("{base}/health/live")).await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let log = service.stop().await;
    let events = json_lines(&log);

    let http = events
        .iter()
        .find(|e| e["listener"] == "http")
        .unwrap_or_else(|| panic!("no HTTP listener line:\n{log}"));
    assert_eq!(http["url"], base.as_str(), "{log}");
    assert_eq!(
        http["message"],
        format!("listening on {base} (HTTP)"),
        "{log}"
    );
    let grpc = events
        .iter()
        .find(|e| e["listener"] == "grpc")
        .unwrap_or_else(|| panic!("no gRPC listener line:\n{log}"));
    let grpc_url = grpc["url"].as_str().unwrap();
    assert!(grpc_url.starts_with("grpc://127.0.0.1:"), "{log}");
    assert!(
        !grpc_url.ends_with(":0") && !grpc_url.ends_with(":9092"),
        "the bound port, not the configured one: {log}"
    );
    assert_eq!(grpc["message"], format!("listening on {grpc_url} (gRPC)"));

    let file = std::path::absolute(&config).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["message"] == format!("configuration file {}", file.display())),
        "{log}"
    );
    // Caches from the file are configured, but nobody acted: no audit
    // record naming an anonymous principal, and no configuration dump.
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "cache configured" && e["cause"] == "startup"),
        "{log}"
    );
    assert!(!log.contains("admin action"), "{log}");
    assert!(!log.contains("strata::audit"), "{log}");
    assert!(!log.contains("CacheConfiguration {"), "{log}");
    // No backend, so no coherence bus.
    assert!(!log.contains("coherence on"), "{log}");
}

/// Runs `strata serve` with no `--config` in `dir` (JSON logs from the
/// environment) until it names its HTTP listener; returns its log so far.
fn serve_without_config(dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--listen", "127.0.0.1:0", "--grpc-listen", ""])
        .current_dir(dir)
        .env_remove("STRATA_CONFIG")
        .env("STRATA__LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strata starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("\"listener\":\"http\"") {
                break;
            }
        }
        let _ = tx.send(log);
    });
    let log = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    log.expect("strata logged its listener")
}

#[test]
fn a_strata_toml_in_the_working_directory_is_named_as_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve_without_config(dir.path());
    assert!(log.contains("no configuration file read"), "{log}");
    assert!(!log.contains("was not read"), "{log}");

    std::fs::write(dir.path().join("strata.toml"), "[server]\n").unwrap();
    let log = serve_without_config(dir.path());
    let warning = json_lines(&log)
        .into_iter()
        .find(|e| e["level"] == "WARN")
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains("strata.toml was not read"), "{message}");
    assert!(message.contains("--config strata.toml"), "{message}");
}

#[test]
fn config_check_accepts_the_example_and_reads_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("strata.example.toml");
    let out = strata(
        dir.path(),
        &["config", "check", "--config", example.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": ok ("),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn config_check_fails_with_start_ups_message_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.toml"),
        "[server]\nlisten_typo = \"x\"\n",
    )
    .unwrap();
    let check = strata(
        dir.path(),
        &["config", "check", "--config", "typo.toml"],
        &[],
    );
    assert!(!check.status.success());
    let message = text(&check.stderr);
    assert!(
        message.starts_with("Error: unknown setting [server] listen_typo in /"),
        "{message}"
    );
    assert!(
        message.contains("/typo.toml; expected one of: listen, grpc_listen, "),
        "{message}"
    );
    assert!(!message.contains("default."), "{message}");
    assert!(!message.contains('`'), "{message}");
    let serve = strata(
        dir.path(),
        &["serve", "--config", "typo.toml", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(!serve.status.success());
    assert_eq!(text(&serve.stderr), message);

    // From the environment, the variable is named.
    let env = strata(
        dir.path(),
        &["config", "check"],
        &[("STRATA__SERVER__LISTEN_TYPO", "1")],
    );
    assert!(!env.status.success());
    assert!(
        text(&env.stderr)
            .starts_with("Error: unknown setting STRATA__SERVER__LISTEN_TYPO (environment)"),
        "{}",
        text(&env.stderr)
    );
}

#[test]
fn config_check_runs_start_ups_checks_beyond_parsing_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    // Parses, but names a tier no backend provides, and a public address
    // without credentials: start-up refuses both.
    std::fs::write(
        dir.path().join("tier.toml"),
        "[caches.shared]\ntiers = [\"memory\", \"nowhere\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("public.toml"),
        "[server]\nlisten = \"0.0.0.0:0\"\ngrpc_listen = \"\"\n",
    )
    .unwrap();
    for (file, expected) in [("tier.toml", "[caches.shared]"), ("public.toml", "0.0.0.0")] {
        let check = strata(dir.path(), &["config", "check", "--config", file], &[]);
        assert!(!check.status.success(), "{file}");
        let message = text(&check.stderr);
        assert!(message.contains(expected), "{file}: {message}");
        let serve = strata(dir.path(), &["serve", "--config", file], &[]);
        assert!(!serve.status.success(), "{file}");
        assert_eq!(
            text(&serve.stderr).lines().last(),
            message.lines().last(),
            "{file}"
        );
    }
}

#[tokio::test]
async fn status_reports_version_listeners_and_caches_with_hit_ratios() {
    let app = spawn_app().await;
    app.create_cache("sessions", json!({})).await;
    assert_eq!(
        app.put("sessions", "k", "v").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("sessions", "k").await.status(), StatusCode::OK);
    assert_eq!(app.get("sessions", "k").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("sessions", "gone").await.status(),
        StatusCode::NOT_FOUND
    );

    let body = app.get_json("/admin/v1/status").await;
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["listeners"][0]["protocol"], "http", "{body}");
    assert_eq!(body["listeners"][0]["url"], app.base.as_str(), "{body}");
    assert_eq!(body["listeners"][1]["protocol"], "grpc", "{body}");
    let sessions = body["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sessions")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(sessions["hits"], 2, "{body}");
    assert_eq!(sessions["misses"], 1, "{body}");

    let out = strata_async(
        vec!["status".into(), "--url".into(), app.base.clone()],
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.starts_with(&format!("strata {} (ready)\n", env!("CARGO_PKG_VERSION"))),
        "{table}"
    );
    assert!(
        table.contains(&format!("http      {}\n", app.base)),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("sessions "))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..], ["1", "2", "1", "66.7%"], "{table}");
}

#[tokio::test]
async fn status_needs_the_reader_role_on_every_cache() {
    const EVERY: &str = "every-cache-reader-0123";
    const ONE: &str = "one-cache-reader-0123";
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("monitor".into(), api_key(EVERY, &[("*", "reader")]));
    auth.api_keys
        .insert("narrow".into(), api_key(ONE, &[("default", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let url = app.url("/admin/v1/status");

    assert_unauthorized(app.client.get(&url).send().await.unwrap()).await;
    let narrow = bearer(app.client.get(&url), ONE).send().await.unwrap();
    crate::helpers::assert_problem(narrow, StatusCode::FORBIDDEN, "forbidden").await;
    let every = bearer(app.client.get(&url), EVERY).send().await.unwrap();
    assert_eq!(every.status(), StatusCode::OK);

    let refused = strata_async(
        vec!["status".into(), "--url".into(), app.base.clone()],
        vec![],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("401"),
        "{}",
        text(&refused.stderr)
    );
    let allowed = strata_async(
        vec!["status".into(), "--url".into(), app.base.clone()],
        vec![("STRATA_API_KEY".into(), EVERY.into())],
    )
    .await;
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert!(
        text(&allowed.stdout).contains("default"),
        "{}",
        text(&allowed.stdout)
    );
}

#[test]
fn completions_are_written_for_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _strata"),
        ("zsh", "#compdef strata"),
        ("fish", "complete -c strata"),
    ] {
        let out = strata(dir.path(), &["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // The subcommands added here are completed too.
        for command in ["serve", "status", "config", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    assert!(
        !strata(dir.path(), &["completions", "tcsh"], &[])
            .status
            .success()
    );
}

#[test]
fn keys_generate_prints_only_the_key_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["keys", "generate", "--id", "ci-bot"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key = stdout.strip_suffix('\n').expect("one line");
    assert_eq!(key.len(), 43, "{stdout:?}");
    assert!(!key.contains(char::is_whitespace), "{stdout:?}");
    let stderr = text(&out.stderr);
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    assert!(stderr.contains("[auth.api_keys.ci-bot]"), "{stderr}");
    assert!(
        stderr.contains(&format!("sha256 = \"{digest}\"")),
        "{stderr}"
    );
    assert!(!stderr.contains(key), "the key goes to stdout only");
}

/// A SIGTERM right after the `listening on` lines, before any request,
/// stops the server cleanly: the signals are registered when the
/// application is built, not when actix first polls its server (before,
/// the gRPC watcher took the signal and HTTP kept running).
#[tokio::test]
async fn a_sigterm_right_after_start_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    for _ in 0..3 {
        let service = crate::process::start(&config, &[]).await;
        let log = service.stop().await;
        assert!(log.contains("strata stopped"), "{log}");
    }
}

/// A backend kind the binary did not register is refused by `config
/// check`, naming the table, the file and the kinds it knows; a stock
/// kind's table is checked as before.
#[test]
fn config_check_refuses_an_unregistered_backend_kind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        "[backends.disk]\nkind = \"sqlite\"\npath = \"x.db\"\n",
    )
    .unwrap();
    let check = strata(
        dir.path(),
        &["config", "check", "--config", "plugin.toml"],
        &[],
    );
    assert!(!check.status.success());
    let message = text(&check.stderr);
    assert!(
        message.contains("[backends.disk] kind in ")
            && message.contains("plugin.toml")
            && message.contains("\"sqlite\"")
            && message.contains("memcached, redis, redis-cluster"),
        "{message}"
    );
    std::fs::write(
        dir.path().join("stock.toml"),
        "[backends.main]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nurls = []\n",
    )
    .unwrap();
    let check = strata(
        dir.path(),
        &["config", "check", "--config", "stock.toml"],
        &[],
    );
    assert!(!check.status.success());
    let message = text(&check.stderr);
    assert!(
        message.contains("urls") && message.contains("backends"),
        "{message}"
    );
}
