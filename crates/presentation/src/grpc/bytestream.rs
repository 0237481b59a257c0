//! `google.bytestream.ByteStream` over the CAS, with REAPI's resource
//! names (REAPI v2 `remote_execution.proto`, "ByteStream API"):
//!
//! - reads: `{instance}/blobs/{hash}/{size}` and
//!   `{instance}/compressed-blobs/zstd/{hash}/{size}`;
//! - writes: `{instance}/uploads/{uuid}/blobs/{hash}/{size}[/{metadata}]`
//!   and `{instance}/uploads/{uuid}/compressed-blobs/zstd/{hash}/{size}[/...]`.
//!
//! The instance part is optional (the default instance) and may hold
//! slashes; it ends at the first `blobs`, `compressed-blobs` or `uploads`
//! segment, which [`InstanceName`] reserves.
//!
//! - **Read.** `read_offset` and `read_limit` (0: to the end) select a
//!   window; an offset past the end is OUT_OF_RANGE, a negative one
//!   INVALID_ARGUMENT, a missing blob NOT_FOUND. Messages carry at most
//!   [`READ_CHUNK_BYTES`]. A zstd read streams one frame per
//!   [`READ_CHUNK_BYTES`] of the blob, so the compressed bytes of a blob
//!   are always the same, and an offset or limit (REAPI: offsets of
//!   compressed resources count compressed bytes) selects from that
//!   stream as it is made: memory holds one piece, whatever the blob's
//!   size or the offset.
//! - **Write.** Needs `cas-writer`. Bytes are streamed into the store's
//!   writer as they arrive (decoded first for zstd) and verified before
//!   commit: a SHA-256 or size mismatch is INVALID_ARGUMENT and stores
//!   nothing. A blob already present ends the call at once with
//!   `committed_size` = its size (-1 for a compressed upload), as REAPI
//!   says.
//! - **Resumable.** An upload whose stream breaks before `finish_write`
//!   stays open under its resource name, with the bytes received so far
//!   committed: `QueryWriteStatus` reports that offset, and a new `Write`
//!   whose first `write_offset` equals it continues. Another offset is
//!   INVALID_ARGUMENT and leaves the upload as it was. Only the principal that started an upload sees or
//!   continues it. Uploads idle for [`UPLOAD_IDLE`] are dropped (their
//!   writer discards the partial blob); at most [`MAX_OPEN_UPLOADS`] are
//!   open at once (RESOURCE_EXHAUSTED past that).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pb::byte_stream_server::ByteStream;
use pb::{
    QueryWriteStatusRequest, QueryWriteStatusResponse, ReadRequest, ReadResponse, WriteRequest,
    WriteResponse,
};
use strata_application::build_cache::find_missing_blobs::FindMissingBlobs;
use strata_application::build_cache::read_blob::ReadBlob;
use strata_application::build_cache::write_blob::{WriteBlob, WriteBlobStart};
use strata_domain::{
    BlobWriter, BuildCacheError, Digest, InstanceName, Principal, ReadRange, StoreKind,
};
use tonic::{Request, Response, Status, Streaming};

use super::common::{BoxStream, BuildCacheFace, counted, instance, parse_digest};
use super::zstd_codec::{self, StreamDecoder};
use crate::edge::error::ApiError;
use crate::edge::error::grpc_status::invalid;

/// The generated `google.bytestream` messages, server and client, from
/// Strata's declaration of the interface (`proto/google/bytestream`):
/// wire-compatible with every ByteStream client, with `data` as
/// [`Bytes`] so a stored blob is sent without a copy into a `Vec<u8>`.
#[expect(missing_docs, reason = "generated code; documented in the .proto")]
pub mod pb {
    tonic::include_proto!("google.bytestream");

    /// The encoded descriptor set of `google.bytestream`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/google_bytestream.bin"));
}

/// Largest `data` of one `ReadResponse`, in bytes.
pub const READ_CHUNK_BYTES: usize = 1 << 20;
/// How long an unfinished upload stays resumable without a write.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(30 * 60);
/// Most unfinished uploads open at once.
pub const MAX_OPEN_UPLOADS: usize = 10_000;

