//! The OpenAPI 3.1 document served at `/openapi.json`.

use utoipa::OpenApi;

use crate::{admin, audit, batch, caches, config_dto, entries, error, invalidations, monitoring};

/// Strata's OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strata",
        description = "A cache service: named caches with TTLs, tags, batch operations and invalidation by key, pattern or tag. Errors are RFC 7807 problem+json bodies with a stable `code`."
    ),
    paths(
        entries::put_entry,
        entries::get_entry,
        entries::delete_entry,
        batch::batch_get,
        batch::batch_put,
        invalidations::invalidate,
        caches::list,
        caches::stats,
        admin::configure,
        admin::read,
        admin::delete,
        admin::flush,
        audit::read,
        monitoring::live,
        monitoring::ready,
        monitoring::metrics,
    ),
    components(schemas(
        error::Problem,
        config_dto::CacheConfigurationDto,
        batch::BatchGetRequest,
        batch::BatchGetResponse,
        batch::BatchHit,
        batch::BatchPutRequest,
        batch::BatchPutEntry,
        batch::BatchPutResponse,
        batch::BatchPutResult,
        invalidations::InvalidationRequest,
        invalidations::InvalidationResponse,
        caches::CacheList,
        caches::CacheListItem,
        caches::CacheStatsResponse,
        caches::Evictions,
        admin::ConfigureResponse,
        audit::AuditRecordDto,
        audit::AuditResponse,
        monitoring::Health,
        monitoring::FailingCache,
    )),
    tags(
        (name = "entries", description = "Read, write and invalidate entries"),
        (name = "caches", description = "List caches and read their statistics"),
        (name = "admin", description = "Configure, flush and delete caches, read the audit log (admin role)"),
        (name = "monitoring", description = "Health and Prometheus metrics"),
    )
)]
pub struct ApiDoc;
