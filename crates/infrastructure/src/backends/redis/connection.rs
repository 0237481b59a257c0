//! Connections to a Redis server or a Redis Cluster, and the one
//! connection type the store core runs its commands on.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, RedisFuture, Value};
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
    /// Longest back-off between reconnection attempts (default 1 s).
    pub reconnect_max_delay: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(1),
            reconnect_retries: 3,
            reconnect_max_delay: Duration::from_secs(1),
        }
    }
}

/// A connection to one Redis server, to share among the [`RedisStore`](super::RedisStore)s
/// of every cache on it (cloning is cheap: one multiplexed connection
/// that reconnects by itself).
#[derive(Clone)]
pub struct RedisConnection {
    pub(super) manager: ConnectionManager,
    pub(super) options: RedisOptions,
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
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self { manager, options })
    }

    /// A handle on the shared multiplexed connection (cheap to clone).
    pub(crate) fn manager(&self) -> ConnectionManager {
        self.manager.clone()
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
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl From<RedisConnection> for Conn {
    fn from(c: RedisConnection) -> Self {
        Conn::Standalone(c.manager)
    }
}

impl From<RedisClusterConnection> for Conn {
    fn from(c: RedisClusterConnection) -> Self {
        Conn::Cluster(c.connection)
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
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
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
