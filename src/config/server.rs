//! `[server]`: the listeners, workers, shutdown, TLS files and state
//! directory. The listeners themselves are bound by the composition root.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Address `strata serve` listens on when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Address the gRPC listener binds when none is configured.
pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:9092";
/// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// Seconds a request body may go without a byte before the request is
/// answered 408 `request_timeout` and its connection closed.
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Concurrent connections each HTTP worker thread accepts (actix-web's
/// default); the listener's total is this times the workers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 25_000;
/// `[server]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Socket address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Socket address of the gRPC listener (REAPI, ByteStream, the
    /// `strata.cache.v1` API, health), default `127.0.0.1:9092`; port 0
    /// picks a free one; empty turns gRPC off. Same TLS files, credentials
    /// and protected mode as `listen`.
    #[serde(default = "default_grpc_listen")]
    pub grpc_listen: String,
    /// HTTP worker threads; the number of CPUs when absent.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// Seconds a request body may go without sending a byte (the wait for
    /// each next piece, as nginx's `client_body_timeout`); then 408
    /// `request_timeout` and the connection is closed. At least 1.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_secs: u64,
    /// Concurrent HTTP connections per worker thread (actix-web's
    /// `max_connections`): the listener's total is this times `workers`.
    /// Past it, new connections wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// PEM file of the TLS certificate chain, leaf first; with
    /// `tls_key_file`, the listener speaks HTTPS only (read at start-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Directory of the service's state, created if missing; no default.
    /// Holds `caches.json`, the run-time cache configurations (unless
    /// `[cluster] config_backend` keeps them in Redis), and `snapshots/`:
    /// `persist` caches' snapshots and stacked caches' warm keys. Absent,
    /// run-time changes are lost on restart, nothing is snapshotted, and
    /// `persist = true` is a configuration error. One instance per
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Reverse proxies (CIDRs, or addresses meaning themselves alone, e.g.
    /// `["127.0.0.1", "10.0.0.0/8"]`) whose forwarding header names the
    /// client: the failed-authentication limit, protected mode and the
    /// audit trail then key on the rightmost hop that is not a trusted
    /// proxy, and a trusted proxy's `X-Request-Id` is kept as the
    /// request's id. Empty (the default): the client is the TCP peer and
    /// forwarding headers are ignored. Applies to HTTP and gRPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// The header trusted proxies append the client to:
    /// `x-forwarded-for` (default; nginx, HAProxy, Envoy, cloud load
    /// balancers) or `forwarded` (RFC 7239). It is preferred, since a
    /// proxy passes the other on as the client wrote it; the other is read
    /// only when a trusted proxy sent none of this one.
    #[serde(default)]
    pub forwarded_header: ForwardedHeaderSetting,
}

/// `[server] forwarded_header`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeaderSetting {
    /// `X-Forwarded-For`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    Forwarded,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_grpc_listen() -> String {
    DEFAULT_GRPC_LISTEN.to_owned()
}
fn default_body_read_timeout() -> u64 {
    DEFAULT_BODY_READ_TIMEOUT_SECS
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_shutdown_timeout() -> u64 {
    DEFAULT_SHUTDOWN_TIMEOUT_SECS
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            grpc_listen: default_grpc_listen(),
            workers: None,
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            body_read_timeout_secs: DEFAULT_BODY_READ_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls_cert_file: None,
            tls_key_file: None,
            data_dir: None,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeaderSetting::default(),
        }
    }
}
