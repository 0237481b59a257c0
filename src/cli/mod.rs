//! The `strata` binary's subcommands, one room each: `serve`, `simulate`,
//! `run`, `cache`, `keys`, `export`, `import`, `config` (`check`),
//! `status`, `completions`. Each owns its arguments and
//! its output; `main.rs` only parses and dispatches. The service's wiring
//! is the library's (`strata::Application`), not these modules'.
//!
//! Shared rooms: `task_file` (strata.tasks.toml and the global settings of
//! `run` and `cache`) and `admin_client` (the admin-API client of `export`,
//! `import` and `status`).

pub(crate) mod admin_client;
pub(crate) mod cache;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod simulate;
pub(crate) mod status;
pub(crate) mod task_file;
