//! [`JwtAuthenticator`]: the domain's `Authenticator` port over JWT bearer
//! tokens (`jsonwebtoken`), and [`CompositeAuthenticator`], which tries API
//! keys before tokens.
//!
//! Owns the choice of algorithm by key type, the claim validation and the
//! mapping of claims to grants; must not know HTTP or the configuration
//! format. Never logs a token.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Map, Value};
use strata_domain::{
    AuthError, Authenticator, Clock, Credential, Grant, KeyPattern, Principal, Role, Timestamp,
    TokenRejection,
};

use crate::SystemClock;
use crate::auth::ApiKeyAuthenticator;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least
/// the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Header parameters this verifier understands and processes when a
/// token names them in `crit` (RFC 7515 §4.1.11): none, so a token with a
/// `crit` header is refused.
const UNDERSTOOD_CRITICAL_PARAMETERS: [&str; 0] = [];

/// The algorithms a token may name: HS256 (the configured secret), RS256
/// and ES256 (JWKS keys). Any other `alg`, `none` included, is
/// [`TokenRejection::UnsupportedAlgorithm`].
const ACCEPTED_ALGORITHMS: [&str; 3] = ["HS256", "RS256", "ES256"];

/// Checks the token's JOSE header (its first segment, base64url JSON)
/// before any signature is: `alg` must be one of
/// [`ACCEPTED_ALGORITHMS`], and (RFC 7515 §4.1.11) a `crit` naming a
/// parameter this verifier does not understand is refused, as is a `crit`
/// that is empty or not an array of strings. `jsonwebtoken` does not look
/// at `crit`, and its header parser fails on algorithms it does not know,
/// which would hide `alg: none` as malformed.
fn check_header(token: &str) -> Result<(), TokenRejection> {
    use base64::Engine as _;
    let segment = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenRejection::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&json).map_err(|_| TokenRejection::Malformed)?;
    match header.get("alg").map(Value::as_str) {
        Some(Some(alg)) if ACCEPTED_ALGORITHMS.contains(&alg) => {}
        Some(Some(_)) => return Err(TokenRejection::UnsupportedAlgorithm),
        _ => return Err(TokenRejection::Malformed),
    }
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let names = crit.as_array().ok_or(TokenRejection::Malformed)?;
    if names.is_empty() {
        return Err(TokenRejection::Malformed);
    }
    for name in names {
        let name = name.as_str().ok_or(TokenRejection::Malformed)?;
        if !UNDERSTOOD_CRITICAL_PARAMETERS.contains(&name) {
            return Err(TokenRejection::UnknownCriticalHeader);
        }
    }
    Ok(())
}

/// The class of a `jsonwebtoken` failure. Signature and algorithm errors
/// come before any claim is read; claim errors only for a token whose
/// signature verified.
fn rejection(error: &jsonwebtoken::errors::Error) -> TokenRejection {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => TokenRejection::InvalidSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => TokenRejection::UnsupportedAlgorithm,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidAudience => TokenRejection::InvalidAudience,
        ErrorKind::InvalidIssuer => TokenRejection::InvalidIssuer,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            match claim.as_str() {
                "aud" => TokenRejection::InvalidAudience,
                "iss" => TokenRejection::InvalidIssuer,
                _ => TokenRejection::Malformed,
            }
        }
        _ => TokenRejection::Malformed,
    }
}

/// Why a JWT authenticator cannot be built. Messages never hold the secret.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// The HS256 secret is shorter than [`MIN_HS256_SECRET_BYTES`].
    #[error("must be at least {MIN_HS256_SECRET_BYTES} bytes")]
    ShortSecret,
    /// Neither an HS256 secret nor a JWKS file is configured.
    #[error("needs hs256_secret or jwks_file")]
    NoKeys,
    /// The JWKS file cannot be read or holds no usable key.
    #[error("JWKS file {path}: {reason}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// How claims become grants.
