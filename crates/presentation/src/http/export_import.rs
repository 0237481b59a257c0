//! `GET /admin/v1/caches/{cache}/export` and
//! `POST /admin/v1/caches/{cache}/import`: every live entry of a cache out
//! as a stream, and such a stream back in. Both need the admin role, take a
//! token from the admin rate-limit bucket and are audited (`export`,
//! `import`).
//!
//! # Formats
//! - NDJSON (`application/x-ndjson`, the default): one JSON object per
//!   line, `{"key", "value" (base64), "content_type", "tags",
//!   "ttl_secs", "expires_at_ms"}`.
//! - MessagePack (`application/msgpack`, also `application/vnd.msgpack`
//!   and `application/x-msgpack`): a stream of maps with the same fields,
//!   `value` as MessagePack binary.
//!
//! `ttl_secs` is the remaining TTL rounded up, `expires_at_ms` the absolute
//! expiry in Unix milliseconds; both are absent for an entry without TTL.
//! An import takes `expires_at_ms` when present, else `ttl_secs` from the
//! time of the import, else no TTL (the cache's `default_ttl` is not
//! applied). Entries already expired are skipped.
//!
//! # Streaming and limits
//! The export reads the store page by page
//! ([`CacheStore::entries_page`](strata_domain::CacheStore::entries_page))
//! and writes each page as it comes; a backend failure mid-way cuts the
//! response (the chunked body ends without its terminator) and is logged.
//! The import reads its body as it arrives and writes batches of
//! [`IMPORT_BATCH`] records. One record (an NDJSON line) may be at most the
//! base64 size of the cache's `max_value_bytes` plus
//! [`MAX_RECORD_OVERHEAD_BYTES`]; a longer NDJSON line is reported and
//! skipped, a longer MessagePack record ends the import (a binary stream
//! cannot be resynchronised). A record that fails validation is counted in
//! `failed` and listed with its line number (NDJSON, from 1) or record
//! index (MessagePack, from 0), at most [`MAX_IMPORT_ERRORS`] of them.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use strata_application::commands::import_entries::{ImportEntries, ImportItem, OnConflict};
use strata_application::queries::export_entries::{Export, ExportEntries};
use strata_domain::{
    AuditAction, CacheEntry, CacheKey, CacheName, CacheValue, Clock, ContentType, Principal, Tag,
    Timestamp,
};

use crate::edge::audited::Audit;
use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;
use crate::http::body::BodyStream;

/// `application/x-ndjson`.
pub const NDJSON: &str = "application/x-ndjson";
/// `application/msgpack`.
pub const MSGPACK: &str = "application/msgpack";
/// Records written to the store per import batch.
pub const IMPORT_BATCH: usize = 256;
/// Per-record errors listed in an import's answer; `failed` counts them all.
pub const MAX_IMPORT_ERRORS: usize = 100;
/// Room for a record's key, tags, content type and framing on top of its
/// base64-encoded value, in bytes (64 KiB).
pub const MAX_RECORD_OVERHEAD_BYTES: usize = 64 * 1024;

/// The wire format of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Ndjson,
    Msgpack,
}

impl Format {
    fn from_media_type(value: Option<&str>) -> Option<Self> {
        let Some(value) = value else {
            return Some(Self::Ndjson);
        };
        let mut found = None;
        for part in value.split(',') {
            let essence = part.split(';').next().unwrap_or("").trim();
            match essence.to_ascii_lowercase().as_str() {
                "application/msgpack" | "application/vnd.msgpack" | "application/x-msgpack" => {
                    return Some(Self::Msgpack);
                }
                "application/x-ndjson"
                | "application/ndjson"
                | "application/jsonl"
                | "application/json"
                | "*/*"
                | "application/*"
                | "" => {
                    found = Some(Self::Ndjson);
                }
                _ => {}
            }
        }
        found
    }

    /// The format of a request body: NDJSON when absent or `text/plain`,
    /// else exactly one of the two families.
    fn from_content_type(value: Option<&str>) -> Option<Self> {
        let Some(value) = value else {
            return Some(Self::Ndjson);
        };
        let essence = value.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/msgpack" | "application/vnd.msgpack" | "application/x-msgpack" => {
                Some(Self::Msgpack)
            }
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "text/plain" => {
                Some(Self::Ndjson)
            }
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Msgpack => "msgpack",
        }
    }
}

/// A MessagePack binary (`bin`), read from `bin` or `str` (through
/// `serde_bytes`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct Bin(#[serde(with = "serde_bytes")] Vec<u8>);

