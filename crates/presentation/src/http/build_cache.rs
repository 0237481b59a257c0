//! The remote build cache over HTTP, bazel-remote's protocol:
//! `GET`, `HEAD` and `PUT` on `/ac/<sha256>` and `/cas/<sha256>`, with an
//! optional path prefix that is the instance name
//! (`--remote_cache=http://host:8080/team-a` is instance `team-a`).
//!
//! - **Paths.** The hash is 64 lowercase hex characters (400
//!   `invalid_digest` otherwise); the prefix must be an
//!   [`InstanceName`] (400 `invalid_instance`). These routes are
//!   registered after every other route, so `/v1`, `/admin`, `/health`,
//!   `/metrics`, `/openapi.json` and `/docs` keep their meaning; every
//!   path under `/admin/` is the admin API's (404 when no admin route
//!   takes it), so `admin` is no instance's first segment over HTTP.
//! - **CAS PUT.** The body is streamed chunk by chunk into the store's
//!   [`BlobWriter`](strata_domain::BlobWriter), never buffered whole; its
//!   SHA-256 (and the `Content-Length`, when sent uncompressed) must match
//!   the path, else 400 `digest_mismatch` and nothing is stored. A blob
//!   already present answers 200 at once: the body is drained (read and
//!   dropped, not hashed) so the keep-alive connection stays usable. A new
//!   blob answers 201. Over `max_blob_bytes` is 413 `payload_too_large`,
//!   a store that cannot make room 507 `insufficient_storage`. A body cut
//!   off mid-upload stores nothing.
//! - **zstd.** `Content-Encoding: zstd` on a CAS PUT is decoded as it
//!   streams, into 64 KiB pieces, by the edge's one decoder
//!   (`edge::zstd`, a window of at most 16 MiB):
//!   memory stays bounded whatever the compression ratio. A truncated frame is 400 `invalid_body`. On a CAS
//!   GET, `Accept-Encoding: zstd` gets a zstd body (one frame per stored
//!   chunk, `Content-Encoding: zstd`, chunked). The digest is always that
//!   of the uncompressed content. The AC takes no encoding (415).
//! - **AC.** A PUT needs the `writer` role; with validation (on by
//!   default) it must be a REAPI `ActionResult` (400
//!   `invalid_action_result`), and a GET answers 404 when a blob it
//!   references is missing.
//! - **Access.** The [`Acting`] principal's grants on the cache name
//!   `build-cache` (401 without a valid credential, 403 without the
//!   role): readers read, `cas-writer` writes the CAS, `writer` both.
//! - **Metrics.** `strata_build_cache_requests_total{kind,op,result}`:
//!   `kind` `ac` or `cas`; `op` `get`, `head` or `put`; `result` `hit`,
//!   `miss` (reads), `created`, `exists` (CAS PUT), `ok` (AC PUT) or
//!   `error`. gRPC calls are counted in the same series (see
//!   [`crate::grpc`]); `strata_build_cache_bytes{store}`, a gauge of each store's
//!   bytes (AC and CAS), refreshed at scrape time
//!   ([`export_build_cache_bytes`](metrics::export_build_cache_bytes)).

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream;
use strata_application::BuildCacheService;
use strata_application::build_cache::get_action_result::GetActionResult;
use strata_application::build_cache::read_blob::ReadBlob;
use strata_application::build_cache::update_action_result::{
    BeginActionResult, UpdateActionResult,
};
use strata_application::build_cache::write_blob::{WriteBlob, WriteBlobStart};
use strata_domain::{
    BlobRead, BlobReader, BuildCacheError, DigestHash, InstanceName, Principal, ReadRange,
    StoreKind,
};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::metrics;
use crate::edge::state::AppState;
use crate::edge::zstd::{StreamDecoder, ZstdError};

/// The route patterns, default instance first. The router tries them
/// after every other route.
pub const ROUTES: [(&str, StoreKind); 4] = [
    ("/ac/{hash}", StoreKind::Ac),
    ("/{instance:.+}/ac/{hash}", StoreKind::Ac),
    ("/cas/{hash}", StoreKind::Cas),
    ("/{instance:.+}/cas/{hash}", StoreKind::Cas),
];

