//! Checks that span sections: a setting of one section that is valid only
//! given another's (a backend name that must exist with the right kind, a
//! feature that needs another on). Each names both sections in its error.
//! Checks within one section stay beside it; nothing here opens a
//! connection or builds an adapter.

use super::{BackendSettings, Settings};

/// `[cluster] config_backend`, when set, checked against `[coherence]`:
/// shared configuration changes are announced on the coherence channel.
///
/// # Errors
/// `config_backend` set while `[coherence] enabled = false`.
pub(crate) fn shared_config_backend(settings: &Settings) -> anyhow::Result<Option<&str>> {
    let Some(backend) = &settings.cluster.config_backend else {
        return Ok(None);
    };
    anyhow::ensure!(
        settings.coherence.enabled,
        "[cluster] config_backend = {backend:?} needs [coherence] enabled = true: \
         configuration changes are announced on the coherence channel"
    );
    Ok(Some(backend))
}

/// The URL of the `[backends.<name>]` of kind `redis` that an
/// `[[invalidation_events.sources]]` entry (`at`) names as `backend`.
///
/// # Errors
/// `backend` names no `[backends.<name>]`, or one of another kind.
pub(crate) fn redis_stream_backend_url(
    settings: &Settings,
    backend: &str,
    at: &str,
) -> anyhow::Result<String> {
    match settings.backends.get(backend) {
        Some(BackendSettings::Redis { url, .. }) => Ok(url.clone()),
        _ => anyhow::bail!(
            "{at}: backend = {backend:?} must name a [backends.<name>] of kind \"redis\""
        ),
    }
}
