//! Request bodies: `Content-Encoding` decoded as the body streams, in
//! pieces of at most [`PIECE_BYTES`], with every limit counted in decoded
//! bytes and checked after each piece.
//!
//! - **Codings.** `identity` (or none), `zstd` (the edge's one bounded
//!   decoder, `edge::zstd`: a window of at most 16 MiB) and `gzip`
//!   (`x-gzip`; several members are read one after another). Any other
//!   coding, or more than one, is 415 `unsupported_media_type`: still
//!   encoded bytes are never taken for the content. An empty body is the
//!   empty content whatever the coding; a body that stops inside a frame
//!   or member, or does not decode, is 400 `invalid_body`.
//! - **Limits.** [`BodyStream`] answers 413 as soon as the decoded bytes
//!   pass its limit, having produced at most one piece more than the
//!   limit: a small compressed body (a "decompression bomb") costs at
//!   most the limit plus one piece of memory, and no more time than the
//!   limit's worth of decoding. An uncompressed body whose
//!   `Content-Length` is over the limit is refused before it is read.
//! - **Who uses it.** Every handler that takes a body: [`Body`] (read
//!   whole, at most [`MAX_BODY_BYTES`]) for JSON and MessagePack bodies,
//!   [`BodyStream`] for an entry's PUT (the cache's `max_value_bytes`,
//!   after the grant is checked) and for imports (streamed, no total
//!   limit). The build cache's `/ac` and `/cas` read their own bodies (a
//!   CAS upload is streamed into the store, through the same zstd
//!   decoder).
//!
//! actix-web's own request decompression (`compress-*` features) is off:
//! it decodes each chunk whole before any limit counts it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest};
use bytes::{Buf, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use futures_util::StreamExt;

use crate::edge::MAX_BODY_BYTES;
use crate::edge::error::ApiError;
use crate::edge::zstd::{StreamDecoder, ZstdError};

/// Largest piece of decoded output produced at once, in bytes (64 KiB).
pub(crate) const PIECE_BYTES: usize = 64 * 1024;

/// The content coding of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// No coding.
    Identity,
    /// `zstd` (RFC 8878).
    Zstd,
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
}

impl Coding {
    /// The coding `Content-Encoding` names.
    ///
    /// # Errors
    /// 415 `unsupported_media_type` for any other coding, or for more
    /// than one.
    pub(crate) fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut codings = headers
            .get_all(header::CONTENT_ENCODING)
            .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"));
        let coding = match codings.next() {
            None => Self::Identity,
            Some(c) if c.eq_ignore_ascii_case("zstd") => Self::Zstd,
            Some(c) if c.eq_ignore_ascii_case("gzip") || c.eq_ignore_ascii_case("x-gzip") => {
                Self::Gzip
            }
            Some(_) => return Err(unsupported()),
        };
        if codings.next().is_some() {
            return Err(ApiError::unsupported_media_type(
                "only one Content-Encoding at a time is accepted: identity, zstd or gzip",
            ));
        }
        Ok(coding)
    }
}

fn unsupported() -> ApiError {
    ApiError::unsupported_media_type("Content-Encoding must be identity, zstd or gzip")
}

/// The declared `Content-Length`, when it is a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
}

/// What a request body cannot be read for, in the problem's words: no
/// Rust debug text, nothing of the connection's internals.
pub(crate) fn payload_error(e: &PayloadError) -> ApiError {
    match e {
        PayloadError::Overflow => ApiError::payload_too_large("the request body is too large"),
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::request_timeout()
        }
        PayloadError::Incomplete(_) => {
            ApiError::invalid_body("the request body ended before its declared length")
        }
        PayloadError::EncodingCorrupted => ApiError::invalid_body("the request body is corrupt"),
        _ => ApiError::invalid_body("the request body could not be read"),
    }
}

/// A gzip stream decoder over zlib's inflate: output in pieces of at most
/// `piece_bytes`, members one after another.
struct GzipDecoder {
    inflate: Decompress,
    piece_bytes: usize,
    /// Whether any input was read.
    started: bool,
    /// Whether the input so far ends at the end of a member.
    member_done: bool,
}

impl GzipDecoder {
    fn new(piece_bytes: usize) -> Self {
        Self {
            inflate: Decompress::new_gzip(15),
            piece_bytes,
            started: false,
            member_done: false,
        }
    }