/// One exported entry; `V` is a base64 string (NDJSON) or a [`Bin`]
/// (MessagePack).
#[derive(Debug, Serialize, Deserialize)]
struct Record<V> {
    key: String,
    value: V,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
}

fn record<V>(key: &CacheKey, entry: &CacheEntry, now: Timestamp, value: V) -> Record<V> {
    Record {
        key: key.as_str().to_owned(),
        value,
        content_type: Some(entry.value().content_type().as_str().to_owned()),
        tags: entry.tags().iter().map(|t| t.as_str().to_owned()).collect(),
        ttl_secs: entry
            .fresh_ttl(now)
            .map(|d| d.as_millis().div_ceil(1000) as u64),
        expires_at_ms: entry.fresh_until().map(Timestamp::as_millis),
    }
}

/// Serialises one page of entries.
fn encode_page(
    format: Format,
    page: &[(CacheKey, CacheEntry)],
    now: Timestamp,
) -> Result<Bytes, String> {
    let mut out = Vec::new();
    for (key, entry) in page {
        // Stale entries (kept for a stale window) are not exported.
        if entry.is_stale(now) {
            continue;
        }
        match format {
            Format::Ndjson => {
                let value = BASE64.encode(entry.value().bytes());
                serde_json::to_writer(&mut out, &record(key, entry, now, value))
                    .map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            Format::Msgpack => {
                let value = Bin(entry.value().bytes().to_vec());
                rmp_serde::encode::write_named(&mut out, &record(key, entry, now, value))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(Bytes::from(out))
}

/// Export every live entry of a cache.
#[utoipa::path(
    get,
    path = "/admin/v1/caches/{cache}/export",
    tag = "admin",
    params(
        ("cache" = String, Path, description = "Cache name"),
        ("Accept" = Option<String>, Header, description = "`application/msgpack` (or `application/vnd.msgpack`) for MessagePack; anything else gets NDJSON"),
    ),
    responses(
        (status = 200, description = "Every live entry: NDJSON lines `{key, value (base64), content_type, tags, ttl_secs, expires_at_ms}` or a stream of MessagePack maps with the same fields (`value` binary)", content(
            (String = "application/x-ndjson", example = json!("{\"key\":\"user:42\",\"value\":\"aGVsbG8=\",\"content_type\":\"text/plain\",\"tags\":[\"users\"],\"ttl_secs\":300,\"expires_at_ms\":1796627919224}\n")),
            (Vec<u8> = "application/msgpack"),
        )),
        (status = 404, description = "No such cache", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The backend cannot enumerate its entries (`unsupported_operation`, capability `export`; Memcached)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let name = cache_name(&cache)?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    // Anything but a MessagePack type gets NDJSON, the default.
    let format = Format::from_media_type(accept).unwrap_or(Format::Ndjson);
    let audit = Audit::begin(
        &state,
        &req,
        &principal,
        AuditAction::Export,
        &name,
        vec![("format".to_owned(), format.as_str().to_owned())],
    )
    .await?;
    let result = state
        .service
        .export(ExportEntries {
            principal,
            cache: name.clone(),
        })
        .map_err(ApiError::from);
    let mut export = audit.finish(&state, result).await?;
    // Read the first page before answering, so that a failing backend is
    // a problem answer rather than a cut stream.
    let first = export.next_page().await.map_err(ApiError::from)?;
    let clock = state.clock.clone();
    let stream = futures_util::stream::unfold(
        Some(ExportStream {
            export,
            pending: first,
            clock,
            format,
            cache: name,
        }),
        |state| async move {
            let mut s = state?;
            loop {
                let page = match s.pending.take() {
                    Some(page) => page,
                    None => match s.export.next_page().await {
                        Ok(Some(page)) => page,
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::error!(cache = %s.cache, error = %e, "export failed mid-stream");
                            return Some((
                                Err(actix_web::error::ErrorInternalServerError("export failed")),
                                None,
                            ));
                        }
                    },
                };
                match encode_page(s.format, &page, s.clock.now()) {
                    Ok(bytes) if bytes.is_empty() => continue,
                    Ok(bytes) => return Some((Ok::<_, actix_web::Error>(bytes), Some(s))),
                    Err(e) => {
                        tracing::error!(cache = %s.cache, error = %e, "export encoding failed");
                        return Some((
                            Err(actix_web::error::ErrorInternalServerError("export failed")),
                            None,
                        ));
                    }
                }
            }
        },
    );
    let content_type = match format {
        Format::Ndjson => NDJSON,
        Format::Msgpack => MSGPACK,
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .streaming(stream))
}

struct ExportStream {
    export: Export,
    pending: Option<Vec<(CacheKey, CacheEntry)>>,
    clock: std::sync::Arc<dyn Clock>,
    format: Format,
    cache: CacheName,
}

/// Query of `POST /admin/v1/caches/{cache}/import`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// `overwrite` (default) replaces present keys, `skip` keeps them.
    #[param(pattern = "^(overwrite|skip)$")]
    pub on_conflict: Option<String>,
}

impl ImportParams {
    /// The parameters an import takes, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["on_conflict"];
}

/// One record an import refused.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportErrorDto {
    /// NDJSON line number, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// MessagePack record index, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// Why.
    pub error: String,
}

/// Answer of an import.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportResponse {
    /// Records written.
    pub imported: u64,
    /// Records not written: the key was present (`on_conflict=skip`) or
    /// the entry had expired.
    pub skipped: u64,
    /// Records refused (invalid, or over the cache's limits).
    pub failed: u64,
    /// The first refused records, at most 100 (`MAX_IMPORT_ERRORS`).
    pub errors: Vec<ImportErrorDto>,
    /// True when `failed` exceeds the records listed in `errors`.
    pub errors_truncated: bool,
}

/// What an import is doing, shared by both formats' parsers.
struct Importer<'a> {
    state: &'a AppState,
    principal: Principal,
    cache: CacheName,
    on_conflict: OnConflict,
    format: Format,
    batch: Vec<ImportItem>,
    out: ImportResponse,
}