#[derive(Clone, Debug)]
pub struct ClaimMapping {
    /// The claim holding a list of `"<role>:<cache glob>"` strings
    /// (e.g. `strata: ["reader:sessions-*", "admin:*"]`).
    pub grants_claim: String,
    /// The claim naming the token's namespace (e.g. `ns`): namespace `team1`
    /// gets `namespace_role` on the caches `team1-*`.
    pub namespace_claim: Option<String>,
    /// The role a namespace claim gives.
    pub namespace_role: Role,
}

/// One public key of the JWKS file, with the only algorithm it verifies.
#[derive(Clone)]
struct PublicKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The JWKS file and the keys read from it at its last modification time.
struct JwksFile {
    path: PathBuf,
    state: Mutex<JwksState>,
}

struct JwksState {
    modified: Option<SystemTime>,
    keys: Arc<HashMap<String, PublicKey>>,
}

impl JwksFile {
    fn open(path: &Path) -> Result<Self, JwtConfigError> {
        let modified = modified(path);
        let keys = read_jwks(path)?;
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(JwksState {
                modified,
                keys: Arc::new(keys),
            }),
        })
    }

    /// The keys, re-read first when the file's modification time changed.
    /// A file that became unreadable or invalid keeps the previous keys.
    fn keys(&self) -> Arc<HashMap<String, PublicKey>> {
        let now = modified(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now != state.modified {
            state.modified = now;
            match read_jwks(&self.path) {
                Ok(keys) => {
                    tracing::info!(path = %self.path.display(), keys = keys.len(), "JWKS file re-read");
                    state.keys = Arc::new(keys);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS file changed but cannot be read; keeping the previous keys");
                }
            }
        }
        state.keys.clone()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The RS256 and ES256 (P-256) keys of a JWKS file, by `kid`. Keys without
/// a `kid`, and keys of other types, are skipped.
fn read_jwks(path: &Path) -> Result<HashMap<String, PublicKey>, JwtConfigError> {
    let error = |reason: String| JwtConfigError::Jwks {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec)
                if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| error(format!("key {kid}: {e}")))?;
        keys.insert(kid.clone(), PublicKey { algorithm, key });
    }
    if keys.is_empty() {
        return Err(error("no RS256 or ES256 key with a kid".to_owned()));
    }
    Ok(keys)
}

/// Authenticates JWT bearer tokens.
///
/// The algorithm is fixed by the key, never taken on trust from the token:
/// HS256 for the configured secret, RS256 or ES256 for the JWKS key named
/// by the token's `kid`. So `alg: none`, and an HS256 token signed with a
/// public key's bytes (algorithm confusion), are rejected. `exp` is
/// required, `nbf` is checked (both numeric seconds since the epoch,
/// RFC 7519 §4.1.4-5, with the leeway, against the injected [`Clock`],
/// not the system clock), `iss` and `aud` when configured; `sub` is
/// required and is the principal's subject. A refused token is
/// [`AuthError::InvalidToken`] naming one [`TokenRejection`] class, which
/// holds nothing of the token or the keys.
pub struct JwtAuthenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<JwksFile>,
    validation: Validation,
    leeway_secs: u64,
    clock: Arc<dyn Clock>,
    claims: ClaimMapping,
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("hs256", &self.hs256.is_some())
            .field(
                "jwks",
                &self.jwks.as_ref().map(|j| j.path.display().to_string()),
            )
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtAuthenticator`].
pub struct JwtAuthenticatorBuilder {
    /// Zeroed on drop, never printed (`secrecy`).
    hs256_secret: Option<SecretSlice<u8>>,
    jwks_file: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
    clock: Arc<dyn Clock>,
    claims: ClaimMapping,
}

impl fmt::Debug for JwtAuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticatorBuilder")
            .field("hs256_secret", &self.hs256_secret.is_some())
            .field("jwks_file", &self.jwks_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl JwtAuthenticatorBuilder {
    /// Check `exp` and `nbf` against `clock` (default [`SystemClock`];
    /// tests inject a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accept HS256 tokens signed with `secret`, the HMAC key as raw bytes
    /// (the configuration passes the UTF-8 bytes of `hs256_secret`; no
    /// base64 decoding happens anywhere).
    pub fn hs256_secret(mut self, secret: &[u8]) -> Self {
        self.hs256_secret = Some(SecretSlice::from(secret.to_vec()));
        self
    }

    /// Accept RS256/ES256 tokens signed by a key of this JWKS file, re-read
    /// when its modification time changes.
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.jwks_file = Some(path.into());
        self
    }

    /// Require this `iss`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Require this `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Seconds of clock skew allowed on `exp` and `nbf` (default 30).
    pub fn leeway_secs(mut self, leeway: u64) -> Self {
        self.leeway_secs = leeway;
        self
    }

    /// How claims become grants.
    pub fn claims(mut self, claims: ClaimMapping) -> Self {
        self.claims = claims;
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_HS256_SECRET_BYTES`], no key at all, or
    /// a JWKS file that cannot be read or has no usable key.
    pub fn build(self) -> Result<JwtAuthenticator, JwtConfigError> {
        let hs256 = match &self.hs256_secret {
            Some(s) if s.expose_secret().len() < MIN_HS256_SECRET_BYTES => {
                return Err(JwtConfigError::ShortSecret);
            }
            Some(s) => Some(DecodingKey::from_secret(s.expose_secret())),
            None => None,
        };
        let jwks = self.jwks_file.as_deref().map(JwksFile::open).transpose()?;
        if hs256.is_none() && jwks.is_none() {
            return Err(JwtConfigError::NoKeys);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` and `nbf` are checked against the injected clock in
        // `check_times`; jsonwebtoken's own checks read the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        Ok(JwtAuthenticator {
            hs256,
            jwks,
            validation,
            leeway_secs: self.leeway_secs,
            clock: self.clock,
            claims: self.claims,
        })
    }
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            grants_claim: "strata".to_owned(),
            namespace_claim: None,
            namespace_role: Role::Writer,
        }
    }
}

