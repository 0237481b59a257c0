use std::fmt;

/// A secret string (an API key). Its `Debug` and `Display` print
/// `[redacted]`, so it cannot leak through logs or error messages; read it
/// with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call only where it is checked, never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a client presented to prove who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API key.
    ApiKey(Secret),
}

/// Why authentication failed. The messages never hold the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented. HTTP: 401.
    #[error("no credential presented")]
    Missing,
    /// The credential is malformed or unknown (an API key no one holds).
    /// HTTP: 401.
    #[error("invalid credential")]
    Invalid,
    /// A bearer token (JWT) was refused, for the one reason given. HTTP:
    /// 401 with RFC 6750's `error="invalid_token"` and the reason as
    /// `error_description`.
    #[error("invalid token: {0}")]
    InvalidToken(TokenRejection),
}

impl AuthError {
    /// A short, stable label (`missing`, `invalid`) for metrics: a refused
    /// token is `invalid` too (its [`TokenRejection`] goes to the log and
    /// the answer, not to a metric label).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid | Self::InvalidToken(_) => "invalid",
        }
    }

    /// Why a token was refused, when a token was.
    pub fn token_rejection(self) -> Option<TokenRejection> {
        match self {
            Self::InvalidToken(r) => Some(r),
            Self::Missing | Self::Invalid => None,
        }
    }
}

/// Why a bearer token (a JWT, RFC 7519, signed as a JWS, RFC 7515) was
/// refused: one class per fault a client can fix, each naming no part of
/// the token or of any key. The time and claim classes are only reported
/// for a token whose signature verified, so they tell a forger nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRejection {
    /// `exp` is more than the leeway in the past (RFC 7519 §4.1.4).
    Expired,
    /// `nbf` is more than the leeway in the future (RFC 7519 §4.1.5).
    NotYetValid,
    /// `aud` is missing or names no audience this server accepts
    /// (RFC 7519 §4.1.3).
    InvalidAudience,
    /// `iss` is missing or not the issuer this server accepts
    /// (RFC 7519 §4.1.1).
    InvalidIssuer,
    /// The signature does not verify with the key the token names, or the
    /// token names (by `kid`) no key this server holds.
    InvalidSignature,
    /// `alg` is one this server does not accept (`none`, `HS512`, ...) or
    /// has no key for, or not the algorithm of the key `kid` names.
    UnsupportedAlgorithm,
    /// `crit` names a header parameter this server does not understand
    /// (RFC 7515 §4.1.11).
    UnknownCriticalHeader,
    /// Not a well-formed JWT: not three base64url parts, a part that is not
    /// JSON, a bad `crit`, or a claim missing or of the wrong type (`exp`,
    /// `sub`, the grants claim).
    Malformed,
}

impl TokenRejection {
    /// The class's stable name, as `error_description` and in the log:
    /// `expired`, `not_yet_valid`, `invalid_audience`, `invalid_issuer`,
    /// `invalid_signature`, `unsupported_algorithm`,
    /// `unknown_critical_header` or `malformed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::InvalidAudience => "invalid_audience",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidSignature => "invalid_signature",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnknownCriticalHeader => "unknown_critical_header",
            Self::Malformed => "malformed",
        }
    }

    /// Every class, for documentation and tests.
    pub const ALL: [TokenRejection; 8] = [
        Self::Expired,
        Self::NotYetValid,
        Self::InvalidAudience,
        Self::InvalidIssuer,
        Self::InvalidSignature,
        Self::UnsupportedAlgorithm,
        Self::UnknownCriticalHeader,
        Self::Malformed,
    ];
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(!format!("{:?}", Credential::ApiKey(s.clone())).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
