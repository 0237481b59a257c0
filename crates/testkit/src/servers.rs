//! Spawners for real `redis-server`, Redis Cluster, `memcached`,
//! RabbitMQ and Prometheus processes on ephemeral loopback ports.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod chromedriver;
mod moto;
mod prometheus;
mod rabbitmq;
pub use chromedriver::ChromeDriver;
pub use moto::MotoServer;
pub use prometheus::PrometheusServer;
pub use rabbitmq::RabbitMqServer;

/// How long a server may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long a cluster may take to report `cluster_state:ok` everywhere.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);
/// Attempts with fresh ports when a server dies at start (port races).
const START_ATTEMPTS: usize = 3;
/// Environment variable that turns a missing server binary into a panic.
pub const REQUIRE_SERVERS_ENV: &str = "STRATA_REQUIRE_SERVERS";

/// Why a server could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The binary is not installed: the test should be skipped (see
    /// [`require`]).
    Missing {
        /// The binary looked for, e.g. `redis-server`.
        binary: &'static str,
    },
    /// The binary is there but the server did not come up.
    Failed(String),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { binary } => write!(f, "{binary} is not installed"),
            Self::Failed(why) => write!(f, "server failed to start: {why}"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Turns a spawn result into `Some(server)`, or `None` to skip the test
/// when the binary is missing, after printing a loud notice to stderr.
///
/// # Panics
/// When the server failed to start although its binary exists, and when
/// the binary is missing while `STRATA_REQUIRE_SERVERS=1`.
///
/// ```no_run
/// # async fn demo() {
/// let Some(redis) = strata_testkit::require(strata_testkit::RedisServer::spawn()) else {
///     return;
/// };
/// println!("{}", redis.url());
/// # }
/// ```
pub fn require<T>(spawned: Result<T, SpawnError>) -> Option<T> {
    match spawned {
        Ok(server) => Some(server),
        Err(SpawnError::Missing { binary }) => {
            if std::env::var(REQUIRE_SERVERS_ENV).is_ok_and(|v| v == "1") {
                panic!(
                    "{binary} is not installed but {REQUIRE_SERVERS_ENV}=1 requires it \
                     (apt-get install redis-server redis-tools memcached ccache rabbitmq-server prometheus; pip install 'moto[server]')"
                );
            }
            // Written to the process's stderr directly: the test harness
            // captures `eprintln!` of passing tests, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED: {binary} is not installed; this test did NOT run. \
                 Set {REQUIRE_SERVERS_ENV}=1 to make this a failure. !!!!!\n"
            );
            None
        }
        Err(e @ SpawnError::Failed(_)) => panic!("{e}"),
    }
}

/// The path of a client program a test drives (e.g. `ccache`), found on
/// `PATH`; pass the result to [`require`] to skip, or under
/// `STRATA_REQUIRE_SERVERS=1` fail, when it is not installed.
///
/// # Errors
/// [`SpawnError::Missing`] when no file of that name is on `PATH`.
pub fn find_client(name: &'static str) -> Result<PathBuf, SpawnError> {
    find_binary(name)
}

fn find_binary(name: &'static str) -> Result<PathBuf, SpawnError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(SpawnError::Missing { binary: name })
}

/// A free loopback port: bind port 0, read it, release it.
fn free_port() -> Result<u16, SpawnError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| SpawnError::Failed(format!("cannot bind a loopback port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| SpawnError::Failed(e.to_string()))
}

fn temp_dir(prefix: &str) -> Result<TempDir, SpawnError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| SpawnError::Failed(format!("cannot create a temp dir: {e}")))
}