/// Size of the pieces a zstd body is decoded into, in bytes.
const ZSTD_OUT_CHUNK: usize = 64 << 10;
/// zstd level of compressed GET bodies: fast, as bazel-remote's default.
const ZSTD_GET_LEVEL: i32 = 1;

/// The service, instance and hash of a request, or why it has none.
fn target(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(BuildCacheService, InstanceName, DigestHash), ApiError> {
    let service = state
        .build_cache
        .clone()
        .ok_or_else(|| ApiError::not_configured("the build cache is not enabled"))?;
    let instance = match req.match_info().get("instance") {
        Some(raw) => InstanceName::parse(raw).map_err(|e| {
            ApiError::with_code(
                StatusCode::BAD_REQUEST,
                "invalid_instance",
                "Invalid instance name",
                e.to_string(),
            )
            .field("instance")
        })?,
        None => InstanceName::default(),
    };
    let raw = req.match_info().get("hash").unwrap_or_default();
    let hash = DigestHash::parse(raw).map_err(|e| {
        ApiError::with_code(
            StatusCode::BAD_REQUEST,
            "invalid_digest",
            "Invalid digest",
            e.to_string(),
        )
        .field("hash")
    })?;
    Ok((service, instance, hash))
}

fn op_of(req: &HttpRequest) -> &'static str {
    match *req.method() {
        actix_web::http::Method::HEAD => "head",
        actix_web::http::Method::PUT => "put",
        _ => "get",
    }
}

/// Counts `result` (an `Ok` names its own outcome) and passes it on.
fn counted(
    kind: StoreKind,
    op: &'static str,
    result: Result<(HttpResponse, &'static str), ApiError>,
) -> Result<HttpResponse, ApiError> {
    match result {
        Ok((response, outcome)) => {
            metrics::count_build_cache(kind, op, outcome);
            Ok(response)
        }
        Err(e) => {
            metrics::count_build_cache(kind, op, "error");
            Err(e)
        }
    }
}

fn miss(kind: StoreKind, hash: &DigestHash) -> ApiError {
    ApiError::with_code(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        format!("no {} entry {hash}", kind.as_str()),
    )
}

/// The body's encoding: `None` for identity, `Some(())` for zstd.
fn zstd_body(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok(v) if v.eq_ignore_ascii_case("identity") => Ok(false),
        Ok(v) if v.eq_ignore_ascii_case("zstd") => Ok(true),
        _ => Err(ApiError::unsupported_media_type(
            "Content-Encoding must be identity or zstd",
        )),
    }
}

/// Whether the client accepts a zstd body (`Accept-Encoding` lists
/// `zstd` without `q=0`).
fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case("zstd") && !q_zero
        })
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid_parameter("invalid Content-Length"))
        })
        .transpose()
}

/// A body that does not decode: 400 `invalid_body`. An empty body is no
/// whole frame, so it is truncated.
fn zstd_error(e: ZstdError) -> ApiError {
    match e {
        ZstdError::Invalid(e) => ApiError::invalid_body(format!("invalid zstd body: {e}")),
        ZstdError::Truncated | ZstdError::Empty => ApiError::invalid_body("truncated zstd body"),
        ZstdError::TooLong { limit_bytes } => ApiError::invalid_body(format!(
            "the zstd body decodes to more than {limit_bytes} bytes"
        )),
    }
}

fn body_error(e: actix_web::error::PayloadError) -> ApiError {
    crate::http::body::payload_error(&e)
}