    fn step(&mut self, input: &[u8]) -> Result<(Bytes, usize), ApiError> {
        if self.member_done && !input.is_empty() {
            // The next member.
            self.inflate = Decompress::new_gzip(15);
            self.member_done = false;
        }
        let mut out = vec![0u8; self.piece_bytes];
        let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
        let status = self
            .inflate
            .decompress(input, &mut out, FlushDecompress::None)
            .map_err(|e| ApiError::invalid_body(format!("invalid gzip body: {e}")))?;
        let read = usize::try_from(self.inflate.total_in() - before_in).unwrap_or(input.len());
        let written = usize::try_from(self.inflate.total_out() - before_out).unwrap_or(0);
        if read > 0 {
            self.started = true;
        }
        if status == Status::StreamEnd {
            self.member_done = true;
        }
        out.truncate(written);
        Ok((Bytes::from(out), read))
    }

    fn finish(&self) -> Result<(), ApiError> {
        if self.started && !self.member_done {
            return Err(ApiError::invalid_body("truncated gzip body"));
        }
        Ok(())
    }
}

enum Decoder {
    Identity,
    Zstd(StreamDecoder),
    Gzip(GzipDecoder),
}

fn zstd_error(e: ZstdError) -> ApiError {
    match e {
        ZstdError::Invalid(e) => ApiError::invalid_body(format!("invalid zstd body: {e}")),
        ZstdError::Truncated => ApiError::invalid_body("truncated zstd body"),
        // Not produced: the stream counts the limit itself.
        ZstdError::TooLong { .. } | ZstdError::Empty => ApiError::invalid_body("invalid zstd body"),
    }
}

/// The error of a body over `limit_bytes`, having seen at least
/// `seen_bytes` of it.
pub(crate) type TooLarge = Box<dyn Fn(u64, u64) -> ApiError>;

fn payload_too_large(seen_bytes: u64, limit_bytes: u64) -> ApiError {
    ApiError::payload_too_large(format!(
        "the request body is over the limit of {limit_bytes} bytes (at least {seen_bytes} \
         bytes, counted decoded)"
    ))
}

/// A request body, decoded as it streams and bounded in decoded bytes.
pub(crate) struct BodyStream {
    payload: Payload,
    decoder: Decoder,
    limit_bytes: u64,
    too_large: TooLarge,
    produced: u64,
    /// Received bytes the decoder has not read yet.
    input: Bytes,
    /// Whether the decoder's last piece was full (it may hold more).
    pending: bool,
    input_done: bool,
}

impl BodyStream {
    /// The body of a request with `headers`, at most `limit_bytes` decoded
    /// (`u64::MAX` for no limit), over which it is
    /// 413 `payload_too_large` (see [`too_large`](Self::too_large)).
    ///
    /// # Errors
    /// 415 for an unknown `Content-Encoding`; the limit's error when an
    /// uncompressed body's `Content-Length` is over it.
    pub(crate) fn new(
        headers: &HeaderMap,
        payload: Payload,
        limit_bytes: u64,
    ) -> Result<Self, ApiError> {
        Self::with_error(headers, payload, limit_bytes, Box::new(payload_too_large))
    }

