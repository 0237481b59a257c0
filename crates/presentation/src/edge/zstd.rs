//! The one bounded zstd stream decoder of every face: HTTP's
//! `Content-Encoding: zstd` CAS uploads and gRPC's REAPI
//! `compressed-blobs/zstd/` and `Compressor.ZSTD`. Memory stays bounded
//! whatever the compression ratio: the window a frame may ask for is at
//! most [`WINDOW_LOG_MAX`], the output comes in pieces of a size the face
//! chooses, and the decoder refuses to produce more than its limit.
//!
//! It knows no protocol: a failure is a [`ZstdError`], which each face
//! turns into its own answer (a problem body, a gRPC status).

use bytes::Bytes;
use zstd::stream::raw::{DParameter, Decoder, Operation};

/// Largest zstd window a client's stream may use, as a power of two: 2^24
/// bytes (16 MiB), which covers every standard compression level (level
/// 19 uses 8 MiB). A frame that asks for more is refused
/// ([`ZstdError::Invalid`]), so a client cannot make the server allocate
/// a large window.
pub(crate) const WINDOW_LOG_MAX: u32 = 24;

/// Why a zstd stream does not decode.
#[derive(Debug)]
pub(crate) enum ZstdError {
    /// Not zstd, or a frame zstd refuses (such as one whose window is over
    /// [`WINDOW_LOG_MAX`]).
    Invalid(std::io::Error),
    /// The stream decodes to more than the decoder's limit.
    TooLong {
        /// The decoder's limit, in uncompressed bytes.
        limit_bytes: u64,
    },
    /// The stream stops inside a frame.
    Truncated,
    /// The stream had no input at all (zero frames). Whether that is an
    /// error is the face's to say.
    Empty,
}

/// A streaming zstd decoder: feed compressed input, get uncompressed
/// pieces of at most `piece_bytes`, never more than `limit_bytes` in all.
pub(crate) struct StreamDecoder {
    decoder: Decoder<'static>,
    piece_bytes: usize,
    limit_bytes: u64,
    produced: u64,
    /// Whether any input was read or output written.
    started: bool,
    /// Whether the input so far ends on a frame boundary.
    frame_done: bool,
}

impl StreamDecoder {
    /// A decoder with output pieces of at most `piece_bytes` bytes that
    /// refuses to produce more than `limit_bytes` (`u64::MAX` for no
    /// limit of its own).
    ///
    /// # Errors
    /// zstd cannot allocate its context.
    pub(crate) fn new(piece_bytes: usize, limit_bytes: u64) -> std::io::Result<Self> {
        let mut decoder = Decoder::new()?;
        decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))?;
        Ok(Self {
            decoder,
            piece_bytes,
            limit_bytes,
            produced: 0,
            started: false,
            frame_done: false,
        })
    }

    /// Decodes from `input`: the output piece (at most `piece_bytes`),
    /// the input bytes consumed, and whether to call again (input left,
    /// or the piece was full).
    ///
    /// # Errors
    /// [`ZstdError::Invalid`], or [`ZstdError::TooLong`] past the limit.
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<(Bytes, usize, bool), ZstdError> {
        let mut out = vec![0u8; self.piece_bytes];
        let status = self
            .decoder
            .run_on_buffers(input, &mut out)
            .map_err(ZstdError::Invalid)?;
        if status.bytes_read > 0 || status.bytes_written > 0 {
            self.started = true;
            self.frame_done = status.remaining == 0;
        }
        out.truncate(status.bytes_written);
        self.produced += out.len() as u64;
        if self.produced > self.limit_bytes {
            return Err(ZstdError::TooLong {
                limit_bytes: self.limit_bytes,
            });
        }
        let more = status.bytes_read < input.len() || status.bytes_written == self.piece_bytes;
        Ok((Bytes::from(out), status.bytes_read, more))
    }

    /// Decodes all of `input`, handing each non-empty piece to `sink`
    /// (which may refuse it).
    ///
    /// # Errors
    /// [`step`](Self::step)'s, or `sink`'s.
    pub(crate) fn feed<E: From<ZstdError>>(
        &mut self,
        mut input: &[u8],
        mut sink: impl FnMut(Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            let (piece, read, more) = self.step(input)?;
            input = &input[read..];
            if !piece.is_empty() {
                sink(piece)?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Checks the stream so far is whole: it ends on a frame boundary.
    ///
    /// # Errors
    /// [`ZstdError::Truncated`] inside a frame, [`ZstdError::Empty`]
    /// without any input.
    pub(crate) fn finish(&self) -> Result<(), ZstdError> {
        if !self.started {
            return Err(ZstdError::Empty);
        }
        if !self.frame_done {
            return Err(ZstdError::Truncated);
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
    use std::io::Write;

    use zstd::stream::raw::CParameter;

    use super::*;

    fn decode(d: &mut StreamDecoder, input: &[u8]) -> Result<Vec<u8>, ZstdError> {
        let mut out = Vec::new();
        d.feed(input, |piece: Bytes| {
            out.extend_from_slice(&piece);
            Ok::<_, ZstdError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn decodes_in_bounded_pieces_up_to_its_limit() {
        let content = vec![7u8; 10_000];
        let compressed = zstd::bulk::compress(&content, 3).unwrap();
        let mut d = StreamDecoder::new(1024, content.len() as u64).unwrap();
        let mut offset = 0;
        loop {
            let (piece, read, more) = d.step(&compressed[offset..]).unwrap();
            assert!(piece.len() <= 1024);
            offset += read;
            if !more {
                break;
            }
        }
        assert!(d.finish().is_ok());
        assert_eq!(d.produced(), content.len() as u64);

        let mut d = StreamDecoder::new(1024, content.len() as u64 - 1).unwrap();
        assert!(matches!(
            decode(&mut d, &compressed),
            Err(ZstdError::TooLong { limit_bytes: 9_999 })
        ));
    }

    #[test]
    fn tells_empty_from_truncated() {
        let compressed = zstd::bulk::compress(&[1u8; 1000], 3).unwrap();
        let d = StreamDecoder::new(1024, u64::MAX).unwrap();
        assert!(matches!(d.finish(), Err(ZstdError::Empty)));
        let mut d = StreamDecoder::new(1024, u64::MAX).unwrap();
        decode(&mut d, &compressed[..compressed.len() / 2]).unwrap();
        assert!(matches!(d.finish(), Err(ZstdError::Truncated)));
        assert!(matches!(
            decode(
                &mut StreamDecoder::new(1024, u64::MAX).unwrap(),
                b"not zstd"
            ),
            Err(ZstdError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_a_window_over_the_limit() {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder
            .set_parameter(CParameter::WindowLog(WINDOW_LOG_MAX + 1))
            .unwrap();
        encoder.write_all(&[5u8; 4096]).unwrap();
        let compressed = encoder.finish().unwrap();
        let mut d = StreamDecoder::new(1024, u64::MAX).unwrap();
        assert!(matches!(
            decode(&mut d, &compressed),
            Err(ZstdError::Invalid(_))
        ));
    }
}
