//! [`ChromeDriver`]: Debian's `chromedriver` on a free loopback port,
//! driving Debian's `chromium`, for the console's browser tests.

use std::path::PathBuf;

use tempfile::TempDir;

use super::{
    Process, START_ATTEMPTS, START_DEADLINE, SpawnError, exchange, find_binary, free_port, temp_dir,
};

/// `chromedriver --port=<free>` (killed on drop), and the `chromium`
/// binary it should start.
#[derive(Debug)]
pub struct ChromeDriver {
    port: u16,
    chromium: PathBuf,
    _process: Process,
    dir: TempDir,
}

impl ChromeDriver {
    /// Starts `chromedriver` and waits until `/status` answers.
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `chromedriver` or `chromium` is not on
    /// `PATH`; [`SpawnError::Failed`] when the driver does not come up.
    pub fn spawn() -> Result<Self, SpawnError> {
        let binary = find_binary("chromedriver")?;
        let chromium = find_binary("chromium")?;
        let dir = temp_dir("strata-chromedriver-")?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let log = dir.path().join(format!("chromedriver-{port}.log"));
            let args = vec![format!("--port={port}")];
            let attempt = Process::start(&binary, &args, dir.path(), &log).and_then(|mut p| {
                p.wait_until("chromedriver", &log, START_DEADLINE, || {
                    exchange(
                        port,
                        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    )
                    .is_some_and(|r| r.starts_with("HTTP/1.") && r.contains("200"))
                })?;
                Ok(p)
            });
            match attempt {
                Ok(process) => {
                    return Ok(Self {
                        port,
                        chromium,
                        _process: process,
                        dir,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    /// The WebDriver endpoint, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `chromium` binary to name in the session's capabilities.
    pub fn chromium(&self) -> &std::path::Path {
        &self.chromium
    }

    /// A fresh directory under this driver's temp dir, for a browser's
    /// `--user-data-dir`.
    ///
    /// # Errors
    /// [`SpawnError::Failed`] when it cannot be created.
    pub fn profile_dir(&self, name: &str) -> Result<PathBuf, SpawnError> {
        let path = self.dir.path().join(format!("profile-{name}"));
        std::fs::create_dir_all(&path)
            .map_err(|e| SpawnError::Failed(format!("cannot create {}: {e}", path.display())))?;
        Ok(path)
    }
}