impl JwtAuthenticator {
    /// A builder with no keys, leeway 30 s and the default claim mapping.
    pub fn builder() -> JwtAuthenticatorBuilder {
        JwtAuthenticatorBuilder {
            hs256_secret: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway_secs: 30,
            clock: Arc::new(SystemClock),
            claims: ClaimMapping::default(),
        }
    }

    /// Whether `value` has the shape of a JWS compact token: three
    /// base64url parts separated by dots, only the last of which (the
    /// signature) may be empty, so that an unsecured JWT (`alg: none`,
    /// RFC 7519 §6) is verified, and refused as `unsupported_algorithm`,
    /// rather than taken for an API key.
    pub fn looks_like_jwt(value: &str) -> bool {
        let mut parts = 0;
        for part in value.split('.') {
            parts += 1;
            if (part.is_empty() && parts < 3)
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return false;
            }
        }
        parts == 3
    }

    /// The principal `token` names, or why it is refused.
    fn verify(&self, token: &str) -> Result<Principal, TokenRejection> {
        let claims = self.verified_claims(token)?;
        self.principal(&claims)
    }

    /// The claims of `token` once its signature, algorithm, `exp` and
    /// `nbf` are checked.
    fn verified_claims(&self, token: &str) -> Result<Map<String, Value>, TokenRejection> {
        if !Self::looks_like_jwt(token) {
            return Err(TokenRejection::Malformed);
        }
        check_header(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| rejection(&e))?;
        let jwks_keys;
        let (algorithm, key) = match header.alg {
            Algorithm::HS256 => (Algorithm::HS256, self.hs256.as_ref()),
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or(TokenRejection::UnsupportedAlgorithm)?;
                // Without a kid no key can verify it; a kid of no key we
                // hold is a signature we cannot verify.
                let kid = header.kid.as_deref().ok_or(TokenRejection::Malformed)?;
                jwks_keys = jwks.keys();
                let key = jwks_keys.get(kid).ok_or(TokenRejection::InvalidSignature)?;
                // The key's type fixes its algorithm: an RSA key never
                // verifies an ES256 token, nor the reverse.
                if key.algorithm != header.alg {
                    return Err(TokenRejection::UnsupportedAlgorithm);
                }
                (key.algorithm, Some(&key.key))
            }
            _ => return Err(TokenRejection::UnsupportedAlgorithm),
        };
        // HS256 without a configured secret: the algorithm is not accepted.
        let key = key.ok_or(TokenRejection::UnsupportedAlgorithm)?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![algorithm];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| rejection(&e))?;
        self.check_times(&data.claims)?;
        Ok(data.claims)
    }

    /// `exp` (required) is not more than the leeway in the past, and `nbf`
    /// (optional) not more than the leeway in the future, by the clock.
    /// Both are NumericDate: seconds since the epoch, possibly fractional.
    fn check_times(&self, claims: &Map<String, Value>) -> Result<(), TokenRejection> {
        let now = self.clock.now().as_millis() as f64 / 1000.0;
        let leeway = self.leeway_secs as f64;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(TokenRejection::Malformed)?;
        if exp < now - leeway {
            return Err(TokenRejection::Expired);
        }
        match claims.get("nbf") {
            None => Ok(()),
            Some(nbf) => match nbf.as_f64() {
                Some(nbf) if nbf <= now + leeway => Ok(()),
                Some(_) => Err(TokenRejection::NotYetValid),
                None => Err(TokenRejection::Malformed),
            },
        }
    }

    /// The principal of verified `claims`.
    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, TokenRejection> {
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            _ => return Err(TokenRejection::Malformed),
        };
        let mut grants = Vec::new();
        match claims.get(&self.claims.grants_claim) {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    grants.push(
                        item.as_str()
                            .and_then(parse_grant)
                            .ok_or(TokenRejection::Malformed)?,
                    );
                }
            }
            Some(_) => return Err(TokenRejection::Malformed),
        }
        if let Some(claim) = &self.claims.namespace_claim {
            match claims.get(claim) {
                None => {}
                Some(Value::String(ns)) => grants.push(Grant {
                    caches: namespace_pattern(ns).ok_or(TokenRejection::Malformed)?,
                    role: self.claims.namespace_role,
                }),
                Some(_) => return Err(TokenRejection::Malformed),
            }
        }
        Ok(Principal::Authenticated {
            subject: subject.into(),
            grants,
        })
    }
}

