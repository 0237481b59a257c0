//! `strata serve` (the default command): loads the settings, applies the
//! command-line overrides, and runs the service that `strata::Application`
//! wires until it stops. The wiring itself is the library's.

use std::path::PathBuf;

use strata::{Application, Settings, init_tracing};

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
pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    if let Some(grpc_listen) = args.grpc_listen {
        settings.server.grpc_listen = grpc_listen;
    }
    let telemetry = init_tracing(&settings.log, &settings.telemetry)?;
    let served = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        match app.grpc_port() {
            Some(grpc_port) => tracing::info!(port = app.port(), grpc_port, "strata listening"),
            None => tracing::info!(port = app.port(), "strata listening"),
        }
        app.run().await?;
        tracing::info!("strata stopped");
        Ok(())
    });
    // Graceful shutdown: flush the spans still buffered.
    telemetry.shutdown();
    served
}
