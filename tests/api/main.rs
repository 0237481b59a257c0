//! Black-box tests: the whole service on port 0, driven over HTTP.

mod admin;
mod audit;
mod auth;
mod backends;
mod batch;
mod build_cache;
mod ccache;
mod entries;
mod errors;
mod eviction_switch;
mod helpers;
mod invalidation;
mod jwt;
mod keys;
mod matrix;
mod metric_labels;
mod monitoring;
mod mrc;
mod process;
mod protected;
mod rate_limits;
mod secrets;
mod tiered;
mod tls;
