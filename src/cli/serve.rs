//! `strata serve` (the default command): loads the settings, applies the
//! command-line overrides, and runs the service that `strata::Application`
//! wires until it stops. The wiring itself is the library's.
//!
//! At start it says which configuration it read (or that it read none,
//! naming a `strata.toml` in the working directory that it ignored: only
//! `--config` or `STRATA_CONFIG` chooses a file) and then one line per
//! listener with its bound URL.

use std::path::{Path, PathBuf};

use crate::{Application, BackendRegistry, Settings, init_tracing};

/// The file name operators tend to leave in the working directory. It is
/// never read implicitly: a file picked up from wherever the process
/// happened to start would change a server's behaviour unseen.
pub(crate) const CONVENTIONAL_FILE: &str = "strata.toml";

/// `strata serve`.
#[derive(clap::Args, Default)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see strata.example.toml).
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on; overrides `[server] listen`.
    #[arg(long)]
    listen: Option<String>,
    /// gRPC address; overrides `[server] grpc_listen` (empty: no gRPC).
    #[arg(long)]
    grpc_listen: Option<String>,
}

/// Runs the service until SIGTERM or Ctrl-C.
///
/// # Errors
/// Invalid settings, or any start-up error of [`Application::build`].
pub(crate) fn serve(args: ServeArgs, backends: BackendRegistry) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    if let Some(grpc_listen) = args.grpc_listen {
        settings.server.grpc_listen = grpc_listen;
    }
    let telemetry = init_tracing(&settings.log, &settings.telemetry)?;
    log_configuration(args.config.as_deref());
    let served = actix_web::rt::System::new().block_on(async move {
        let app = Application::builder(settings)
            .backends(backends)
            .build()
            .await?;
        for listener in app.listeners() {
            let (label, port) = match listener.protocol {
                "grpc" => ("gRPC", app.grpc_port()),
                _ => ("HTTP", Some(app.port())),
            };
            tracing::info!(
                target: "strata",
                listener = listener.protocol,
                url = %listener.url,
                port,
                "listening on {} ({label})",
                listener.url
            );
        }
        app.run().await?;
        tracing::info!("strata stopped");
        Ok(())
    });
    // Graceful shutdown: flush the spans still buffered.
    telemetry.shutdown();
    served
}

/// Logs the configuration file in use, or that none was read (warning
/// about an ignored `strata.toml` in the working directory), and the
/// names, never the values, of the `STRATA__*` overrides.
fn log_configuration(config: Option<&Path>) {
    match config {
        Some(file) => {
            let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
            tracing::info!(target: "strata", file = %file.display(), "configuration file {}", file.display());
        }
        None => {
            tracing::info!(
                target: "strata",
                "no configuration file read (no --config or STRATA_CONFIG): built-in defaults"
            );
            if let Some(ignored) = ignored_conventional_file() {
                tracing::warn!(
                    target: "strata",
                    file = %ignored.display(),
                    "{} was not read: only --config (or STRATA_CONFIG) chooses a file; \
                     run `strata serve --config {CONVENTIONAL_FILE}` to use it",
                    ignored.display()
                );
            }
        }
    }
    let mut overrides: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("STRATA__"))
        .collect();
    if !overrides.is_empty() {
        overrides.sort();
        tracing::info!(target: "strata", variables = %overrides.join(", "), "settings overridden by the environment");
    }
}

/// The working directory's `strata.toml`, when it exists (and so goes
/// unread unless `--config` names it).
pub(crate) fn ignored_conventional_file() -> Option<PathBuf> {
    let candidate = std::path::absolute(CONVENTIONAL_FILE).ok()?;
    candidate.is_file().then_some(candidate)
}
