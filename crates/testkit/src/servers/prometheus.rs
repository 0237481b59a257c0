//! `PrometheusServer`: Debian's `prometheus` on a free loopback port,
//! scraping one target every second, with its TSDB in a temporary
//! directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::{Process, START_ATTEMPTS, SpawnError, exchange, find_binary, free_port, temp_dir};

/// Prometheus replays its (empty) write-ahead log and opens its TSDB
/// before it is ready: about a second idle, longer on a busy machine.
const PROMETHEUS_START_DEADLINE: Duration = Duration::from_secs(60);

/// A `prometheus` server on a free loopback port that scrapes one target
/// under the job name it was given, every second, and evaluates its rule
/// files every second; killed by pid on drop.
#[derive(Debug)]
pub struct PrometheusServer {
    port: u16,
    // Dropped before `dir` (field order): the process first.
    process: Process,
    dir: TempDir,
}

impl PrometheusServer {
    /// Starts `prometheus` scraping `http://<target>/metrics` as job `job`
    /// (`scrape_interval: 1s`), loading `rule_files` (absolute paths), and
    /// waits until it answers `GET /-/ready` with 200.
    ///
    /// ```no_run
    /// # use std::path::PathBuf;
    /// let prometheus = strata_testkit::PrometheusServer::spawn(
    ///     "strata",
    ///     "127.0.0.1:8080",
    ///     &[PathBuf::from("/abs/deploy/prometheus/alerts.yml")],
    /// );
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `prometheus` is not on `PATH` (Debian
    /// package `prometheus`); [`SpawnError::Failed`] when it does not come
    /// up, e.g. because a rule file does not load.
    pub fn spawn(job: &str, target: &str, rule_files: &[PathBuf]) -> Result<Self, SpawnError> {
        let binary = find_binary("prometheus")?;
        let dir = temp_dir("strata-prometheus-")?;
        let rules: String = rule_files
            .iter()
            .map(|p| format!("  - {:?}\n", p.display().to_string()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{rules}\
             scrape_configs:\n  - job_name: {job:?}\n    static_configs:\n      - targets: [{target:?}]\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config)
            .map_err(|e| SpawnError::Failed(e.to_string()))?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::start(&binary, dir.path(), port) {
                Ok(process) => return Ok(Self { port, process, dir }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    fn start(binary: &Path, dir: &Path, port: u16) -> Result<Process, SpawnError> {
        let log = dir.join(format!("prometheus-{port}.log"));
        let args: Vec<String> = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let mut process = Process::start(binary, &args, dir, &log)?;
        process.wait_until("prometheus", &log, PROMETHEUS_START_DEADLINE, || {
            exchange(port, "GET /-/ready HTTP/1.0\r\n\r\n")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        })?;
        Ok(process)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, the base of its HTTP API
    /// (`/api/v1/query`, `/api/v1/rules`, ...).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL to its pid).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// What the server logged so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("prometheus-{}.log", self.port)),
        )
        .unwrap_or_default()
    }
}
