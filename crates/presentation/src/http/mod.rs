//! The HTTP face on actix-web: one file per resource, the route table
//! ([`routes`]) and the request middleware ([`request`]). Handlers build on
//! [`edge`](crate::edge) and never import the gRPC face.
//!
//! - The cache API: [`entries`], [`entries_batch`], [`invalidations`],
//!   [`keys`], [`caches`], [`mrc`].
//! - The admin API: [`admin`], [`export_import`], [`audit`].
//! - The build cache: [`build_cache`] (bazel-remote's `/ac` and `/cas`),
//!   [`build_cache_admin`].
//! - Monitoring: [`monitoring`], [`status`] (`GET /admin/v1/status`);
//!   the OpenAPI document: [`openapi`].
//! - Request bodies (content codings, limits): `body`; body formats
//!   (JSON, MessagePack): [`codec`].

pub mod admin;
pub mod alerts;
pub mod audit;
pub(crate) mod body;
pub mod build_cache;
pub mod build_cache_admin;
pub mod caches;
pub mod codec;
pub mod entries;
pub mod entries_batch;
pub mod export_import;
pub mod invalidations;
pub mod keys;
pub mod monitoring;
pub mod mrc;
pub mod openapi;
pub mod report;
pub mod request;
pub mod routes;
pub mod status;
pub mod trends;

pub use routes::{app, app_with};
