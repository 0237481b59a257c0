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
    "invalid content type: must be an RFC 9110 media type (type/subtype, then ; name=value \
     parameters) of at most {MAX_CONTENT_TYPE_BYTES} bytes"
)]
pub struct InvalidContentType;

impl ContentType {
    /// Parses a media type per RFC 9110 §8.3.1:
    /// `type "/" subtype *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )`,
    /// where a token is one or more of `A-Za-z0-9!#$%&'*+-.^_`|~`.
    ///
    /// # Errors
    /// [`InvalidContentType`] when it is empty, longer than
    /// [`MAX_CONTENT_TYPE_BYTES`], or does not follow that grammar.
    pub fn parse(s: &str) -> Result<Self, InvalidContentType> {
        if s.is_empty() || s.len() > MAX_CONTENT_TYPE_BYTES || !is_media_type(s) {
            return Err(InvalidContentType);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The media type as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The length of the token at the start of `s` (0 when there is none).
fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| is_tchar(**b)).count()
}

/// `s` is a whole RFC 9110 media type (see [`ContentType::parse`]).
fn is_media_type(s: &str) -> bool {
    let s = s.as_bytes();
    let ows = |s: &[u8]| s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    let mut i = token_len(s);
    if i == 0 || s.get(i) != Some(&b'/') {
        return false;
    }
    i += 1;
    let sub = token_len(&s[i..]);
    if sub == 0 {
        return false;
    }
    i += sub;
    loop {
        i += ows(&s[i..]);
        if i == s.len() {
            return true;
        }
        if s[i] != b';' {
            return false;
        }
        i += 1;
        i += ows(&s[i..]);
        // RFC 9110 allows empty parameters: `text/plain;` and `a/b;;c=d`.
        if i == s.len() || s[i] == b';' {
            continue;
        }
        let name = token_len(&s[i..]);
        if name == 0 || s.get(i + name) != Some(&b'=') {
            return false;
        }
        i += name + 1;
        if s.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match s.get(i) {
                    None => return false,
                    Some(b'"') => break,
                    Some(b'\\') => i += 2,
                    Some(b) if *b == b'\t' || *b == b' ' || b.is_ascii_graphic() => i += 1,
                    Some(_) => return false,
                }
            }
            i += 1;
        } else {
            let value = token_len(&s[i..]);
            if value == 0 {
                return false;
            }
            i += value;
        }
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
        for good in [
            "text/plain; charset=utf-8",
            "application/octet-stream",
            "multipart/form-data;boundary=\"a b\\\"c\"",
            "application/vnd.api+json ; q=1",
            "text/plain;",
            "a/b;;c=d",
        ] {
            assert!(ContentType::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "text",
            "a/\u{1}",
            &format!("a/{}", "b".repeat(300)),
            "pq;{w=0KI/W0}fUA5{D",
            "text/",
            "/plain",
            "text/plain; charset",
            "text/plain; a=\"unterminated",
            "te xt/plain",
        ] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ContentType::default().as_str(), DEFAULT_CONTENT_TYPE);
    }
}
