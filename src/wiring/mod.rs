//! Wiring that turns one settings section into the adapters and guards
//! the application runs with. `config` only describes settings; the
//! rooms here build from them (and `lib.rs` assembles the whole):
//! `auth` (authenticators, rate limits, protected mode) and `build_cache`
//! (the build cache's stores and service).

pub mod auth;
pub(crate) mod build_cache;
