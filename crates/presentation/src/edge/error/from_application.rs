//! Each application and domain error as an [`ApiError`]: the one mapping
//! every face uses (HTTP answers it as a problem body, gRPC as the status
//! [`grpc_status`](super::grpc_status) gives it). It knows no face.

use actix_web::http::StatusCode;
use strata_application::build_cache::find_missing_blobs::FindMissingBlobsError;
use strata_application::build_cache::flush_action_cache::FlushActionCacheError;
use strata_application::build_cache::flush_content_store::FlushContentStoreError;
use strata_application::build_cache::get_action_result::GetActionResultError;
use strata_application::build_cache::get_build_cache_stats::GetBuildCacheStatsError;
use strata_application::build_cache::read_blob::ReadBlobError;
use strata_application::build_cache::update_action_result::UpdateActionResultError;
use strata_application::build_cache::write_blob::WriteBlobError;
use strata_application::commands::configure_cache::ConfigureCacheError;
use strata_application::commands::delete_cache::DeleteCacheError;
use strata_application::commands::delete_entry::DeleteEntryError;
use strata_application::commands::flush_cache::FlushCacheError;
use strata_application::commands::import_entries::ImportEntriesError;
use strata_application::commands::invalidate_entries::InvalidateEntriesError;
use strata_application::commands::put_entries::PutEntriesError;
use strata_application::commands::put_entry::PutEntryError;
use strata_application::queries::export_entries::ExportEntriesError;
use strata_application::queries::get_cache_stats::GetCacheStatsError;
use strata_application::queries::get_configuration::GetConfigurationError;
use strata_application::queries::get_entries::GetEntriesError;
use strata_application::queries::get_entry::GetEntryError;
use strata_application::queries::list_keys::ListKeysError;
use strata_application::{AccessError, BatchSizeError};
use strata_domain::{BuildCacheError, ProvisionError, RepositoryError, StoreError};

use super::ApiError;

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::CacheNotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                "cache_not_found",
                "Cache not found",
                e.to_string(),
            ),
            AccessError::Forbidden { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                e.to_string(),
            ),
            AccessError::ConfirmationRequired(_) => Self::new(
                StatusCode::PRECONDITION_REQUIRED,
                "confirmation_required",
                "Confirmation required",
                e.to_string(),
            )
            .field("confirm"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable { .. } | StoreError::Timeout { .. } => {
                Self::backend_unavailable(e)
            }
            StoreError::Unsupported { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_operation",
                "Operation not supported by the backend",
                e.to_string(),
            ),
            StoreError::Unexpected(_) => Self::internal(e),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        Self::internal(e)
    }
}

impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Store(store) => store.into(),
            other => Self::invalid_configuration("tiers", other.to_string()),
        }
    }
}

impl From<PutEntryError> for ApiError {
    fn from(e: PutEntryError) -> Self {
        match e {
            PutEntryError::Access(a) => a.into(),
            PutEntryError::Store(s) => s.into(),
            e @ PutEntryError::ValueTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "value_too_large",
                "Value too large",
                e.to_string(),
            ),
            e @ PutEntryError::LeaseInvalidated { .. } => Self::lease_invalidated(e.to_string()),
        }
    }
}

/// 400 `invalid_parameter` naming `field`: a batch (keys, entries or
/// tags) with no item or more than `MAX_BATCH`, as the application's
/// commands and queries refuse it.
fn batch_size(e: BatchSizeError, field: &str) -> ApiError {
    ApiError::invalid_parameter(e.to_string()).field(field)
}

impl From<GetEntriesError> for ApiError {
    fn from(e: GetEntriesError) -> Self {
        match e {
            GetEntriesError::BatchSize(b) => batch_size(b, "keys"),
            GetEntriesError::Access(a) => a.into(),
            GetEntriesError::Store(s) => s.into(),
        }
    }
}

impl From<PutEntriesError> for ApiError {
    fn from(e: PutEntriesError) -> Self {
        match e {
            PutEntriesError::BatchSize(b) => batch_size(b, "entries"),
            PutEntriesError::Entry(e) => e.into(),
        }
    }
}

