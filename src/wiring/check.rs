//! The checks of `strata config check`, which start-up runs first too, so
//! that both fail with the same message: everything the settings can be
//! checked for without binding a listener, connecting a backend or
//! writing a file.
//!
//! Left to start-up, because only trying tells: an address that cannot
//! be bound, a backend that cannot be reached (or a build-cache backend
//! of the wrong kind), a `data_dir` or `[audit] path` that cannot be
//! written, and the `[[invalidation_events.sources]]`, whose consumers
//! are built when they start.

use std::net::ToSocketAddrs;
use std::sync::Arc;

use anyhow::Context;
use strata_domain::ProvisionError;
use strata_infrastructure::{Keyring, SystemClock};

use crate::Settings;
use crate::config::{AuthMode, validation};
use crate::wiring::auth::{
    check_public_listen, credentials_authenticator, protected_mode, rate_limits,
};

/// Checks `settings` as start-up does, up to opening anything.
///
/// # Errors
/// The first problem, worded as start-up words it: `[encryption.keys]`,
/// `[cluster]`, `[caches.<name>]` (including a tier that names no
/// `[backends.<name>]`), `[analysis]`, `[analytics]`, `[alerts]`, the TLS files, `[auth]`, and a
/// listen address protected mode refuses.
pub fn settings(settings: &Settings) -> anyhow::Result<()> {
    let mut keyring = Keyring::default();
    for (id, key) in &settings.encryption.keys {
        keyring
            .insert_base64(id, key)
            .with_context(|| format!("[encryption.keys] {id}"))?;
    }
    validation::shared_config_backend(settings)?;
    for (config, _) in crate::config_sync::seeds(settings)? {
        for tier in config.tiers() {
            if !tier.is_memory() && !settings.backends.contains_key(tier.as_str()) {
                return Err(anyhow::Error::new(ProvisionError::UnknownTier(
                    tier.as_str().to_owned(),
                ))
                .context(format!("[caches.{}]", config.name())));
            }
        }
    }
    if settings.analysis.enabled {
        settings.analysis.analyzer()?;
        settings.analysis.auto_tune()?;
    }
    settings.analytics.check()?;
    settings.alerts.rules()?;
    crate::tls::server_config(&settings.server)?;
    let auth = settings.auth.clone().unwrap_or_default();
    rate_limits(&auth)?;
    credentials_authenticator(&auth, Arc::new(SystemClock))?;
    protected_mode(&auth)?;
    super::auth::trusted_proxies(&settings.server)?;
    auth.metrics_role()?;
    let listens = [
        (settings.server.listen.as_str(), None),
        (
            settings.server.grpc_listen.as_str(),
            Some("[server] grpc_listen"),
        ),
    ];
    for (listen, context) in listens {
        if listen.is_empty() && context.is_some() {
            continue;
        }
        // Worded as the failed bind would be (`lib.rs`, `grpc.rs`).
        let addrs = listen.to_socket_addrs().with_context(|| match context {
            Some(context) => format!("{context}: cannot listen on {listen}"),
            None => format!("cannot listen on {listen}"),
        })?;
        // Only a refusal: protected mode's warning (auth.mode = "off")
        // is start-up's to give, once.
        if !matches!(auth.mode, AuthMode::On) {
            continue;
        }
        for addr in addrs {
            let checked = check_public_listen(&auth, addr);
            match context {
                Some(context) => checked.context(context)?,
                None => checked?,
            }
        }
    }
    Ok(())
}
