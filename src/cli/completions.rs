//! `strata completions bash|zsh|fish`: the shell completion script, from
//! the command definitions themselves (`clap_complete`), on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

/// `strata completions SHELL`.
#[derive(clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: CompletionShell,
}

/// The shells `strata completions` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CompletionShell {
    /// Bash: `source <(strata completions bash)`.
    Bash,
    /// Zsh: write it as `_strata` into a directory of `$fpath`.
    Zsh,
    /// Fish: write it to `~/.config/fish/completions/strata.fish`.
    Fish,
}

/// Writes the script for `args.shell` of the command `C` to stdout.
pub(crate) fn completions<C: CommandFactory>(args: CompletionsArgs) {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut command = C::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
}