/// A parsed resource name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resource {
    pub(crate) instance: InstanceName,
    pub(crate) digest: Digest,
    pub(crate) compressed: bool,
}

/// Parses a read (`upload = false`) or write resource name.
pub(crate) fn parse_resource(name: &str, upload: bool) -> Result<Resource, Status> {
    let bad = |why: &str| {
        invalid(
            "resource_name",
            format!(
                "{why}: expected [{{instance}}/]{}blobs/{{hash}}/{{size}} or \
                 [{{instance}}/]{}compressed-blobs/zstd/{{hash}}/{{size}}",
                if upload { "uploads/{uuid}/" } else { "" },
                if upload { "uploads/{uuid}/" } else { "" },
            ),
        )
    };
    let segments: Vec<&str> = name.split('/').collect();
    let at = segments
        .iter()
        .position(|s| matches!(*s, "blobs" | "compressed-blobs" | "uploads"))
        .ok_or_else(|| bad("no blobs segment"))?;
    let instance = instance(&segments[..at].join("/"))?;
    let mut rest = &segments[at..];
    if upload {
        match rest {
            ["uploads", uuid, tail @ ..] if !uuid.is_empty() => rest = tail,
            _ => return Err(bad("no uploads/{uuid} segment")),
        }
    }
    let (compressed, tail) = match rest {
        ["blobs", tail @ ..] => (false, tail),
        ["compressed-blobs", "zstd", tail @ ..] => (true, tail),
        ["compressed-blobs", other, ..] => {
            return Err(invalid(
                "resource_name",
                format!("compressor {other:?} is not supported (only zstd)"),
            ));
        }
        _ => return Err(bad("no blobs segment")),
    };
    let (hash, size, extra) = match tail {
        [hash, size, extra @ ..] => (hash, size, extra),
        _ => return Err(bad("no hash and size")),
    };
    // Reads have no metadata; writes may carry any after the size.
    if !upload && !extra.is_empty() {
        return Err(bad("trailing segments"));
    }
    let size: i64 = size
        .parse()
        .map_err(|_| invalid("resource_name", format!("size {size:?} is not a number")))?;
    let digest = parse_digest("resource_name", hash, size)?;
    Ok(Resource {
        instance,
        digest,
        compressed,
    })
}

/// An open upload: who started it and how far it got, readable while a
/// stream holds its state.
struct Slot {
    /// Who started it (the principal's display name).
    owner: String,
    /// Bytes received (compressed ones for a compressed upload).
    committed: AtomicU64,
    state: tokio::sync::Mutex<Upload>,
}

/// An unfinished upload's writer side.
struct Upload {
    writer: Option<Box<dyn BlobWriter>>,
    /// The zstd decoder of a compressed upload.
    decoder: Option<StreamDecoder>,
    /// Bytes received (compressed ones for a compressed upload).
    committed: u64,
    /// Uncompressed bytes written.
    written: u64,
    touched: Instant,
}

/// The open uploads, by resource name.
#[derive(Default)]
pub(crate) struct Uploads {
    open: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Uploads {
    fn get(&self, name: &str) -> Option<Arc<Slot>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn remove(&self, name: &str) {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }

    /// Opens `upload` under `name`, dropping idle uploads first.
    fn insert(&self, name: &str, owner: String, upload: Upload) -> Result<Arc<Slot>, Status> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|_, slot| {
            slot.state
                .try_lock()
                .map_or(true, |u| u.touched.elapsed() < UPLOAD_IDLE)
        });
        if open.len() >= MAX_OPEN_UPLOADS {
            return Err(Status::resource_exhausted(format!(
                "{MAX_OPEN_UPLOADS} uploads are open: finish or abandon some"
            )));
        }
        let slot = Arc::new(Slot {
            owner,
            committed: AtomicU64::new(0),
            state: tokio::sync::Mutex::new(upload),
        });
        open.insert(name.to_owned(), slot.clone());
        Ok(slot)
    }
}

/// Why a `Write` stream failed: a broken or unfinished stream leaves its
/// upload resumable, any other failure closes it.
enum WriteFailure {
    Resumable(Status),
    Fatal(Status),
}

