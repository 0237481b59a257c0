//! REAPI v2's cache services (`build.bazel.remote.execution.v2`):
//! `Capabilities`, `ActionCache` and `ContentAddressableStorage`, over
//! the [`BuildCacheService`] that also serves bazel-remote's HTTP paths,
//! so an entry written over one protocol is read over the other.
//!
//! - **Digests.** SHA-256 only: a request naming another
//!   `digest_function` is INVALID_ARGUMENT; `UNKNOWN` (0) means SHA-256.
//!   A hash that is not 64 lowercase hex, or a negative size, is
//!   INVALID_ARGUMENT naming the field.
//! - **Instances.** `instance_name` is an [`InstanceName`] (the HTTP path
//!   prefix): `team-a` over gRPC is `/team-a/cas/...` over HTTP.
//! - **ActionCache.** `GetActionResult` answers NOT_FOUND for a missing
//!   entry and for one whose blobs are missing (the service's
//!   completeness check). It inlines `stdout`, `stderr` and the listed
//!   output files when asked, while their total stays within
//!   [`MAX_BATCH_TOTAL_SIZE_BYTES`]; a blob that would not fit is left to
//!   the client to fetch. `UpdateActionResult` needs the `writer` role
//!   (a `cas-writer` or `reader` is PERMISSION_DENIED) and stores the
//!   serialized `ActionResult` as HTTP's `PUT /ac/<hash>` does.
//! - **CAS batches.** `BatchUpdateBlobs` and `BatchReadBlobs` refuse a
//!   request whose blobs add up to more than
//!   [`MAX_BATCH_TOTAL_SIZE_BYTES`] (INVALID_ARGUMENT, as REAPI says);
//!   otherwise every blob gets its own status: a digest or size mismatch
//!   is INVALID_ARGUMENT for that blob only and stores nothing, a missing
//!   blob NOT_FOUND. zstd (`Compressor.ZSTD`) is accepted on update and
//!   offered on read when the client lists it.
//! - **GetTree.** Breadth-first from the root `Directory`, deduplicated;
//!   directories missing from the CAS are left out (REAPI: "the portion
//!   present"), a missing root is NOT_FOUND. `page_size` caps one call's
//!   directories and `next_page_token` (an opaque position) resumes.
//!   Each streamed message holds at most [`TREE_MESSAGE_DIRECTORIES`].
//! - **Capabilities.** SHA-256, zstd in both compressor lists,
//!   `max_batch_total_size_bytes`, `max_cas_blob_size_bytes`, and
//!   `update_enabled` when the caller holds `writer` on `build-cache`; no
//!   execution capabilities.

use std::collections::{HashSet, VecDeque};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::build::bazel::semver::SemVer;
use bazel_remote_apis::google::rpc;
use bytes::Bytes;
use prost::Message;
use reapi::action_cache_server::ActionCache;
use reapi::capabilities_server::Capabilities;
use reapi::compressor::Value as Compressor;
use reapi::content_addressable_storage_server::ContentAddressableStorage;
use reapi::digest_function::Value as DigestFunction;
use strata_application::build_cache::BUILD_CACHE_NAME;
use strata_application::build_cache::find_missing_blobs::FindMissingBlobs;
use strata_application::build_cache::get_action_result::GetActionResult;
use strata_application::build_cache::update_action_result::UpdateActionResult;
use strata_application::build_cache::write_blob::{WriteBlob, WriteBlobStart};
use strata_domain::{BuildCacheError, CacheName, Digest, InstanceName, Principal, Role, StoreKind};
use tonic::{Code, Request, Response, Status};

use super::common::{BoxStream, BuildCacheFace, counted, digest, instance, parse_digest, to_proto};
use super::zstd_codec;
use crate::edge::error::ApiError;
use crate::edge::error::grpc_status::invalid;
use crate::edge::metrics::{count_build_cache, count_build_cache_many};

/// Largest total of blob bytes in one `BatchUpdateBlobs` or
/// `BatchReadBlobs` request, and of inlined bytes in one
/// `GetActionResult`: 4 MiB (gRPC's default message limit) less 64 KiB
/// for the messages' framing, so a full batch's response still fits a
/// client's default 4 MiB limit.
pub const MAX_BATCH_TOTAL_SIZE_BYTES: u64 = (4 << 20) - (64 << 10);

