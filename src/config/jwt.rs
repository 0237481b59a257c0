//! `[auth.jwt]`: JWT bearer tokens, and the secret wrapper its HS256
//! secret is read into. Describes the section only: the JWT authenticator
//! is built by the composition root (`wiring::auth`).

use serde::{Deserialize, Serialize};
use strata_domain::Secret;

/// Seconds of clock skew allowed on `exp` and `nbf` by default.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// The claim listing a token's grants by default.
pub const DEFAULT_GRANTS_CLAIM: &str = "strata";
/// The role a namespace claim gives by default.
pub const DEFAULT_NAMESPACE_ROLE: &str = "writer";

/// A secret setting (the HS256 secret): `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub Secret);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self(Secret::new(s)))
    }
}

/// `[auth.jwt]`: JWT bearer tokens, presented as `Authorization: Bearer`
/// (see docs/security.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The HS256 secret (at least 32 bytes); set it from the environment:
    /// `STRATA__AUTH__JWT__HS256_SECRET=...`. Raw bytes, not base64: the
    /// HMAC key is the UTF-8 bytes of the string as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hs256_secret: Option<SecretString>,
    /// A JWKS file of RS256/ES256 public keys, chosen by the token's `kid`;
    /// re-read when its modification time changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The required `iss`; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The required `aud`; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf` (default 30).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// The claim listing `"<role>:<cache glob>"` grants (default `strata`).
    #[serde(default = "default_grants_claim")]
    pub grants_claim: String,
    /// The claim naming the token's namespace (e.g. `ns`): namespace
    /// `team1` gets `namespace_role` on the caches `team1-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_claim: Option<String>,
    /// The role a namespace claim gives (default `writer`).
    #[serde(default = "default_namespace_role")]
    pub namespace_role: String,
}

fn default_leeway_secs() -> u64 {
    DEFAULT_LEEWAY_SECS
}
fn default_grants_claim() -> String {
    DEFAULT_GRANTS_CLAIM.to_owned()
}
fn default_namespace_role() -> String {
    DEFAULT_NAMESPACE_ROLE.to_owned()
}

impl JwtSettings {
    /// Settings accepting HS256 tokens signed with `secret`, every other
    /// field at its default.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self {
            hs256_secret: Some(SecretString(Secret::new(secret))),
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway_secs: default_leeway_secs(),
            grants_claim: default_grants_claim(),
            namespace_claim: None,
            namespace_role: default_namespace_role(),
        }
    }
}