    /// As [`new`](Self::new), with `too_large` for the error of a body
    /// over the limit.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn with_error(
        headers: &HeaderMap,
        payload: Payload,
        limit_bytes: u64,
        too_large: TooLarge,
    ) -> Result<Self, ApiError> {
        let decoder = match Coding::of(headers)? {
            Coding::Identity => {
                if let Some(len) = content_length(headers)
                    && len > limit_bytes
                {
                    return Err(too_large(len, limit_bytes));
                }
                Decoder::Identity
            }
            Coding::Zstd => Decoder::Zstd(
                StreamDecoder::new(PIECE_BYTES, u64::MAX).map_err(ApiError::internal)?,
            ),
            Coding::Gzip => Decoder::Gzip(GzipDecoder::new(PIECE_BYTES)),
        };
        Ok(Self {
            payload,
            decoder,
            limit_bytes,
            too_large,
            produced: 0,
            input: Bytes::new(),
            pending: false,
            input_done: false,
        })
    }

    /// Decoded bytes produced so far.
    #[cfg(test)]
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    fn count(&mut self, piece: Bytes) -> Result<Option<Bytes>, ApiError> {
        self.produced += piece.len() as u64;
        if self.produced > self.limit_bytes {
            return Err((self.too_large)(self.produced, self.limit_bytes));
        }
        Ok(Some(piece))
    }

    /// The next decoded piece (at most [`PIECE_BYTES`] when the body is
    /// encoded, a received chunk when it is not), `None` at the end.
    ///
    /// # Errors
    /// The limit's error as soon as the decoded bytes pass it; 400
    /// `invalid_body` for a body that does not decode or stops inside a
    /// frame; the payload's errors ([`payload_error`]).
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        loop {
            if !self.input.is_empty() || self.pending {
                let (piece, read) = match &mut self.decoder {
                    Decoder::Identity => (std::mem::take(&mut self.input), 0),
                    Decoder::Zstd(d) => {
                        let (piece, read, _) = d.step(&self.input).map_err(zstd_error)?;
                        (piece, read)
                    }
                    Decoder::Gzip(d) => d.step(&self.input)?,
                };
                self.input.advance(read);
                self.pending = piece.len() == PIECE_BYTES;
                if !piece.is_empty() {
                    return self.count(piece);
                }
                if read == 0 && !self.input.is_empty() {
                    // Input the decoder refuses to read: no progress is
                    // possible.
                    return Err(ApiError::invalid_body(
                        "the request body does not decode (data after its end?)",
                    ));
                }
                continue;
            }
            if self.input_done {
                match &self.decoder {
                    Decoder::Identity => {}
                    Decoder::Zstd(d) => match d.finish() {
                        Ok(()) | Err(ZstdError::Empty) => {}
                        Err(e) => return Err(zstd_error(e)),
                    },
                    Decoder::Gzip(d) => d.finish()?,
                }
                return Ok(None);
            }
            match self.payload.next().await {
                None => self.input_done = true,
                Some(Err(e)) => return Err(payload_error(&e)),
                Some(Ok(chunk)) => {
                    if matches!(self.decoder, Decoder::Identity) {
                        return self.count(chunk);
                    }
                    self.input = chunk;
                }
            }
        }
    }

    /// The whole decoded body.
    ///
    /// # Errors
    /// As [`next`](Self::next).
    pub(crate) async fn read_all(mut self, headers: &HeaderMap) -> Result<Bytes, ApiError> {
        let hint = match self.decoder {
            Decoder::Identity => content_length(headers).unwrap_or(0),
            _ => 0,
        };
        let first = match self.next().await? {
            None => return Ok(Bytes::new()),
            Some(first) => first,
        };
        let Some(second) = self.next().await? else {
            return Ok(first);
        };
        let capacity = usize::try_from(hint.min(self.limit_bytes))
            .unwrap_or(0)
            .max(first.len() + second.len());
        let mut body = BytesMut::with_capacity(capacity);
        body.extend_from_slice(&first);
        body.extend_from_slice(&second);
        while let Some(piece) = self.next().await? {
            body.extend_from_slice(&piece);
        }
        Ok(body.freeze())
    }
}

/// A whole request body, decoded ([`BodyStream`]), at most
/// [`MAX_BODY_BYTES`]: the extractor of the JSON and MessagePack bodies.
pub(crate) struct Body(pub(crate) Bytes);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers().clone();
        let stream = BodyStream::new(&headers, payload.take(), MAX_BODY_BYTES as u64);
        Box::pin(async move { stream?.read_all(&headers).await.map(Body) })
    }
}

/// A request payload that fails with `TimedOut` (408, [`payload_error`])
/// when the next piece takes longer than `timeout` to arrive.
struct Timed {
    inner: Payload,
    timeout: std::time::Duration,
    /// Armed at the first poll that waits, re-armed after each piece.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
}

impl futures_util::Stream for Timed {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.expired {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                self.sleep = None;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    self.expired = true;
                    return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body timeout",
                    )))));
                }
                Poll::Pending
            }
        }
    }
}