/// Directories per streamed `GetTreeResponse` message.
pub const TREE_MESSAGE_DIRECTORIES: usize = 1000;

/// The REAPI cache services, over the build cache.
#[derive(Clone)]
pub struct Reapi {
    face: BuildCacheFace,
}

impl Reapi {
    /// The services over `face`.
    pub fn new(face: BuildCacheFace) -> Self {
        Self { face }
    }
}

impl std::ops::Deref for Reapi {
    type Target = BuildCacheFace;
    fn deref(&self) -> &BuildCacheFace {
        &self.face
    }
}

/// Refuses a digest function other than SHA-256 (or unset).
fn sha256_only(value: i32) -> Result<(), Status> {
    if value == DigestFunction::Unknown as i32 || value == DigestFunction::Sha256 as i32 {
        Ok(())
    } else {
        Err(invalid(
            "digest_function",
            format!("only SHA256 is supported, got {value}"),
        ))
    }
}

fn rpc_status(code: Code, message: impl Into<String>) -> rpc::Status {
    rpc::Status {
        code: code as i32,
        message: message.into(),
        details: Vec::new(),
    }
}

fn rpc_ok() -> rpc::Status {
    rpc_status(Code::Ok, "")
}

/// The rpc status of a failed call (the message the client would see).
fn rpc_from(status: &Status) -> rpc::Status {
    rpc_status(status.code(), status.message())
}

/// The sum of `sizes`, refused over [`MAX_BATCH_TOTAL_SIZE_BYTES`].
fn within_batch_limit(sizes: impl Iterator<Item = u64>) -> Result<(), Status> {
    let total = sizes.fold(0u64, u64::saturating_add);
    if total > MAX_BATCH_TOTAL_SIZE_BYTES {
        return Err(invalid(
            "requests",
            format!(
                "the batch holds {total} bytes, over max_batch_total_size_bytes \
                 ({MAX_BATCH_TOTAL_SIZE_BYTES}): split it or use ByteStream"
            ),
        ));
    }
    Ok(())
}

impl Reapi {
    /// Stores `data` as blob `digest`: `created`, or `exists` when it was
    /// already there (the outcome's metric label).
    async fn store(
        &self,
        principal: &Principal,
        instance: &InstanceName,
        digest: &Digest,
        data: Bytes,
    ) -> Result<&'static str, Status> {
        if data.len() as u64 != digest.size_bytes() {
            return Err(invalid(
                "data",
                format!(
                    "{} bytes, but the digest says {}",
                    data.len(),
                    digest.size_bytes()
                ),
            ));
        }
        let start = self
            .service()
            .write_blob(WriteBlob {
                principal: principal.clone(),
                instance: instance.clone(),
                hash: *digest.hash(),
                expected_size: Some(digest.size_bytes()),
            })
            .await
            .map_err(ApiError::from)?;
        match start {
            WriteBlobStart::Exists { .. } => Ok("exists"),
            WriteBlobStart::Upload(mut writer) => {
                writer.write(data).await.map_err(ApiError::from)?;
                writer.commit().await.map_err(ApiError::from)?;
                Ok("created")
            }
        }
    }
}

#[tonic::async_trait]
impl Capabilities for Reapi {
    async fn get_capabilities(
        &self,
        request: Request<reapi::GetCapabilitiesRequest>,
    ) -> Result<Response<reapi::ServerCapabilities>, Status> {
        let principal = self.principal(&request)?;
        instance(&request.get_ref().instance_name)?;
        let name =
            CacheName::parse(BUILD_CACHE_NAME).map_err(|e| Status::internal(e.to_string()))?;
        if !principal.may(Role::Reader, &name) {
            return Err(ApiError::forbidden(format!(
                "{principal} holds no role on {BUILD_CACHE_NAME}"
            ))
            .into());
        }
        let update_enabled = principal.may(Role::Writer, &name);
        let version = |minor| SemVer {
            major: 2,
            minor,
            patch: 0,
            prerelease: String::new(),
        };
        Ok(Response::new(reapi::ServerCapabilities {
            cache_capabilities: Some(reapi::CacheCapabilities {
                digest_functions: vec![DigestFunction::Sha256 as i32],
                action_cache_update_capabilities: Some(reapi::ActionCacheUpdateCapabilities {
                    update_enabled,
                }),
                cache_priority_capabilities: None,
                max_batch_total_size_bytes: MAX_BATCH_TOTAL_SIZE_BYTES as i64,
                symlink_absolute_path_strategy:
                    reapi::symlink_absolute_path_strategy::Value::Allowed as i32,
                supported_compressors: vec![Compressor::Zstd as i32],
                supported_batch_update_compressors: vec![Compressor::Zstd as i32],
                max_cas_blob_size_bytes: i64::try_from(self.service().max_blob_bytes())
                    .unwrap_or(i64::MAX),
                ..Default::default()
            }),
            execution_capabilities: None,
            deprecated_api_version: None,
            low_api_version: Some(version(0)),
            high_api_version: Some(version(3)),
        }))
    }
}