/// `GET` and `HEAD /[<instance>/]ac/<hash>`.
#[utoipa::path(
    method(get, head),
    path = "/ac/{hash}",
    tag = "build-cache",
    params(("hash" = String, Path, pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64, description = "SHA-256, 64 lowercase hex. Any path prefix before `/ac/` or `/cas/` is the instance name (`/team-a/linux/cas/<hash>`)")),
    responses(
        (status = 200, description = "The stored entry: a serialized REAPI ActionResult (raw bytes without validation)", content_type = "application/octet-stream"),
        (status = 400, description = "Hash not 64 lowercase hex (`invalid_digest`) or bad instance prefix (`invalid_instance`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Miss (or the build cache is not enabled)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:not_found", "title": "Not found", "status": 404, "detail": "no ac entry 0000000000000000000000000000000000000000000000000000000000000000", "code": "not_found"})),
    )
)]
pub(crate) async fn ac_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let op = op_of(&req);
    counted(
        StoreKind::Ac,
        op,
        ac_get_inner(&req, &state, acting.0).await,
    )
}

async fn ac_get_inner(
    req: &HttpRequest,
    state: &AppState,
    principal: Principal,
) -> Result<(HttpResponse, &'static str), ApiError> {
    let (service, instance, key) = target(req, state)?;
    let found = service
        .read_action_result(GetActionResult {
            principal,
            instance,
            key,
        })
        .await?;
    let Some(read) = found else {
        return Ok((HttpResponse::from_error(miss(StoreKind::Ac, &key)), "miss"));
    };
    Ok((hit(req, read, false).await?, "hit"))
}

/// `PUT /[<instance>/]ac/<hash>`: the body, at most `max_blob_bytes`.
/// An instance that validates AC entries reads it whole to decode the
/// `ActionResult` (small serialized messages, at most 16 MiB:
/// `MAX_VALIDATED_AC_BYTES`); any other instance (raw
/// bytes, as ccache stores whole results) streams it to a store that can
/// take a stream (disk), through a bounded buffer.
#[utoipa::path(
    put,
    path = "/ac/{hash}",
    tag = "build-cache",
    params(("hash" = String, Path, pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64, description = "SHA-256, 64 lowercase hex. Any path prefix before `/ac/` or `/cas/` is the instance name (`/team-a/linux/cas/<hash>`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A serialized REAPI ActionResult (any bytes without validation)"),
    responses(
        (status = 200, description = "Stored"),
        (status = 400, description = "Bad hash or prefix, or not an ActionResult (`invalid_action_result`)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:invalid_digest", "title": "Invalid digest", "status": 400, "detail": "a SHA-256 digest has 64 hex characters, got 5", "code": "invalid_digest", "field": "hash"})),
        (status = 413, description = "Over `max_blob_bytes`, or over 16 MiB where the instance validates AC entries", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ac_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    acting: Acting,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    counted(
        StoreKind::Ac,
        "put",
        ac_put_inner(&req, &state, acting.0, payload).await,
    )
}

async fn ac_put_inner(
    req: &HttpRequest,
    state: &AppState,
    principal: Principal,
    mut payload: web::Payload,
) -> Result<(HttpResponse, &'static str), ApiError> {
    let (service, instance, key) = target(req, state)?;
    if zstd_body(req.headers())? {
        return Err(ApiError::unsupported_media_type(
            "action-cache entries take no Content-Encoding",
        ));
    }
    let limit = service.max_action_result_bytes(&instance);
    if let Some(len) = content_length(req.headers())?
        && len > limit
    {
        return Err(BuildCacheError::TooLarge {
            size_bytes: len,
            limit_bytes: limit,
        }
        .into());
    }
    if !service.validates(&instance) {
        let started = std::time::Instant::now();
        let mut upload = service
            .begin_action_result(BeginActionResult {
                principal,
                instance,
                key,
            })
            .await?;
        while let Some(chunk) = payload.next().await {
            upload.write(chunk.map_err(body_error)?).await?;
        }
        service.commit_action_result(upload, started).await?;
        return Ok((HttpResponse::Ok().finish(), "ok"));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(body_error)?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BuildCacheError::TooLarge {
                size_bytes: (body.len() + chunk.len()) as u64,
                limit_bytes: limit,
            }
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    service
        .update_action_result(UpdateActionResult {
            principal,
            instance,
            key,
            value: body.freeze(),
        })
        .await?;
    Ok((HttpResponse::Ok().finish(), "ok"))
}

/// `GET` and `HEAD /[<instance>/]cas/<hash>`: the blob streamed as the
/// body, with its `Content-Length` (or zstd, chunked, when accepted).
#[utoipa::path(
    method(get, head),
    path = "/cas/{hash}",
    tag = "build-cache",
    params(("hash" = String, Path, pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64, description = "SHA-256, 64 lowercase hex. Any path prefix before `/ac/` or `/cas/` is the instance name (`/team-a/linux/cas/<hash>`)")),
    responses(
        (status = 200, description = "The blob (`Content-Encoding: zstd` when the request accepts it)", content_type = "application/octet-stream"),
        (status = 400, description = "Hash not 64 lowercase hex (`invalid_digest`) or bad instance prefix (`invalid_instance`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Miss (or the build cache is not enabled)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:not_found", "title": "Not found", "status": 404, "detail": "no cas entry 0000000000000000000000000000000000000000000000000000000000000000", "code": "not_found"})),
    )
)]
pub(crate) async fn cas_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    acting: Acting,
) -> Result<HttpResponse, ApiError> {
    let op = op_of(&req);
    counted(
        StoreKind::Cas,
        op,
        cas_get_inner(&req, &state, acting.0).await,
    )
}

