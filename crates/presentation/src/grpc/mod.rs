//! Strata's gRPC face on tonic, beside the actix controllers and over the
//! same application services and [`AppState`] (credentials, limits,
//! protected mode), so a call means the same over both protocols:
//!
//! - `strata.cache.v1.Cache`, the cache API ([`cache`]);
//! - REAPI v2 `Capabilities`, `ActionCache`, `ContentAddressableStorage`
//!   and `google.bytestream.ByteStream` over the build cache
//!   ([`reapi`], [`bytestream`]), registered when `[build_cache]` is on;
//! - `grpc.health.v1.Health` ([`health`]);
//! - gRPC server reflection (v1) for the services whose descriptors
//!   Strata has (`strata.cache.v1`, `google.bytestream` and health; the
//!   REAPI crate ships none for its other services).
//!
//! Credentials come from `authorization` metadata (`Bearer <API key or
//! JWT>`, `Basic <base64(user:key)>`) or `x-api-key`; failures map to
//! gRPC codes as
//! `edge::error::grpc_status` says. Build-cache calls are counted in
//! `strata_build_cache_requests_total`, blob by blob, as HTTP requests
//! are. Generated REAPI code comes from the
//! `bazel-remote-apis` crate (MIT). The listener, TLS and shutdown are
//! the composition root's.

pub mod auth;
pub mod bytestream;
pub mod cache;
mod common;
pub mod health;
pub mod reapi;
mod zstd_codec;

use std::future::Future;

use bazel_remote_apis::build::bazel::remote::execution::v2::action_cache_server::ActionCacheServer;
use bazel_remote_apis::build::bazel::remote::execution::v2::capabilities_server::CapabilitiesServer;
use bazel_remote_apis::build::bazel::remote::execution::v2::content_addressable_storage_server::ContentAddressableStorageServer;
use bytestream::pb::byte_stream_server::ByteStreamServer;
use tonic::service::Routes;

use crate::edge::state::AppState;

/// Largest gRPC message the server decodes: twice
/// [`reapi::MAX_BATCH_TOTAL_SIZE_BYTES`], so a batch over the limit still
/// reaches the service and gets its explanation (INVALID_ARGUMENT)
/// instead of a bare transport error.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 2 * reapi::MAX_BATCH_TOTAL_SIZE_BYTES as usize;

/// The gRPC services over `state`, and the health reporter to run beside
/// them (a task that polls readiness, see [`health::report`]).
///
/// # Errors
/// The reflection service cannot read its descriptors (it does not for
/// the compiled-in ones).
pub fn services(
    state: AppState,
) -> Result<(Routes, impl Future<Output = ()> + Send + 'static), tonic_reflection::server::Error> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(cache::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(bytestream::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let mut names: Vec<&'static str> = vec!["strata.cache.v1.Cache"];
    let cache_api = cache::pb::cache_server::CacheServer::new(cache::CacheApi::new(state.clone()))
        .max_decoding_message_size(crate::edge::MAX_BODY_BYTES);
    let mut routes = Routes::new(health_service)
        .add_service(reflection)
        .add_service(cache_api);
    if let Some(build_cache) = state.build_cache.clone() {
        let face = common::BuildCacheFace::new(state.clone(), build_cache);
        let r = reapi::Reapi::new(face.clone());
        routes = routes
            .add_service(
                CapabilitiesServer::new(r.clone())
                    .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
            )
            .add_service(
                ActionCacheServer::new(r.clone())
                    .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
            )
            .add_service(
                ContentAddressableStorageServer::new(r.clone())
                    .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
            )
            .add_service(
                ByteStreamServer::new(bytestream::ByteStreamService::new(face))
                    .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
            );
        names.extend([
            "build.bazel.remote.execution.v2.Capabilities",
            "build.bazel.remote.execution.v2.ActionCache",
            "build.bazel.remote.execution.v2.ContentAddressableStorage",
            "google.bytestream.ByteStream",
        ]);
    }
    Ok((routes, health::report(state, reporter, names)))
}