impl Importer<'_> {
    fn fail(&mut self, position: u64, error: String) {
        self.out.failed += 1;
        if self.out.errors.len() < MAX_IMPORT_ERRORS {
            let (line, record) = match self.format {
                Format::Ndjson => (Some(position), None),
                Format::Msgpack => (None, Some(position)),
            };
            self.out.errors.push(ImportErrorDto {
                line,
                record,
                error,
            });
        } else {
            self.out.errors_truncated = true;
        }
    }

    async fn add<V: Into<Vec<u8>>>(
        &mut self,
        position: u64,
        record: Result<Record<V>, String>,
    ) -> Result<(), ApiError> {
        match record.and_then(|r| self.item(position, r)) {
            Ok(item) => self.batch.push(item),
            Err(e) => self.fail(position, e),
        }
        if self.batch.len() >= IMPORT_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    fn item<V: Into<Vec<u8>>>(&self, position: u64, r: Record<V>) -> Result<ImportItem, String> {
        let key = CacheKey::parse(&r.key).map_err(|e| format!("key: {e}"))?;
        let content_type = match r.content_type.as_deref() {
            Some(c) => ContentType::parse(c).map_err(|e| format!("content_type: {e}"))?,
            None => ContentType::default(),
        };
        let tags = r
            .tags
            .iter()
            .map(|t| Tag::parse(t).map_err(|e| format!("tags: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let expires_at = match (r.expires_at_ms, r.ttl_secs) {
            (Some(ms), _) => Some(Timestamp::from_millis(ms)),
            (None, Some(secs)) => Some(
                self.state
                    .clock
                    .now()
                    .saturating_add(std::time::Duration::from_secs(secs)),
            ),
            (None, None) => None,
        };
        Ok(ImportItem {
            position,
            key,
            value: CacheValue::new(Bytes::from(r.value.into()), content_type),
            expires_at,
            tags,
        })
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.batch);
        let out = self
            .state
            .service
            .import(ImportEntries {
                principal: self.principal.clone(),
                cache: self.cache.clone(),
                on_conflict: self.on_conflict,
                items,
            })
            .await?;
        self.out.imported += out.imported;
        self.out.skipped += out.skipped;
        for (position, error) in out.rejected {
            self.fail(position, error);
        }
        Ok(())
    }
}

impl From<Vec<u8>> for Bin {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<Bin> for Vec<u8> {
    fn from(b: Bin) -> Self {
        b.0
    }
}

fn ndjson_record(line: &[u8]) -> Result<Record<Vec<u8>>, String> {
    let r: Record<String> =
        serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let value = BASE64
        .decode(r.value.as_bytes())
        .map_err(|e| format!("value is not valid base64: {e}"))?;
    Ok(Record {
        key: r.key,
        value,
        content_type: r.content_type,
        tags: r.tags,
        ttl_secs: r.ttl_secs,
        expires_at_ms: r.expires_at_ms,
    })
}

/// Import a stream of exported entries.
#[utoipa::path(
    post,
    path = "/admin/v1/caches/{cache}/import",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name"), ImportParams),
    request_body(description = "NDJSON lines (`text/plain` is read as NDJSON too) or a stream of MessagePack maps, as `export` writes them; may be empty", content(
        (String = "application/x-ndjson"),
        (String = "text/plain"),
        (Vec<u8> = "application/msgpack"),
    )),
    responses(
        (status = 200, description = "Counts; per-record errors with their NDJSON line or MessagePack record index", body = ImportResponse, example = json!({"imported": 1, "skipped": 0, "failed": 0, "errors": [], "errors_truncated": false})),
        (status = 404, description = "No such cache", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither NDJSON nor MessagePack (`unsupported_media_type`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn import(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<ImportParams>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let name = cache_name(&cache)?;
    let on_conflict = match params.on_conflict.as_deref() {
        None | Some("overwrite") => OnConflict::Overwrite,
        Some("skip") => OnConflict::Skip,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "on_conflict is overwrite or skip, not {other:?}"
            ))
            .field("on_conflict"));
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(format!("send Content-Type: {NDJSON} or {MSGPACK}"))
    })?;
    // Authorise before reading the body: an empty batch checks the grant.
    state
        .service
        .import(ImportEntries {
            principal: principal.clone(),
            cache: name.clone(),
            on_conflict,
            items: Vec::new(),
        })
        .await?;
    let max_value = state
        .service
        .registry()
        .get(&name)
        .map_or(strata_domain::HARD_MAX_VALUE_BYTES, |c| {
            c.config().max_value_bytes()
        });
    let max_record = usize::try_from(max_value.div_ceil(3) * 4)
        .unwrap_or(usize::MAX)
        .saturating_add(MAX_RECORD_OVERHEAD_BYTES);
    // Decoded as it streams (`Content-Encoding`), without a total limit:
    // records are bounded one by one.
    let mut body = BodyStream::new(req.headers(), body.into_inner(), u64::MAX)?;
    let mut audit = Audit::begin(
        &state,
        &req,
        &principal,
        AuditAction::Import,
        &name,
        vec![
            ("format".to_owned(), format.as_str().to_owned()),
            (
                "on_conflict".to_owned(),
                match on_conflict {
                    OnConflict::Overwrite => "overwrite",
                    OnConflict::Skip => "skip",
                }
                .to_owned(),
            ),
        ],
    )
    .await?;
    let mut importer = Importer {
        state: &state,
        principal,
        cache: name,
        on_conflict,
        format,
        batch: Vec::new(),
        out: ImportResponse::default(),
    };
    let result = match format {
        Format::Ndjson => read_ndjson(&mut importer, &mut body, max_record).await,
        Format::Msgpack => read_msgpack(&mut importer, &mut body, max_record).await,
    };
    let result = match result {
        Ok(()) => importer.flush().await,
        Err(e) => Err(e),
    };
    let out = importer.out;
    audit.note("imported", out.imported.to_string());
    audit.note("skipped", out.skipped.to_string());
    audit.note("failed", out.failed.to_string());
    audit.finish(&state, result).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The next chunk of the body, or `None` at its end.
async fn chunk(body: &mut BodyStream) -> Result<Option<Bytes>, ApiError> {
    body.next().await
}

async fn read_ndjson(
    importer: &mut Importer<'_>,
    body: &mut BodyStream,
    max_line: usize,
) -> Result<(), ApiError> {
    let mut buf = BytesMut::new();
    let mut line_no: u64 = 0;
    // Set while skipping the rest of a line over `max_line`.
    let mut discarding = false;
    let mut scanned = 0;
    loop {
        let next = chunk(body).await?;
        let done = next.is_none();
        if let Some(bytes) = next {
            buf.extend_from_slice(&bytes);
        }
        loop {
            let Some(at) = buf[scanned..].iter().position(|b| *b == b'\n') else {
                scanned = buf.len();
                break;
            };
            let line = buf.split_to(scanned + at + 1);
            scanned = 0;
            line_no += 1;
            if discarding {
                // The end of a line reported as too long.
                discarding = false;
                continue;
            }
            ndjson_line(importer, line_no, &line[..line.len() - 1]).await?;
        }
        if !discarding && buf.len() > max_line {
            importer.fail(
                line_no + 1,
                format!("line is longer than the limit of {max_line} bytes"),
            );
            discarding = true;
        }
        if discarding {
            buf.clear();
            scanned = 0;
        }
        if done {
            if !buf.is_empty() && !discarding {
                line_no += 1;
                let line = buf.split();
                ndjson_line(importer, line_no, &line).await?;
            }
            return Ok(());
        }
    }
}

async fn ndjson_line(
    importer: &mut Importer<'_>,
    line_no: u64,
    line: &[u8],
) -> Result<(), ApiError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let record = ndjson_record(line);
    importer.add(line_no, record).await
}

/// Whether a MessagePack decoding error means "more bytes needed".
fn truncated(e: &rmp_serde::decode::Error) -> bool {
    use rmp_serde::decode::Error as E;
    match e {
        E::InvalidMarkerRead(io) | E::InvalidDataRead(io) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof
        }
        _ => false,
    }
}