#[tonic::async_trait]
impl ActionCache for Reapi {
    async fn get_action_result(
        &self,
        request: Request<reapi::GetActionResultRequest>,
    ) -> Result<Response<reapi::ActionResult>, Status> {
        let result = self.action_result(request).await;
        counted(StoreKind::Ac, "get", "hit", result)
    }

    async fn update_action_result(
        &self,
        request: Request<reapi::UpdateActionResultRequest>,
    ) -> Result<Response<reapi::ActionResult>, Status> {
        let result = self.update_action(request).await;
        counted(StoreKind::Ac, "put", "ok", result)
    }
}

impl Reapi {
    /// `GetActionResult`, uncounted.
    async fn action_result(
        &self,
        request: Request<reapi::GetActionResultRequest>,
    ) -> Result<Response<reapi::ActionResult>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        let key = digest("action_digest", req.action_digest.as_ref())?;
        let found = self
            .service()
            .get_action_result(GetActionResult {
                principal: principal.clone(),
                instance: instance.clone(),
                key: *key.hash(),
            })
            .await
            .map_err(ApiError::from)?;
        let miss = || Status::not_found(format!("no action result for {}", key.hash()));
        let Some(bytes) = found else {
            return Err(miss());
        };
        // Without validation an entry may be any bytes (ccache): one that
        // is no ActionResult is a miss to a REAPI client.
        let Ok(mut result) = reapi::ActionResult::decode(bytes) else {
            return Err(miss());
        };
        let mut budget = MAX_BATCH_TOTAL_SIZE_BYTES;
        let mut inline = async |d: Option<&reapi::Digest>| -> Result<Option<Vec<u8>>, Status> {
            let Some(d) = d else { return Ok(None) };
            let Ok(d) = parse_digest("digest", &d.hash, d.size_bytes) else {
                return Ok(None);
            };
            if d.size_bytes() > budget {
                return Ok(None);
            }
            let bytes = self.read_whole(&principal, &instance, &d).await?;
            if let Some(b) = &bytes {
                budget -= b.len() as u64;
            }
            Ok(bytes.map(|b| b.to_vec()))
        };
        if req.inline_stdout
            && result.stdout_raw.is_empty()
            && let Some(raw) = inline(result.stdout_digest.as_ref()).await?
        {
            result.stdout_raw = raw;
        }
        if req.inline_stderr
            && result.stderr_raw.is_empty()
            && let Some(raw) = inline(result.stderr_digest.as_ref()).await?
        {
            result.stderr_raw = raw;
        }
        if !req.inline_output_files.is_empty() {
            let wanted: HashSet<&str> =
                req.inline_output_files.iter().map(String::as_str).collect();
            for file in &mut result.output_files {
                if file.contents.is_empty()
                    && wanted.contains(file.path.as_str())
                    && let Some(raw) = inline(file.digest.as_ref()).await?
                {
                    file.contents = raw;
                }
            }
        }
        Ok(Response::new(result))
    }

    /// `UpdateActionResult`, uncounted.
    async fn update_action(
        &self,
        request: Request<reapi::UpdateActionResultRequest>,
    ) -> Result<Response<reapi::ActionResult>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        let key = digest("action_digest", req.action_digest.as_ref())?;
        let result = req
            .action_result
            .ok_or_else(|| invalid("action_result", "missing"))?;
        let value = Bytes::from(result.encode_to_vec());
        let limit = self.service().max_blob_bytes();
        if value.len() as u64 > limit {
            return Err(ApiError::from(BuildCacheError::TooLarge {
                size_bytes: value.len() as u64,
                limit_bytes: limit,
            })
            .into());
        }
        self.service()
            .update_action_result(UpdateActionResult {
                principal,
                instance,
                key: *key.hash(),
                value,
            })
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(result))
    }
}

