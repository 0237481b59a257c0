//! [`ProstTaskResultCodec`]: a [`TaskResult`] as a REAPI `ActionResult`.

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::protobuf::Timestamp;
use bytes::Bytes;
use prost::Message as _;
use strata_domain::tasks::{OutputFile, TaskResult, TaskResultCodec};
use strata_domain::{Digest, InvalidActionResult};

/// Encodes task results as `build.bazel.remote.execution.v2.ActionResult`
/// (protobuf): `output_files` with digest and `is_executable`,
/// `exit_code`, `stdout_digest`, `stderr_digest`, and the original run's
/// duration as `execution_metadata`'s start (0) and completion
/// timestamps. Strata's AC validation and bazel-remote accept it. The
/// message is `bazel-remote-apis`' `ActionResult`, as everywhere in Strata.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProstTaskResultCodec;

fn to_wire(d: &Digest) -> reapi::Digest {
    reapi::Digest {
        hash: d.hash().to_string(),
        size_bytes: i64::try_from(d.size_bytes()).unwrap_or(i64::MAX),
    }
}

fn from_wire(d: Option<&reapi::Digest>, what: &str) -> Result<Digest, InvalidActionResult> {
    match d {
        None => Ok(Digest::EMPTY),
        Some(d) => Digest::from_wire(&d.hash, d.size_bytes)
            .map_err(|e| InvalidActionResult(format!("{what}: {e}"))),
    }
}

impl TaskResultCodec for ProstTaskResultCodec {
    fn encode(&self, r: &TaskResult) -> Bytes {
        let ms = i64::try_from(r.duration_ms).unwrap_or(i64::MAX);
        let msg = reapi::ActionResult {
            output_files: r
                .outputs
                .iter()
                .map(|o| reapi::OutputFile {
                    path: o.path.clone(),
                    digest: Some(to_wire(&o.digest)),
                    is_executable: o.executable,
                    ..Default::default()
                })
                .collect(),
            exit_code: r.exit_code,
            stdout_digest: Some(to_wire(&r.stdout)),
            stderr_digest: Some(to_wire(&r.stderr)),
            execution_metadata: Some(reapi::ExecutedActionMetadata {
                execution_start_timestamp: Some(Timestamp::default()),
                execution_completed_timestamp: Some(Timestamp {
                    seconds: ms / 1000,
                    nanos: i32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        Bytes::from(msg.encode_to_vec())
    }

    fn decode(&self, bytes: &[u8]) -> Result<TaskResult, InvalidActionResult> {
        let msg =
            reapi::ActionResult::decode(bytes).map_err(|e| InvalidActionResult(e.to_string()))?;
        let mut outputs = Vec::with_capacity(msg.output_files.len());
        for f in &msg.output_files {
            if f.digest.is_none() {
                return Err(InvalidActionResult(format!(
                    "output file {:?} has no digest",
                    f.path
                )));
            }
            outputs.push(OutputFile {
                path: f.path.clone(),
                digest: from_wire(f.digest.as_ref(), "output_files.digest")?,
                executable: f.is_executable,
            });
        }
        let duration_ms = msg
            .execution_metadata
            .and_then(|m| m.execution_completed_timestamp)
            .map_or(0, |t| {
                let ms = t.seconds.saturating_mul(1000) + i64::from(t.nanos / 1_000_000);
                u64::try_from(ms).unwrap_or(0)
            });
        Ok(TaskResult {
            exit_code: msg.exit_code,
            stdout: from_wire(msg.stdout_digest.as_ref(), "stdout_digest")?,
            stderr: from_wire(msg.stderr_digest.as_ref(), "stderr_digest")?,
            outputs,
            duration_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use strata_domain::ActionResultFormat as _;
    use strata_domain::DigestHash;

    use super::*;
    use crate::ProstActionResultFormat;

    #[test]
    fn round_trips_and_is_a_valid_action_result() {
        let d = Digest::new(DigestHash::from_bytes([7; 32]), 12);
        let r = TaskResult {
            exit_code: 3,
            stdout: d,
            stderr: Digest::EMPTY,
            outputs: vec![OutputFile {
                path: "out/app".into(),
                digest: d,
                executable: true,
            }],
            duration_ms: 61_234,
        };
        let bytes = ProstTaskResultCodec.encode(&r);
        assert_eq!(ProstTaskResultCodec.decode(&bytes).unwrap(), r);
        let refs = ProstActionResultFormat.decode(&bytes).unwrap();
        assert_eq!(refs.output_files, vec![d]);
        assert!(ProstTaskResultCodec.decode(b"\xff\xff").is_err());
    }
}