impl From<Status> for WriteFailure {
    fn from(s: Status) -> Self {
        Self::Fatal(s)
    }
}

impl From<ApiError> for WriteFailure {
    fn from(e: ApiError) -> Self {
        Self::Fatal(e.into())
    }
}

/// The `committed_size` of a finished upload of `resource`.
fn finished_size(resource: &Resource) -> i64 {
    if resource.compressed {
        -1
    } else {
        i64::try_from(resource.digest.size_bytes()).unwrap_or(i64::MAX)
    }
}

/// `google.bytestream.ByteStream` over the CAS, with the open uploads.
#[derive(Clone)]
pub struct ByteStreamService {
    face: BuildCacheFace,
    uploads: Arc<Uploads>,
}

impl ByteStreamService {
    /// The service over `face`, with no upload open.
    pub fn new(face: BuildCacheFace) -> Self {
        Self {
            face,
            uploads: Arc::default(),
        }
    }

    fn uploads(&self) -> &Uploads {
        &self.uploads
    }
}

impl std::ops::Deref for ByteStreamService {
    type Target = BuildCacheFace;
    fn deref(&self) -> &BuildCacheFace {
        &self.face
    }
}

impl ByteStreamService {
    async fn write_messages(
        &self,
        name: &str,
        resource: &Resource,
        slot: &Slot,
        upload: &mut Upload,
        first: WriteRequest,
        stream: &mut Streaming<WriteRequest>,
    ) -> Result<WriteResponse, WriteFailure> {
        let mut next = Some(first);
        loop {
            let msg = match next.take() {
                Some(m) => m,
                None => match stream.message().await.map_err(WriteFailure::Resumable)? {
                    Some(m) => m,
                    None => {
                        return Err(WriteFailure::Resumable(invalid(
                            "finish_write",
                            format!(
                                "the stream ended at offset {} without finish_write; \
                                 resume with write_offset {}",
                                upload.committed, upload.committed
                            ),
                        )));
                    }
                },
            };
            if !msg.resource_name.is_empty() && msg.resource_name != name {
                return Err(invalid("resource_name", "a stream writes one resource").into());
            }
            if u64::try_from(msg.write_offset).ok() != Some(upload.committed) {
                // Nothing was written: the upload stays as it was.
                return Err(WriteFailure::Resumable(invalid(
                    "write_offset",
                    format!(
                        "is {}, but {} bytes are committed",
                        msg.write_offset, upload.committed
                    ),
                )));
            }
            upload.touched = Instant::now();
            let received = msg.data.len() as u64;
            let data = msg.data;
            let writer = upload
                .writer
                .as_mut()
                .ok_or_else(|| Status::internal("upload already committed"))?;
            match upload.decoder.as_mut() {
                Some(decoder) => {
                    let mut pieces = Vec::new();
                    decoder.feed(&data, |p| {
                        pieces.push(p);
                        Ok(())
                    })?;
                    for p in pieces {
                        writer.write(p).await.map_err(ApiError::from)?;
                    }
                    upload.written = decoder.produced();
                }
                None => {
                    upload.written += received;
                    if upload.written > resource.digest.size_bytes() {
                        return Err(invalid(
                            "data",
                            format!(
                                "more than the digest's {} bytes",
                                resource.digest.size_bytes()
                            ),
                        )
                        .into());
                    }
                    if !data.is_empty() {
                        writer.write(data).await.map_err(ApiError::from)?;
                    }
                }
            }
            upload.committed += received;
            slot.committed.store(upload.committed, Ordering::Release);
            if msg.finish_write {
                if let Some(decoder) = &upload.decoder {
                    decoder.finish()?;
                }
                if upload.written != resource.digest.size_bytes() {
                    return Err(invalid(
                        "data",
                        format!(
                            "{} bytes, but the digest says {}",
                            upload.written,
                            resource.digest.size_bytes()
                        ),
                    )
                    .into());
                }
                let writer = upload
                    .writer
                    .take()
                    .ok_or_else(|| Status::internal("upload already committed"))?;
                writer.commit().await.map_err(ApiError::from)?;
                return Ok(WriteResponse {
                    committed_size: if resource.compressed {
                        i64::try_from(upload.committed).unwrap_or(i64::MAX)
                    } else {
                        finished_size(resource)
                    },
                });
            }
        }
    }
}

