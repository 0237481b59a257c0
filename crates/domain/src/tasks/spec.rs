//! [`TaskSpec`]: one task of `strata.tasks.toml`, or an ad hoc command.

use std::collections::BTreeMap;
use std::fmt;

use super::EnvFilter;

/// Longest task name, in bytes.
const MAX_TASK_NAME_BYTES: usize = 128;

/// A task's name: 1 to 128 of `A-Z a-z 0-9 . _ - :`, starting with a
/// letter or digit. Ad hoc runs are named after their command
/// ([`TaskName::for_command`]).
///
/// ```
/// use strata_domain::tasks::TaskName;
/// assert!(TaskName::parse("build:release").is_ok());
/// assert!(TaskName::parse("").is_err());
/// assert!(TaskName::parse("a b").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskName(String);

/// Why a string is not a [`TaskName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a task name has 1 to {MAX_TASK_NAME_BYTES} of A-Z a-z 0-9 . _ - :, starting with a letter or digit; got {0:?}"
)]
pub struct InvalidTaskName(pub String);

impl TaskName {
    /// Parses a name.
    ///
    /// # Errors
    /// [`InvalidTaskName`].
    pub fn parse(s: &str) -> Result<Self, InvalidTaskName> {
        let ok = !s.is_empty()
            && s.len() <= MAX_TASK_NAME_BYTES
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTaskName(s.to_owned()))
        }
    }

    /// The name of an ad hoc run (`strata run --inputs ... -- cmd`), after
    /// its command, so that the run history (`--explain`, the miss line)
    /// compares a command with its own earlier runs: `adhoc:` and the
    /// arguments joined by `_`, every byte outside `A-Z a-z 0-9 . _ - :`
    /// replaced by `_`, cut at 128 bytes.
    /// Commands that differ only in replaced characters or past the cut
    /// share a name; their digests still differ by the command.
    ///
    /// ```
    /// use strata_domain::tasks::TaskName;
    /// let argv = ["make".to_owned(), "gen".to_owned()];
    /// assert_eq!(TaskName::for_command(&argv).as_str(), "adhoc:make_gen");
    /// let sh = ["sh".to_owned(), "-c".to_owned(), "echo $X > out/a".to_owned()];
    /// assert_eq!(TaskName::for_command(&sh).as_str(), "adhoc:sh_-c_echo__X___out_a");
    /// ```
    pub fn for_command(args: &[String]) -> Self {
        let mut name = String::from("adhoc:");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                name.push('_');
            }
            name.extend(arg.chars().map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':') {
                    c
                } else {
                    '_'
                }
            }));
        }
        // Every character is ASCII now, so any byte index is a boundary.
        name.truncate(MAX_TASK_NAME_BYTES);
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a task runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCommand {
    /// A command line for `sh -c` (`command = "cargo build"`).
    Shell(String),
    /// An argument vector run without a shell (`args = ["make", "-j4"]`,
    /// or `strata run -- make gen`); never empty.
    Args(Vec<String>),
}

impl TaskCommand {
    /// The command as one line, for messages.
    pub fn display(&self) -> String {
        match self {
            Self::Shell(s) => s.clone(),
            Self::Args(a) => a.join(" "),
        }
    }
}

/// How a task uses the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Replay hits and record misses (the default).
    #[default]
    ReadWrite,
    /// Replay hits, record nothing.
    Read,
    /// Always run, record the result.
    Write,
    /// Always run, record nothing.
    Off,
}

impl CacheMode {
    /// The names `strata.tasks.toml` accepts.
    pub const NAMES: [&'static str; 4] = ["read-write", "read", "write", "off"];

    /// Parses `read-write`, `read`, `write` or `off`; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read-write" => Some(Self::ReadWrite),
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    /// Whether hits are replayed.
    pub const fn reads(self) -> bool {
        matches!(self, Self::ReadWrite | Self::Read)
    }

    /// Whether misses are recorded.
    pub const fn writes(self) -> bool {
        matches!(self, Self::ReadWrite | Self::Write)
    }
}

/// One task: what it runs, what it reads and writes, and how it uses the
/// cache. Built by the task-file parser (which validates globs and
/// names) or from `strata run`'s flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// Its name.
    pub name: TaskName,
    /// What it runs.
    pub command: TaskCommand,
    /// Input globs, relative to the project root (`src/**/*.rs`).
    pub inputs: Vec<String>,
    /// Globs of files left out of the inputs (`**/*.tmp`).
    pub ignore_inputs: Vec<String>,
    /// Output files or directories (a trailing `/` or an existing
    /// directory means everything under it), relative to the root.
    pub outputs: Vec<String>,
    /// The environment filter: the seed's defaults plus the task's own.
    pub env: EnvFilter,
    /// `false`: always run, never record (`cache = false`).
    pub cache: bool,
    /// How it uses the cache.
    pub mode: CacheMode,
    /// Custom key components (`cache_key = { extra = "v2" }`).
    pub cache_key: BTreeMap<String, String>,
    /// Kill the command after this many seconds (a timeout is a failure).
    pub timeout_secs: Option<u64>,
    /// Record non-zero exits too (`cache_failures = true`; default off).
    pub cache_failures: bool,
}

impl TaskSpec {
    /// The effective mode: [`CacheMode::Off`] when `cache = false`.
    pub fn effective_mode(&self) -> CacheMode {
        if self.cache {
            self.mode
        } else {
            CacheMode::Off
        }
    }

    /// The configuration that enters the digest: every setting that
    /// changes what the task reads, writes or means (inputs, ignores,
    /// outputs, the env filter, custom key components, `cache_failures`),
    /// but not how the cache is used (`cache`, `mode`) nor `timeout_secs`.
    pub fn key_config(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert("inputs".to_owned(), self.inputs.join("\n"));
        out.insert("ignore_inputs".to_owned(), self.ignore_inputs.join("\n"));
        out.insert("outputs".to_owned(), self.outputs.join("\n"));
        out.insert("env.include".to_owned(), self.env.include().join("\n"));
        out.insert("env.exclude".to_owned(), self.env.exclude().join("\n"));
        out.insert("cache_failures".to_owned(), self.cache_failures.to_string());
        for (k, v) in &self.cache_key {
            out.insert(format!("cache_key.{k}"), v.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_mean_what_they_say() {
        for name in CacheMode::NAMES {
            assert!(CacheMode::parse(name).is_some());
        }
        assert_eq!(CacheMode::parse("rw"), None);
        assert!(CacheMode::ReadWrite.reads() && CacheMode::ReadWrite.writes());
        assert!(CacheMode::Read.reads() && !CacheMode::Read.writes());
        assert!(!CacheMode::Write.reads() && CacheMode::Write.writes());
        assert!(!CacheMode::Off.reads() && !CacheMode::Off.writes());
    }

    #[test]
    fn ad_hoc_names_are_valid_names_after_the_command() {
        let long = vec!["x".repeat(300)];
        for argv in [
            vec!["make".to_owned()],
            vec!["sh".to_owned(), "-c".to_owned(), "é ü\n/..".to_owned()],
            long,
        ] {
            let name = TaskName::for_command(&argv);
            assert_eq!(TaskName::parse(name.as_str()).as_ref(), Ok(&name));
        }
        assert_ne!(
            TaskName::for_command(&["make".to_owned(), "a".to_owned()]),
            TaskName::for_command(&["make".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn names() {
        assert!(TaskName::parse("lint").is_ok());
        assert!(TaskName::parse("-x").is_err());
        assert!(TaskName::parse(&"a".repeat(129)).is_err());
    }
}