#[tonic::async_trait]
impl ContentAddressableStorage for Reapi {
    async fn find_missing_blobs(
        &self,
        request: Request<reapi::FindMissingBlobsRequest>,
    ) -> Result<Response<reapi::FindMissingBlobsResponse>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        let digests = req
            .blob_digests
            .iter()
            .map(|d| parse_digest("blob_digests", &d.hash, d.size_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let asked = digests.len() as u64;
        let missing = self
            .service()
            .find_missing_blobs(FindMissingBlobs {
                principal,
                instance,
                digests,
            })
            .await
            .map_err(|e| {
                count_build_cache(StoreKind::Cas, "head", "error");
                ApiError::from(e)
            })?;
        let missed = missing.len() as u64;
        count_build_cache_many(StoreKind::Cas, "head", "hit", asked.saturating_sub(missed));
        count_build_cache_many(StoreKind::Cas, "head", "miss", missed);
        Ok(Response::new(reapi::FindMissingBlobsResponse {
            missing_blob_digests: missing.iter().map(to_proto).collect(),
        }))
    }

    async fn batch_update_blobs(
        &self,
        request: Request<reapi::BatchUpdateBlobsRequest>,
    ) -> Result<Response<reapi::BatchUpdateBlobsResponse>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        within_batch_limit(
            req.requests
                .iter()
                .map(|r| r.digest.as_ref().map_or(0, |d| d.size_bytes.max(0) as u64)),
        )?;
        let mut responses = Vec::with_capacity(req.requests.len());
        for blob in req.requests {
            let echo = blob.digest.clone();
            let outcome = async {
                let d = digest("digest", blob.digest.as_ref())?;
                let data = match Compressor::try_from(blob.compressor) {
                    Ok(Compressor::Identity) => Bytes::from(blob.data),
                    Ok(Compressor::Zstd) => zstd_codec::decompress(&blob.data, d.size_bytes())?,
                    _ => {
                        return Err(invalid(
                            "compressor",
                            format!(
                                "only IDENTITY and ZSTD are supported, got {}",
                                blob.compressor
                            ),
                        ));
                    }
                };
                self.store(&principal, &instance, &d, data).await
            }
            .await;
            count_build_cache(
                StoreKind::Cas,
                "put",
                outcome.as_ref().map_or("error", |o| o),
            );
            match outcome {
                Ok(_) => responses.push(reapi::batch_update_blobs_response::Response {
                    digest: echo,
                    status: Some(rpc_ok()),
                }),
                // No grant, or the store down: the whole call fails.
                Err(s)
                    if matches!(
                        s.code(),
                        Code::PermissionDenied | Code::Unauthenticated | Code::Unavailable
                    ) =>
                {
                    return Err(s);
                }
                Err(s) => responses.push(reapi::batch_update_blobs_response::Response {
                    digest: echo,
                    status: Some(rpc_from(&s)),
                }),
            }
        }
        Ok(Response::new(reapi::BatchUpdateBlobsResponse { responses }))
    }