#[tonic::async_trait]
impl ByteStream for ByteStreamService {
    type ReadStream = BoxStream<ReadResponse>;

    async fn read(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let result = self.read_blob(request).await;
        counted(StoreKind::Cas, "get", "hit", result)
    }

    async fn write(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<WriteResponse>, Status> {
        let result = self.write_blob(request).await;
        let outcome = match &result {
            Ok((_, outcome)) => outcome,
            Err(_) => "error",
        };
        crate::edge::metrics::count_build_cache(StoreKind::Cas, "put", outcome);
        result.map(|(response, _)| Response::new(response))
    }

    async fn query_write_status(
        &self,
        request: Request<QueryWriteStatusRequest>,
    ) -> Result<Response<QueryWriteStatusResponse>, Status> {
        let principal = self.principal(&request)?;
        let name = request.into_inner().resource_name;
        let resource = parse_resource(&name, true)?;
        if let Some(slot) = self.uploads().get(&name)
            && slot.owner == principal.to_string()
        {
            return Ok(Response::new(QueryWriteStatusResponse {
                committed_size: i64::try_from(slot.committed.load(Ordering::Acquire))
                    .unwrap_or(i64::MAX),
                complete: false,
            }));
        }
        if self.present(&principal, &resource).await? {
            return Ok(Response::new(QueryWriteStatusResponse {
                committed_size: finished_size(&resource),
                complete: true,
            }));
        }
        Err(Status::not_found(format!("no upload {name}")))
    }
}

impl ByteStreamService {
    /// `Read`, uncounted.
    async fn read_blob(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<BoxStream<ReadResponse>>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        let resource = parse_resource(&req.resource_name, false)?;
        let offset = u64::try_from(req.read_offset)
            .map_err(|_| invalid("read_offset", "must not be negative"))?;
        let limit = u64::try_from(req.read_limit)
            .map_err(|_| invalid("read_limit", "must not be negative"))?;
        let limit = (limit > 0).then_some(limit);
        let missing = || {
            Status::not_found(format!(
                "no blob {}/{}",
                resource.digest.hash(),
                resource.digest.size_bytes()
            ))
        };
        let range = if resource.compressed {
            ReadRange::FULL
        } else {
            ReadRange { offset, limit }
        };
        let read = self
            .service()
            .read_blob(ReadBlob {
                principal,
                instance: resource.instance.clone(),
                hash: *resource.digest.hash(),
                range,
            })
            .await
            .map_err(ApiError::from)?
            .ok_or_else(missing)?;
        if read.size_bytes != resource.digest.size_bytes() {
            return Err(missing());
        }
        if resource.compressed {
            let frames =
                zstd_codec::compressed_window(read.reader, READ_CHUNK_BYTES, offset, limit);
            return Ok(Response::new(chunked(frames)));
        }
        let chunks = futures_util::stream::unfold(read.reader, move |mut reader| async move {
            match reader.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), reader)),
                Ok(None) => None,
                Err(e) => Some((
                    Err(Status::from(ApiError::from(BuildCacheError::io(
                        "cas",
                        "reading a blob",
                        e,
                    )))),
                    reader,
                )),
            }
        });
        Ok(Response::new(chunked(chunks)))
    }

    /// `Write`, uncounted: the response and its outcome, `created` or
    /// `exists`.
    async fn write_blob(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<(WriteResponse, &'static str), Status> {
        let principal = self.principal(&request)?;
        let owner = principal.to_string();
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| invalid("resource_name", "the stream holds no request"))?;
        let name = first.resource_name.clone();
        let resource = parse_resource(&name, true)?;
        let upload = match self.uploads().get(&name) {
            Some(open) => open,
            None => {
                let start = self
                    .service()
                    .write_blob(WriteBlob {
                        principal: principal.clone(),
                        instance: resource.instance.clone(),
                        hash: *resource.digest.hash(),
                        expected_size: Some(resource.digest.size_bytes()),
                    })
                    .await
                    .map_err(ApiError::from)?;
                let writer = match start {
                    WriteBlobStart::Exists { .. } => {
                        let response = WriteResponse {
                            committed_size: finished_size(&resource),
                        };
                        return Ok((response, "exists"));
                    }
                    WriteBlobStart::Upload(writer) => writer,
                };
                let decoder = if resource.compressed {
                    Some(StreamDecoder::new(resource.digest.size_bytes())?)
                } else {
                    None
                };
                self.uploads().insert(
                    &name,
                    owner.clone(),
                    Upload {
                        writer: Some(writer),
                        decoder,
                        committed: 0,
                        written: 0,
                        touched: Instant::now(),
                    },
                )?
            }
        };
        let slot = upload;
        if slot.owner != owner {
            return Err(
                ApiError::forbidden(format!("upload {name} belongs to another principal")).into(),
            );
        }
        let mut upload = slot.state.lock().await;
        if upload.writer.is_none() {
            // Finished by an earlier stream while this one waited.
            let response = WriteResponse {
                committed_size: finished_size(&resource),
            };
            return Ok((response, "exists"));
        }
        let result = self
            .write_messages(&name, &resource, &slot, &mut upload, first, &mut stream)
            .await;
        match result {
            Ok(response) => {
                self.uploads().remove(&name);
                Ok((response, "created"))
            }
            // A broken or unfinished stream stays resumable.
            Err(WriteFailure::Resumable(s)) => Err(s),
            Err(WriteFailure::Fatal(s)) => {
                upload.writer = None;
                self.uploads().remove(&name);
                Err(s)
            }
        }
    }

    /// Whether `resource`'s blob is in the CAS.
    async fn present(&self, principal: &Principal, resource: &Resource) -> Result<bool, Status> {
        let missing = self
            .service()
            .find_missing_blobs(FindMissingBlobs {
                principal: principal.clone(),
                instance: resource.instance.clone(),
                digests: vec![resource.digest],
            })
            .await
            .map_err(ApiError::from)?;
        Ok(missing.is_empty())
    }
}

