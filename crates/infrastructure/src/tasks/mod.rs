//! The adapters of `strata run` (issue 13).
//!
//! - `hasher.rs`: [`Sha2Hasher`], the SHA-256 port on `sha2`.
//! - `codec.rs`: [`ProstTaskResultCodec`], a task result as a REAPI
//!   `ActionResult` (with `execution_metadata` for the original duration).
//! - `inputs.rs`: [`InputScanner`], glob expansion (globset, `ignore`'s
//!   parallel walk) and parallel, streamed hashing of the input files.
//! - `files.rs`: [`ProjectFiles`], reading outputs and restoring them
//!   atomically (temporary file and rename, never a hard link).
//! - `process.rs`: [`ShellProcess`], the command with its stdout and
//!   stderr streamed to the terminal and captured.
//! - `local.rs`: [`DiskTaskCache`], the local cache directory: a
//!   [`DiskBuildStore`](crate::DiskBuildStore) opened under a file lock,
//!   the per-action lock, the run history and the statistics log.
//! - `remote.rs`: [`HttpRemoteCache`], Strata's (and bazel-remote's)
//!   `/ac` and `/cas` HTTP API with reqwest, with retries and backoff.
//!
//! This wing knows `build_cache` (the disk store, REAPI messages) and
//! nothing of the CLI.

mod codec;
mod files;
mod hasher;
mod inputs;
mod local;
mod process;
mod remote;

pub use codec::ProstTaskResultCodec;
pub use files::ProjectFiles;
pub use hasher::Sha2Hasher;
pub use inputs::{InputError, InputScanner};
pub use local::{ActionLock, DiskTaskCache, RunHistory, StatsEvent, StatsLog, StatsSummary};
pub use process::ShellProcess;
pub use remote::HttpRemoteCache;
