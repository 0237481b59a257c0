//! Commands: operations that change state. One module per command, each
//! with its input, output, error and handler.

pub mod auto_tune;
pub mod configure_cache;
pub mod delete_cache;
pub mod delete_entry;
pub mod evaluate_alerts;
pub mod flush_cache;
pub mod import_entries;
pub mod invalidate_entries;
pub mod put_entries;
pub mod put_entry;
pub mod sync_configuration;
