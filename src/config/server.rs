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
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_grpc_listen() -> String {
    DEFAULT_GRPC_LISTEN.to_owned()
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
            tls_cert_file: None,
            tls_key_file: None,
            data_dir: None,
        }
    }
}
