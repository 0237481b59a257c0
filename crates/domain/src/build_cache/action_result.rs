//! What the application needs from a serialized REAPI `ActionResult`.

use super::Digest;

/// The CAS digests a REAPI `ActionResult` references: a GET of the entry
/// is only useful when all of them are present (bazel-remote #106).
///
/// Output directories contribute their `tree_digest` (the `Tree` message
/// in the CAS), not the files inside the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionResultRefs {
    /// `output_files[].digest`.
    pub output_files: Vec<Digest>,
    /// `output_directories[].tree_digest`.
    pub output_trees: Vec<Digest>,
    /// `stdout_digest`, when set.
    pub stdout: Option<Digest>,
    /// `stderr_digest`, when set.
    pub stderr: Option<Digest>,
}

impl ActionResultRefs {
    /// Every referenced digest, outputs first, without duplicates, and
    /// without the empty blob (which always exists).
    pub fn digests(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::new();
        let all = self
            .output_files
            .iter()
            .chain(&self.output_trees)
            .chain(&self.stdout)
            .chain(&self.stderr);
        for d in all {
            if !d.is_empty_blob() && !out.contains(d) {
                out.push(*d);
            }
        }
        out
    }
}

/// Why bytes are not a REAPI `ActionResult`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a REAPI ActionResult: {0}")]
pub struct InvalidActionResult(pub String);

/// Decodes a serialized `build.bazel.remote.execution.v2.ActionResult`
/// (protobuf wire format) into the digests it references. Implemented in
/// infrastructure (the domain knows no protobuf).
///
/// Contract: `decode` MUST reject bytes that are not a well-formed
/// `ActionResult` and any referenced digest whose hash is not 64 lowercase
/// hex or whose size is negative; it MUST accept unknown fields (newer
/// REAPI versions add some).
pub trait ActionResultFormat: Send + Sync + 'static {
    /// Decodes `bytes`.
    ///
    /// # Errors
    /// [`InvalidActionResult`] with the reason.
    fn decode(&self, bytes: &[u8]) -> Result<ActionResultRefs, InvalidActionResult>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_dedups_and_skips_the_empty_blob() {
        let a = Digest::parse(&"a".repeat(64), 1).unwrap();
        let refs = ActionResultRefs {
            output_files: vec![a, Digest::EMPTY],
            output_trees: vec![a],
            stdout: Some(Digest::EMPTY),
            stderr: Some(a),
        };
        assert_eq!(refs.digests(), vec![a]);
    }
}
