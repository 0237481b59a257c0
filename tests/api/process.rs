//! The real `strata` binary as a child process, for black-box tests that
//! need its logs, its signals or a crash.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// How long the binary may take to start and to stop.
const DEADLINE: Duration = Duration::from_secs(30);

/// The running binary, its stdout and stderr collected by reader threads.
pub(crate) struct Service {
    /// `None` once [`Service::stop`] took it.
    child: Option<Child>,
    pub(crate) base: String,
    readers: Vec<std::thread::JoinHandle<()>>,
    output: Arc<Mutex<String>>,
}

/// Starts `strata serve --listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0
/// --config <config>` with
/// `env` added; returns once it logged its port. The config must set
/// `[log] format = "json"` (the port is read from the HTTP listener's
/// `listening on ...` event).
pub(crate) async fn start(config: &Path, env: &[(&str, &str)]) -> Service {
    // Callers build reqwest clients next, which need the rustls provider.
    crate::helpers::install_crypto_provider();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        // gRPC on a free port too: never the default 9092, which tests
        // running side by side would fight over.
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(config)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strata starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (port_tx, port_rx) = tokio::sync::oneshot::channel::<u16>();
    let stdout = child.stdout.take().expect("stdout");
    let log = output.clone();
    let stdout_reader = std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["listener"] == "http"
                && let Some(port) = event["port"].as_u64().and_then(|p| u16::try_from(p).ok())
                && let Some(tx) = port_tx.take()
            {
                let _ = tx.send(port);
            }
            let mut log = log.lock().expect("log lock");
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let log = output.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        log.lock().expect("log lock").push_str(&text);
    });
    let port = match tokio::time::timeout(DEADLINE, port_rx).await {
        Ok(Ok(port)) => port,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = stdout_reader.join();
            let _ = stderr_reader.join();
            panic!(
                "strata did not log its port:\n{}",
                output.lock().expect("log lock")
            );
        }
    };
    Service {
        child: Some(child),
        base: format!("http://127.0.0.1:{port}"),
        readers: vec![stdout_reader, stderr_reader],
        output,
    }
}

impl Service {
    /// The process id (tests that kill it from another process).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `http://127.0.0.1:<port>` of the gRPC listener, from its
    /// `listening on ...` event (waited for, up to the start deadline).
    pub(crate) async fn grpc_base(&self) -> String {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let port = self
                .output
                .lock()
                .expect("log lock")
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|event| event["listener"] == "grpc")
                .and_then(|event| event["port"].as_u64());
            if let Some(port) = port {
                return format!("http://127.0.0.1:{port}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no gRPC listener logged"
            );
            tokio::task::yield_now().await;
        }
    }

    /// SIGKILL: the process dies at once, as in a crash or an OOM kill;
    /// returns everything it logged.
    pub(crate) fn kill(mut self) -> String {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        for reader in self.readers.drain(..) {
            reader.join().expect("reader thread");
        }
        self.output.lock().expect("log lock").clone()
    }

    /// Reaps a process that was killed from outside (e.g. by a task's
    /// `kill -9`); returns everything it logged.
    pub(crate) fn kill_reaped(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        child.wait().expect("wait");
        for reader in self.readers.drain(..) {
            reader.join().expect("reader thread");
        }
        self.output.lock().expect("log lock").clone()
    }

    /// SIGTERM, then waits for a clean exit; returns everything it logged.
    pub(crate) async fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
        let waited = tokio::time::timeout(
            DEADLINE,
            tokio::task::spawn_blocking(move || {
                let status = child.wait();
                (child, status)
            }),
        )
        .await;
        let exit = match waited {
            Ok(Ok((_, status))) => status.expect("wait"),
            _ => panic!("strata did not stop within {DEADLINE:?} of SIGTERM"),
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("reader thread");
        }
        let output = self.output.lock().expect("log lock").clone();
        assert!(exit.success(), "strata exited with {exit}:\n{output}");
        output
    }
}

/// A test that fails before [`Service::stop`] does not leave the
/// process running.
impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
