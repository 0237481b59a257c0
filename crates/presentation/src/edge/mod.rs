//! What every face (HTTP, gRPC, the console) shares: who is acting
//! ([`auth`], [`protected`], [`rate_limit`]), the audit trail's records
//! (`audited`), request ids, request parameters and response headers, the
//! shared state, the configuration DTO and its schemas, metrics, the one
//! bounded zstd stream decoder (`zstd`), and the
//! one error type ([`error::ApiError`]) with its HTTP problem body and its
//! gRPC status.
//!
//! It must not know any face: nothing here imports `http`, `grpc` or `console`
//! (`tests/architecture.rs` checks it). A helper only one face uses lives
//! in that face.

pub(crate) mod audited;
pub mod auth;
pub mod client_addr;
pub mod config_dto;
pub mod error;
pub mod headers;
pub mod metrics;
pub(crate) mod params;
pub mod protected;
pub mod rate_limit;
pub(crate) mod request_id;
pub(crate) mod schemas;
pub(crate) mod state;
pub(crate) mod zstd;

/// Largest request body accepted, in bytes: the largest value any cache may
/// accept ([`strata_domain::HARD_MAX_VALUE_BYTES`]) plus 1 MiB of room for
/// batch framing. Larger bodies get 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = strata_domain::HARD_MAX_VALUE_BYTES as usize + (1 << 20);
