//! Strata's inbound adapters: the HTTP surface on actix-web (the cache API
//! `/v1`, the admin API `/admin/v1`, monitoring `/health/*` and `/metrics`,
//! the build cache's `/ac` and `/cas`, the OpenAPI 3.1 document
//! `/openapi.json` with Swagger UI at `/docs`) and the gRPC services on
//! tonic.
//!
//! It is the only crate that serves a protocol (HTTP, JSON, gRPC). It
//! depends on the application and domain crates, never on infrastructure:
//! handlers call [`CacheService`](strata_application::CacheService); DTOs
//! convert to domain types at the edge; every error is one
//! [`ApiError`](edge::error::ApiError), an RFC 7807 problem body over HTTP
//! and the matching status over gRPC.
//!
//! # Wings
//!
//! - [`edge`]: what every face shares: authentication, protected mode,
//!   rate limits, the audit trail's records, request ids, parameters,
//!   headers, the shared state, the configuration DTO, schemas, metrics,
//!   the error type and its gRPC mapping. It knows no face.
//! - [`http`]: one file per resource and the route table ([`app`]).
//! - [`grpc`]: the tonic services ([`grpc::services`]).
//! - `console/` (later): the server-rendered console, a face like the
//!   other two.
//!
//! Faces never import each other: `http` and `grpc` both build on `edge`,
//! and `edge` imports neither (`tests/architecture.rs` checks it).

pub mod edge;
pub mod grpc;
pub mod http;

pub use edge::MAX_BODY_BYTES;
pub use edge::config_dto::CacheConfigurationDto;
pub use edge::protected::ProtectedMode;
pub use edge::state::{AppState, Listener, ServerInfo};
pub use http::app;
pub use http::openapi::ApiDoc;
