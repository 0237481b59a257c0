//! [`ProstActionResultFormat`]: decoding REAPI `ActionResult`s with prost.
//!
//! The messages are a hand-written subset of
//! `build/bazel/remote/execution/v2/remote_execution.proto` (REAPI v2,
//! github.com/bazelbuild/remote-apis), with its exact field numbers, so no
//! `protoc` or build script is needed. Fields left out (execution
//! metadata, node properties, inline contents' siblings) are skipped by
//! prost as unknown fields, as protobuf requires.

use strata_domain::{ActionResultFormat, ActionResultRefs, Digest, InvalidActionResult};

/// The REAPI messages this crate reads and (in tests) writes.
pub mod reapi_proto {
    #![expect(missing_docs, reason = "field docs live in remote_execution.proto")]

    /// `build.bazel.remote.execution.v2.Digest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Digest {
        #[prost(string, tag = "1")]
        pub hash: String,
        #[prost(int64, tag = "2")]
        pub size_bytes: i64,
    }

    /// `build.bazel.remote.execution.v2.OutputFile`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OutputFile {
        #[prost(string, tag = "1")]
        pub path: String,
        #[prost(message, optional, tag = "2")]
        pub digest: Option<Digest>,
        #[prost(bool, tag = "4")]
        pub is_executable: bool,
        #[prost(bytes = "vec", tag = "5")]
        pub contents: Vec<u8>,
    }

    /// `build.bazel.remote.execution.v2.OutputDirectory`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OutputDirectory {
        #[prost(string, tag = "1")]
        pub path: String,
        #[prost(message, optional, tag = "3")]
        pub tree_digest: Option<Digest>,
        #[prost(bool, tag = "4")]
        pub is_topologically_sorted: bool,
        #[prost(message, optional, tag = "5")]
        pub root_directory_digest: Option<Digest>,
    }

    /// `build.bazel.remote.execution.v2.OutputSymlink`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OutputSymlink {
        #[prost(string, tag = "1")]
        pub path: String,
        #[prost(string, tag = "2")]
        pub target: String,
    }

    /// `build.bazel.remote.execution.v2.ActionResult` (field 1 is reserved;
    /// `execution_metadata = 9` is skipped).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ActionResult {
        #[prost(message, repeated, tag = "2")]
        pub output_files: Vec<OutputFile>,
        #[prost(message, repeated, tag = "10")]
        pub output_file_symlinks: Vec<OutputSymlink>,
        #[prost(message, repeated, tag = "12")]
        pub output_symlinks: Vec<OutputSymlink>,
        #[prost(message, repeated, tag = "3")]
        pub output_directories: Vec<OutputDirectory>,
        #[prost(message, repeated, tag = "11")]
        pub output_directory_symlinks: Vec<OutputSymlink>,
        #[prost(int32, tag = "4")]
        pub exit_code: i32,
        #[prost(bytes = "vec", tag = "5")]
        pub stdout_raw: Vec<u8>,
        #[prost(message, optional, tag = "6")]
        pub stdout_digest: Option<Digest>,
        #[prost(bytes = "vec", tag = "7")]
        pub stderr_raw: Vec<u8>,
        #[prost(message, optional, tag = "8")]
        pub stderr_digest: Option<Digest>,
    }
}

/// Decodes serialized `ActionResult`s (protobuf wire format) into the
/// digests they reference, for AC validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProstActionResultFormat;

fn digest(d: &reapi_proto::Digest, field: &str) -> Result<Digest, InvalidActionResult> {
    Digest::from_wire(&d.hash, d.size_bytes)
        .map_err(|e| InvalidActionResult(format!("{field}: {e}")))
}

impl ActionResultFormat for ProstActionResultFormat {
    fn decode(&self, bytes: &[u8]) -> Result<ActionResultRefs, InvalidActionResult> {
        let msg = <reapi_proto::ActionResult as prost::Message>::decode(bytes)
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

    use super::reapi_proto::*;
    use super::*;

    fn d(c: char, size: i64) -> super::reapi_proto::Digest {
        super::reapi_proto::Digest {
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
            stderr_digest: Some(super::reapi_proto::Digest {
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
