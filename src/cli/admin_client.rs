//! The client side of the admin API that `strata export`, `strata
//! import` and `strata status` share: where the server is and who calls it, the dump formats,
//! and the HTTP requests with their problem answers. It knows nothing of
//! either command's files or progress bars.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

/// Where the server is and who calls it (shared by the admin commands).
#[derive(clap::Args)]
pub(crate) struct ServerArgs {
    /// Base URL of the Strata server (`--url` is the same flag).
    #[arg(
        long,
        visible_alias = "url",
        env = "STRATA_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) server: String,
    /// API key (or JWT) with the admin role on the cache, sent as
    /// `Authorization: Bearer`; none for a server without `[auth]`.
    #[arg(long, env = "STRATA_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
}

/// The wire format of a dump file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DumpFormat {
    /// One JSON object per line, values in base64 (`application/x-ndjson`).
    Ndjson,
    /// A stream of MessagePack maps (`application/msgpack`).
    Msgpack,
}

impl DumpFormat {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Msgpack => "application/msgpack",
        }
    }

    /// `msgpack` for a `.msgpack`/`.mpk` file, else NDJSON.
    pub(crate) fn of_path(path: Option<&PathBuf>) -> Self {
        match path
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("msgpack" | "mpk") => Self::Msgpack,
            _ => Self::Ndjson,
        }
    }
}

/// An HTTP client on ring (the provider the server uses).
///
/// # Errors
/// The client cannot be built.
pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client")
}

/// `builder` with the `--api-key` as a bearer token, when given.
pub(crate) fn request(
    server: &ServerArgs,
    builder: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    match &server.api_key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    }
}

/// `<server>/admin/v1/caches/<cache>/<action>`.
pub(crate) fn url(server: &ServerArgs, cache: &str, action: &str) -> String {
    format!(
        "{}/admin/v1/caches/{cache}/{action}",
        server.server.trim_end_matches('/')
    )
}

/// Turns a problem answer into an error with its detail.
pub(crate) async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or(body);
    bail!("the server answered {status}: {detail}")
}