/// Sends one inline command and returns what arrives within a short read.
fn exchange(port: u16, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut buf = vec![0u8; 8192];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A started process, killed by pid on drop (and the process whose pid
/// `pid_file` names, for servers whose start script forks the server).
#[derive(Debug)]
struct Process {
    child: Option<Child>,
    pid_file: Option<PathBuf>,
}

impl Process {
    fn start(binary: &Path, args: &[String], dir: &Path, log: &Path) -> Result<Self, SpawnError> {
        Self::start_with_env(binary, args, dir, log, &[])
    }

    fn start_with_env(
        binary: &Path,
        args: &[String],
        dir: &Path,
        log: &Path,
        env: &[(&str, String)],
    ) -> Result<Self, SpawnError> {
        let out = File::create(log).map_err(|e| SpawnError::Failed(e.to_string()))?;
        let err = out
            .try_clone()
            .map_err(|e| SpawnError::Failed(e.to_string()))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| SpawnError::Failed(format!("cannot start {}: {e}", binary.display())))?;
        Ok(Self {
            child: Some(child),
            pid_file: None,
        })
    }

    /// Polls `ready` until it holds, the process exits, or the deadline.
    fn wait_until(
        &mut self,
        what: &str,
        log: &Path,
        deadline: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), SpawnError> {
        let until = Instant::now() + deadline;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(SpawnError::Failed(format!(
                    "{what} exited with {status}; log:\n{}",
                    tail(log)
                )));
            }
            if Instant::now() >= until {
                return Err(SpawnError::Failed(format!(
                    "{what} did not answer within {deadline:?}; log:\n{}",
                    tail(log)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(pid_file) = self.pid_file.take() {
            rabbitmq::kill_pid_file(&pid_file);
        }
        if let Some(mut child) = self.child.take() {
            // `Child::kill` signals this child's pid only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_args(port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn redis_ping(port: u16) -> bool {
    exchange(port, "PING\r\n").is_some_and(|r| r.starts_with("+PONG"))
}

/// A `redis-server` on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    // Dropped before `dir` (field order): the process first.
    process: Process,
    dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` (no persistence) and waits until it answers
    /// `PING`.
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `redis-server` is not on `PATH`;
    /// [`SpawnError::Failed`] when it does not come up.
    pub fn spawn() -> Result<Self, SpawnError> {
        let binary = find_binary("redis-server")?;
        let dir = temp_dir("strata-redis-")?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::start(&binary, port, dir.path()) {
                Ok(process) => {
                    return Ok(Self {
                        binary,
                        port,
                        dir,
                        process,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    fn start(binary: &Path, port: u16, dir: &Path) -> Result<Process, SpawnError> {
        let log = dir.join(format!("redis-{port}.log"));
        let mut process = Process::start(binary, &redis_args(port, &[]), dir, &log)?;
        process.wait_until("redis-server", &log, START_DEADLINE, || redis_ping(port))?;
        Ok(process)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL to its pid); its data is lost.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop))
    /// and waits until it answers.
    ///
    /// # Errors
    /// [`SpawnError::Failed`] when it does not come up, e.g. because
    /// another process took the port meanwhile.
    pub fn restart(&mut self) -> Result<(), SpawnError> {
        self.process.stop();
        self.process = Self::start(&self.binary, self.port, self.dir.path())?;
        Ok(())
    }
}

/// A Redis Cluster of masters (no replicas) on free loopback ports, each
/// node in its own temporary directory; killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    // Dropped after the processes (field order): nodes first.
    nodes: Vec<Process>,
    _dirs: Vec<TempDir>,
}

impl RedisCluster {
    /// Starts `masters` cluster-enabled `redis-server`s, joins them with
    /// `redis-cli --cluster create` and waits until every node reports
    /// `cluster_state:ok`.
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `redis-server` or `redis-cli` is not on
    /// `PATH`; [`SpawnError::Failed`] when the cluster does not form.
    pub fn spawn(masters: usize) -> Result<Self, SpawnError> {
        let server = find_binary("redis-server")?;
        let cli = find_binary("redis-cli")?;
        let mut ports = Vec::new();
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..masters {
            let dir = temp_dir("strata-redis-cluster-")?;
            let mut started = None;
            for _ in 0..START_ATTEMPTS {
                let port = free_port()?;
                let log = dir.path().join(format!("redis-{port}.log"));
                let conf = format!("nodes-{port}.conf");
                let args = redis_args(
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf,
                        "--cluster-node-timeout",
                        "5000",
                    ],
                );
                let attempt = Process::start(&server, &args, dir.path(), &log).and_then(|mut p| {
                    p.wait_until("redis-server (cluster)", &log, START_DEADLINE, || {
                        redis_ping(port)
                    })?;
                    Ok(p)
                });
                match attempt {
                    Ok(p) => {
                        started = Some((port, p));
                        break;
                    }
                    Err(e) => eprintln!("retrying cluster node on another port: {e}"),
                }
            }
            let (port, process) = started.ok_or_else(|| {
                SpawnError::Failed("a cluster node did not start on any port".into())
            })?;
            ports.push(port);
            nodes.push(process);
            dirs.push(dir);
        }
        let mut create = Command::new(cli);
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| SpawnError::Failed(format!("cannot run redis-cli: {e}")))?;
        if !output.status.success() {
            return Err(SpawnError::Failed(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let cluster = Self {
            ports,
            nodes,
            _dirs: dirs,
        };
        cluster.wait_ok()?;
        Ok(cluster)
    }

    fn wait_ok(&self) -> Result<(), SpawnError> {
        let until = Instant::now() + CLUSTER_DEADLINE;
        loop {
            let ok = self.ports.iter().all(|p| {
                exchange(*p, "CLUSTER INFO\r\n").is_some_and(|r| r.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(SpawnError::Failed(format!(
                    "cluster not ok within {CLUSTER_DEADLINE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// One `redis://127.0.0.1:<port>/` URL per node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// How many nodes are running.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// A `memcached` on a free loopback port (TCP only), killed on drop.
#[derive(Debug)]
pub struct MemcachedServer {
    port: u16,
    process: Process,
    _dir: TempDir,
}

impl MemcachedServer {
    /// Starts `memcached` (64 MiB, default 1 MiB item limit) and waits until
    /// it answers `version`.
    ///
    /// # Errors
    /// [`SpawnError::Missing`] when `memcached` is not on `PATH`;
    /// [`SpawnError::Failed`] when it does not come up.
    pub fn spawn() -> Result<Self, SpawnError> {
        let binary = find_binary("memcached")?;
        let dir = temp_dir("strata-memcached-")?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let log = dir.path().join(format!("memcached-{port}.log"));
            let mut args: Vec<String> = ["-p", &port.to_string(), "-U", "0", "-l", "127.0.0.1"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            args.extend(["-m".to_owned(), "64".to_owned()]);
            // memcached refuses to run as root without an explicit user.
            if is_root() {
                args.extend(["-u".to_owned(), "root".to_owned()]);
            }
            let attempt = Process::start(&binary, &args, dir.path(), &log).and_then(|mut p| {
                p.wait_until("memcached", &log, START_DEADLINE, || {
                    exchange(port, "version\r\n").is_some_and(|r| r.starts_with("VERSION"))
                })?;
                Ok(p)
            });
            match attempt {
                Ok(process) => {
                    return Ok(Self {
                        port,
                        process,
                        _dir: dir,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SpawnError::Failed("no attempt made".into())))
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `memcache://127.0.0.1:<port>` (the `memcache` crate's scheme).
    pub fn url(&self) -> String {
        format!("memcache://127.0.0.1:{}", self.port)
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

fn is_root() -> bool {
    // `id -u` avoids a libc dependency for one check.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}