    async fn batch_read_blobs(
        &self,
        request: Request<reapi::BatchReadBlobsRequest>,
    ) -> Result<Response<reapi::BatchReadBlobsResponse>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        let digests = req
            .digests
            .iter()
            .map(|d| parse_digest("digests", &d.hash, d.size_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        within_batch_limit(digests.iter().map(Digest::size_bytes))?;
        let zstd = req
            .acceptable_compressors
            .contains(&(Compressor::Zstd as i32));
        let mut responses = Vec::with_capacity(digests.len());
        for d in &digests {
            let mut response = reapi::batch_read_blobs_response::Response {
                digest: Some(to_proto(d)),
                ..Default::default()
            };
            let read = self.read_whole(&principal, &instance, d).await;
            let result = match &read {
                Ok(Some(_)) => "hit",
                Ok(None) => "miss",
                Err(_) => "error",
            };
            count_build_cache(StoreKind::Cas, "get", result);
            match read {
                Ok(Some(data)) => {
                    if zstd && !data.is_empty() {
                        response.data = zstd_codec::compress(&data)?;
                        response.compressor = Compressor::Zstd as i32;
                    } else {
                        response.data = data.to_vec();
                    }
                    response.status = Some(rpc_ok());
                }
                Ok(None) => {
                    response.status = Some(rpc_status(
                        Code::NotFound,
                        format!("no blob {}/{}", d.hash(), d.size_bytes()),
                    ));
                }
                Err(s)
                    if matches!(
                        s.code(),
                        Code::PermissionDenied | Code::Unauthenticated | Code::Unavailable
                    ) =>
                {
                    return Err(s);
                }
                Err(s) => response.status = Some(rpc_from(&s)),
            }
            responses.push(response);
        }
        Ok(Response::new(reapi::BatchReadBlobsResponse { responses }))
    }

    type GetTreeStream = BoxStream<reapi::GetTreeResponse>;

    async fn get_tree(
        &self,
        request: Request<reapi::GetTreeRequest>,
    ) -> Result<Response<Self::GetTreeStream>, Status> {
        let principal = self.principal(&request)?;
        let req = request.into_inner();
        sha256_only(req.digest_function)?;
        let instance = instance(&req.instance_name)?;
        let root = digest("root_digest", req.root_digest.as_ref())?;
        let page_size = usize::try_from(req.page_size)
            .map_err(|_| invalid("page_size", "must not be negative"))?;
        let skip: usize = if req.page_token.is_empty() {
            0
        } else {
            req.page_token
                .parse()
                .map_err(|_| invalid("page_token", "not a token this server gave"))?
        };
        // Breadth-first, each directory once; the page is a window of
        // that order, so a token is the count of directories already sent.
        let mut queue = VecDeque::from([root]);
        let mut seen = HashSet::from([root]);
        let mut order: usize = 0;
        let mut page = Vec::new();
        let mut more = false;
        while let Some(d) = queue.pop_front() {
            let Some(bytes) = self.read_whole(&principal, &instance, &d).await? else {
                if d == root {
                    return Err(Status::not_found(format!(
                        "no root directory {}/{}",
                        d.hash(),
                        d.size_bytes()
                    )));
                }
                continue;
            };
            let directory = reapi::Directory::decode(bytes).map_err(|e| {
                invalid(
                    "root_digest",
                    format!("blob {} is not a Directory: {e}", d.hash()),
                )
            })?;
            for child in &directory.directories {
                if let Ok(c) = digest("directories.digest", child.digest.as_ref())
                    && seen.insert(c)
                {
                    queue.push_back(c);
                }
            }
            if order >= skip {
                if page_size > 0 && page.len() == page_size {
                    more = true;
                    break;
                }
                page.push(directory);
            }
            order += 1;
        }
        let next = if more {
            (skip + page.len()).to_string()
        } else {
            String::new()
        };
        let mut messages: Vec<reapi::GetTreeResponse> = Vec::new();
        let mut rest = page.into_iter().peekable();
        while rest.peek().is_some() {
            messages.push(reapi::GetTreeResponse {
                directories: rest.by_ref().take(TREE_MESSAGE_DIRECTORIES).collect(),
                next_page_token: String::new(),
            });
        }
        match messages.last_mut() {
            Some(last) => last.next_page_token = next,
            None => messages.push(reapi::GetTreeResponse {
                directories: Vec::new(),
                next_page_token: next,
            }),
        }
        Ok(Response::new(Box::pin(futures_util::stream::iter(
            messages.into_iter().map(Ok),
        ))))
    }

    async fn split_blob(
        &self,
        _request: Request<reapi::SplitBlobRequest>,
    ) -> Result<Response<reapi::SplitBlobResponse>, Status> {
        Err(Status::unimplemented("blob splitting is not supported"))
    }

    type GetChunkMappingStream = BoxStream<reapi::GetChunkMappingResponse>;

    async fn get_chunk_mapping(
        &self,
        _request: Request<reapi::GetChunkMappingRequest>,
    ) -> Result<Response<Self::GetChunkMappingStream>, Status> {
        Err(Status::unimplemented("chunk mappings are not supported"))
    }

    async fn splice_blob(
        &self,
        _request: Request<reapi::SpliceBlobRequest>,
    ) -> Result<Response<reapi::SpliceBlobResponse>, Status> {
        Err(Status::unimplemented("blob splicing is not supported"))
    }

    async fn register_chunk_mapping(
        &self,
        _request: Request<tonic::Streaming<reapi::RegisterChunkMappingRequest>>,
    ) -> Result<Response<reapi::RegisterChunkMappingResponse>, Status> {
        Err(Status::unimplemented("chunk mappings are not supported"))
    }
}
