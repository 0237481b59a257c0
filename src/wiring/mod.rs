//! Wiring that turns one settings section into the adapters and guards
//! the application runs with. `config` only describes settings; the
//! rooms here build from them (and `lib.rs` assembles the whole).

pub mod auth;
