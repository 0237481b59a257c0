use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Longest accepted tag, in bytes.
pub const MAX_TAG_BYTES: usize = 128;

/// A label attached to entries so that they can be invalidated together:
/// 1 to [`MAX_TAG_BYTES`] bytes of UTF-8 with no whitespace, control
/// characters or commas (the HTTP API lists tags comma-separated).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Arc<str>);

/// Why a string is not a valid [`Tag`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag {tag:?}: {reason}")]
pub struct InvalidTag {
    /// The rejected input, cut to 64 characters.
    pub tag: String,
    /// Human-readable reason.
    pub reason: &'static str,
}

impl Tag {
    /// Parses a tag.
    ///
    /// # Errors
    /// [`InvalidTag`] when the tag is empty, too long, or contains a
    /// comma, whitespace or a control character.
    pub fn parse(s: &str) -> Result<Self, InvalidTag> {
        let fail = |reason| {
            Err(InvalidTag {
                tag: s.chars().take(64).collect(),
                reason,
            })
        };
        if s.is_empty() {
            return fail("must not be empty");
        }
        if s.len() > MAX_TAG_BYTES {
            return fail("longer than 128 bytes");
        }
        if s.chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
        {
            return fail("must not contain commas, whitespace or control characters");
        }
        Ok(Self(Arc::from(s)))
    }

    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(Tag::parse("team:a").is_ok());
        for bad in ["", "a,b", "a b", &"t".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }
}
