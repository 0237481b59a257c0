//! `[auth]` -> the authenticator of every configured credential (API keys,
//! JWT, or both), the rate limiters, protected mode and its start-up check
//! of the listen addresses. Error messages name the section and field
//! (`[auth.api_keys.<id>] grants[0].role`, `[auth.jwt] jwks_file`, ...).
//!
//! The settings types are `config`'s; this module must not define any.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use strata_domain::{Authenticator, Clock, Grant, KeyPattern, Role};
use strata_infrastructure::{
    ApiKeyAuthenticator, ApiKeyDigest, ClaimMapping, CompositeAuthenticator, JwtAuthenticator,
    JwtConfigError,
};
use strata_presentation::ProtectedMode;
use strata_presentation::edge::client_addr::{ForwardedHeader, TrustedProxies};
use strata_presentation::edge::rate_limit::{PeerLimiter, PrincipalLimiter, RateLimits};

use crate::config::{
    AuthMode, AuthSettings, ForwardedHeaderSetting, JwtSettings, RateLimitSettings, ServerSettings,
};

/// The API-key authenticator `auth` describes.
///
/// # Errors
/// Bad hex in `sha256`, an unknown role or an invalid glob, naming the
/// key id and the field.
pub fn api_key_authenticator(auth: &AuthSettings) -> anyhow::Result<ApiKeyAuthenticator> {
    let mut builder = ApiKeyAuthenticator::builder();
    for (id, key) in &auth.api_keys {
        let at = |field: String| format!("[auth.api_keys.{id}] {field}");
        let digest =
            ApiKeyDigest::from_hex(&key.sha256).with_context(|| at("sha256".to_owned()))?;
        let grants = key
            .grants
            .iter()
            .enumerate()
            .map(|(i, g)| {
                Ok(Grant {
                    caches: KeyPattern::parse(&g.caches)
                        .with_context(|| at(format!("grants[{i}].caches")))?,
                    role: Role::parse(&g.role).with_context(|| at(format!("grants[{i}].role")))?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        builder = builder.key(id.as_str(), digest, grants);
    }
    Ok(builder.build())
}

/// The JWT authenticator `jwt` describes, checking `exp` and `nbf`
/// against `clock` (the application's).
///
/// # Errors
/// An unknown `namespace_role`, an empty claim name, a short
/// `hs256_secret`, no key at all, or a `jwks_file` that cannot be read
/// or has no usable key, naming the field.
pub(crate) fn jwt_authenticator(
    jwt: &JwtSettings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<JwtAuthenticator> {
    let at = |field: &str| format!("[auth.jwt] {field}");
    let namespace_role = Role::parse(&jwt.namespace_role).with_context(|| at("namespace_role"))?;
    if jwt.grants_claim.is_empty() {
        anyhow::bail!("{}: must not be empty", at("grants_claim"));
    }
    if jwt.namespace_claim.as_deref() == Some("") {
        anyhow::bail!("{}: must not be empty", at("namespace_claim"));
    }
    let mut builder = JwtAuthenticator::builder()
        .clock(clock)
        .leeway_secs(jwt.leeway_secs)
        .claims(ClaimMapping {
            grants_claim: jwt.grants_claim.clone(),
            namespace_claim: jwt.namespace_claim.clone(),
            namespace_role,
        });
    if let Some(secret) = &jwt.hs256_secret {
        builder = builder.hs256_secret(secret.0.expose().as_bytes());
    }
    if let Some(path) = &jwt.jwks_file {
        builder = builder.jwks_file(path);
    }
    if let Some(issuer) = &jwt.issuer {
        builder = builder.issuer(issuer);
    }
    if let Some(audience) = &jwt.audience {
        builder = builder.audience(audience);
    }
    builder.build().map_err(|e| {
        let field = match &e {
            JwtConfigError::ShortSecret => "hs256_secret",
            JwtConfigError::NoKeys => "hs256_secret or jwks_file",
            JwtConfigError::Jwks { .. } => "jwks_file",
        };
        anyhow::anyhow!("{}: {e}", at(field))
    })
}

/// The authenticator of every configured credential: API keys, JWT, or
/// both (API keys first); `None` when
/// [`AuthSettings::has_credentials`] is false. JWT `exp` and `nbf` are
/// checked against `clock`.
///
/// # Errors
/// As [`api_key_authenticator`] and [`jwt_authenticator`].
pub(crate) fn credentials_authenticator(
    auth: &AuthSettings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<Arc<dyn Authenticator>>> {
    let api_keys = if auth.api_keys.is_empty() {
        None
    } else {
        let keys = api_key_authenticator(auth)?;
        tracing::info!(keys = ?keys.ids().collect::<Vec<_>>(), "API keys on");
        Some(keys)
    };
    let jwt = auth
        .jwt
        .as_ref()
        .map(|jwt| jwt_authenticator(jwt, clock))
        .transpose()?;
    if jwt.is_some() {
        tracing::info!("JWT bearer tokens on");
    }
    Ok(match (api_keys, jwt) {
        (None, None) => None,
        (Some(keys), None) => Some(Arc::new(keys)),
        (None, Some(jwt)) => Some(Arc::new(jwt)),
        (keys, jwt) => Some(Arc::new(CompositeAuthenticator::new(keys, jwt))),
    })
}

/// The rate limits in force: `[auth.rate_limits]` when present;
/// otherwise only the failed-authentication limit, at its defaults.
///
/// # Errors
/// As [`limits`].
pub(crate) fn rate_limits(auth: &AuthSettings) -> anyhow::Result<RateLimits> {
    match &auth.rate_limits {
        Some(settings) => limits(settings),
        None => Ok(RateLimits {
            failed_auth: failed_auth(&RateLimitSettings::default())?,
            ..RateLimits::default()
        }),
    }
}

/// The limiters `settings` describe.
///
/// # Errors
/// A zero rate or burst, or `requests_burst` without
/// `requests_per_second`, naming the field.
fn limits(settings: &RateLimitSettings) -> anyhow::Result<RateLimits> {
    let positive = |field: &str, n: u32| {
        NonZeroU32::new(n).with_context(|| format!("[auth.rate_limits] {field} must be at least 1"))
    };
    let admin = PrincipalLimiter::admin(
        positive("admin_per_minute", settings.admin_per_minute)?,
        positive("admin_burst", settings.admin_burst)?,
    );
    let requests = match (settings.requests_per_second, settings.requests_burst) {
        (None, None) => None,
        (None, Some(_)) => {
            anyhow::bail!("[auth.rate_limits] requests_burst needs requests_per_second")
        }
        (Some(rate), burst) => Some(Arc::new(PrincipalLimiter::requests(
            positive("requests_per_second", rate)?,
            positive("requests_burst", burst.unwrap_or(rate))?,
        ))),
    };
    Ok(RateLimits {
        admin: Some(Arc::new(admin)),
        requests,
        failed_auth: failed_auth(settings)?,
    })
}

/// The failed-authentication limiter; `None` when
/// `failed_auth_per_minute` is 0.
///
/// # Errors
/// A zero `failed_auth_burst` while the limit is on.
fn failed_auth(settings: &RateLimitSettings) -> anyhow::Result<Option<Arc<PeerLimiter>>> {
    let Some(rate) = NonZeroU32::new(settings.failed_auth_per_minute) else {
        return Ok(None);
    };
    let burst = NonZeroU32::new(settings.failed_auth_burst)
        .context("[auth.rate_limits] failed_auth_burst must be at least 1")?;
    Ok(Some(Arc::new(PeerLimiter::new(rate, burst))))
}

/// The protected mode `auth` describes: on when `mode` is `on` and no
/// credential is configured ([`AuthSettings::has_credentials`]).
///
/// # Errors
/// An entry of `trusted_networks` that is neither a CIDR nor an
/// address, naming it (`auth.trusted_networks[1]`).
pub(crate) fn protected_mode(auth: &AuthSettings) -> anyhow::Result<ProtectedMode> {
    let trusted = parse_networks(&auth.trusted_networks, "auth.trusted_networks")?;
    Ok(ProtectedMode {
        enabled: auth.mode == AuthMode::On && !auth.has_credentials(),
        trusted,
    })
}

/// The proxies `[server] trusted_proxies` names, with the header they
/// append to.
///
/// # Errors
/// An entry that is neither a CIDR nor an address, naming it
/// (`server.trusted_proxies[0]`).
pub(crate) fn trusted_proxies(server: &ServerSettings) -> anyhow::Result<TrustedProxies> {
    let nets = parse_networks(&server.trusted_proxies, "server.trusted_proxies")?;
    let header = match server.forwarded_header {
        ForwardedHeaderSetting::XForwardedFor => ForwardedHeader::XForwardedFor,
        ForwardedHeaderSetting::Forwarded => ForwardedHeader::Forwarded,
    };
    Ok(TrustedProxies::new(nets, header))
}

/// Each of `list` as [`parse_network`] reads it.
///
/// # Errors
/// The first entry that is neither, named `<field>[<index>]`.
fn parse_networks(list: &[String], field: &str) -> anyhow::Result<Vec<IpNet>> {
    list.iter()
        .enumerate()
        .map(|(i, net)| parse_network(net).with_context(|| format!("{field}[{i}]")))
        .collect()
}

/// A CIDR (`10.0.0.0/8`, `fd00::/8`), or an address meaning itself alone.
fn parse_network(s: &str) -> anyhow::Result<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| anyhow::anyhow!("invalid CIDR {s:?} (expected e.g. \"10.0.0.0/8\")"))
}

/// Protected mode at start-up: without credentials
/// ([`AuthSettings::has_credentials`]), a non-loopback listen
/// address (`0.0.0.0` and `::` included) needs `auth.mode = "off"`, and
/// then gets a warning.
///
/// # Errors
/// A non-loopback `listen` with no credentials and `auth.mode = "on"`.
pub(crate) fn check_public_listen(auth: &AuthSettings, listen: SocketAddr) -> anyhow::Result<()> {
    if auth.has_credentials() || listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    match auth.mode {
        AuthMode::On => anyhow::bail!(
            "refusing to listen on {listen} without authentication (protected mode): \
             configure API keys in [auth.api_keys] (`strata keys generate --id <id>`) \
             or JWT bearer tokens in [auth.jwt], \
             listen on a loopback address, or set auth.mode = \"off\" to let anyone who \
             can reach the port do everything"
        ),
        AuthMode::Off => {
            tracing::warn!(
                %listen,
                "auth.mode = \"off\" and no credentials: anyone who can reach this port can \
                 read, write, flush, delete and reconfigure every cache"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;
    use crate::config::Settings;

    fn auth_from(toml: &str) -> anyhow::Result<ApiKeyAuthenticator> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        api_key_authenticator(&settings.auth.unwrap_or_default())
    }

    #[test]
    fn auth_section_builds_an_authenticator() {
        let digest = ApiKeyDigest::of("k").to_hex();
        let auth = auth_from(&format!(
            "[auth.api_keys.ci-bot]\nsha256 = \"{digest}\"\n\
             grants = [{{ caches = \"build-*\", role = \"writer\" }}, \
             {{ caches = \"sessions\", role = \"cas-writer\" }}]\n"
        ))
        .unwrap();
        assert_eq!(auth.ids().collect::<Vec<_>>(), ["ci-bot"]);
    }

    #[test]
    fn invalid_auth_settings_name_the_key_and_field() {
        let digest = ApiKeyDigest::of("k").to_hex();
        let cases = [
            ("sha256 = \"xyz\"\n".to_owned(), "sha256"),
            (
                format!(
                    "sha256 = \"{digest}\"\ngrants = [{{ caches = \"a\", role = \"owner\" }}]\n"
                ),
                "grants[0].role",
            ),
            (
                format!(
                    "sha256 = \"{digest}\"\ngrants = [{{ caches = \"[a\", role = \"reader\" }}]\n"
                ),
                "grants[0].caches",
            ),
        ];
        for (body, field) in cases {
            let err = auth_from(&format!("[auth.api_keys.bot]\n{body}")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("[auth.api_keys.bot]"), "{msg}");
            assert!(msg.contains(field), "{msg}");
        }
    }

    fn protected_from(toml: &str) -> anyhow::Result<ProtectedMode> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        protected_mode(&settings.auth.unwrap_or_default())
    }

    #[test]
    fn protected_mode_defaults_to_loopback_and_on() {
        let mode = protected_mode(&AuthSettings::default()).unwrap();
        assert!(mode.enabled);
        assert!(mode.admits(Some("127.0.0.1".parse().unwrap())));
        assert!(mode.admits(Some("::1".parse().unwrap())));
        assert!(!mode.admits(Some("192.0.2.1".parse().unwrap())));
        let off = protected_from("[auth]\nmode = \"off\"\n").unwrap();
        assert!(!off.enabled);
        let digest = ApiKeyDigest::of("k").to_hex();
        let keyed =
            protected_from(&format!("[auth.api_keys.bot]\nsha256 = \"{digest}\"\n")).unwrap();
        assert!(
            !keyed.enabled,
            "with API keys, authentication applies instead"
        );
    }

    #[test]
    fn trusted_proxies_name_a_bad_entry() {
        let settings: Settings = Figment::new()
            .merge(Toml::string(
                "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.local\"]\n",
            ))
            .extract()
            .unwrap();
        let err = trusted_proxies(&settings.server).unwrap_err();
        assert!(
            format!("{err:#}").contains("server.trusted_proxies[1]"),
            "{err:#}"
        );
        let settings: Settings = Figment::new()
            .merge(Toml::string(
                "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\nforwarded_header = \"forwarded\"\n",
            ))
            .extract()
            .unwrap();
        let proxies = trusted_proxies(&settings.server).unwrap();
        assert!(proxies.trusts("192.0.2.7".parse().unwrap()));
        assert!(!proxies.trusts("192.0.2.8".parse().unwrap()));
        assert_eq!(proxies.header(), ForwardedHeader::Forwarded);
    }

    #[test]
    fn trusted_networks_parse_cidrs_and_addresses() {
        let mode = protected_from(
            "[auth]\ntrusted_networks = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\"]\n",
        )
        .unwrap();
        assert!(mode.enabled);
        for ip in ["10.9.8.7", "192.0.2.7", "fd00::1"] {
            assert!(mode.admits(Some(ip.parse().unwrap())), "{ip}");
        }
        for ip in ["127.0.0.1", "192.0.2.8", "fe00::1"] {
            assert!(!mode.admits(Some(ip.parse().unwrap())), "{ip}");
        }
    }

    #[test]
    fn invalid_trusted_network_names_the_field() {
        for bad in ["10.0.0.0/33", "not-a-net", "10.0.0/8", "::1/129"] {
            let err = protected_from(&format!(
                "[auth]\ntrusted_networks = [\"127.0.0.0/8\", \"{bad}\"]\n"
            ))
            .unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("auth.trusted_networks[1]"), "{msg}");
            assert!(msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn unknown_auth_mode_is_an_error() {
        assert!(protected_from("[auth]\nmode = \"maybe\"\n").is_err());
    }

    fn rate_limits_from(toml: &str) -> anyhow::Result<RateLimits> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        limits(
            &settings
                .auth
                .and_then(|a| a.rate_limits)
                .context("no [auth.rate_limits]")?,
        )
    }

    #[test]
    fn rate_limits_default_to_admin_only() {
        let limits = rate_limits_from("[auth.rate_limits]\n").unwrap();
        assert!(limits.admin.is_some() && limits.requests.is_none());
        let limits = rate_limits_from("[auth.rate_limits]\nrequests_per_second = 50\n").unwrap();
        assert!(limits.requests.is_some());
    }

    #[test]
    fn invalid_rate_limits_name_the_field() {
        for (body, field) in [
            ("admin_per_minute = 0", "admin_per_minute"),
            ("admin_burst = 0", "admin_burst"),
            ("admin_burst = -1", "admin_burst"),
            ("requests_per_second = 0", "requests_per_second"),
            (
                "requests_per_second = 5\nrequests_burst = 0",
                "requests_burst",
            ),
            ("requests_burst = 5", "requests_burst"),
            ("admin_burts = 5", "admin_burts"),
        ] {
            let msg = match rate_limits_from(&format!("[auth.rate_limits]\n{body}\n")) {
                Ok(_) => panic!("{body} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            assert!(msg.contains(field), "{body}: {msg}");
        }
    }

    fn jwt_from(toml: &str) -> anyhow::Result<AuthSettings> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        Ok(settings.auth.unwrap_or_default())
    }

    const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn jwt_section_counts_as_credentials_and_never_prints_its_secret() {
        let auth = jwt_from(&format!(
            "[auth.jwt]\nhs256_secret = \"{JWT_SECRET}\"\nnamespace_claim = \"ns\"\n"
        ))
        .unwrap();
        assert!(auth.has_credentials());
        assert!(!protected_mode(&auth).unwrap().enabled);
        assert!(
            credentials_authenticator(&auth, Arc::new(strata_infrastructure::SystemClock))
                .unwrap()
                .is_some()
        );
        let jwt = auth.jwt.as_ref().unwrap();
        assert_eq!(jwt.leeway_secs, 30);
        assert_eq!(jwt.grants_claim, "strata");
        assert_eq!(jwt.namespace_role, "writer");
        let debug = format!("{auth:?}");
        assert!(!debug.contains(JWT_SECRET), "{debug}");
        assert!(!AuthSettings::default().has_credentials());
        assert!(
            credentials_authenticator(
                &AuthSettings::default(),
                Arc::new(strata_infrastructure::SystemClock)
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn invalid_jwt_settings_name_the_field() {
        for (body, field) in [
            ("hs256_secret = \"short\"".to_owned(), "hs256_secret"),
            ("issuer = \"x\"".to_owned(), "hs256_secret or jwks_file"),
            (
                "jwks_file = \"/nonexistent/jwks.json\"".to_owned(),
                "jwks_file",
            ),
            (
                format!("hs256_secret = \"{JWT_SECRET}\"\nnamespace_role = \"owner\""),
                "namespace_role",
            ),
            (
                format!("hs256_secret = \"{JWT_SECRET}\"\ngrants_claim = \"\""),
                "grants_claim",
            ),
        ] {
            let auth = jwt_from(&format!("[auth.jwt]\n{body}\n")).unwrap();
            let msg = match credentials_authenticator(
                &auth,
                Arc::new(strata_infrastructure::SystemClock),
            ) {
                Ok(_) => panic!("{body} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                msg.contains("[auth.jwt]") && msg.contains(field),
                "{body}: {msg}"
            );
            assert!(!msg.contains(JWT_SECRET), "{msg}");
        }
        assert!(jwt_from("[auth.jwt]\nhs256_secert = \"x\"\n").is_err());
    }
}
