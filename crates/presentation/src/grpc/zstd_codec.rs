//! zstd for REAPI's `Compressor.ZSTD` and `compressed-blobs/zstd/`
//! resource names: whole-buffer compression for batch reads, and for
//! uploads the edge's bounded stream decoder (`edge::zstd`:
//! a window of at most 16 MiB) with gRPC's answers. The digest is always
//! the uncompressed content's: decoding never produces more than the
//! digest's size (plus one piece), so a small frame cannot make the server
//! allocate a large buffer.

use bytes::Bytes;
use tonic::Status;

use crate::edge::error::grpc_status::invalid;
use crate::edge::zstd::{self, ZstdError};

/// zstd level of compressed reads: fast, as bazel-remote's default.
pub(crate) const LEVEL: i32 = 1;
/// Size of the pieces a stream is decoded into, in bytes.
const OUT_CHUNK: usize = 256 << 10;

/// `data` as one zstd frame.
///
/// # Errors
/// INTERNAL when the encoder fails (it does not on valid input).
pub(crate) fn compress(data: &[u8]) -> Result<Vec<u8>, Status> {
    ::zstd::bulk::compress(data, LEVEL).map_err(|e| Status::internal(format!("zstd: {e}")))
}

/// `data` (one or more zstd frames) decoded, which must be exactly
/// `expected` bytes.
///
/// # Errors
/// INVALID_ARGUMENT for an invalid or truncated frame, or another size.
pub(crate) fn decompress(data: &[u8], expected: u64) -> Result<Bytes, Status> {
    let mut decoder = StreamDecoder::new(expected)?;
    let mut out = Vec::new();
    decoder.feed(data, |piece| {
        out.extend_from_slice(&piece);
        Ok(())
    })?;
    decoder.finish()?;
    Ok(Bytes::from(out))
}

impl From<ZstdError> for Status {
    fn from(e: ZstdError) -> Self {
        match e {
            ZstdError::Invalid(e) => invalid("data", format!("invalid zstd data: {e}")),
            ZstdError::TooLong { limit_bytes } => invalid(
                "data",
                format!("the zstd data decodes to more than the digest's {limit_bytes} bytes"),
            ),
            ZstdError::Truncated => invalid("data", "truncated zstd data"),
            ZstdError::Empty => invalid("data", "no zstd data"),
        }
    }
}

/// The edge's [`zstd::StreamDecoder`] of a blob whose digest says
/// `expected` bytes, answering in gRPC statuses.
pub(crate) struct StreamDecoder {
    inner: zstd::StreamDecoder,
    expected: u64,
}

impl StreamDecoder {
    /// A decoder of a stream that decodes to `expected` bytes.
    ///
    /// # Errors
    /// INTERNAL when zstd cannot allocate its context.
    pub(crate) fn new(expected: u64) -> Result<Self, Status> {
        let inner = zstd::StreamDecoder::new(OUT_CHUNK, expected)
            .map_err(|e| Status::internal(format!("zstd: {e}")))?;
        Ok(Self { inner, expected })
    }

    /// Decodes `input`, handing each output piece to `sink` (which may
    /// refuse it).
    ///
    /// # Errors
    /// INVALID_ARGUMENT for invalid zstd or output past the expected
    /// size; `sink`'s error.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        sink: impl FnMut(Bytes) -> Result<(), Status>,
    ) -> Result<(), Status> {
        self.inner.feed(input, sink)
    }

    /// Checks the stream ended on a frame boundary (no input at all is
    /// no frame to cut) with the expected size.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for a truncated frame or a short output.
    pub(crate) fn finish(&self) -> Result<(), Status> {
        match self.inner.finish() {
            Ok(()) | Err(ZstdError::Empty) => {}
            Err(e) => return Err(e.into()),
        }
        if self.inner.produced() != self.expected {
            return Err(invalid(
                "data",
                format!(
                    "the zstd data decodes to {} bytes, but the digest says {}",
                    self.inner.produced(),
                    self.expected
                ),
            ));
        }
        Ok(())
    }

    /// Uncompressed bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.inner.produced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_wrong_sizes_and_truncation() {
        let content = vec![7u8; 3 * OUT_CHUNK + 5];
        let compressed = compress(&content).unwrap();
        assert_eq!(
            decompress(&compressed, content.len() as u64).unwrap(),
            content
        );
        assert_eq!(
            decompress(&compressed, 10).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            decompress(&compressed, content.len() as u64 + 1)
                .unwrap_err()
                .code(),
            tonic::Code::InvalidArgument
        );
        let cut = &compressed[..compressed.len() - 3];
        assert_eq!(
            decompress(cut, content.len() as u64).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert!(decompress(b"not zstd", 8).is_err());
    }
}
