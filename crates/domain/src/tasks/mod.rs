//! The task cache of `strata run` (issue 13): a task's command,
//! relevant environment and input files give an action digest; a task
//! whose digest is in the action cache is replayed instead of run.
//!
//! - [`TaskSpec`], [`TaskName`], [`TaskCommand`], [`CacheMode`]: a task
//!   as `strata.tasks.toml` (or `strata run -- cmd`) defines it.
//! - [`EnvFilter`]: which environment variables reach the digest, from
//!   an [`EnvPreset`] (`default` for one machine, `portable` for sharing),
//!   with secret-looking names hashed and only when named.
//! - [`ActionComponents`]: everything the digest covers, its canonical
//!   versioned encoding ([`ACTION_DIGEST_VERSION`]) and the
//!   [`Difference`]s between two runs (`--explain`).
//! - [`TaskResult`]: what a run left behind (exit code, stdout, stderr and
//!   output files as CAS digests), and its [`TaskResultCodec`] port.
//! - [`ContentHasher`]: the SHA-256 port.
//!
//! It knows no file system, no process, no HTTP and no encoding library:
//! the adapters walk the tree, hash, run the command and talk to the
//! remote.

mod action;
mod env;
mod result;
mod spec;
mod wildcard;

pub use action::{
    ACTION_DIGEST_VERSION, ActionComponents, Difference, InputFile, InvalidComponents, Platform,
};
pub use env::{EnvFilter, EnvPreset, EnvValue, SECRET_PATTERNS, looks_secret};
pub use result::{ContentHasher, OutputFile, TaskResult, TaskResultCodec};
pub use spec::{CacheMode, InvalidTaskName, TaskCommand, TaskName, TaskSpec};
pub use wildcard::wildcard_match;