/// `chunks` as `ReadResponse`s of at most [`READ_CHUNK_BYTES`].
fn chunked(
    chunks: impl futures_util::Stream<Item = Result<Bytes, Status>> + Send + 'static,
) -> BoxStream<ReadResponse> {
    use futures_util::StreamExt;
    use futures_util::future::Either;
    Box::pin(chunks.flat_map(|chunk| match chunk {
        // Slices of the stored chunk: no copy.
        Ok(bytes) => Either::Left(futures_util::stream::iter(
            (0..bytes.len().div_ceil(READ_CHUNK_BYTES)).map(move |i| {
                let end = ((i + 1) * READ_CHUNK_BYTES).min(bytes.len());
                Ok(ReadResponse {
                    data: bytes.slice(i * READ_CHUNK_BYTES..end),
                })
            }),
        )),
        Err(e) => Either::Right(futures_util::stream::iter([Err(e)])),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_read_and_upload_names_with_and_without_instances() {
        let r = parse_resource(&format!("blobs/{HASH}/0"), false).unwrap();
        assert!(r.instance.is_default() && !r.compressed);
        let r = parse_resource(
            &format!("team-a/linux/compressed-blobs/zstd/{HASH}/0"),
            false,
        )
        .unwrap();
        assert_eq!(r.instance.as_str(), "team-a/linux");
        assert!(r.compressed);
        let r = parse_resource(
            &format!("ci/uploads/5f1c/blobs/{HASH}/0/some/metadata"),
            true,
        )
        .unwrap();
        assert_eq!(r.instance.as_str(), "ci");
        for bad in [
            format!("blobs/{HASH}"),
            format!("blobs/{HASH}/-1"),
            format!("blobs/{HASH}/x"),
            format!("blobs/{HASH}/0/extra"),
            format!("compressed-blobs/deflate/{HASH}/0"),
            "blobs/abc/3".to_owned(),
            format!("uploads/blobs/{HASH}/0"),
        ] {
            assert!(
                parse_resource(&bad, bad.starts_with("uploads")).is_err(),
                "{bad}"
            );
        }
        assert!(parse_resource(&format!("blobs/{HASH}/0"), true).is_err());
    }
}