/// `"<role>:<cache glob>"`, e.g. `reader:sessions-*`.
fn parse_grant(s: &str) -> Option<Grant> {
    let (role, caches) = s.split_once(':')?;
    Some(Grant {
        caches: KeyPattern::parse(caches).ok()?,
        role: Role::parse(role).ok()?,
    })
}

/// The caches of namespace `ns`: `<ns>-*`. The namespace must be ASCII
/// letters, digits, `_` or `-` (no glob characters), so a claim cannot
/// widen itself to other namespaces' caches.
fn namespace_pattern(ns: &str) -> Option<KeyPattern> {
    let valid = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid
        .then(|| KeyPattern::parse(&format!("{ns}-*")).ok())
        .flatten()
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, credential: &Credential) -> Result<Principal, AuthError> {
        let Credential::ApiKey(secret) = credential;
        self.verify(secret.expose())
            .map_err(AuthError::InvalidToken)
    }

    /// The token's `exp` (NumericDate seconds, RFC 7519 section 4.1.4),
    /// when it verifies.
    fn expires_at(&self, credential: &Credential) -> Option<Timestamp> {
        let Credential::ApiKey(secret) = credential;
        let claims = self.verified_claims(secret.expose()).ok()?;
        let exp = claims.get("exp").and_then(Value::as_f64)?;
        (exp >= 0.0).then(|| Timestamp::from_millis((exp * 1000.0) as u64))
    }
}

/// API keys first, then, when the presented value has the JWT shape, JWT
/// bearer tokens.
#[derive(Debug)]
pub struct CompositeAuthenticator {
    api_keys: Option<ApiKeyAuthenticator>,
    jwt: Option<JwtAuthenticator>,
}

impl CompositeAuthenticator {
    /// Either or both authenticators.
    pub fn new(api_keys: Option<ApiKeyAuthenticator>, jwt: Option<JwtAuthenticator>) -> Self {
        Self { api_keys, jwt }
    }
}

