use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Longest accepted key, in bytes of UTF-8: Memcached's limit, so that every
/// backend accepts every valid key.
pub const MAX_KEY_BYTES: usize = 250;

/// A key within a cache: UTF-8, 1 to [`MAX_KEY_BYTES`] bytes, with no
/// whitespace and no control characters (Memcached's text-protocol rules,
/// which also keep keys printable in logs and URLs).
///
/// Cheap to clone (`Arc<str>`); borrows as `str` for map look-ups.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(Arc<str>);

/// Why a string is not a valid [`CacheKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// The key is the empty string.
    #[error("key must not be empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error("key is {len} bytes long; the limit is {MAX_KEY_BYTES} bytes")]
    TooLong {
        /// Length of the rejected key in bytes.
        len: usize,
    },
    /// The key holds whitespace or a control character.
    #[error("key contains a whitespace or control character at byte {position}")]
    ForbiddenCharacter {
        /// Byte offset of the first offending character.
        position: usize,
    },
}

impl CacheKey {
    /// Parses a key.
    ///
    /// # Errors
    /// [`InvalidKey`] when the key is empty, too long or holds whitespace
    /// or control characters.
    ///
    /// ```
    /// use strata_domain::CacheKey;
    /// assert!(CacheKey::parse("user:42").is_ok());
    /// assert!(CacheKey::parse("user 42").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidKey> {
        if s.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if s.len() > MAX_KEY_BYTES {
            return Err(InvalidKey::TooLong { len: s.len() });
        }
        if let Some((position, _)) = s
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidKey::ForbiddenCharacter { position });
        }
        Ok(Self(Arc::from(s)))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for CacheKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits() {
        assert_eq!(CacheKey::parse(""), Err(InvalidKey::Empty));
        assert!(CacheKey::parse(&"k".repeat(250)).is_ok());
        assert_eq!(
            CacheKey::parse(&"k".repeat(251)),
            Err(InvalidKey::TooLong { len: 251 })
        );
        assert_eq!(
            CacheKey::parse("a\tb"),
            Err(InvalidKey::ForbiddenCharacter { position: 1 })
        );
        assert!(CacheKey::parse("a\u{7f}").is_err());
        assert!(
            CacheKey::parse("a\u{a0}b").is_err(),
            "no-break space is whitespace"
        );
        assert!(CacheKey::parse("ключ/😀").is_ok());
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_valid_keys(s in "\\PC{0,300}") {
            let valid = !s.is_empty()
                && s.len() <= MAX_KEY_BYTES
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            let parsed = CacheKey::parse(&s);
            prop_assert_eq!(parsed.is_ok(), valid);
            if let Ok(k) = parsed {
                prop_assert_eq!(k.as_str(), s.as_str());
            }
        }
    }
}
