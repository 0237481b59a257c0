//! The `strata` binary's subcommands, one room each: `serve`, `simulate`,
//! `run`, `cache`, `keys`, `export`, `import`, `config` (`check`),
//! `status`, `completions`. Each owns its arguments and
//! its output; [`main_with`] parses and dispatches, and the binary's
//! `main.rs` calls it with the stock backend kinds (a plugin's binary
//! with its own added). The service's wiring is the library's
//! (`strata::Application`), not these modules'.
//!
//! Shared rooms: `task_file` (strata.tasks.toml and the global settings of
//! `run` and `cache`) and `admin_client` (the admin-API client of `export`,
//! `import` and `status`).

pub(crate) mod admin_client;
pub(crate) mod cache;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod simulate;
pub(crate) mod status;
pub(crate) mod task_file;

use clap::{Parser, Subcommand};

/// Strata: a cache service with REST, admin and monitoring APIs, and an eviction simulator.
#[derive(Parser)]
#[command(name = "strata", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default command).
    Serve(serve::ServeArgs),
    /// Replay a cache trace through eviction policies and report miss ratios.
    Simulate(simulate::SimulateArgs),
    /// Run a task, or replay it from the task cache when its command,
    /// environment and inputs are unchanged.
    Run(run::RunArgs),
    /// The local task cache: stats, clean, validate.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Stream every live entry of a cache on a running server to a file
    /// (or stdout), as NDJSON or MessagePack.
    Export(export::ExportArgs),
    /// Stream a dump written by `strata export` into a cache on a running
    /// server.
    Import(import::ImportArgs),
    /// Check a configuration without starting anything.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Ask a running server for its version, listeners, backends' health
    /// and caches with their hit ratios.
    Status(status::StatusArgs),
    /// Print the completion script for a shell (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
}

/// Runs the whole `strata` command line (serve, simulate, run, cache,
/// keys, export, import, config, status, completions) with the backend
/// kinds of `backends`: a plugin's `main` is
/// `strata::cli::main_with(strata::BackendRegistry::stock().backend("files", factory))`.
///
/// # Errors
/// Whatever the chosen command fails with; `run` exits the process with
/// its task's code instead of returning.
pub fn main_with(backends: crate::BackendRegistry) -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or(Command::Serve(serve::ServeArgs::default()))
    {
        Command::Serve(args) => serve::serve(args, backends),
        Command::Simulate(args) => simulate::run(args),
        Command::Run(args) => {
            let code = run::run(args)?;
            std::process::exit(code.clamp(0, 255));
        }
        Command::Cache(command) => cache::cache(command),
        Command::Export(args) => export::export(args),
        Command::Import(args) => import::import(args),
        Command::Keys(command) => keys::keys(command),
        Command::Config(command) => config::config(command, &backends),
        Command::Status(args) => status::status(args),
        Command::Completions(args) => {
            completions::completions::<Cli>(args);
            Ok(())
        }
    }
}
