//! Leases against stampedes and stale sets (issue 27, section 3): the
//! [`LeaseToken`] that the port [`LeaseStore`](crate::LeaseStore) (in
//! `ports.rs`) hands out. The protocol follows memcached's
//! meta commands (`mg` with `N` vivify-on-miss, the win flag `W`, the
//! stale flag `Z`) and the leases of Nishtala et al., "Scaling Memcache at
//! Facebook" (NSDI 2013, section 3.2.1): the first client that misses a
//! key gets a token; the others wait or get the stale value; a fill with
//! a token that was invalidated in between stores nothing.

use std::fmt;

/// The longest token accepted back from a client, in bytes.
pub const MAX_LEASE_TOKEN_BYTES: usize = 64;

/// An opaque lease token: 1 to [`MAX_LEASE_TOKEN_BYTES`] characters of
/// `[A-Za-z0-9._-]`. Stores make them unguessable (random 64 bits or more)
/// and prefix them with their lease epoch.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// Parses a token a client sent back (`X-Cache-Lease`).
    ///
    /// # Errors
    /// [`InvalidLeaseToken`] when it is empty, too long, or has other
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidLeaseToken> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEASE_TOKEN_BYTES
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidLeaseToken)
        }
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tokens are bearer secrets for one key: kept out of `Debug` output.
impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseToken(..)")
    }
}

/// A lease token that is not 1 to 64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, thiserror::Error)]
#[error("a lease token is 1 to {MAX_LEASE_TOKEN_BYTES} characters of [A-Za-z0-9._-]")]
pub struct InvalidLeaseToken;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_short_plain_and_hidden_from_debug() {
        let token = LeaseToken::parse("3-9f86d081884c7d65").unwrap();
        assert_eq!(token.as_str(), "3-9f86d081884c7d65");
        assert_eq!(format!("{token:?}"), "LeaseToken(..)");
        for bad in ["", "a b", "tok\n", &"x".repeat(MAX_LEASE_TOKEN_BYTES + 1)] {
            assert!(LeaseToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
