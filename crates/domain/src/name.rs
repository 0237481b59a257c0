use std::fmt;
use std::sync::Arc;

/// Longest accepted cache name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The name of a cache: 1 to [`MAX_NAME_BYTES`] ASCII letters, digits, `-`,
/// `_` or `.`, starting with a letter or digit.
///
/// A parsed name is proof of validity; it is cheap to clone (`Arc<str>`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheName(Arc<str>);

/// Why a string is not a valid [`CacheName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cache name: {reason}")]
pub struct InvalidName {
    /// Human-readable reason.
    pub reason: String,
}

impl CacheName {
    /// Parses a cache name.
    ///
    /// # Errors
    /// [`InvalidName`] when the name is empty, longer than
    /// [`MAX_NAME_BYTES`], or has a character outside `[A-Za-z0-9._-]`, or
    /// does not start with a letter or digit.
    ///
    /// ```
    /// use strata_domain::CacheName;
    /// assert!(CacheName::parse("sessions").is_ok());
    /// assert!(CacheName::parse("no spaces").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        let fail = |reason: String| Err(InvalidName { reason });
        if s.is_empty() {
            return fail("must not be empty".into());
        }
        if s.len() > MAX_NAME_BYTES {
            return fail(format!("longer than {MAX_NAME_BYTES} bytes"));
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return fail("must start with a letter or digit".into());
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return fail(format!(
                "character {c:?} is not allowed (use A-Z a-z 0-9 . _ -)"
            ));
        }
        Ok(Self(Arc::from(s)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CacheName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheName({:?})", &*self.0)
    }
}

impl AsRef<str> for CacheName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "-lead", "a b", "a/b", "ü", &"x".repeat(65)] {
            assert!(CacheName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(CacheName::parse("a.b_c-1").unwrap().as_str(), "a.b_c-1");
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(s in "[a-z0-9][a-zA-Z0-9._-]{0,63}") {
            let name = CacheName::parse(&s).unwrap();
            prop_assert_eq!(name.as_str(), s.as_str());
        }
    }
}
