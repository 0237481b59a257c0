use std::fmt;
use std::sync::Arc;

use crate::{CacheName, KeyPattern};

/// A role a principal may hold on a cache.
///
/// The roles form a fixed lattice, each including the ones below it:
///
/// ```text
///          admin
///            |
///          writer
///            |
///        cas-writer
///            |
///          reader
/// ```
///
/// - [`Role::Reader`]: GET, HEAD, batch get, stats, listing;
/// - [`Role::CasWriter`]: reader plus uploads of content-addressed blobs;
/// - [`Role::Writer`]: cas-writer plus PUT, DELETE, batch put and
///   invalidations;
/// - [`Role::Admin`]: writer plus create, reconfigure, delete and flush.
///
/// ```
/// use strata_domain::Role;
/// assert!(Role::Writer.includes(Role::CasWriter));
/// assert!(!Role::CasWriter.includes(Role::Writer));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// May read entries and stats, and list caches.
    Reader,
    /// May upload content-addressed (CAS) blobs but not action-cache
    /// entries; on the cache API it reads. Action-cache writes are how
    /// build caches get poisoned, so the two are separate.
    CasWriter,
    /// May read and write entries and invalidate them.
    Writer,
    /// May configure, flush and delete caches.
    Admin,
}

/// Why a string names no [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected reader, cas-writer, writer or admin)")]
pub struct UnknownRole(pub String);

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Reader, Role::CasWriter, Role::Writer, Role::Admin];

    /// Parses a role's name: `reader`, `cas-writer`, `writer`, `admin`.
    ///
    /// # Errors
    /// [`UnknownRole`] for any other string.
    pub fn parse(s: &str) -> Result<Self, UnknownRole> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }

    /// The role's name, as [`Role::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::CasWriter => "cas-writer",
            Self::Writer => "writer",
            Self::Admin => "admin",
        }
    }

    /// Whether holding `self` also gives `other` (the lattice above).
    pub fn includes(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Self::Reader => 0,
            Self::CasWriter => 1,
            Self::Writer => 2,
            Self::Admin => 3,
        }
    }
}

/// A right: `role` on every cache whose name matches `caches` (a glob with
/// [`KeyPattern`]'s Redis semantics, e.g. `build-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The cache names this grant covers.
    pub caches: KeyPattern,
    /// The role it gives on them.
    pub role: Role,
}

impl Grant {
    /// Whether this grant gives `role` on the cache `name`.
    pub fn allows(&self, role: Role, name: &CacheName) -> bool {
        self.role.includes(role) && self.caches.matches(name.as_str())
    }
}

/// Who is acting. Every command carries one so that authorization and the
/// audit trail need no redesign when authentication arrives.
///
/// Without authentication configured, requests act as
/// [`Principal::Anonymous`], which holds every role on every cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No credentials presented, on a service without authentication.
    Anonymous,
    /// An authenticated subject with its grants.
    Authenticated {
        /// Subject identifier (an API key's id, never the key).
        subject: Arc<str>,
        /// Its rights: the union of these grants.
        grants: Vec<Grant>,
    },
}

impl Principal {
    /// Whether the principal may act in `role` on the cache `name`: some
    /// grant covers `name` with a role that includes `role`. Anonymous may
    /// do everything.
    pub fn may(&self, role: Role, name: &CacheName) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Authenticated { grants, .. } => grants.iter().any(|g| g.allows(role, name)),
        }
    }
}

impl Principal {
    /// Whether the principal holds `role` on every cache name: some grant
    /// with a role that includes `role` has the glob `*` (or `**`, ...).
    /// Anonymous may do everything. Reading the audit log needs
    /// `may_all(Role::Admin)`.
    pub fn may_all(&self, role: Role) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Authenticated { grants, .. } => grants.iter().any(|g| {
                let glob = g.caches.as_str();
                g.role.includes(role) && !glob.is_empty() && glob.bytes().all(|b| b == b'*')
            }),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("anonymous"),
            Self::Authenticated { subject, .. } => f.write_str(subject),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(glob: &str, role: Role) -> Grant {
        Grant {
            caches: KeyPattern::parse(glob).unwrap(),
            role,
        }
    }
    fn name(s: &str) -> CacheName {
        CacheName::parse(s).unwrap()
    }
    fn principal(grants: Vec<Grant>) -> Principal {
        Principal::Authenticated {
            subject: "p".into(),
            grants,
        }
    }

    #[test]
    fn lattice_orders_reader_cas_writer_writer_admin() {
        use Role::*;
        let order = [Reader, CasWriter, Writer, Admin];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.includes(*b), i >= j, "{a:?} includes {b:?}");
            }
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("owner").is_err());
    }

    #[test]
    fn cas_writer_reads_but_does_not_write() {
        let p = principal(vec![grant("*", Role::CasWriter)]);
        assert!(p.may(Role::Reader, &name("ac")));
        assert!(p.may(Role::CasWriter, &name("ac")));
        assert!(!p.may(Role::Writer, &name("ac")));
    }

    #[test]
    fn glob_matches_cache_names() {
        let p = principal(vec![grant("build-*", Role::Writer)]);
        assert!(p.may(Role::Writer, &name("build-x")));
        assert!(p.may(Role::Reader, &name("build-")));
        assert!(!p.may(Role::Reader, &name("sessions")));
        assert!(!p.may(Role::Admin, &name("build-x")));
    }

    #[test]
    fn rights_are_the_union_of_grants() {
        let p = principal(vec![
            grant("build-*", Role::Writer),
            grant("sessions", Role::Reader),
            grant("build-main", Role::Admin),
        ]);
        assert!(p.may(Role::Reader, &name("sessions")));
        assert!(!p.may(Role::Writer, &name("sessions")));
        assert!(p.may(Role::Writer, &name("build-x")));
        assert!(p.may(Role::Admin, &name("build-main")));
        assert!(!p.may(Role::Admin, &name("build-x")));
    }

    #[test]
    fn may_all_needs_a_star_grant() {
        assert!(principal(vec![grant("*", Role::Admin)]).may_all(Role::Admin));
        assert!(principal(vec![grant("*", Role::Admin)]).may_all(Role::Reader));
        assert!(!principal(vec![grant("*", Role::Writer)]).may_all(Role::Admin));
        assert!(!principal(vec![grant("build-*", Role::Admin)]).may_all(Role::Admin));
        assert!(Principal::Anonymous.may_all(Role::Admin));
    }

    #[test]
    fn no_grants_means_no_rights_and_anonymous_has_all() {
        assert!(!principal(vec![]).may(Role::Reader, &name("a")));
        assert!(Principal::Anonymous.may(Role::Admin, &name("a")));
    }
}