impl From<InvalidateEntriesError> for ApiError {
    fn from(e: InvalidateEntriesError) -> Self {
        match e {
            InvalidateEntriesError::BatchSize { selector, source } => batch_size(source, selector),
            InvalidateEntriesError::Access(a) => a.into(),
            InvalidateEntriesError::Store(s) => s.into(),
        }
    }
}

/// `From` for errors that are only an access or a store failure.
macro_rules! access_or_store {
    ($($ty:ident),*) => {$(
        impl From<$ty> for ApiError {
            fn from(e: $ty) -> Self {
                match e {
                    $ty::Access(a) => a.into(),
                    $ty::Store(s) => s.into(),
                }
            }
        }
    )*};
}
access_or_store!(
    GetEntryError,
    DeleteEntryError,
    FlushCacheError,
    GetCacheStatsError,
    ExportEntriesError,
    ImportEntriesError,
    ListKeysError
);

impl From<DeleteCacheError> for ApiError {
    fn from(e: DeleteCacheError) -> Self {
        match e {
            DeleteCacheError::Access(a) => a.into(),
            DeleteCacheError::Store(s) => s.into(),
            DeleteCacheError::Repository(r) => r.into(),
        }
    }
}

impl From<ConfigureCacheError> for ApiError {
    fn from(e: ConfigureCacheError) -> Self {
        match e {
            ConfigureCacheError::Access(a) => a.into(),
            ConfigureCacheError::Provision(p) => p.into(),
            ConfigureCacheError::Repository(r) => r.into(),
            ConfigureCacheError::VersionConflict { expected, current } => {
                Self::version_conflict(expected, current)
            }
        }
    }
}

impl From<strata_application::queries::get_miss_ratio_curves::GetMissRatioCurvesError>
    for ApiError
{
    fn from(
        e: strata_application::queries::get_miss_ratio_curves::GetMissRatioCurvesError,
    ) -> Self {
        use strata_application::queries::get_miss_ratio_curves::GetMissRatioCurvesError as E;
        match e {
            E::Access(a) => a.into(),
            E::NotAnalyzed(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_operation",
                "Operation not supported by the backend",
                e.to_string(),
            ),
        }
    }
}

impl From<GetConfigurationError> for ApiError {
    fn from(e: GetConfigurationError) -> Self {
        match e {
            GetConfigurationError::Access(a) => a.into(),
        }
    }
}

impl From<BuildCacheError> for ApiError {
    fn from(e: BuildCacheError) -> Self {
        match &e {
            BuildCacheError::DigestMismatch { .. } => ApiError::with_code(
                StatusCode::BAD_REQUEST,
                "digest_mismatch",
                "Digest mismatch",
                e.to_string(),
            ),
            BuildCacheError::TooLarge { .. } => ApiError::payload_too_large(e.to_string()),
            BuildCacheError::InsufficientStorage { .. } => ApiError::with_code(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "Insufficient storage",
                e.to_string(),
            ),
            BuildCacheError::InvalidRange { .. } => ApiError::with_code(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalid_range",
                "Range not satisfiable",
                e.to_string(),
            ),
            BuildCacheError::Unavailable { .. } => ApiError::backend_unavailable(e),
            BuildCacheError::Unexpected { .. } => ApiError::internal(e),
        }
    }
}

access_or_store!(
    GetActionResultError,
    ReadBlobError,
    WriteBlobError,
    FindMissingBlobsError,
    FlushActionCacheError,
    FlushContentStoreError,
    GetBuildCacheStatsError
);

impl From<UpdateActionResultError> for ApiError {
    fn from(e: UpdateActionResultError) -> Self {
        match e {
            UpdateActionResultError::Access(a) => a.into(),
            UpdateActionResultError::Store(s) => s.into(),
            UpdateActionResultError::Invalid(i) => ApiError::with_code(
                StatusCode::BAD_REQUEST,
                "invalid_action_result",
                "Invalid ActionResult",
                i.to_string(),
            ),
        }
    }
}
