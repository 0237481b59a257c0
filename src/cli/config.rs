//! `strata config check [--config F]`: loads and checks a configuration
//! as `strata serve` does before it opens anything
//! ([`crate::wiring::check::settings`], which start-up runs first), then
//! stops. Same messages, exit status 1 on the first problem; nothing is
//! bound, connected or written. Backend kinds are checked against the
//! binary's registry (`main_with`'s).

use std::path::PathBuf;

use crate::{BackendRegistry, Settings};

use super::serve::{CONVENTIONAL_FILE, ignored_conventional_file};

/// `strata config`.
#[derive(clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a configuration without starting anything: the same loading
    /// and the same errors as `strata serve`. Backends are not contacted
    /// and addresses not bound.
    Check {
        /// TOML configuration file; none checks the built-in defaults
        /// with the `STRATA__*` environment overrides.
        #[arg(long, env = "STRATA_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Runs `strata config ...`.
///
/// # Errors
/// The first problem, worded as `strata serve` words it.
pub(crate) fn config(command: ConfigCommand, backends: &BackendRegistry) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { config } => {
            let settings = Settings::load(config.as_deref())?;
            crate::wiring::check::settings(&settings)?;
            // Every backend kind is one this binary registered (a plugin's
            // own settings are its factory's to check, at start).
            backends.check()?;
            for (name, backend) in &settings.backends {
                backends.factory(name, backend.kind(), settings.source.as_deref())?;
            }
            let source = match &config {
                Some(file) => file.display().to_string(),
                None => "the built-in defaults (no --config)".to_owned(),
            };
            #[expect(clippy::print_stdout, reason = "the command's output")]
            {
                println!(
                    "{source}: ok ({} caches, {} backends)",
                    settings.caches.len(),
                    settings.backends.len()
                );
            }
            if config.is_none()
                && let Some(ignored) = ignored_conventional_file()
            {
                eprintln!(
                    "note: {} was not read; check it with `strata config check --config {CONVENTIONAL_FILE}`",
                    ignored.display()
                );
            }
            Ok(())
        }
    }
}
