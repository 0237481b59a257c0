//! The gRPC listener (`[server] grpc_listen`): tonic serving
//! [`strata_presentation::grpc::services`] on its own multi-threaded
//! tokio runtime (one worker per HTTP worker), with the HTTP listener's
//! TLS files (HTTP/2 over TLS, ALPN `h2`) and the readiness poller of the
//! health service.
//!
//! Shutdown drains: on SIGTERM or Ctrl-C (which actix also handles for
//! HTTP), or once the HTTP server stopped, the server stops accepting,
//! sends GOAWAY and lets in-flight calls finish within
//! `shutdown_timeout_secs`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use strata_presentation::AppState;
use tokio::sync::oneshot;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// A bound, not yet serving, gRPC listener.
pub(crate) struct GrpcServer {
    listener: TcpListener,
    state: AppState,
    tls: Option<(PathBuf, PathBuf)>,
    workers: usize,
    shutdown_timeout: Duration,
}

/// A serving gRPC listener: [`Running::stop`] drains it.
pub(crate) struct Running {
    stop: Option<oneshot::Sender<()>>,
    done: oneshot::Receiver<()>,
}

impl GrpcServer {
    /// Binds `listen`.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub(crate) fn bind(
        listen: &str,
        state: AppState,
        tls: Option<(PathBuf, PathBuf)>,
        workers: usize,
        shutdown_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("[server] grpc_listen: cannot listen on {listen}"))?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            state,
            tls,
            workers: workers.max(1),
            shutdown_timeout,
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts serving on a thread of its own.
    ///
    /// # Errors
    /// The runtime cannot start, or a TLS file cannot be read.
    pub(crate) fn start(self) -> anyhow::Result<Running> {
        let identity = match &self.tls {
            Some((cert, key)) => Some(Identity::from_pem(
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
            )),
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers)
            .thread_name("strata-grpc")
            .enable_all()
            .build()
            .context("gRPC runtime")?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let (routes, health) =
            strata_presentation::grpc::services(self.state).context("gRPC services")?;
        let listener = self.listener;
        let shutdown_timeout = self.shutdown_timeout;
        std::thread::Builder::new()
            .name("strata-grpc".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let poller = tokio::spawn(health);
                    let result = serve(listener, routes, identity, stop_rx, shutdown_timeout).await;
                    poller.abort();
                    if let Err(e) = result {
                        tracing::error!(error = %format!("{e:#}"), "gRPC server failed");
                    }
                });
                // In-flight calls past the timeout are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })
            .context("gRPC thread")?;
        Ok(Running {
            stop: Some(stop_tx),
            done: done_rx,
        })
    }
}

async fn serve(
    listener: TcpListener,
    routes: tonic::service::Routes,
    identity: Option<Identity>,
    stop: oneshot::Receiver<()>,
    shutdown_timeout: Duration,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // Nagle off on every accepted socket (the builder's `tcp_nodelay`
    // applies only to listeners tonic binds itself): with it on, small
    // responses wait for the peer's delayed ACK, ~40 ms a call.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = Server::builder();
    if let Some(identity) = identity {
        server = server
            .tls_config(ServerTlsConfig::new().identity(identity))
            .context("[server] TLS for gRPC")?;
    }
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let signal = async move {
        tokio::select! {
            _ = stop => {}
            () = terminate() => {}
        }
        tracing::info!("gRPC server draining");
        let _ = drain_tx.send(());
    };
    let serving = server
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => result?,
        _ = async {
            let _ = drain_rx.await;
            tokio::time::sleep(shutdown_timeout).await;
        } => {
            tracing::warn!(secs = shutdown_timeout.as_secs(), "gRPC calls still running after the shutdown timeout: dropped");
        }
    }
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Running {
    /// Drains the server and waits for its thread to end.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.await;
    }
}
