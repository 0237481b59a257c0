use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Longest accepted content type, in bytes (every byte is visible ASCII or
/// a space, so also in characters). Part of the largest weight an entry
/// can have (see [`CacheEntry::weight`](crate::CacheEntry::weight)).
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// The content type stored when a client sends none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A media type as sent in `Content-Type` (RFC 9110 §8.3), kept verbatim.
///
/// Validated to be 1 to [`MAX_CONTENT_TYPE_BYTES`] bytes of visible ASCII
/// plus spaces, with a `/`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContentType(Arc<str>);

/// Why a string is not a valid [`ContentType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid content type: must be a type/subtype of at most {MAX_CONTENT_TYPE_BYTES} visible ASCII \
     characters"
)]
pub struct InvalidContentType;

impl ContentType {
    /// Parses a media type.
    ///
    /// # Errors
    /// [`InvalidContentType`] when it is empty, longer than
    /// [`MAX_CONTENT_TYPE_BYTES`], has
    /// no `/`, or holds characters outside visible ASCII and space.
    pub fn parse(s: &str) -> Result<Self, InvalidContentType> {
        let ok = !s.is_empty()
            && s.len() <= MAX_CONTENT_TYPE_BYTES
            && s.contains('/')
            && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidContentType)
        }
    }

    /// The media type as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ContentType {
    fn default() -> Self {
        Self(Arc::from(DEFAULT_CONTENT_TYPE))
    }
}

impl fmt::Debug for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// A cached value: opaque bytes plus the content type they were stored with.
///
/// Cloning is cheap: the bytes are reference-counted.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CacheValue {
    bytes: Bytes,
    content_type: ContentType,
}

impl CacheValue {
    /// A value from its bytes and content type.
    pub fn new(bytes: Bytes, content_type: ContentType) -> Self {
        Self {
            bytes,
            content_type,
        }
    }

    /// The stored bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The stored content type.
    pub fn content_type(&self) -> &ContentType {
        &self.content_type
    }

    /// Size of the payload in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the payload is empty (empty values are valid).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(ContentType::parse("text/plain; charset=utf-8").is_ok());
        for bad in ["", "text", "a/\u{1}", &format!("a/{}", "b".repeat(300))] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ContentType::default().as_str(), DEFAULT_CONTENT_TYPE);
    }
}
