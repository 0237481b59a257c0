//! [`ApiKeyAuthenticator`]: the domain's `Authenticator` port over API keys
//! stored only as SHA-256 digests.
//!
//! Owns the digest type and the constant-time lookup; must not know HTTP
//! (how a key is carried) or the configuration format.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use strata_domain::{AuthError, Authenticator, Credential, Grant, Principal};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The SHA-256 digest of an API key: what the configuration holds instead
/// of the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyDigest([u8; 32]);

/// Why a string is not a SHA-256 digest in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest: expected 64 hex digits")]
pub struct InvalidDigest;

impl ApiKeyDigest {
    /// The digest of `key`.
    ///
    /// ```
    /// use strata_infrastructure::ApiKeyDigest;
    /// let d = ApiKeyDigest::of("abc");
    /// assert_eq!(
    ///     d.to_hex(),
    ///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    /// );
    /// ```
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    /// [`InvalidDigest`] when `s` is not exactly 32 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, InvalidDigest> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| InvalidDigest)?;
        Ok(Self(bytes))
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyDigest({})", self.to_hex())
    }
}

/// One configured API key: its id (the principal's subject), its digest
/// and its grants.
#[derive(Clone, Debug)]
pub(crate) struct ApiKey {
    /// The key's id, e.g. `ci-bot`; never the key.
    pub id: Arc<str>,
    /// SHA-256 of the key.
    pub digest: ApiKeyDigest,
    /// What the key may do.
    pub grants: Vec<Grant>,
}

/// Authenticates API keys: hashes the presented key with SHA-256 and
/// compares the digest with every configured one in constant time, with no
/// early exit, so the time taken does not tell which key (if any) matched.
/// The principal's subject is the key's id.
///
/// ```
/// use strata_domain::{Authenticator, Credential, Principal, Secret};
/// use strata_infrastructure::{ApiKeyAuthenticator, ApiKeyDigest};
/// let auth = ApiKeyAuthenticator::builder()
///     .key("ci-bot", ApiKeyDigest::of("s3cret"), vec![])
///     .build();
/// let p = auth.authenticate(&Credential::ApiKey(Secret::new("s3cret"))).unwrap();
/// assert_eq!(p.to_string(), "ci-bot");
/// assert!(auth.authenticate(&Credential::ApiKey(Secret::new("nope"))).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct ApiKeyAuthenticator {
    keys: Vec<ApiKey>,
}

/// Builds an [`ApiKeyAuthenticator`].
#[derive(Debug, Default)]
pub struct ApiKeyAuthenticatorBuilder {
    keys: Vec<ApiKey>,
}

impl ApiKeyAuthenticatorBuilder {
    /// Adds the key `id` with its digest and grants.
    pub fn key(
        mut self,
        id: impl Into<Arc<str>>,
        digest: ApiKeyDigest,
        grants: Vec<Grant>,
    ) -> Self {
        self.keys.push(ApiKey {
            id: id.into(),
            digest,
            grants,
        });
        self
    }

    /// The authenticator.
    pub fn build(self) -> ApiKeyAuthenticator {
        ApiKeyAuthenticator { keys: self.keys }
    }
}

impl ApiKeyAuthenticator {
    /// A builder with no keys.
    pub fn builder() -> ApiKeyAuthenticatorBuilder {
        ApiKeyAuthenticatorBuilder::default()
    }

    /// The configured keys' ids, in configuration order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| &*k.id)
    }
}

impl Authenticator for ApiKeyAuthenticator {
    fn authenticate(&self, credential: &Credential) -> Result<Principal, AuthError> {
        let Credential::ApiKey(secret) = credential;
        let presented = ApiKeyDigest::of(secret.expose());
        // 1-based index of the matching key, 0 for none; every digest is
        // compared, and the selection is branch-free.
        let mut found: u32 = 0;
        for (i, key) in self.keys.iter().enumerate() {
            let eq = presented.0.ct_eq(&key.digest.0);
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            found = u32::conditional_select(&found, &index, eq);
        }
        let index = usize::try_from(found).map_err(|_| AuthError::Invalid)?;
        let key = index
            .checked_sub(1)
            .and_then(|i| self.keys.get(i))
            .ok_or(AuthError::Invalid)?;
        Ok(Principal::Authenticated {
            subject: key.id.clone(),
            grants: key.grants.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::{CacheName, KeyPattern, Role, Secret};

    fn auth() -> ApiKeyAuthenticator {
        let grant = |g: &str, role| Grant {
            caches: KeyPattern::parse(g).unwrap(),
            role,
        };
        ApiKeyAuthenticator::builder()
            .key(
                "a",
                ApiKeyDigest::of("key-a"),
                vec![grant("x", Role::Reader)],
            )
            .key(
                "b",
                ApiKeyDigest::of("key-b"),
                vec![grant("*", Role::Admin)],
            )
            .key("c", ApiKeyDigest::of("key-c"), vec![])
            .build()
    }
    fn key(s: &str) -> Credential {
        Credential::ApiKey(Secret::new(s))
    }

    #[test]
    fn each_key_gives_its_own_id_and_grants() {
        let auth = auth();
        for (k, id) in [("key-a", "a"), ("key-b", "b"), ("key-c", "c")] {
            let p = auth.authenticate(&key(k)).unwrap();
            assert_eq!(p.to_string(), id);
        }
        let b = auth.authenticate(&key("key-b")).unwrap();
        assert!(b.may(Role::Admin, &CacheName::parse("any").unwrap()));
        let a = auth.authenticate(&key("key-a")).unwrap();
        assert!(!a.may(Role::Writer, &CacheName::parse("x").unwrap()));
    }

    #[test]
    fn unknown_empty_and_digest_as_key_are_invalid() {
        let auth = auth();
        for k in ["", "key-d", "KEY-A", &ApiKeyDigest::of("key-a").to_hex()] {
            assert_eq!(auth.authenticate(&key(k)), Err(AuthError::Invalid));
        }
        let none = ApiKeyAuthenticator::builder().build();
        assert_eq!(none.authenticate(&key("key-a")), Err(AuthError::Invalid));
    }

    #[test]
    fn digests_round_trip_through_hex_and_reject_bad_hex() {
        let d = ApiKeyDigest::of("key-a");
        assert_eq!(ApiKeyDigest::from_hex(&d.to_hex()), Ok(d));
        assert_eq!(ApiKeyDigest::from_hex(&d.to_hex().to_uppercase()), Ok(d));
        for bad in ["", "zz", &d.to_hex()[..62], &format!("{}00", d.to_hex())] {
            assert_eq!(ApiKeyDigest::from_hex(bad), Err(InvalidDigest));
        }
    }
}
