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

/// The zstd stream of a blob as this server encodes it, from `offset`
/// (in compressed bytes) for at most `limit` compressed bytes: one frame
/// per `piece_bytes` of the blob (the last shorter), each compressed
/// alone at [`LEVEL`]. The same blob so always gives the same bytes, and a
/// read resumed at a compressed offset continues the stream it broke off
/// (REAPI: offsets of compressed resources count compressed bytes), while
/// memory holds one piece and its frame, whatever the blob's size.
///
/// # Errors
/// The stream yields OUT_OF_RANGE when `offset` is past the end of the
/// compressed stream, and the reader's I/O errors as UNAVAILABLE-class
/// statuses.
pub(crate) fn compressed_window(
    reader: Box<dyn strata_domain::BlobReader>,
    piece_bytes: usize,
    offset: u64,
    limit: Option<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, Status>> + Send + 'static {
    struct State {
        reader: Box<dyn strata_domain::BlobReader>,
        pending: bytes::BytesMut,
        eof: bool,
        skip: u64,
        remaining: Option<u64>,
        emitted: u64,
        finished: bool,
    }
    let state = State {
        reader,
        pending: bytes::BytesMut::new(),
        eof: false,
        skip: offset,
        remaining: limit,
        emitted: 0,
        finished: false,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        if st.finished || st.remaining == Some(0) {
            return None;
        }
        loop {
            while st.pending.len() < piece_bytes && !st.eof {
                match st.reader.next_chunk().await {
                    Ok(Some(chunk)) => st.pending.extend_from_slice(&chunk),
                    Ok(None) => st.eof = true,
                    Err(e) => {
                        st.finished = true;
                        let e = strata_domain::BuildCacheError::io("cas", "reading a blob", e);
                        return Some((
                            Err(Status::from(crate::edge::error::ApiError::from(e))),
                            st,
                        ));
                    }
                }
            }
            if st.pending.is_empty() {
                st.finished = true;
                if st.skip > 0 {
                    let e = strata_domain::BuildCacheError::InvalidRange {
                        offset,
                        size_bytes: offset - st.skip + st.emitted,
                    };
                    return Some((Err(Status::from(crate::edge::error::ApiError::from(e))), st));
                }
                return None;
            }
            let take = st.pending.len().min(piece_bytes);
            let piece = st.pending.split_to(take);
            let frame = match compress(&piece) {
                Ok(frame) => Bytes::from(frame),
                Err(status) => {
                    st.finished = true;
                    return Some((Err(status), st));
                }
            };
            let len = frame.len() as u64;
            if st.skip >= len {
                st.skip -= len;
                continue;
            }
            let mut out = frame.slice(st.skip as usize..);
            st.skip = 0;
            if let Some(r) = st.remaining {
                if out.len() as u64 > r {
                    out = out.slice(..r as usize);
                }
                st.remaining = Some(r - out.len() as u64);
            }
            st.emitted += out.len() as u64;
            return Some((Ok(out), st));
        }
    })
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
