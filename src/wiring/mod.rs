//! Wiring that turns one settings section into the adapters and guards
//! the application runs with. `config` only describes settings; the
//! rooms here build from them (and `lib.rs` assembles the whole):
//! `auth` (authenticators, rate limits, protected mode), `build_cache`
//! (the build cache's stores and service) and `check` (what `strata
//! config check` and start-up check before opening anything).

pub mod auth;
pub(crate) mod build_cache;
pub mod check;
