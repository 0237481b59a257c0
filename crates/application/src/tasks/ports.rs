//! The ports of `strata run`'s use case.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::tasks::{OutputFile, TaskCommand};
use strata_domain::{ActionCache, BuildCacheError, ContentStore, Digest, DigestHash};

/// Why a task could not be run or replayed (a remote failure is never
/// one: it is a warning).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The command could not be started, or timed out.
    #[error("cannot run the command: {0}")]
    Process(String),
    /// An output could not be read or restored.
    #[error("output files: {0}")]
    Files(String),
    /// The local cache failed.
    #[error("local cache: {0}")]
    Local(#[from] BuildCacheError),
    /// The local cache holds an entry that does not decode.
    #[error("local cache entry {0} is corrupt: {1}")]
    Corrupt(DigestHash, String),
}

/// An open local cache: the action cache and CAS of one cache directory,
/// usable while `guard` lives (the adapter holds the directory's lock in
/// it, so processes sharing the directory never see each other's writes
/// half done).
pub struct LocalSession {
    /// The local action cache.
    pub ac: Arc<dyn ActionCache>,
    /// The local CAS.
    pub cas: Arc<dyn ContentStore>,
    /// Dropped when the session ends.
    pub guard: Box<dyn Any + Send + Sync>,
}

/// Opens the local cache for a short session.
#[async_trait]
pub trait LocalTaskCache: Send + Sync {
    /// Opens it, waiting for other processes' sessions to end.
    ///
    /// # Errors
    /// [`TaskError::Local`] when the directory cannot be opened.
    async fn open(&self) -> Result<LocalSession, TaskError>;

    /// Marks the action `key` and its `blobs` as just used (a hit), so the
    /// size bound evicts the least recently *used* entries and `clean
    /// --older-than` spares them. Best effort; the default does nothing.
    async fn touch(&self, session: &LocalSession, key: &DigestHash, blobs: &[Digest]) {
        let _ = (session, key, blobs);
    }
}

/// A finished command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Its exit code (a signal `n` gives `128 + n`, as shells report it).
    pub exit_code: i32,
    /// Everything it wrote to stdout (already streamed to the terminal).
    pub stdout: Bytes,
    /// Everything it wrote to stderr (already streamed to the terminal).
    pub stderr: Bytes,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

/// Runs a task's command in the task's working directory and environment,
/// streaming its stdout and stderr to the terminal while capturing them.
#[async_trait]
pub trait TaskProcess: Send + Sync {
    /// Runs `command`, killing it after `timeout`.
    ///
    /// # Errors
    /// [`TaskError::Process`] when it cannot start or times out.
    async fn run(
        &self,
        command: &TaskCommand,
        timeout: Option<Duration>,
    ) -> Result<Execution, TaskError>;
}

/// The task's declared output files in the project.
#[async_trait]
pub trait TaskFiles: Send + Sync {
    /// Reads every output file present, sorted by path, with its content.
    ///
    /// # Errors
    /// [`TaskError::Files`] on an I/O error.
    async fn collect(&self) -> Result<Vec<(OutputFile, Bytes)>, TaskError>;

    /// Writes one output atomically (a temporary file in the same
    /// directory, then a rename), with its mode.
    ///
    /// # Errors
    /// [`TaskError::Files`] on an I/O error.
    async fn restore(&self, file: &OutputFile, content: Bytes) -> Result<(), TaskError>;
}

/// Where a hit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitSource {
    /// The local cache directory.
    Local,
    /// The remote (which then filled the local cache).
    Remote,
}

/// A step of a run that the terminal reports in one line (`strata:
/// build: local hit`, `... miss (...)`, `... uploaded 3 blobs ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEvent {
    /// A hit, about to be replayed (outputs restored, then stdout and
    /// stderr).
    Hit(HitSource),
    /// A miss: the command is about to run.
    Executing,
    /// The recorded result reached the remote: `blobs` CAS blobs of
    /// `bytes` bytes in total, then the action entry.
    Uploaded {
        /// Blobs of the result (empty ones are never sent).
        blobs: usize,
        /// Their total size, in bytes.
        bytes: u64,
    },
}

/// The terminal: replayed output and one-line notices.
pub trait Console: Send + Sync {
    /// Writes replayed stdout bytes, unchanged.
    fn stdout(&self, bytes: &[u8]);
    /// Writes replayed stderr bytes, unchanged.
    fn stderr(&self, bytes: &[u8]);
    /// One line of Strata's own on stderr (a hit, a warning).
    fn notice(&self, line: &str);
    /// Progress of a transfer to or from the remote: `done_bytes` of
    /// `total_bytes` (`what` is `downloading` or `uploading`). A terminal
    /// may draw a bar for large transfers; the default ignores it.
    fn transfer(&self, what: &str, done_bytes: u64, total_bytes: u64) {
        let _ = (what, done_bytes, total_bytes);
    }
    /// A step of the run ([`RunEvent`]), each reported once, in order;
    /// the default ignores it.
    fn event(&self, event: &RunEvent) {
        let _ = event;
    }
}

/// A remote call that did not work.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// Down, slow (timed out) or answering 5xx.
    #[error("remote cache unavailable: {0}")]
    Unavailable(String),
    /// Refusing: 401, 403, 413 or another 4xx.
    #[error("remote cache refused: {0}")]
    Refused(String),
    /// Its settings cannot work (a URL without `http://` or `https://`);
    /// the message says what is wrong.
    #[error("remote cache misconfigured: {0}")]
    Misconfigured(String),
}

/// A remote action cache and CAS (Strata's `/ac` and `/cas` HTTP API, which
/// bazel-remote also speaks).
#[async_trait]
pub trait RemoteTaskCache: Send + Sync {
    /// The serialized `ActionResult` under `key`; `Ok(None)` on a miss.
    ///
    /// # Errors
    /// [`RemoteError`].
    async fn get_action(&self, key: &DigestHash) -> Result<Option<Bytes>, RemoteError>;

    /// A blob's content (verified against `digest`); `Ok(None)` on a miss.
    ///
    /// # Errors
    /// [`RemoteError`].
    async fn get_blob(&self, digest: &Digest) -> Result<Option<Bytes>, RemoteError>;

    /// Whether the blob is stored, without downloading it (`--explain`).
    /// The default downloads it through [`get_blob`](Self::get_blob).
    ///
    /// # Errors
    /// [`RemoteError`].
    async fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError> {
        Ok(self.get_blob(digest).await?.is_some())
    }

    /// Uploads a blob unless present, retrying with backoff.
    ///
    /// # Errors
    /// [`RemoteError`] after the last attempt.
    async fn put_blob(&self, digest: Digest, content: Bytes) -> Result<(), RemoteError>;

    /// Writes the action's entry, retrying with backoff.
    ///
    /// # Errors
    /// [`RemoteError`] after the last attempt.
    async fn put_action(&self, key: DigestHash, value: Bytes) -> Result<(), RemoteError>;
}
