//! Console sessions: who logged in to the web console, until when, and
//! the token their forms must echo (CSRF). The port is
//! [`SessionStore`]; its adapters live in infrastructure: one process's
//! memory, or Redis shared by the instances behind one load balancer.

use async_trait::async_trait;

use crate::{Principal, StoreError, Timestamp};

/// One console session. Its id is the `strata_session` cookie's value
/// and is never stored inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Who acts: the principal the login's API key or JWT gave, or
    /// [`Principal::Anonymous`] without authentication (protected mode).
    /// `None` before login: a pre-login session carries only the login
    /// form's CSRF token.
    pub principal: Option<Principal>,
    /// The token every form of this session carries and every POST must
    /// echo (random, 32 bytes as 64 hex digits).
    pub csrf_token: String,
    /// When the session ends, by the service's clock.
    pub expires_at: Timestamp,
}

impl ConsoleSession {
    /// Whether the session is over at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// Where console sessions live.
///
/// Contract: [`get`](Self::get) returns what the last
/// [`insert`](Self::insert) of `id` stored until [`remove`](Self::remove)
/// or until the store drops it after `expires_at` (it MAY keep an expired
/// session; callers check [`ConsoleSession::is_expired`]).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores `session` under `id`, replacing any session of that id.
    ///
    /// # Errors
    /// [`StoreError`] when the backing store fails.
    async fn insert(&self, id: &str, session: ConsoleSession) -> Result<(), StoreError>;

    /// The session `id`, if stored.
    ///
    /// # Errors
    /// [`StoreError`] when the backing store fails.
    async fn get(&self, id: &str) -> Result<Option<ConsoleSession>, StoreError>;

    /// Ends session `id` (logout); no error when it is unknown.
    ///
    /// # Errors
    /// [`StoreError`] when the backing store fails.
    async fn remove(&self, id: &str) -> Result<(), StoreError>;
}
