//! `RabbitMqServer`: Debian's `rabbitmq-server` on free loopback ports
//! with a private state directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{Process, START_ATTEMPTS, SpawnError, find_binary, free_port, temp_dir};

/// The broker itself, not the `/usr/sbin` wrapper (which switches to the
/// `rabbitmq` user and the system's state directory).
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// RabbitMQ boots its Erlang VM and every application before it listens:
/// about 5 s on an idle machine, several times that on a busy one.
const RABBITMQ_START_DEADLINE: Duration = Duration::from_secs(120);

/// A `rabbitmq-server` on a free AMQP port (and a free distribution port),
/// its node name, Mnesia database, logs and config in a temporary
/// directory; killed by pid on drop. `epmd` (port 4369) is shared with any
/// other Erlang node on the machine.
#[derive(Debug)]
pub struct RabbitMqServer {
    port: u16,
    dist_port: u16,
    node: String,
    // Dropped before `dir` (field order).
    process: Process,
    dir: TempDir,
}

impl RabbitMqServer {
    /// Starts the broker (no plugins, guest/guest on loopback) and waits
    /// until its AMQP listener accepts connections.
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `rabbitmq-server` is not installed
    /// (Debian package `rabbitmq-server`); [`SpawnError::Failed`] when it
    /// does not come up.
    pub fn spawn() -> Result<Self, SpawnError> {
        find_binary("rabbitmq-server")?;
        if !Path::new(RABBITMQ_SERVER).is_file() {
            return Err(SpawnError::Missing {
                binary: "rabbitmq-server",
            });
        }
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::spawn_once() {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    fn spawn_once() -> Result<Self, SpawnError> {
        let dir = temp_dir("strata-rabbitmq-")?;
        let port = free_port()?;
        let dist_port = free_port()?;
        let node = format!("strata-{}-{port}@localhost", std::process::id());
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .map_err(|e| SpawnError::Failed(e.to_string()))?;
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n")
            .map_err(|e| SpawnError::Failed(e.to_string()))?;
        let process = Self::start(dir.path(), port, dist_port, &node)?;
        Ok(Self {
            port,
            dist_port,
            node,
            process,
            dir,
        })
    }

    fn start(dir: &Path, port: u16, dist_port: u16, node: &str) -> Result<Process, SpawnError> {
        let log = dir.join("rabbitmq-stdout.log");
        let pid_file = dir.join("rabbitmq.pid");
        let _ = std::fs::remove_file(&pid_file);
        let env: Vec<(&str, String)> = vec![
            ("HOME", dir.display().to_string()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_owned()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_NODENAME", node.to_owned()),
            (
                "RABBITMQ_MNESIA_BASE",
                dir.join("mnesia").display().to_string(),
            ),
            ("RABBITMQ_LOG_BASE", dir.join("log").display().to_string()),
            (
                "RABBITMQ_CONFIG_FILE",
                dir.join("rabbitmq.conf").display().to_string(),
            ),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                dir.join("enabled_plugins").display().to_string(),
            ),
            ("RABBITMQ_PID_FILE", pid_file.display().to_string()),
        ];
        let mut process =
            Process::start_with_env(Path::new(RABBITMQ_SERVER), &[], dir, &log, &env)?;
        process.pid_file = Some(pid_file);
        process.wait_until("rabbitmq-server", &log, RABBITMQ_START_DEADLINE, || {
            speaks_amqp(port)
        })?;
        Ok(process)
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Erlang node name (`strata-<pid>-<port>@localhost`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Kills the broker (SIGKILL to the Erlang VM's pid, then its start
    /// script); durable queues survive in its directory, transient
    /// messages do not.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the broker again on the same ports and directory (after
    /// [`stop`](Self::stop)) and waits until it accepts connections.
    ///
    /// # Errors
    /// [`SpawnError::Failed`] when it does not come up.
    pub fn restart(&mut self) -> Result<(), SpawnError> {
        self.process.stop();
        let until = Instant::now() + Duration::from_secs(10);
        // The old VM releases the port as it dies.
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.process = Self::start(self.dir.path(), self.port, self.dist_port, &self.node)?;
        Ok(())
    }
}

/// Whether the listener on `port` answers the AMQP 0-9-1 protocol header
/// with a method frame (`connection.start`): not merely some other
/// process that took the port.
fn speaks_amqp(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut frame = [0u8; 1];
    stream.write_all(b"AMQP\x00\x00\x09\x01").is_ok()
        && stream.read_exact(&mut frame).is_ok()
        && frame[0] == 1
}

/// Kills the process whose pid `pid_file` holds, if any.
pub(super) fn kill_pid_file(pid_file: &PathBuf) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    // `kill` by pid: no libc dependency for one signal.
    let _ = Command::new("kill").args(["-KILL", pid]).status();
    let until = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}
