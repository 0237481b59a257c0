//! [`InstanceName`]: REAPI's scope of every AC entry and CAS blob.

use std::fmt;

/// Longest accepted instance name, in bytes. Kept below the 255-byte file
/// name limit of common file systems, since the disk store names one
/// directory per instance.
pub const MAX_INSTANCE_NAME_BYTES: usize = 200;

/// Path segments REAPI reserves for resource names; an instance name must
/// not contain them as a segment.
const RESERVED_SEGMENTS: [&str; 7] = [
    "blobs",
    "uploads",
    "actions",
    "actionResults",
    "operations",
    "capabilities",
    "compressed-blobs",
];

/// A REAPI instance name: `/`-separated segments, each of `A-Z a-z 0-9 . _ -`,
/// with no empty segment, no `.` or `..` segment and none of REAPI's
/// reserved words (`blobs`, `uploads`, `actions`, `actionResults`,
/// `operations`, `capabilities`, `compressed-blobs`), at most
/// [`MAX_INSTANCE_NAME_BYTES`] bytes. The empty name is valid and is the
/// default instance ([`InstanceName::default`]).
///
/// bazel-remote treats the HTTP path prefix before `/ac/` or `/cas/` as the
/// instance name (`--remote_cache=http://host/team-a` is instance `team-a`).
/// Every AC entry and CAS blob belongs to exactly one instance.
///
/// The character set is narrower than REAPI's (which allows any string) so
/// that a name is safe in a URL path and a file name without escaping.
///
/// ```
/// use strata_domain::InstanceName;
/// assert!(InstanceName::parse("team-a/linux").is_ok());
/// assert!(InstanceName::parse("").unwrap().is_default());
/// assert!(InstanceName::parse("a//b").is_err());
/// assert!(InstanceName::parse("x/blobs").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InstanceName(Box<str>);

/// Why a string is not an [`InstanceName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInstanceName {
    /// Longer than [`MAX_INSTANCE_NAME_BYTES`].
    #[error("an instance name has at most {MAX_INSTANCE_NAME_BYTES} bytes, got {0}")]
    TooLong(usize),
    /// Two `/` in a row, or a leading or trailing `/`.
    #[error("an instance name has no empty segment")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("an instance name has no '.' or '..' segment")]
    DotSegment,
    /// A segment REAPI reserves.
    #[error("{0:?} is reserved by REAPI and cannot be an instance name segment")]
    Reserved(String),
    /// A character outside `A-Z a-z 0-9 . _ - /`.
    #[error("an instance name has only A-Z, a-z, 0-9, '.', '_', '-' and '/'")]
    BadCharacter,
}

impl InstanceName {
    /// Parses and validates a name; see the type's rules.
    ///
    /// # Errors
    /// [`InvalidInstanceName`] naming the broken rule.
    pub fn parse(s: &str) -> Result<Self, InvalidInstanceName> {
        if s.len() > MAX_INSTANCE_NAME_BYTES {
            return Err(InvalidInstanceName::TooLong(s.len()));
        }
        if s.is_empty() {
            return Ok(Self::default());
        }
        for segment in s.split('/') {
            if segment.is_empty() {
                return Err(InvalidInstanceName::EmptySegment);
            }
            if segment == "." || segment == ".." {
                return Err(InvalidInstanceName::DotSegment);
            }
            if RESERVED_SEGMENTS.contains(&segment) {
                return Err(InvalidInstanceName::Reserved(segment.to_owned()));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(InvalidInstanceName::BadCharacter);
            }
        }
        Ok(Self(s.into()))
    }

    /// The name; empty for the default instance.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the default (empty) instance.
    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceName({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for ok in ["", "a", "team-a/linux_x86.64", "A/B/C"] {
            assert!(InstanceName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            InstanceName::parse("/a"),
            Err(InvalidInstanceName::EmptySegment)
        );
        assert_eq!(
            InstanceName::parse("a/"),
            Err(InvalidInstanceName::EmptySegment)
        );
        assert_eq!(
            InstanceName::parse("a/../b"),
            Err(InvalidInstanceName::DotSegment)
        );
        assert_eq!(
            InstanceName::parse("a b"),
            Err(InvalidInstanceName::BadCharacter)
        );
        assert_eq!(
            InstanceName::parse("a%2F"),
            Err(InvalidInstanceName::BadCharacter)
        );
        for reserved in RESERVED_SEGMENTS {
            assert!(matches!(
                InstanceName::parse(&format!("x/{reserved}")),
                Err(InvalidInstanceName::Reserved(_))
            ));
        }
        let long = "a".repeat(MAX_INSTANCE_NAME_BYTES + 1);
        assert!(matches!(
            InstanceName::parse(&long),
            Err(InvalidInstanceName::TooLong(_))
        ));
        assert!(InstanceName::parse(&long[1..]).is_ok());
    }
}
