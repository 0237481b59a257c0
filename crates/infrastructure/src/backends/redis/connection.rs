//! Connections to a Redis server or a Redis Cluster, and the one
//! connection type the store core runs its commands on.
//!
//! A standalone connection is one multiplexed connection whose driver runs
//! on the runtime that connected, plus, on every thread marked with
//! [`pin_redis_connections_to_thread`] (each HTTP worker), a connection of
//! that thread's own: a command from a worker then never crosses to another
//! thread and back (measured: 0.8 context switches per Redis-backed GET
//! with the shared connection only).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, RedisError, RedisFuture, Value};
use strata_domain::StoreError;

/// Connection settings shared by [`RedisConnection`] and
/// [`RedisClusterConnection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long the driver waits for one answer before failing the
    /// request with [`StoreError::Timeout`] (default 2 s).
    pub response_timeout: Duration,
    /// How long one connection attempt may take (default 1 s).
    pub connection_timeout: Duration,
    /// Reconnection attempts after a connection is lost, before requests
    /// fail with [`StoreError::Unavailable`]; the next request starts a new
    /// round (default 3; the circuit breaker is the outer retry policy).
    pub reconnect_retries: usize,
    /// Longest back-off between reconnection attempts (default 100 ms, the
    /// background probe's interval). A request that finds its connection
    /// in a back-off waits for the next attempt, so a long back-off would
    /// make the first requests after an outage outlive their timeout and
    /// fail once the backend is back.
    pub reconnect_max_delay: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(1),
            reconnect_retries: 3,
            reconnect_max_delay: Duration::from_millis(100),
        }
    }
}

/// A connection to one Redis server, to share among the [`RedisStore`](super::RedisStore)s
/// of every cache on it (cloning is cheap: one multiplexed connection
/// that reconnects by itself, and one more per thread pinned with
/// [`pin_redis_connections_to_thread`], opened on that thread's first
/// command).
#[derive(Clone)]
pub struct RedisConnection {
    pub(super) conn: Standalone,
    pub(super) options: RedisOptions,
}

/// Marks the calling thread as a long-lived thread with a runtime of its
/// own (an HTTP worker: actix-web runs one single-threaded runtime per
/// worker thread). Commands that a [`RedisConnection`]'s stores issue from
/// this thread then go through a multiplexed connection owned by this
/// thread, opened lazily on its first command, with the same timeouts and
/// reconnection policy as the shared one; elsewhere they go through the
/// shared connection. So a server with `W` workers holds up to `W + 1`
/// connections per Redis backend.
///
/// Do not call it on a thread whose runtime may end before the thread: the
/// thread's connections live as long as the thread (or as long as their
/// [`RedisConnection`]).
pub fn pin_redis_connections_to_thread() {
    PINNED.set(true);
}

thread_local! {
    /// Whether [`pin_redis_connections_to_thread`] was called here.
    static PINNED: Cell<bool> = const { Cell::new(false) };
    /// This thread's connections, by [`PinnedFactory::id`].
    static LOCAL: RefCell<HashMap<u64, (Weak<PinnedFactory>, ConnectionManager)>> =
        RefCell::new(HashMap::new());
}

/// Opens the per-thread connections of one [`RedisConnection`].
pub(super) struct PinnedFactory {
    id: u64,
    client: Client,
    config: ConnectionManagerConfig,
}

/// A standalone Redis connection as the stores use it: the shared
/// multiplexed connection, or the calling thread's own when it is pinned.
#[derive(Clone)]
pub(crate) struct Standalone {
    shared: ConnectionManager,
    pinned: Arc<PinnedFactory>,
}

impl Standalone {
    /// The connection for a command issued from this thread.
    fn pick(&self) -> ConnectionManager {
        if !PINNED.get() {
            return self.shared.clone();
        }
        LOCAL.with_borrow_mut(|local| {
            if let Some((_, manager)) = local.get(&self.pinned.id) {
                return manager.clone();
            }
            // Connects on its first command, on this thread's runtime.
            match ConnectionManager::new_lazy_with_config(
                self.pinned.client.clone(),
                self.pinned.config.clone(),
            ) {
                Ok(manager) => {
                    // Connections of dropped `RedisConnection`s go first.
                    local.retain(|_, (owner, _)| owner.strong_count() > 0);
                    local.insert(
                        self.pinned.id,
                        (Arc::downgrade(&self.pinned), manager.clone()),
                    );
                    manager
                }
                Err(error) => {
                    tracing::debug!(%error, "per-thread Redis connection not opened; using the shared one");
                    self.shared.clone()
                }
            }
        })
    }
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Connects to `url` (`redis://host:port/db`), waiting for the first
    /// connection.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid or the server
    /// cannot be reached.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let unavailable = |e: RedisError| StoreError::Unavailable {
            backend: "redis".into(),
            source: Box::new(e),
        };
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connection_timeout))
            .set_number_of_retries(options.reconnect_retries)
            .set_max_delay(options.reconnect_max_delay);
        let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(unavailable)?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let pinned = Arc::new(PinnedFactory {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            config,
        });
        Ok(Self {
            conn: Standalone {
                shared: manager,
                pinned,
            },
            options,
        })
    }

    /// A handle on the shared multiplexed connection (cheap to clone).
    pub(crate) fn manager(&self) -> ConnectionManager {
        self.conn.shared.clone()
    }
}

