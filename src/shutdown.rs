//! [`ShutdownSignals`]: SIGTERM and Ctrl-C (SIGINT), registered when the
//! application is built, before it names its listeners.
//!
//! actix-web registers its own handlers only when the HTTP server is first
//! polled, and the gRPC server's watcher only when it starts. A SIGTERM
//! between the `listening on` lines and those moments (an orchestrator
//! stopping a pod that just started, a test that stops what it just
//! started) was caught by whichever handler existed, or by none, and
//! the HTTP server kept running. Registered here, a signal that arrives
//! any time after `build` waits in its stream until
//! [`Application::run`](crate::Application::run) reads it and stops both
//! servers gracefully.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The process's stop signals, registered; see the module docs.
pub(crate) struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<Signal>,
    #[cfg(unix)]
    interrupt: Option<Signal>,
}

impl ShutdownSignals {
    /// Registers SIGTERM and SIGINT handlers now. A registration the OS
    /// refuses is logged and that signal is then not watched.
    pub(crate) fn register() -> Self {
        #[cfg(unix)]
        {
            let register = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::warn!(%error, signal = name, "cannot watch the signal");
                    None
                }
            };
            Self {
                term: register(SignalKind::terminate(), "SIGTERM"),
                interrupt: register(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for the first of SIGTERM and Ctrl-C, including one that
    /// arrived before this call.
    pub(crate) async fn recv(self) {
        #[cfg(unix)]
        {
            let wait = |s: Option<Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(self.term) => {}
                () = wait(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