async fn cas_get_inner(
    req: &HttpRequest,
    state: &AppState,
    principal: Principal,
) -> Result<(HttpResponse, &'static str), ApiError> {
    let (service, instance, hash) = target(req, state)?;
    let read = service
        .read_blob(ReadBlob {
            principal,
            instance,
            hash,
            range: ReadRange::FULL,
        })
        .await?;
    let Some(read) = read else {
        return Ok((
            HttpResponse::from_error(miss(StoreKind::Cas, &hash)),
            "miss",
        ));
    };
    let zstd = accepts_zstd(req.headers());
    Ok((hit(req, read, zstd).await?, "hit"))
}

/// The `200` of an AC or CAS hit: for `HEAD` the length alone; else the
/// bytes, zstd-compressed when `zstd` (chunk by chunk, each its own
/// frame). The first chunk is awaited here, so a small entry (one chunk)
/// goes out with its headers in one write instead of as a stream that
/// flushes the headers alone first; a longer one (a disk-store file)
/// streams chunk by chunk.
async fn hit(req: &HttpRequest, read: BlobRead, zstd: bool) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Ok();
    response.content_type("application/octet-stream");
    if req.method() == actix_web::http::Method::HEAD {
        // The blob's length with no bytes: actix writes no body for HEAD
        // but takes `Content-Length` from the body's announced size.
        let none = stream::empty::<Result<Bytes, std::io::Error>>();
        return Ok(response.body(SizedStream::new(read.len, none)));
    }
    if zstd {
        response.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("zstd")));
    }
    let mut reader = read.reader;
    let first = match reader.next_chunk().await {
        Ok(first) => first.unwrap_or_default(),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if first.len() as u64 == read.len {
        if zstd {
            let compressed =
                zstd::bulk::compress(&first, ZSTD_GET_LEVEL).map_err(ApiError::internal)?;
            return Ok(response.body(compressed));
        }
        return Ok(response.body(first));
    }
    let all = stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(chunks(reader));
    if zstd {
        return Ok(response.streaming(compress_chunks(all)));
    }
    Ok(response.body(SizedStream::new(read.len, all)))
}

/// The reader's chunks as a body stream; it ends after the first error.
fn chunks(
    reader: Box<dyn BlobReader>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        match reader.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(reader))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "build-cache read failed mid-body");
                Some((Err(e), None))
            }
        }
    })
}

/// [`chunks`], each compressed as its own zstd frame (concatenated
/// frames are one valid zstd stream).
fn compress_chunks(
    chunks: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    chunks.map(|chunk| {
        let chunk = chunk?;
        zstd::bulk::compress(&chunk, ZSTD_GET_LEVEL).map(Bytes::from)
    })
}

