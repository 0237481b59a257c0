//! The gRPC listener (`[server] grpc_listen`): tonic serving
//! [`strata_presentation::grpc::services`] with the HTTP listener's TLS
//! files (HTTP/2 over TLS, ALPN `h2`) and the readiness poller of the
//! health service.
//!
//! - **Threads.** As many workers as HTTP has, each a single-threaded
//!   tokio runtime on a thread of its own, as actix runs HTTP: an
//!   acceptor hands connections to the workers in turn, and a connection
//!   with all its streams stays on one thread (no cross-thread wake-ups
//!   per call, which a shared multi-threaded runtime pays for every
//!   HTTP/2 stream it spawns).
//! - **Shutdown** drains: on SIGTERM or Ctrl-C ([`Application::run`](crate::Application::run)
//!   owns the signals and sends [`Running::drainer`]), or once the HTTP
//!   server stopped, the acceptor stops, every
//!   worker sends GOAWAY and lets in-flight calls finish within
//!   `shutdown_timeout_secs`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use strata_presentation::AppState;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// A bound, not yet serving, gRPC listener.
pub(crate) struct GrpcServer {
    listener: TcpListener,
    tls: Option<(PathBuf, PathBuf)>,
    workers: usize,
    shutdown_timeout: Duration,
}

/// A serving gRPC listener: [`Running::stop`] drains it.
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    done: Vec<oneshot::Receiver<()>>,
}

/// Accepted connections queued for one worker before the acceptor waits.
const WORKER_QUEUE: usize = 64;

impl GrpcServer {
    /// Binds `listen`; [`start`](Self::start) serves `state` on it.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub(crate) fn bind(
        listen: &str,
        tls: Option<(PathBuf, PathBuf)>,
        workers: usize,
        shutdown_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("[server] grpc_listen: cannot listen on {listen}"))?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            tls,
            workers: workers.max(1),
            shutdown_timeout,
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether it speaks TLS (the HTTP listener's files).
    pub(crate) fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Starts serving `state`: the workers' threads, the acceptor on worker 0.
    ///
    /// # Errors
    /// A runtime or thread cannot start, or a TLS file cannot be read.
    pub(crate) fn start(self, state: AppState) -> anyhow::Result<Running> {
        let identity = match &self.tls {
            Some((cert, key)) => Some(Identity::from_pem(
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
            )),
            None => None,
        };
        let (routes, health) =
            strata_presentation::grpc::services(state).context("gRPC services")?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (queues, inboxes): (Vec<_>, Vec<_>) = (0..self.workers)
            .map(|_| mpsc::channel::<std::net::TcpStream>(WORKER_QUEUE))
            .unzip();
        // Worker 0 also runs the acceptor, the health poller and the
        // SIGTERM watch.
        let mut duties = Some((self.listener, queues, health));
        let mut done = Vec::with_capacity(self.workers);
        for (worker, inbox) in inboxes.into_iter().enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("gRPC runtime")?;
            let (done_tx, done_rx) = oneshot::channel::<()>();
            done.push(done_rx);
            let duties = duties.take();
            let routes = routes.clone();
            let identity = identity.clone();
            let stop = stop_rx.clone();
            let shutdown_timeout = self.shutdown_timeout;
            std::thread::Builder::new()
                .name(format!("strata-grpc-{worker}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let mut background = Vec::new();
                        if let Some((listener, queues, health)) = duties {
                            background.push(tokio::spawn(health));
                            background.push(tokio::spawn(accept(listener, queues, stop.clone())));
                        }
                        let result =
                            serve(worker, inbox, routes, identity, stop, shutdown_timeout).await;
                        for task in background {
                            task.abort();
                        }
                        if let Err(e) = result {
                            tracing::error!(error = %format!("{e:#}"), "gRPC server failed");
                        }
                    });
                    // In-flight calls past the timeout are dropped with the runtime.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                    let _ = done_tx.send(());
                })
                .context("gRPC thread")?;
        }
        Ok(Running {
            stop: stop_tx,
            done,
        })
    }
}

/// Accepts connections until `stop`, with Nagle off (small responses
/// would otherwise wait for the peer's delayed ACK, ~40 ms a call), and
/// hands them to the workers' queues in turn.
async fn accept(
    listener: TcpListener,
    queues: Vec<mpsc::Sender<std::net::TcpStream>>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "gRPC listener");
            return;
        }
    };
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: keep accepting.
                tracing::warn!(error = %e, "gRPC accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        if queues[next].send(stream).await.is_err() {
            return;
        }
        next = (next + 1) % queues.len();
    }
}

/// One worker: serves the connections of `inbox` until `stop`, then
/// drains them for at most `shutdown_timeout`.
async fn serve(
    worker: usize,
    inbox: mpsc::Receiver<std::net::TcpStream>,
    routes: tonic::service::Routes,
    identity: Option<Identity>,
    mut stop: watch::Receiver<bool>,
    shutdown_timeout: Duration,
) -> anyhow::Result<()> {
    let incoming = futures_util::stream::unfold(inbox, |mut inbox| async move {
        let stream = inbox.recv().await?;
        Some((tokio::net::TcpStream::from_std(stream), inbox))
    });
    let mut server = Server::builder();
    if let Some(identity) = identity {
        server = server
            .tls_config(ServerTlsConfig::new().identity(identity))
            .context("[server] TLS for gRPC")?;
    }
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let signal = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
        if worker == 0 {
            tracing::info!("gRPC server draining");
        }
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

impl Running {
    /// A handle that starts draining every worker (the acceptor stops,
    /// in-flight calls get `shutdown_timeout_secs`) without waiting: sent
    /// on SIGTERM, alongside HTTP's drain.
    pub(crate) fn drainer(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Drains every worker and waits for their threads to end.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for done in self.done {
            let _ = done.await;
        }
    }
}
