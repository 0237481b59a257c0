//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Handlers annotate their own success and domain responses; [`Contract`]
//! then adds what the router and middleware answer for every operation
//! alike, so that no operation can forget them:
//! - the security schemes (`bearer`: an API key or a JWT; `api_key`: the
//!   `X-Api-Key` header; `basic`: HTTP Basic with the key as password), on
//!   every operation but `/health/*` and `/metrics`;
//! - 401 (with `WWW-Authenticate`), 403 and 429 (with `Retry-After`) on
//!   every protected operation;
//! - 400 on every operation with a path or query parameter or a body, 413
//!   on every operation with a body (`crate::edge::MAX_BODY_BYTES`), 415 on every
//!   operation with a JSON body (`crate::http::codec`), 503 (with
//!   `Retry-After`) on every operation that reaches a cache's backend;
//! - the `{cache}` and `{key}` rules of `CacheName::parse` and
//!   `CacheKey::parse` on every path parameter of those names;
//! - a description on every response (the status's reason phrase where
//!   the handler gave none: OpenAPI requires one);
//! - a unique `operationId` for a `HEAD` that shares its `GET`'s
//!   annotation (`method(get, head)`): `ac_get` and `cas_get` become
//!   `ac_head` and `cas_head` on `HEAD` (any other `x`, `x_head`).
//!
//! Every operation id is unique, and every operation carries at least one
//! example (of its request body, a response, or a parameter): client
//! generators key methods by operation id, and the examples are what
//! Swagger UI shows. `tests/api/monitoring.rs` checks both on the served
//! document, and CI validates it with `openapi-spec-validator`
//! (`scripts/openapi-validate.sh`).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, RefOr, Required, ResponseBuilder, SecurityRequirement};
use utoipa::{Modify, OpenApi};

use super::{
    admin, alerts, audit, build_cache, build_cache_admin, caches, entries, entries_batch,
    export_import, invalidations, keys, monitoring, mrc, report, status, trends,
};
use crate::edge::schemas::{cache_name_schema, key_schema};
use crate::edge::{config_dto, error};

/// Strata's OpenAPI document, generated from the handlers' annotations and
/// completed by [`Contract`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Strata",
        description = "A cache service: named caches with TTLs, tags, batch operations and invalidation by key, pattern or tag. Errors are RFC 7807 problem+json bodies with a stable `code`. A method a path does not support gets 405 with `Allow`."
    ),
    modifiers(&Contract),
    paths(
        entries::put_entry,
        entries::get_entry,
        entries::delete_entry,
        entries_batch::batch_get,
        entries_batch::batch_put,
        invalidations::invalidate,
        keys::list,
        caches::list,
        caches::stats,
        mrc::curves,
        mrc::recommendation,
        trends::cache_trends,
        trends::build_cache_trends,
        report::usage_report,
        alerts::list,
        alerts::list_silences,
        alerts::create_silence,
        alerts::delete_silence,
        admin::configure,
        admin::patch,
        admin::read,
        admin::delete,
        admin::flush,
        export_import::export,
        export_import::import,
        audit::read,
        monitoring::live,
        monitoring::ready,
        monitoring::metrics,
        status::status,
        build_cache_admin::flush_action_cache,
        build_cache_admin::flush_content_store,
        build_cache_admin::stats,
        build_cache::ac_get,
        build_cache::ac_put,
        build_cache::cas_get,
        build_cache::cas_put,
    ),
    components(schemas(
        error::Problem,
        config_dto::CacheConfigurationDto,
        entries_batch::BatchGetRequest,
        entries_batch::BatchGetResponse,
        entries_batch::BatchHit,
        entries_batch::BatchPutRequest,
        entries_batch::BatchPutEntry,
        entries_batch::BatchPutResponse,
        entries_batch::BatchPutResult,
        invalidations::InvalidationRequest,
        invalidations::InvalidationResponse,
        keys::KeysResponse,
        keys::KeyDto,
        caches::CacheList,
        caches::CacheListItem,
        caches::CacheStatsResponse,
        caches::Evictions,
        mrc::MrcResponse,
        mrc::CurveDto,
        mrc::CurvePointDto,
        mrc::RecommendationResponse,
        mrc::CapacityChangeDto,
        mrc::PolicyEstimateDto,
        mrc::PolicyCapacityChangesDto,
        mrc::FreshStartDto,
        trends::TrendsResponse,
        trends::AnnotationDto,
        report::UsageReportResponse,
        report::SettingRecommendationDto,
        alerts::AlertDto,
        alerts::AlertsResponse,
        alerts::SilenceRequest,
        alerts::SilenceDto,
        alerts::SilencesResponse,
        report::HotKeyDto,
        report::SizeBucketDto,
        report::TtlBucketDto,
        report::LifetimesDto,
        admin::ConfigureResponse,
        export_import::ImportResponse,
        export_import::ImportErrorDto,
        audit::AuditRecordDto,
        audit::AuditResponse,
        monitoring::Health,
        monitoring::FailingCache,
        monitoring::IndexRebuildStatus,
        status::StatusResponse,
        status::ListenerDto,
        status::BackendDto,
        status::CacheStatusDto,
        build_cache_admin::FlushRequest,
        build_cache_admin::FlushResponse,
        build_cache_admin::StoreFlushDto,
        build_cache_admin::FlushTotals,
        build_cache_admin::BuildCacheStatsResponse,
        build_cache_admin::StoreStatsDto,
        build_cache_admin::InstanceUsageDto,
        build_cache_admin::StoreUsageDto,
    )),
    tags(
        (name = "entries", description = "Read, write and invalidate entries"),
        (name = "caches", description = "List caches and read their statistics"),
        (name = "admin", description = "Configure, flush, delete, export and import caches, read the audit log (admin role)"),
        (name = "monitoring", description = "Health, Prometheus metrics and the server's status (`strata status`)"),
        (name = "build-cache", description = "The remote build cache's admin API: scoped AC and CAS flushes, stats. Bazel and ccache use bazel-remote's HTTP protocol, `GET`/`HEAD`/`PUT` on `[/<instance>]/ac/<sha256>` and `[/<instance>]/cas/<sha256>` (see docs/build-cache.md)"),
    )
)]
pub struct ApiDoc;