/// `PUT /[<instance>/]cas/<hash>`: streams the body into the store.
#[utoipa::path(
    put,
    path = "/cas/{hash}",
    tag = "build-cache",
    params(("hash" = String, Path, pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64, description = "SHA-256, 64 lowercase hex. Any path prefix before `/ac/` or `/cas/` is the instance name (`/team-a/linux/cas/<hash>`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The blob; `Content-Encoding: zstd` allowed. Its uncompressed SHA-256 must be the path's"),
    responses(
        (status = 201, description = "Stored"),
        (status = 200, description = "Already stored: nothing rewritten"),
        (status = 400, description = "Bad hash or prefix (`invalid_digest`, `invalid_instance`), content that does not hash to it (`digest_mismatch`), or a bad zstd body", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:digest_mismatch", "title": "Digest mismatch", "status": 400, "detail": "digest mismatch: expected 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 of 5 bytes, got e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "code": "digest_mismatch"})),
        (status = 413, description = "Over `max_blob_bytes`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 507, description = "The store cannot make room", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cas_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    acting: Acting,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    counted(
        StoreKind::Cas,
        "put",
        cas_put_inner(&req, &state, acting.0, payload).await,
    )
}

async fn cas_put_inner(
    req: &HttpRequest,
    state: &AppState,
    principal: Principal,
    mut payload: web::Payload,
) -> Result<(HttpResponse, &'static str), ApiError> {
    let (service, instance, hash) = target(req, state)?;
    let zstd = zstd_body(req.headers())?;
    // A compressed body's length says nothing of the content's.
    let expected_size = if zstd {
        None
    } else {
        content_length(req.headers())?
    };
    let start = service
        .write_blob(WriteBlob {
            principal,
            instance,
            hash,
            expected_size,
        })
        .await?;
    let mut writer = match start {
        WriteBlobStart::Exists { .. } => {
            while let Some(chunk) = payload.next().await {
                chunk.map_err(body_error)?;
            }
            return Ok((HttpResponse::Ok().finish(), "exists"));
        }
        WriteBlobStart::Upload(writer) => writer,
    };
    if zstd {
        // No limit of the decoder's own: the writer refuses a blob over
        // `max_blob_bytes` (413), as it does an uncompressed one.
        let mut decoder =
            StreamDecoder::new(ZSTD_OUT_CHUNK, u64::MAX).map_err(ApiError::internal)?;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(body_error)?;
            let mut offset = 0;
            loop {
                let (piece, read, more) = decoder.step(&chunk[offset..]).map_err(zstd_error)?;
                offset += read;
                if !piece.is_empty() {
                    writer.write(piece).await?;
                }
                if !more {
                    break;
                }
            }
        }
        decoder.finish().map_err(zstd_error)?;
    } else {
        while let Some(chunk) = payload.next().await {
            writer.write(chunk.map_err(body_error)?).await?;
        }
    }
    let committed = writer.commit().await?;
    let (status, outcome) = if committed.created {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "exists")
    };
    Ok((HttpResponse::build(status).finish(), outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_lists_zstd() {
        let mut h = HeaderMap::new();
        assert!(!accepts_zstd(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, zstd"),
        );
        assert!(accepts_zstd(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("zstd;q=0, gzip"),
        );
        assert!(!accepts_zstd(&h));
    }

    #[test]
    fn zstd_decodes_in_bounded_pieces_and_notices_truncation() {
        let content = vec![7u8; 3 * ZSTD_OUT_CHUNK + 5];
        let compressed = zstd::bulk::compress(&content, 3).unwrap();
        let mut d = StreamDecoder::new(ZSTD_OUT_CHUNK, u64::MAX).unwrap();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (piece, read, more) = d.step(&compressed[offset..]).unwrap();
            assert!(piece.len() <= ZSTD_OUT_CHUNK);
            out.extend_from_slice(&piece);
            offset += read;
            if !more {
                break;
            }
        }
        assert!(d.finish().is_ok());
        assert_eq!(out, content);

        let mut d = StreamDecoder::new(ZSTD_OUT_CHUNK, u64::MAX).unwrap();
        let (_, _, _) = d.step(&compressed[..compressed.len() / 2]).unwrap();
        assert!(d.finish().is_err());
        assert_eq!(zstd_error(d.finish().unwrap_err()).code(), "invalid_body");
    }
}
