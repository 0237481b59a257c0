//! What the REAPI and ByteStream services share: the build cache and
//! the caller ([`BuildCacheFace`]), REAPI digests and instance names as
//! domain types.

use std::pin::Pin;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bytes::Bytes;
use futures_util::Stream;
use strata_application::BuildCacheService;
use strata_application::build_cache::read_blob::ReadBlob;
use strata_domain::{
    BuildCacheError, Digest, DigestHash, InstanceName, Principal, ReadRange, StoreKind,
};
use tonic::{Code, Request, Status};

use super::auth::principal;
use crate::edge::error::ApiError;
use crate::edge::error::grpc_status::invalid;
use crate::edge::state::AppState;

/// The build cache as gRPC services see it: the application service and
/// the state that authenticates callers.
#[derive(Clone)]
pub struct BuildCacheFace {
    state: AppState,
    service: BuildCacheService,
}

impl BuildCacheFace {
    /// The face of `service`, authenticating through `state`.
    pub fn new(state: AppState, service: BuildCacheService) -> Self {
        Self { state, service }
    }

    /// Who `request` acts as.
    pub(crate) fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        principal(&self.state, request)
    }

    /// The build-cache service.
    pub(crate) fn service(&self) -> &BuildCacheService {
        &self.service
    }

    /// The blob `digest` whole, `None` when missing (or stored with
    /// another size).
    pub(crate) async fn read_whole(
        &self,
        principal: &Principal,
        instance: &InstanceName,
        digest: &Digest,
    ) -> Result<Option<Bytes>, Status> {
        let found = self
            .service
            .read_blob(ReadBlob {
                principal: principal.clone(),
                instance: instance.clone(),
                hash: *digest.hash(),
                range: ReadRange::FULL,
            })
            .await
            .map_err(ApiError::from)?;
        let Some(read) = found else {
            return Ok(None);
        };
        if read.size_bytes != digest.size_bytes() {
            return Ok(None);
        }
        let bytes = read
            .into_bytes()
            .await
            .map_err(|e| ApiError::from(BuildCacheError::io("cas", "reading a blob", e)))?;
        Ok(Some(bytes))
    }
}

/// The instance of a request.
pub(crate) fn instance(raw: &str) -> Result<InstanceName, Status> {
    InstanceName::parse(raw).map_err(|e| invalid("instance_name", e))
}

/// A REAPI digest as a domain [`Digest`].
pub(crate) fn digest(field: &str, d: Option<&reapi::Digest>) -> Result<Digest, Status> {
    let d = d.ok_or_else(|| invalid(field, "missing"))?;
    parse_digest(field, &d.hash, d.size_bytes)
}

/// `hash` and `size_bytes` as a domain [`Digest`].
pub(crate) fn parse_digest(field: &str, hash: &str, size_bytes: i64) -> Result<Digest, Status> {
    let size = u64::try_from(size_bytes).map_err(|_| {
        invalid(
            field,
            format!("size_bytes must not be negative, got {size_bytes}"),
        )
    })?;
    let hash = DigestHash::parse(hash).map_err(|e| invalid(field, e))?;
    Ok(Digest::new(hash, size))
}

/// A domain digest as REAPI's.
pub(crate) fn to_proto(d: &Digest) -> reapi::Digest {
    reapi::Digest {
        hash: d.hash().to_string(),
        size_bytes: i64::try_from(d.size_bytes()).unwrap_or(i64::MAX),
    }
}

/// A stream of `T` messages or a status.
pub(crate) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Counts a gRPC call's outcome in `strata_build_cache_requests_total`
/// as the HTTP face counts its requests: `Ok` is `ok` (the caller's own
/// word: `hit`, `ok`, `created`...), NOT_FOUND is `miss`, any other
/// status `error`. Returns `result` unchanged.
pub(crate) fn counted<T>(
    kind: StoreKind,
    op: &'static str,
    ok: &'static str,
    result: Result<T, Status>,
) -> Result<T, Status> {
    let outcome = match &result {
        Ok(_) => ok,
        Err(s) if s.code() == Code::NotFound => "miss",
        Err(_) => "error",
    };
    crate::edge::metrics::count_build_cache(kind, op, outcome);
    result
}