async fn read_msgpack(
    importer: &mut Importer<'_>,
    body: &mut BodyStream,
    max_record: usize,
) -> Result<(), ApiError> {
    let mut buf = BytesMut::new();
    let mut index: u64 = 0;
    // Try to decode again only once the buffer doubled since a truncated
    // attempt (or the body ended): linear work for large records.
    let mut retry_at = 0;
    loop {
        let next = chunk(body).await?;
        let done = next.is_none();
        if let Some(bytes) = next {
            buf.extend_from_slice(&bytes);
        }
        while !buf.is_empty() && (done || buf.len() >= retry_at) {
            let mut reader = &buf[..];
            let skipped: Result<serde::de::IgnoredAny, _> = rmp_serde::from_read(&mut reader);
            match skipped {
                Ok(_) => {
                    let len = buf.len() - reader.len();
                    let raw = buf.split_to(len);
                    retry_at = 0;
                    let record = if len > max_record {
                        Err(format!(
                            "record is longer than the limit of {max_record} bytes"
                        ))
                    } else {
                        rmp_serde::from_slice::<Record<Bin>>(&raw)
                            .map_err(|e| format!("invalid record: {e}"))
                    };
                    importer.add(index, record).await?;
                    index += 1;
                }
                Err(e) if truncated(&e) && !done && buf.len() <= max_record => {
                    retry_at = buf.len().saturating_mul(2).min(max_record + 1);
                    break;
                }
                Err(e) => {
                    let why = if truncated(&e) && buf.len() > max_record {
                        format!(
                            "record is longer than the limit of {max_record} bytes; import stopped"
                        )
                    } else if truncated(&e) {
                        "the body ends inside a record".to_owned()
                    } else {
                        format!("invalid MessagePack: {e}; import stopped")
                    };
                    importer.fail(index, why);
                    return Ok(());
                }
            }
        }
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_format() {
        assert_eq!(Format::from_media_type(None), Some(Format::Ndjson));
        assert_eq!(
            Format::from_media_type(Some("application/vnd.msgpack")),
            Some(Format::Msgpack)
        );
        assert_eq!(
            Format::from_media_type(Some("text/html, */*;q=0.1")),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_media_type(Some("text/html")), None);
        assert_eq!(Format::from_content_type(None), Some(Format::Ndjson));
        assert_eq!(
            Format::from_content_type(Some("application/x-ndjson; charset=utf-8")),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_content_type(Some("application/json")), None);
    }

    #[test]
    fn a_msgpack_record_round_trips() {
        let r = Record {
            key: "k".to_owned(),
            value: Bin(vec![0, 1, 2]),
            content_type: Some("text/plain".to_owned()),
            tags: vec!["t".to_owned()],
            ttl_secs: Some(3),
            expires_at_ms: None,
        };
        let bytes = rmp_serde::to_vec_named(&r).unwrap();
        let back: Record<Bin> = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.value.0, vec![0, 1, 2]);
        assert_eq!(back.ttl_secs, Some(3));
    }

    #[test]
    fn a_msgpack_value_is_bin_on_the_wire_and_may_be_read_from_str() {
        let bytes = rmp_serde::to_vec(&Bin(vec![7, 8])).unwrap();
        // bin8 marker, length 2, the bytes.
        assert_eq!(bytes, vec![0xc4, 2, 7, 8]);
        let text = rmp_serde::to_vec("hi").unwrap();
        let back: Bin = rmp_serde::from_slice(&text).unwrap();
        assert_eq!(back.0, b"hi".to_vec());
    }
}
