//! The `strata` binary: `strata serve` runs the cache service,
//! `strata simulate` replays a trace through the eviction policies,
//! `strata run` runs (or replays) a task, `strata cache` maintains its cache,
//! `strata export` / `strata import` dump and restore a cache over HTTP.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata::{Application, Settings, init_tracing};

/// jemalloc (tikv-jemallocator) for every allocation but the memory store's
/// records: a Redis-backed request allocates and frees several futures of
/// more than 1 KiB, past glibc's per-thread cache, and jemalloc serves them
/// for 2 us less CPU per Redis GET (`docs/benchmarks.md`, issue 15). The
/// records keep glibc's allocator (see `policy_store::record`), whose
/// 16-byte size classes fit them closer than jemalloc's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod run;
mod simulate;
mod task_file;
mod transfer;

/// Strata: a cache service with REST, admin and monitoring APIs, and an eviction simulator.
#[derive(Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default command).
    Serve(ServeArgs),
    /// Replay a cache trace through eviction policies and report miss ratios.
    Simulate(simulate::SimulateArgs),
    /// Run a task, or replay it from the task cache when its command,
    /// environment and inputs are unchanged.
    Run(run::RunArgs),
    /// The local task cache: stats, clean, validate.
    #[command(subcommand)]
    Cache(run::CacheCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Stream every live entry of a cache on a running server to a file
    /// (or stdout), as NDJSON or MessagePack.
    Export(transfer::ExportArgs),
    /// Stream a dump written by `strata export` into a cache on a running
    /// server.
    Import(transfer::ImportArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random API key and the config lines that admit it.
    Generate {
        /// The key's id (its principal's name), e.g. `ci-bot`.
        #[arg(long)]
        id: String,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Run(args) => {
            let code = run::run(args)?;
            std::process::exit(code.clamp(0, 255));
        }
        Command::Cache(command) => run::cache(command),
        Command::Export(args) => transfer::export(args),
        Command::Import(args) => transfer::import(args),
        Command::Keys(KeysCommand::Generate { id }) => {
            let key = strata::keys::generate(&id)?;
            #[expect(clippy::print_stdout, reason = "the command's output")]
            {
                println!("API key for {id} (shown once; give it to the client, store it nowhere):");
                println!();
                println!("    {}", key.key);
                println!();
                println!("Add to the configuration, then set the grants:");
                println!();
                print!("{}", key.toml());
            }
            Ok(())
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