/// The security schemes' names in `components.securitySchemes`.
const SCHEMES: [&str; 3] = ["bearer", "api_key", "basic"];

/// Paths that need no credentials.
fn is_open(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

/// Requires exactly one of `fields` to be present and not null, as the
/// handler does (`give exactly one of ...`). The handler reads an explicit
/// `null` as absent, so the base schema lets every one of `fields` be null
/// (a `schema_with` property is not nullable by itself) and each `oneOf`
/// branch says which one must not be.
fn exactly_one_of(schema: &mut RefOr<Schema>, fields: &[&str]) {
    let RefOr::T(Schema::Object(object)) = schema else {
        return;
    };
    for field in fields {
        if let Some(RefOr::T(property)) = object.properties.get_mut(*field) {
            set_nullable(property, true);
        }
    }
    let mut one_of = OneOfBuilder::new();
    for field in fields {
        let mut branch = ObjectBuilder::new().required(*field);
        for other in fields {
            let property = match object.properties.get(*other) {
                Some(RefOr::T(p)) if other == field => {
                    let mut p = p.clone();
                    set_nullable(&mut p, false);
                    p
                }
                Some(_) if other == field => continue,
                _ => ObjectBuilder::new().schema_type(Type::Null).into(),
            };
            branch = branch.property(*other, property);
        }
        one_of = one_of.item(branch);
    }
    let base = Schema::Object(object.clone());
    *schema = AllOfBuilder::new().item(base).item(one_of).into();
}

/// Adds `null` to, or removes it from, an object or array schema's types.
fn set_nullable(schema: &mut Schema, nullable: bool) {
    let schema_type = match schema {
        Schema::Object(o) => &mut o.schema_type,
        Schema::Array(a) => &mut a.schema_type,
        _ => return,
    };
    let mut types: Vec<Type> = match &*schema_type {
        SchemaType::Type(t) => vec![t.clone()],
        SchemaType::Array(types) => types.clone(),
        SchemaType::AnyValue => return,
    };
    types.retain(|t| *t != Type::Null);
    if nullable {
        types.push(Type::Null);
    }
    *schema_type = match types.as_slice() {
        [one] => SchemaType::Type(one.clone()),
        _ => SchemaType::from_iter(types),
    };
}

/// Completes [`ApiDoc`] with what every operation shares (see the module
/// docs).
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <API key or JWT>` (docs/security.md)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "`X-Api-Key: <API key>`",
            ))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("HTTP Basic: any user name, the API key as password"))
                    .build(),
            ),
        );
        for (name, fields) in [
            ("BatchPutEntry", &["value", "value_base64"][..]),
            ("InvalidationRequest", &["keys", "pattern", "tags"][..]),
        ] {
            if let Some(schema) = components.schemas.get_mut(name) {
                exactly_one_of(schema, fields);
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let protected = !is_open(path);
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.head,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(op, path, protected);
            }
            if let (Some(get), Some(head)) = (&item.get, &mut item.head)
                && head.operation_id.is_some()
                && head.operation_id == get.operation_id
            {
                head.operation_id = head.operation_id.as_deref().map(head_operation_id);
            }
        }
        // An import may be empty (no records): its body is optional.
        if let Some(RefOr::T(body)) = openapi
            .paths
            .paths
            .get_mut("/admin/v1/caches/{cache}/import")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut())
        {
            body.required = Some(Required::False);
        }
        // A PUT of an entry stores its body as is: any bytes (the macro
        // can only say `Vec<u8>`, a JSON array of integers), and none at
        // all, since an empty value is a cache value like any other (the
        // macro cannot mark a body optional).
        // The same holds for the build cache's PUTs: an empty body is the
        // empty blob on /cas and an empty (valid) ActionResult on /ac.
        for path in [
            "/v1/caches/{cache}/entries/{key}",
            "/ac/{hash}",
            "/cas/{hash}",
        ] {
            let Some(RefOr::T(body)) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.put.as_mut())
                .and_then(|op| op.request_body.as_mut())
            else {
                continue;
            };
            body.required = Some(Required::False);
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else { continue };
                content.schema = Some(RefOr::T(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::AnyValue)
                        .description(Some("Any bytes, stored as is"))
                        .into(),
                ));
            }
        }
    }
}

/// The operation id of a `HEAD` documented with its `GET` as `get_id`:
/// `ac_get` is `ac_head`, any other `x` is `x_head`.
fn head_operation_id(get_id: &str) -> String {
    format!("{}_head", get_id.strip_suffix("_get").unwrap_or(get_id))
}

fn complete(op: &mut Operation, path: &str, protected: bool) {
    let mut has_input = op.request_body.is_some();
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        has_input |= matches!(param.parameter_in, ParameterIn::Path | ParameterIn::Query);
        if !matches!(param.parameter_in, ParameterIn::Path) {
            continue;
        }
        match param.name.as_str() {
            "cache" => param.schema = Some(cache_name_schema().into()),
            "key" => param.schema = Some(key_schema().into()),
            _ => {}
        }
    }
    if protected {
        op.security = Some(
            SCHEMES
                .iter()
                .map(|scheme| SecurityRequirement::new(*scheme, Vec::<String>::new()))
                .collect(),
        );
        add(
            op,
            "401",
            problem("Missing or invalid credentials (`unauthorized`)").header(
                "WWW-Authenticate",
                string_header("`Bearer realm=\"strata\"`; a refused JWT adds RFC 6750's `error=\"invalid_token\", error_description=\"<class>\"` (`expired`, `not_yet_valid`, `invalid_audience`, `invalid_issuer`, `invalid_signature`, `unsupported_algorithm`, `unknown_critical_header`, `malformed`)"),
            ),
        );
        add(
            op,
            "403",
            problem(
                "The credentials lack the grant (`forbidden`), or protected mode refused the peer (`protected_mode`)",
            ),
        );
        add(
            op,
            "429",
            problem("Rate limited (`rate_limited`, `[auth.rate_limits]`)")
                .header("Retry-After", retry_after()),
        );
    }
    if has_input {
        add(op, "400", problem("Invalid path, query or body parameter"));
    }
    if let Some(RefOr::T(body)) = &op.request_body {
        let json = body.content.contains_key("application/json");
        add(
            op,
            "413",
            problem("Body over the request limit (`payload_too_large`)"),
        );
        if json {
            add(
                op,
                "415",
                problem("Body neither JSON nor MessagePack (`unsupported_media_type`)"),
            );
        }
    }
    // OpenAPI requires a description on every response; one the handler
    // left out is the status's reason phrase.
    for (status, response) in op.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = actix_web::http::StatusCode::from_bytes(status.as_bytes())
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Response")
                .to_owned();
        }
    }
    if path.contains("{cache}") {
        add(op, "503", problem("A backend of the cache is unavailable (`backend_unavailable`), or the audit log cannot be written (`audit_unavailable`)")
            .header("Retry-After", retry_after()));
    }
}

/// Adds `response` under `status` unless the handler documented it.
fn add(op: &mut Operation, status: &str, response: ResponseBuilder) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| response.build().into());
}

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "Problem",
        )))),
    )
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("Seconds to wait before retrying"))
        .build()
}
