//! [`TaskResult`]: what a run left behind, as the action cache keeps it.

use bytes::Bytes;

use crate::{Digest, DigestHash, InvalidActionResult};

/// The SHA-256 port (the domain knows no hashing library).
pub trait ContentHasher: Send + Sync {
    /// SHA-256 of `bytes` (FIPS 180-4).
    fn sha256(&self, bytes: &[u8]) -> DigestHash;
}

/// One output file of a run, its content in the CAS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Its content's digest.
    pub digest: Digest,
    /// Whether it is executable (restored with mode 0755, else 0644).
    pub executable: bool,
}

/// A recorded run: a REAPI `ActionResult` in the AC, the bytes in the CAS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskResult {
    /// The command's exit code.
    pub exit_code: i32,
    /// Digest of its stdout.
    pub stdout: Digest,
    /// Digest of its stderr.
    pub stderr: Digest,
    /// Its output files, sorted by path.
    pub outputs: Vec<OutputFile>,
    /// How long the original run took, in milliseconds (REAPI's
    /// `execution_metadata`).
    pub duration_ms: u64,
}

impl TaskResult {
    /// Every CAS digest it references (outputs, stdout, stderr), without
    /// duplicates and without the empty blob.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::new();
        for d in self
            .outputs
            .iter()
            .map(|o| o.digest)
            .chain([self.stdout, self.stderr])
        {
            if !d.is_empty_blob() && !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}

/// Encodes a [`TaskResult`] as a serialized REAPI `ActionResult` (so
/// Strata's AC validation and bazel-remote accept it) and back.
pub trait TaskResultCodec: Send + Sync {
    /// The serialized `ActionResult`.
    fn encode(&self, result: &TaskResult) -> Bytes;

    /// Parses one.
    ///
    /// # Errors
    /// [`InvalidActionResult`] when the bytes are not an `ActionResult`
    /// or a digest in it is malformed.
    fn decode(&self, bytes: &[u8]) -> Result<TaskResult, InvalidActionResult>;
}
