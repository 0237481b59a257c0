//! A Strata server with one more backend kind, `files` (one file per
//! key, `store.rs`), and every feature of the stock binary:
//!
//! ```sh
//! cargo run --example file_store -- serve --config strata.toml
//! ```
//!
//! with, in `strata.toml`:
//!
//! ```toml
//! [backends.disk]
//! kind = "files"
//! dir = "/tmp/strata-files"
//!
//! [caches.default]
//! tiers = ["memory", "disk"]
//! ```
//!
//! `docs/plugins.md` walks through it; `tests/api/plugin.rs` runs it
//! through the contract suite and serves it over HTTP.

mod store;

fn main() -> anyhow::Result<()> {
    strata::cli::main_with(strata::BackendRegistry::stock().backend("files", store::factory))
}
