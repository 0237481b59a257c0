//! The `strata` binary: `strata serve` runs the cache service,
//! `strata simulate` replays a trace through the eviction policies,
//! `strata run` runs (or replays) a task, `strata cache` maintains its cache,
//! `strata export` / `strata import` dump and restore a cache over HTTP,
//! `strata keys generate` makes an API key, `strata config check` checks a
//! configuration without starting, `strata status` asks a running server
//! how it is, `strata completions` writes a shell's completion script.
//! Each lives in its room under
//! `cli/`; this file only parses the arguments and dispatches.

use clap::{Parser, Subcommand};

/// jemalloc (tikv-jemallocator) for every allocation but the memory store's
/// records: a Redis-backed request allocates and frees several futures of
/// more than 1 KiB, past glibc's per-thread cache, and jemalloc serves them
/// for 2 us less CPU per Redis GET (`docs/benchmarks.md`, issue 15). The
/// records keep glibc's allocator (see `policy_store::record`), whose
/// 16-byte size classes fit them closer than jemalloc's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cli;

use cli::{cache, completions, config, export, import, keys, run, serve, simulate, status};

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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or(Command::Serve(serve::ServeArgs::default()))
    {
        Command::Serve(args) => serve::serve(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Run(args) => {
            let code = run::run(args)?;
            std::process::exit(code.clamp(0, 255));
        }
        Command::Cache(command) => cache::cache(command),
        Command::Export(args) => export::export(args),
        Command::Import(args) => import::import(args),
        Command::Keys(command) => keys::keys(command),
        Command::Config(command) => config::config(command),
        Command::Status(args) => status::status(args),
        Command::Completions(args) => {
            completions::completions::<Cli>(args);
            Ok(())
        }
    }
}
