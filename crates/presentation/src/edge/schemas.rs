//! JSON Schemas of the domain's value rules (`CacheName`, `CacheKey`,
//! `Tag`, batch sizes, policy names), for the DTOs' `schema_with` and the
//! OpenAPI document ([`crate::http::openapi`]). Imports no handler module.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};

/// Characters a key or tag may not hold: what `char::is_control` (Unicode
/// `Cc`) and `char::is_whitespace` (Unicode `White_Space`) reject, spelled
/// out because a JSON Schema `\s` differs between regex dialects.
const NOT_SPACE_OR_CONTROL: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The schema of a cache name (`CacheName::parse`): 1 to 64 ASCII
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit.
pub(crate) fn cache_name_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9][A-Za-z0-9._-]*$"))
        .min_length(Some(1))
        .max_length(Some(strata_domain::MAX_NAME_BYTES))
        .description(Some(
            "Cache name: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
        ))
        .into()
}

/// The schema of a key (`CacheKey::parse`): 1 to 250 bytes of UTF-8
/// without whitespace or control characters. JSON Schema counts
/// characters, so `maxLength` is exact for ASCII keys only; the byte limit
/// is in the description.
pub(crate) fn key_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[^{NOT_SPACE_OR_CONTROL}]+$")))
        .min_length(Some(1))
        .max_length(Some(strata_domain::MAX_KEY_BYTES))
        .description(Some(
            "Key: 1 to 250 bytes of UTF-8, no whitespace or control characters",
        ))
        .into()
}

/// The schema of a tag (`Tag::parse`): 1 to 128 bytes of UTF-8 without
/// commas, whitespace or control characters.
pub(crate) fn tag_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[^,{NOT_SPACE_OR_CONTROL}]+$")))
        .min_length(Some(1))
        .max_length(Some(strata_domain::MAX_TAG_BYTES))
        .description(Some(
            "Tag: 1 to 128 bytes of UTF-8, no commas, whitespace or control characters",
        ))
        .into()
}

/// A list of 1 to 1000 (`check_batch_len`) items of `item`.
fn batch_of(item: Schema) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(item))
        .min_items(Some(1))
        .max_items(Some(strata_application::MAX_BATCH))
        .into()
}

/// 1 to 1000 keys (batch and invalidation bodies).
pub(crate) fn key_batch() -> Schema {
    batch_of(key_schema())
}

/// 1 to 1000 tags (invalidation bodies).
pub(crate) fn tag_batch() -> Schema {
    batch_of(tag_schema())
}

/// Tiers from L1 outwards: `memory` or backend names (cache-name rules).
pub(crate) fn tier_list() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(cache_name_schema()))
        .min_items(Some(1))
        .unique_items(true)
        .into()
}

/// Any number of tags (an entry's tags).
pub(crate) fn tag_list() -> Schema {
    ArrayBuilder::new().items(RefOr::T(tag_schema())).into()
}

/// Comma-separated tags in a query string (`?tags=a,b`); empty is none.
pub(crate) fn tag_query() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^([^,{NOT_SPACE_OR_CONTROL}]+(,[^,{NOT_SPACE_OR_CONTROL}]+)*)?$"
        )))
        .description(Some("Comma-separated tags, each 1 to 128 bytes of UTF-8 without whitespace or control characters"))
        .into()
}

/// An audit action's name (`AuditAction::parse`).
pub(crate) fn audit_action() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            strata_domain::AuditAction::ALL.iter().map(|a| a.as_str()),
        ))
        .into()
}

/// An eviction policy's name (`EvictionPolicyKind::parse`).
pub(crate) fn eviction_policy() -> Schema {
    nullable_enum(
        strata_domain::EvictionPolicyKind::ALL
            .iter()
            .map(|p| p.as_str()),
    )
}

/// A compression's name: `zstd` or `none`.
pub(crate) fn compression() -> Schema {
    nullable_enum(["zstd", "none"])
}

fn nullable_enum(names: impl IntoIterator<Item = &'static str>) -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(names.into_iter().map(Some).chain([None])))
        .into()
}