/// Middleware: every request body (whoever reads it, the build cache
/// included) fails with 408 once its next piece takes longer than
/// `[server] body_read_timeout_secs`. Bodiless requests are untouched.
pub(crate) async fn time_body(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let timeout = req
        .app_data::<actix_web::web::Data<crate::edge::state::AppState>>()
        .map(|s| s.body_read_timeout);
    if let Some(timeout) = timeout {
        let payload = actix_web::HttpMessage::take_payload(&mut req);
        if matches!(payload, Payload::None) {
            req.set_payload(payload);
        } else {
            req.set_payload(Payload::Stream {
                payload: Box::pin(Timed {
                    inner: payload,
                    timeout,
                    sleep: None,
                    expired: false,
                }),
            });
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use actix_web::http::header::HeaderValue;
    use futures_util::stream;

    use super::*;

    fn headers(coding: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        h
    }

    /// A payload of `body` sent in chunks of `chunk` bytes.
    fn payload(body: Vec<u8>, chunk: usize) -> Payload {
        let chunks: Vec<Result<Bytes, PayloadError>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Payload::Stream {
            payload: Box::pin(stream::iter(chunks)),
        }
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(content).unwrap();
        e.finish().unwrap()
    }

    /// `size` zeros, zstd, without holding them in memory.
    fn zstd_zeros(size: usize) -> Vec<u8> {
        let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..size / block.len() {
            e.write_all(&block).unwrap();
        }
        e.finish().unwrap()
    }

    fn gzip_zeros(size: usize) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let block = vec![0u8; 1 << 20];
        for _ in 0..size / block.len() {
            e.write_all(&block).unwrap();
        }
        e.finish().unwrap()
    }

    /// Reads `stream` to its end or first error: (bytes seen, error).
    async fn drain(mut stream: BodyStream) -> (u64, Option<ApiError>) {
        let mut seen = 0;
        loop {
            match stream.next().await {
                Ok(Some(piece)) => {
                    assert!(piece.len() <= PIECE_BYTES, "{}", piece.len());
                    seen += piece.len() as u64;
                }
                Ok(None) => return (seen, None),
                Err(e) => {
                    assert!(seen < stream.produced());
                    return (stream.produced(), Some(e));
                }
            }
        }
    }

    #[actix_web::test]
    async fn a_bomb_stops_at_the_limit_plus_one_piece() {
        let limit = 1u64 << 20;
        for (coding, bomb) in [
            ("zstd", zstd_zeros(64 << 20)),
            ("gzip", gzip_zeros(16 << 20)),
        ] {
            let stream =
                BodyStream::new(&headers(coding), payload(bomb.clone(), 16 * 1024), limit).unwrap();
            let (produced, error) = drain(stream).await;
            let error = error.expect("over the limit");
            assert_eq!(error.status().as_u16(), 413, "{coding}");
            assert_eq!(error.code(), "payload_too_large");
            assert!(
                produced > limit && produced <= limit + PIECE_BYTES as u64,
                "{coding}: {produced}"
            );
        }
    }

    #[actix_web::test]
    async fn decodes_every_coding_whole() {
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut two_members = gzip(&content[..1000]);
        two_members.extend(gzip(&content[1000..]));
        for (coding, body) in [
            ("identity", content.clone()),
            ("zstd", zstd::bulk::compress(&content, 3).unwrap()),
            ("gzip", gzip(&content)),
            ("x-gzip", two_members),
        ] {
            let h = headers(coding);
            for chunk in [1, 7, 4096, 1 << 20] {
                let stream = BodyStream::new(&h, payload(body.clone(), chunk), u64::MAX).unwrap();
                let got = stream.read_all(&h).await.unwrap();
                assert!(got == content, "{coding} in chunks of {chunk}");
            }
            let exact = BodyStream::new(&h, payload(body.clone(), 4096), content.len() as u64);
            assert!(exact.unwrap().read_all(&h).await.is_ok(), "{coding}");
        }
    }

    #[actix_web::test]
    async fn refuses_truncated_corrupt_and_unknown_bodies() {
        let content = vec![3u8; 100_000];
        for (coding, body) in [
            ("zstd", zstd::bulk::compress(&content, 3).unwrap()),
            ("gzip", gzip(&content)),
        ] {
            let h = headers(coding);
            let cut = body[..body.len() - 5].to_vec();
            let stream = BodyStream::new(&h, payload(cut, 100), u64::MAX).unwrap();
            let e = stream.read_all(&h).await.unwrap_err();
            assert_eq!(e.code(), "invalid_body", "{coding}");
            let stream = BodyStream::new(&h, payload(b"not encoded".to_vec(), 4), u64::MAX);
            let e = stream.unwrap().read_all(&h).await.unwrap_err();
            assert_eq!(e.code(), "invalid_body", "{coding}");
            // Nothing is the empty content.
            let stream = BodyStream::new(&h, payload(Vec::new(), 1), u64::MAX).unwrap();
            assert!(stream.read_all(&h).await.unwrap().is_empty(), "{coding}");
        }
        for coding in ["br", "deflate", "gzip, zstd", "compress"] {
            let e = BodyStream::new(&headers(coding), payload(Vec::new(), 1), 10)
                .err()
                .expect(coding);
            assert_eq!(e.status().as_u16(), 415, "{coding}");
            assert_eq!(e.code(), "unsupported_media_type");
        }
    }

    #[actix_web::test]
    async fn an_uncompressed_body_over_the_limit_is_refused_by_its_length() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000"));
        // The payload is never read: it has nothing in it.
        let e = BodyStream::new(&h, payload(Vec::new(), 1), 999)
            .err()
            .expect("over");
        assert_eq!(e.code(), "payload_too_large");
        assert!(!e.to_string().contains("Some("), "{e}");
    }
}
