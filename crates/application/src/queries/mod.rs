//! Queries: operations that only read. One module per query, each with its
//! input, output, error and handler.

pub mod export_entries;
pub mod get_cache_stats;
pub mod get_configuration;
pub mod get_entries;
pub mod get_entry;
pub mod get_miss_ratio_curves;
pub mod get_trends;
pub mod get_usage_report;
pub mod list_caches;
pub mod list_keys;
