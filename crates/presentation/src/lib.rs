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
//! - [`console`]: the server-rendered web console at `/console`, a face
//!   like the other two.
//!
//! Faces never import each other: `http`, `grpc` and `console` build on
//! `edge`, and `edge` imports none of them (`tests/architecture.rs`
//! checks it). [`app`] composes the HTTP faces.

pub mod console;
pub mod edge;
pub mod grpc;
pub mod http;

use actix_web::App;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};

/// The whole HTTP application: the console's routes and the HTTP API's
/// ([`http::app_with`]).
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    http::app_with(state, console::routes)
}

pub use edge::MAX_BODY_BYTES;
pub use edge::config_dto::CacheConfigurationDto;
pub use edge::protected::ProtectedMode;
pub use edge::state::{AppState, Listener, ServerInfo};
pub use http::openapi::ApiDoc;