impl Authenticator for CompositeAuthenticator {
    fn authenticate(&self, credential: &Credential) -> Result<Principal, AuthError> {
        if let Some(keys) = &self.api_keys
            && let Ok(principal) = keys.authenticate(credential)
        {
            return Ok(principal);
        }
        let Credential::ApiKey(value) = credential;
        match &self.jwt {
            Some(jwt) if JwtAuthenticator::looks_like_jwt(value.expose()) => {
                jwt.authenticate(credential)
            }
            _ => Err(AuthError::Invalid),
        }
    }

    /// None for an API key; a JWT's `exp` otherwise.
    fn expires_at(&self, credential: &Credential) -> Option<Timestamp> {
        if let Some(keys) = &self.api_keys
            && keys.authenticate(credential).is_ok()
        {
            return None;
        }
        self.jwt.as_ref()?.expires_at(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiKeyDigest;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;
    use strata_domain::{CacheName, Secret};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
    const JWKS: &str = include_str!("../testdata/jwt/jwks.json");
    const ES256_PEM: &str = include_str!("../testdata/jwt/es256.pem");
    const RS256_PEM: &str = include_str!("../testdata/jwt/rs256.pem");
    const RS256_PUB_PEM: &str = include_str!("../testdata/jwt/rs256.pub.pem");

    fn now() -> i64 {
        i64::try_from(get_current_timestamp()).unwrap()
    }
    fn hs256(claims: &Value) -> String {
        hs256_with(claims, SECRET)
    }
    fn hs256_with(claims: &Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }
    fn signed(alg: Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        };
        encode(&header, claims, &key).unwrap()
    }
    fn claims(extra: Value) -> Value {
        let mut c = json!({ "sub": "alice", "exp": now() + 300 });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    }
    fn token(t: &str) -> Credential {
        Credential::ApiKey(Secret::new(t))
    }
    fn auth() -> JwtAuthenticator {
        JwtAuthenticator::builder()
            .hs256_secret(SECRET)
            .claims(ClaimMapping {
                namespace_claim: Some("ns".to_owned()),
                ..ClaimMapping::default()
            })
            .build()
            .unwrap()
    }
    fn cache(s: &str) -> CacheName {
        CacheName::parse(s).unwrap()
    }

    #[test]
    fn valid_hs256_gives_sub_and_grants_from_claim_and_namespace() {
        let t = hs256(&claims(
            json!({ "strata": ["reader:sessions-*", "admin:ops"], "ns": "team1" }),
        ));
        let p = auth().authenticate(&token(&t)).unwrap();
        assert_eq!(p.to_string(), "alice");
        assert!(p.may(Role::Reader, &cache("sessions-a")));
        assert!(!p.may(Role::Writer, &cache("sessions-a")));
        assert!(p.may(Role::Admin, &cache("ops")));
        assert!(p.may(Role::Writer, &cache("team1-x")));
        assert!(!p.may(Role::Admin, &cache("team1-x")));
        assert!(!p.may(Role::Reader, &cache("team1")));
        assert!(!p.may(Role::Reader, &cache("team2-x")));
    }

    /// The refusal of a token of class `class`.
    fn refused(class: TokenRejection) -> Result<Principal, AuthError> {
        Err(AuthError::InvalidToken(class))
    }

    #[test]
    fn expired_future_nbf_missing_exp_and_missing_sub_name_their_class() {
        let auth = auth();
        for (c, class) in [
            (
                json!({ "sub": "alice", "exp": now() - 120 }),
                TokenRejection::Expired,
            ),
            (
                json!({ "sub": "alice", "exp": now() + 300, "nbf": now() + 120 }),
                TokenRejection::NotYetValid,
            ),
            (json!({ "sub": "alice" }), TokenRejection::Malformed),
            (json!({ "exp": now() + 300 }), TokenRejection::Malformed),
            (
                json!({ "sub": "", "exp": now() + 300 }),
                TokenRejection::Malformed,
            ),
        ] {
            assert_eq!(auth.authenticate(&token(&hs256(&c))), refused(class), "{c}");
        }
    }

    /// A clock that reads whatever the test stored.
    struct FixedClock(std::sync::atomic::AtomicU64);
    impl Clock for FixedClock {
        fn now(&self) -> strata_domain::Timestamp {
            strata_domain::Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed))
        }
    }

    #[test]
    fn exp_and_nbf_are_checked_against_the_injected_clock() {
        let start = 1_000_000_000_u64;
        let clock = Arc::new(FixedClock(start.into()));
        let auth = JwtAuthenticator::builder()
            .hs256_secret(SECRET)
            .leeway_secs(10)
            .clock(clock.clone())
            .build()
            .unwrap();
        let secs = i64::try_from(start).unwrap();
        // Valid between nbf - leeway and exp + leeway by the injected
        // clock, though the system clock is far past exp.
        let t = token(&hs256(
            &json!({ "sub": "alice", "nbf": secs + 100, "exp": secs + 200 }),
        ));
        let at = |s: u64| {
            clock
                .0
                .store(s * 1000, std::sync::atomic::Ordering::Relaxed)
        };
        for (now, class) in [
            (start, Some(TokenRejection::NotYetValid)),
            (start + 89, Some(TokenRejection::NotYetValid)),
            (start + 90, None),
            (start + 210, None),
            (start + 211, Some(TokenRejection::Expired)),
        ] {
            at(now);
            assert_eq!(
                auth.authenticate(&t).err(),
                class.map(AuthError::InvalidToken),
                "at {now}"
            );
        }
        let non_numeric = token(&hs256(&json!({ "sub": "alice", "exp": "soon" })));
        assert_eq!(
            auth.authenticate(&non_numeric),
            refused(TokenRejection::Malformed)
        );
    }

    #[test]
    fn leeway_tolerates_small_skew() {
        let auth = auth();
        let c = json!({ "sub": "alice", "exp": now() - 5, "nbf": now() + 5 });
        assert!(auth.authenticate(&token(&hs256(&c))).is_ok());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let auth = JwtAuthenticator::builder()
            .hs256_secret(SECRET)
            .issuer("https://idp")
            .audience("strata")
            .build()
            .unwrap();
        let ok = claims(json!({ "iss": "https://idp", "aud": "strata" }));
        assert!(auth.authenticate(&token(&hs256(&ok))).is_ok());
        for (bad, class) in [
            (
                json!({ "iss": "https://evil", "aud": "strata" }),
                TokenRejection::InvalidIssuer,
            ),
            (
                json!({ "iss": "https://idp", "aud": "other" }),
                TokenRejection::InvalidAudience,
            ),
            (json!({ "aud": "strata" }), TokenRejection::InvalidIssuer),
            (
                json!({ "iss": "https://idp" }),
                TokenRejection::InvalidAudience,
            ),
        ] {
            assert_eq!(
                auth.authenticate(&token(&hs256(&claims(bad.clone())))),
                refused(class),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_secret_is_a_bad_signature_and_alg_none_unsupported() {
        let auth = auth();
        let wrong = hs256_with(&claims(json!({})), b"another-secret-another-secret-xx");
        assert_eq!(
            auth.authenticate(&token(&wrong)),
            refused(TokenRejection::InvalidSignature)
        );
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = b64(&claims(json!({ "strata": ["admin:*"] })));
        for header in [
            json!({ "alg": "none" }),
            json!({ "alg": "none", "typ": "JWT" }),
        ] {
            let unsigned = format!("{}.{payload}.", b64(&header));
            assert_eq!(
                auth.authenticate(&token(&unsigned)),
                refused(TokenRejection::UnsupportedAlgorithm)
            );
            let fake = format!("{}.{payload}.AAAA", b64(&header));
            assert_eq!(
                auth.authenticate(&token(&fake)),
                refused(TokenRejection::UnsupportedAlgorithm)
            );
        }
        // Algorithms jsonwebtoken knows but Strata does not accept.
        for alg in [Algorithm::HS512, Algorithm::HS384] {
            let t = encode(
                &Header::new(alg),
                &claims(json!({})),
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            assert_eq!(
                auth.authenticate(&token(&t)),
                refused(TokenRejection::UnsupportedAlgorithm),
                "{alg:?}"
            );
        }
    }

    /// An HS256 token, correctly signed, with `header` as its header.
    fn hs256_with_header(header: &Value, claims: &Value) -> String {
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let message = format!("{}.{}", b64(header), b64(claims));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn a_crit_header_naming_an_unknown_parameter_or_malformed_is_invalid() {
        let auth = auth();
        let claims = claims(json!({ "strata": ["reader:*"] }));
        // The same header without `crit` verifies: only `crit` is refused.
        let plain = hs256_with_header(&json!({ "alg": "HS256", "typ": "JWT" }), &claims);
        assert!(auth.authenticate(&token(&plain)).is_ok());
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp".to_owned()]);
        let unknown = encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(
            auth.authenticate(&token(&unknown)),
            refused(TokenRejection::UnknownCriticalHeader)
        );
        for (crit, class) in [
            (json!(["b64"]), TokenRejection::UnknownCriticalHeader),
            (
                json!(["x-unknown", "exp"]),
                TokenRejection::UnknownCriticalHeader,
            ),
            (json!([]), TokenRejection::Malformed),
            (json!("exp"), TokenRejection::Malformed),
            (json!([1]), TokenRejection::Malformed),
            (json!(null), TokenRejection::Malformed),
            (json!({ "exp": true }), TokenRejection::Malformed),
        ] {
            let t = hs256_with_header(&json!({ "alg": "HS256", "crit": crit, "exp": 1 }), &claims);
            assert_eq!(auth.authenticate(&token(&t)), refused(class), "crit {crit}");
        }
    }

    #[test]
    fn bad_grants_or_namespace_claims_are_invalid() {
        let auth = auth();
        for extra in [
            json!({ "strata": ["owner:*"] }),
            json!({ "strata": ["reader"] }),
            json!({ "strata": "admin:*" }),
            json!({ "strata": [1] }),
            json!({ "ns": "*" }),
            json!({ "ns": "team[1]" }),
            json!({ "ns": "" }),
            json!({ "ns": 7 }),
        ] {
            let t = hs256(&claims(extra.clone()));
            assert_eq!(
                auth.authenticate(&token(&t)),
                refused(TokenRejection::Malformed),
                "{extra}"
            );
        }
    }

    fn jwks_auth(dir: &tempfile::TempDir) -> (JwtAuthenticator, PathBuf) {
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, JWKS).unwrap();
        let auth = JwtAuthenticator::builder()
            .hs256_secret(SECRET)
            .jwks_file(&path)
            .build()
            .unwrap();
        (auth, path)
    }

    #[test]
    fn rs256_and_es256_verify_with_the_jwks_key_of_their_kid_only() {
        let dir = tempfile::tempdir().unwrap();
        let (auth, _) = jwks_auth(&dir);
        let c = claims(json!({ "strata": ["reader:*"] }));
        let rs = signed(Algorithm::RS256, "rsa-1", RS256_PEM, &c);
        assert_eq!(auth.authenticate(&token(&rs)).unwrap().to_string(), "alice");
        let es = signed(Algorithm::ES256, "ec-1", ES256_PEM, &c);
        assert_eq!(auth.authenticate(&token(&es)).unwrap().to_string(), "alice");
        for (bad, class) in [
            (
                signed(Algorithm::RS256, "ec-1", RS256_PEM, &c),
                TokenRejection::UnsupportedAlgorithm,
            ),
            (
                signed(Algorithm::ES256, "rsa-1", ES256_PEM, &c),
                TokenRejection::UnsupportedAlgorithm,
            ),
            (
                signed(Algorithm::RS256, "unknown", RS256_PEM, &c),
                TokenRejection::InvalidSignature,
            ),
        ] {
            assert_eq!(auth.authenticate(&token(&bad)), refused(class));
        }
        let hs_only = auth_without_jwks();
        assert_eq!(
            hs_only.authenticate(&token(&rs)),
            refused(TokenRejection::UnsupportedAlgorithm)
        );
    }

    fn auth_without_jwks() -> JwtAuthenticator {
        JwtAuthenticator::builder()
            .hs256_secret(SECRET)
            .build()
            .unwrap()
    }

    #[test]
    fn algorithm_confusion_hs256_signed_with_the_public_key_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let (auth, _) = jwks_auth(&dir);
        let c = claims(json!({ "strata": ["admin:*"] }));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".to_owned());
        for key_bytes in [RS256_PUB_PEM.as_bytes(), JWKS.as_bytes()] {
            let forged = encode(&header, &c, &EncodingKey::from_secret(key_bytes)).unwrap();
            assert_eq!(
                auth.authenticate(&token(&forged)),
                refused(TokenRejection::InvalidSignature)
            );
        }
        // Without an HS256 secret, no HS256 token is accepted at all.
        let path = dir.path().join("jwks.json");
        let jwks_only = JwtAuthenticator::builder()
            .jwks_file(&path)
            .build()
            .unwrap();
        let forged = encode(
            &header,
            &c,
            &EncodingKey::from_secret(RS256_PUB_PEM.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            jwks_only.authenticate(&token(&forged)),
            refused(TokenRejection::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn jwks_file_is_re_read_when_its_modification_time_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (auth, path) = jwks_auth(&dir);
        let c = claims(json!({}));
        let es = signed(Algorithm::ES256, "ec-1", ES256_PEM, &c);
        assert!(auth.authenticate(&token(&es)).is_ok());
        // Rename the EC key's kid: the old kid stops verifying, the new one works.
        std::fs::write(&path, JWKS.replace("\"ec-1\"", "\"ec-2\"")).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
            .unwrap();
        assert_eq!(
            auth.authenticate(&token(&es)),
            refused(TokenRejection::InvalidSignature)
        );
        let es2 = signed(Algorithm::ES256, "ec-2", ES256_PEM, &c);
        assert!(auth.authenticate(&token(&es2)).is_ok());
        // A broken file keeps the previous keys.
        std::fs::write(&path, "not json").unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000))
            .unwrap();
        assert!(auth.authenticate(&token(&es2)).is_ok());
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(matches!(
            JwtAuthenticator::builder().hs256_secret(b"short").build(),
            Err(JwtConfigError::ShortSecret)
        ));
        assert!(matches!(
            JwtAuthenticator::builder().build(),
            Err(JwtConfigError::NoKeys)
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.json");
        assert!(matches!(
            JwtAuthenticator::builder().jwks_file(&path).build(),
            Err(JwtConfigError::Jwks { .. })
        ));
        std::fs::write(&path, r#"{"keys": []}"#).unwrap();
        assert!(matches!(
            JwtAuthenticator::builder().jwks_file(&path).build(),
            Err(JwtConfigError::Jwks { .. })
        ));
        let debug = format!("{:?}", auth());
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn composite_tries_api_keys_then_jwt_shaped_values() {
        let keys = ApiKeyAuthenticator::builder()
            .key("ci-bot", ApiKeyDigest::of("plain-key"), vec![])
            .build();
        let both = CompositeAuthenticator::new(Some(keys), Some(auth()));
        assert_eq!(
            both.authenticate(&token("plain-key")).unwrap().to_string(),
            "ci-bot"
        );
        let t = hs256(&claims(json!({})));
        assert_eq!(both.authenticate(&token(&t)).unwrap().to_string(), "alice");
        assert_eq!(
            both.authenticate(&token("a.b.c")),
            refused(TokenRejection::Malformed)
        );
        assert_eq!(both.authenticate(&token("nope")), Err(AuthError::Invalid));
        assert!(JwtAuthenticator::looks_like_jwt("aa.bb.cc"));
        assert!(JwtAuthenticator::looks_like_jwt("aa.bb."), "unsecured JWT");
        for not in [
            "aa.bb",
            "aa.bb.cc.dd",
            "aa..cc",
            ".bb.cc",
            "a a.b.c",
            "aa.bb.c=",
        ] {
            assert!(!JwtAuthenticator::looks_like_jwt(not), "{not}");
        }
    }
}
