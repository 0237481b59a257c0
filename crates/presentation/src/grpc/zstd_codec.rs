//! zstd for REAPI's `Compressor.ZSTD` and `compressed-blobs/zstd/`
//! resource names: whole-buffer compression for batch reads, a streaming
//! decoder with bounded output for uploads. The digest is always the
//! uncompressed content's. Decoding allows a window of at most 16 MiB
//! (`WindowLogMax(24)`, every standard level) and never produces more than
//! the digest's size plus one byte, so a small frame cannot make the
//! server allocate a large buffer.

use bytes::Bytes;
use tonic::Status;
use zstd::stream::raw::{DParameter, Decoder, Operation};

use crate::edge::error::grpc_status::invalid;

/// Largest zstd window accepted: 2^24 bytes (16 MiB).
const WINDOW_LOG_MAX: u32 = 24;
/// zstd level of compressed reads: fast, as bazel-remote's default.
pub(crate) const LEVEL: i32 = 1;
/// Size of the pieces a stream is decoded into, in bytes.
const OUT_CHUNK: usize = 256 << 10;

/// `data` as one zstd frame.
///
/// # Errors
/// INTERNAL when the encoder fails (it does not on valid input).
pub(crate) fn compress(data: &[u8]) -> Result<Vec<u8>, Status> {
    zstd::bulk::compress(data, LEVEL).map_err(|e| Status::internal(format!("zstd: {e}")))
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

/// A streaming zstd decoder: feed compressed pieces, get bounded
/// uncompressed pieces, never more than the expected size.
pub(crate) struct StreamDecoder {
    decoder: Decoder<'static>,
    /// Whether the input so far ends on a frame boundary.
    frame_done: bool,
    expected: u64,
    produced: u64,
}

impl StreamDecoder {
    /// A decoder of a stream that decodes to `expected` bytes.
    ///
    /// # Errors
    /// INTERNAL when zstd cannot allocate its context.
    pub(crate) fn new(expected: u64) -> Result<Self, Status> {
        let mut decoder = Decoder::new().map_err(|e| Status::internal(format!("zstd: {e}")))?;
        decoder
            .set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
            .map_err(|e| Status::internal(format!("zstd: {e}")))?;
        Ok(Self {
            decoder,
            frame_done: true,
            expected,
            produced: 0,
        })
    }

    /// Decodes `input`, handing each output piece to `sink` (which may
    /// refuse it).
    ///
    /// # Errors
    /// INVALID_ARGUMENT for invalid zstd or output past the expected
    /// size; `sink`'s error.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        mut sink: impl FnMut(Bytes) -> Result<(), Status>,
    ) -> Result<(), Status> {
        loop {
            let mut out = vec![0u8; OUT_CHUNK];
            let status = self
                .decoder
                .run_on_buffers(input, &mut out)
                .map_err(|e| invalid("data", format!("invalid zstd data: {e}")))?;
            if status.bytes_read > 0 || status.bytes_written > 0 {
                self.frame_done = status.remaining == 0;
            }
            input = &input[status.bytes_read..];
            out.truncate(status.bytes_written);
            self.produced += out.len() as u64;
            if self.produced > self.expected {
                return Err(invalid(
                    "data",
                    format!(
                        "the zstd data decodes to more than the digest's {} bytes",
                        self.expected
                    ),
                ));
            }
            let full = status.bytes_written == OUT_CHUNK;
            if !out.is_empty() {
                sink(Bytes::from(out))?;
            }
            if input.is_empty() && !full {
                return Ok(());
            }
        }
    }

    /// Checks the stream ended on a frame boundary with the expected size.
    ///
    /// # Errors
    /// INVALID_ARGUMENT for a truncated frame or a short output.
    pub(crate) fn finish(&self) -> Result<(), Status> {
        if !self.frame_done {
            return Err(invalid("data", "truncated zstd data"));
        }
        if self.produced != self.expected {
            return Err(invalid(
                "data",
                format!(
                    "the zstd data decodes to {} bytes, but the digest says {}",
                    self.produced, self.expected
                ),
            ));
        }
        Ok(())
    }

    /// Uncompressed bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
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
