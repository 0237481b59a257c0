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
    /// The credential is malformed or unknown. HTTP: 401.
    #[error("invalid credential")]
    Invalid,
}

impl AuthError {
    /// A short, stable label (`missing`, `invalid`) for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
        }
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
