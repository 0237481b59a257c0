//! `MotoServer`: moto's S3-compatible server (`moto_server` from PyPI's
//! `moto[server]`) on a free loopback port, for the build cache's
//! object-store tier. It keeps everything in memory and accepts any
//! access key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::{Process, START_ATTEMPTS, SpawnError, exchange, find_binary, free_port, temp_dir};

/// moto imports its whole AWS model before it listens: a few seconds on
/// a busy machine.
const MOTO_START_DEADLINE: Duration = Duration::from_secs(60);

/// A `moto_server` on a free loopback port, killed by pid on drop.
#[derive(Debug)]
pub struct MotoServer {
    binary: PathBuf,
    port: u16,
    // Dropped before `dir` (field order): the process first.
    process: Process,
    dir: TempDir,
}

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p <port>` and waits until it
    /// answers HTTP.
    ///
    /// ```no_run
    /// let Some(moto) = strata_testkit::require(strata_testkit::MotoServer::spawn()) else {
    ///     return;
    /// };
    /// moto.create_bucket("build-cache").unwrap();
    /// println!("{}", moto.endpoint());
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `moto_server` is not on `PATH`
    /// (`pip install 'moto[server]'`); [`SpawnError::Failed`] when it does
    /// not come up.
    pub fn spawn() -> Result<Self, SpawnError> {
        let binary = find_binary("moto_server")?;
        let dir = temp_dir("strata-moto-")?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::start(&binary, port, dir.path()) {
                Ok(process) => {
                    return Ok(Self {
                        binary,
                        port,
                        process,
                        dir,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    fn start(binary: &Path, port: u16, dir: &Path) -> Result<Process, SpawnError> {
        let log = dir.join(format!("moto-{port}.log"));
        let args: Vec<String> = vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        let mut process = Process::start(binary, &args, dir, &log)?;
        process.wait_until("moto_server", &log, MOTO_START_DEADLINE, || {
            exchange(port, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_some_and(|r| r.starts_with("HTTP/1."))
        })?;
        Ok(process)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (at least 3 characters) with an unsigned
    /// path-style `PUT /<bucket>`, which moto accepts.
    ///
    /// # Errors
    /// A message with moto's answer when it is not a 200.
    pub fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        let reply = exchange(
            self.port,
            &format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            ),
        )
        .ok_or("moto did not answer")?;
        if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(reply)
        }
    }

    /// Kills the server (SIGKILL to its pid); its data is gone.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts a fresh (empty) server on the same port after [`stop`](Self::stop).
    ///
    /// # Errors
    /// [`SpawnError::Failed`] when it does not come up.
    pub fn restart(&mut self) -> Result<(), SpawnError> {
        self.process.stop();
        self.process = Self::start(&self.binary, self.port, self.dir.path())?;
        Ok(())
    }
}