/// A connection to a Redis Cluster, to share among the
/// [`RedisClusterStore`](super::RedisClusterStore)s of every cache on it.
#[derive(Clone)]
pub struct RedisClusterConnection {
    pub(super) connection: ClusterConnection,
    pub(super) options: RedisOptions,
}

impl std::fmt::Debug for RedisClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterConnection")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisClusterConnection {
    /// Connects to the cluster through any of `nodes` (`redis://host:port`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no node can be reached or the URLs
    /// are invalid.
    pub async fn connect(nodes: &[String], options: RedisOptions) -> Result<Self, StoreError> {
        let unavailable = |e: RedisError| StoreError::Unavailable {
            backend: "redis-cluster".into(),
            source: Box::new(e),
        };
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .response_timeout(options.response_timeout)
            .connection_timeout(options.connection_timeout)
            .retries(u32::try_from(options.reconnect_retries).unwrap_or(u32::MAX))
            .build()
            .map_err(unavailable)?;
        let connection = client.get_async_connection().await.map_err(unavailable)?;
        Ok(Self {
            connection,
            options,
        })
    }
}

/// The two connection kinds behind one implementation (the cache stores'
/// core and the build cache's `RedisBuildStore`).
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(Standalone),
    Cluster(ClusterConnection),
}

impl From<RedisConnection> for Conn {
    fn from(c: RedisConnection) -> Self {
        Conn::Standalone(c.conn)
    }
}

impl From<RedisClusterConnection> for Conn {
    fn from(c: RedisClusterConnection) -> Self {
        Conn::Cluster(c.connection)
    }
}

/// Scripts whose second run, right after a first run that may have
/// happened, changes the answer the caller acts on ([`once_only`]): their
/// `EVALSHA` is never resent.
static ONCE_ONLY: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// Marks `script` as never resent after a dropped connection (see
/// [`resendable`]); returns it, for use in the script's `LazyLock`, so it
/// is marked before its first run.
pub(crate) fn once_only(script: redis::Script) -> redis::Script {
    ONCE_ONLY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(script.get_hash().to_owned());
    script
}

/// Whether `cmd` may be sent again after its connection was found dropped.
///
/// The commands the stores send are idempotent in effect: reads (`GET`,
/// `MGET`, `EXISTS`, `STRLEN`, `SCAN`, `SSCAN`, `SMEMBERS`, `ZSCAN`, ...),
/// `SET` of a whole value, `UNLINK`, `SADD`, `PING`, `PUBLISH` of an
/// invalidation (applying one twice is applying it once), and the scripts
/// not marked [`once_only`]: the entry write (its `existed` answer may say
/// "replaced" for the value the first run wrote) and the build cache's
/// read, write and size scripts (their bookkeeping is keyed by digest, so
/// a second run adds nothing). Not resent: `EVAL` (a script's first load,
/// of any script) and the [`once_only`] scripts, the tag-set detach (a
/// second run would find the set already renamed and report nothing to
/// invalidate) and the build cache's flush (a second run would count
/// nothing it removed).
fn resendable(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let Some(name) = args.next() else {
        return false;
    };
    if name.eq_ignore_ascii_case(b"EVAL") {
        return false;
    }
    if !name.eq_ignore_ascii_case(b"EVALSHA") {
        return true;
    }
    let Some(hash) = args.next().and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    !ONCE_ONLY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(hash)
}

/// Whether a command that failed with `error` may be sent again.
///
/// - **Refused**: the connection's last reconnection round was refused;
///   nothing reached the server, and the failure itself started a new
///   round, which the second attempt waits for.
/// - **Dropped** (broken pipe, reset, end of stream), for a
///   [`resendable`] command: the connection died, typically during an
///   outage, and this command found it dead. A per-thread connection left
///   idle through a Redis restart fails its first command so, before
///   anything is written: its driver had already ended. The failure makes
///   the connection manager reconnect, and the second attempt goes out on
///   the new connection.
///
/// So after Redis returns, the first command on each per-thread
/// connection succeeds instead of failing once per connection (and
/// counting against the breaker); while Redis is still down, the second
/// attempt fails after the new round (`reconnect_retries` attempts with
/// back-off).
fn resend(error: &RedisError, resendable: impl FnOnce() -> bool) -> bool {
    error.is_connection_refusal() || (error.is_connection_dropped() && resendable())
}

/// Sends `$manager.$call(..)`, and once more when [`resend`] allows.
macro_rules! resend_if_unsent {
    ($manager:ident . $call:ident ( $($arg:expr),* ), $resendable:expr) => {
        match $manager.$call($($arg),*).await {
            Err(e) if resend(&e, $resendable) => {
                tracing::debug!(error = %e, "redis command resent on a fresh connection");
                $manager.$call($($arg),*).await
            }
            result => result,
        }
    };
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => {
                let mut manager = c.pick();
                Box::pin(async move {
                    resend_if_unsent!(manager.req_packed_command(cmd), || resendable(cmd))
                })
            }
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => {
                let mut manager = c.pick();
                Box::pin(async move {
                    resend_if_unsent!(manager.req_packed_commands(pipeline, offset, count), || {
                        pipeline.cmd_iter().all(resendable)
                    })
                })
            }
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.shared.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
