use std::fmt;
use std::sync::Arc;

/// A role a principal may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// May read entries and stats.
    Reader,
    /// May read and write entries and invalidate them.
    Writer,
    /// May configure, flush, import and export caches.
    Admin,
}

/// Who is acting. Every command carries one so that authorization and the
/// audit trail need no redesign when authentication arrives.
///
/// Until authentication is configured, requests act as
/// [`Principal::Anonymous`], which holds every role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No credentials presented, on a service without authentication.
    Anonymous,
    /// An authenticated subject with its roles.
    Authenticated {
        /// Subject identifier (for example a JWT `sub`).
        subject: Arc<str>,
        /// Roles granted to the subject.
        roles: Vec<Role>,
    },
}

impl Principal {
    /// Whether the principal may act in `role`. An [`Role::Admin`] holds
    /// every role, a [`Role::Writer`] also reads.
    pub fn has_role(&self, role: Role) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Authenticated { roles, .. } => roles.iter().any(|r| {
                *r == role || *r == Role::Admin || (*r == Role::Writer && role == Role::Reader)
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
