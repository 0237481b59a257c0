//! [`ProstActionResultFormat`]: decoding REAPI `ActionResult`s with prost.
//!
//! The message is `bazel-remote-apis`' generated
//! `build.bazel.remote.execution.v2.ActionResult`, the one type Strata
//! uses for it (the gRPC face and the task cache's codec too), so no
//! `protoc` or build script is needed here. This module knows the message
//! and the domain's digest; it knows no store and no transport.

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use strata_domain::{ActionResultFormat, ActionResultRefs, Digest, InvalidActionResult};

/// Decodes serialized `ActionResult`s (protobuf wire format) into the
/// digests they reference, for AC validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProstActionResultFormat;

fn digest(d: &reapi::Digest, field: &str) -> Result<Digest, InvalidActionResult> {
    Digest::from_wire(&d.hash, d.size_bytes)
        .map_err(|e| InvalidActionResult(format!("{field}: {e}")))
}

impl ActionResultFormat for ProstActionResultFormat {
    fn decode(&self, bytes: &[u8]) -> Result<ActionResultRefs, InvalidActionResult> {
        let msg = <reapi::ActionResult as prost::Message>::decode(bytes)
            .map_err(|e| InvalidActionResult(e.to_string()))?;
        let mut refs = ActionResultRefs::default();
        for f in &msg.output_files {
            let d = f.digest.as_ref().ok_or_else(|| {
                InvalidActionResult(format!("output file {:?} has no digest", f.path))
            })?;
            refs.output_files.push(digest(d, "output_files.digest")?);
        }
        for dir in &msg.output_directories {
            let d = dir.tree_digest.as_ref().ok_or_else(|| {
                InvalidActionResult(format!(
                    "output directory {:?} has no tree digest",
                    dir.path
                ))
            })?;
            refs.output_trees
                .push(digest(d, "output_directories.tree_digest")?);
        }
        refs.stdout = msg
            .stdout_digest
            .as_ref()
            .map(|d| digest(d, "stdout_digest"))
            .transpose()?;
        refs.stderr = msg
            .stderr_digest
            .as_ref()
            .map(|d| digest(d, "stderr_digest"))
            .transpose()?;
        Ok(refs)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::reapi::{ActionResult, OutputDirectory, OutputFile};
    use super::*;

    fn d(c: char, size: i64) -> reapi::Digest {
        reapi::Digest {
            hash: c.to_string().repeat(64),
            size_bytes: size,
        }
    }

    #[test]
    fn decodes_the_referenced_digests() {
        let ar = ActionResult {
            output_files: vec![OutputFile {
                path: "out/a".into(),
                digest: Some(d('a', 3)),
                ..Default::default()
            }],
            output_directories: vec![OutputDirectory {
                path: "out/d".into(),
                tree_digest: Some(d('b', 7)),
                ..Default::default()
            }],
            stdout_digest: Some(d('c', 1)),
            exit_code: 1,
            ..Default::default()
        };
        let refs = ProstActionResultFormat.decode(&ar.encode_to_vec()).unwrap();
        assert_eq!(
            refs.output_files,
            vec![strata_domain::Digest::parse(&"a".repeat(64), 3).unwrap()]
        );
        assert_eq!(
            refs.output_trees,
            vec![strata_domain::Digest::parse(&"b".repeat(64), 7).unwrap()]
        );
        assert_eq!(
            refs.stdout,
            Some(strata_domain::Digest::parse(&"c".repeat(64), 1).unwrap())
        );
        assert_eq!(refs.stderr, None);
        // The empty message is a valid ActionResult.
        assert_eq!(
            ProstActionResultFormat.decode(&[]).unwrap(),
            ActionResultRefs::default()
        );
    }

    #[test]
    fn rejects_garbage_and_bad_digests() {
        assert!(ProstActionResultFormat.decode(b"\xff\xff\xff\xff").is_err());
        let bad = ActionResult {
            stderr_digest: Some(reapi::Digest {
                hash: "xyz".into(),
                size_bytes: 1,
            }),
            ..Default::default()
        };
        assert!(
            ProstActionResultFormat
                .decode(&bad.encode_to_vec())
                .is_err()
        );
        let negative = ActionResult {
            stdout_digest: Some(d('a', -4)),
            ..Default::default()
        };
        assert!(
            ProstActionResultFormat
                .decode(&negative.encode_to_vec())
                .is_err()
        );
    }
}
