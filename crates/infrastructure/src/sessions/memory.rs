//! [`MemorySessions`]: console sessions in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use strata_domain::{Clock, ConsoleSession, SessionStore, StoreError};

/// Inserts between two sweeps of expired sessions.
const SWEEP_EVERY: u64 = 256;

/// Most sessions held (about 200 bytes each, so about 13 MiB). Every
/// visit of the login form starts a pre-login session, without
/// credentials, so without a bound a client requesting it in a loop
/// could grow the map for the form's 10 minutes.
pub(crate) const MAX_SESSIONS: usize = 65_536;

/// Console sessions in this process's memory: lost at restart (users log
/// in again), not shared between instances. Expired sessions are swept
/// every [`SWEEP_EVERY`] inserts. At [`MAX_SESSIONS`], an insert first
/// sweeps the expired, then drops the session that ends soonest among
/// those whose loss costs nothing but a reload (pre-login and anonymous
/// ones), and only when there are none, the logged-in one that ends
/// soonest.
pub struct MemorySessions {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, ConsoleSession>,
    inserts: u64,
}

impl MemorySessions {
    /// An empty store whose sweeps read `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Sessions held now, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session ids are credentials: never printed.
        f.debug_struct("MemorySessions")
            .field("len", &self.len())
            .finish()
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn insert(&self, id: &str, session: ConsoleSession) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.inserts += 1;
        let full = inner.sessions.len() >= MAX_SESSIONS && !inner.sessions.contains_key(id);
        if full || inner.inserts.is_multiple_of(SWEEP_EVERY) {
            inner.sessions.retain(|_, s| !s.is_expired(now));
        }
        if inner.sessions.len() >= MAX_SESSIONS && !inner.sessions.contains_key(id) {
            let logged_in = |s: &ConsoleSession| {
                matches!(
                    s.principal,
                    Some(strata_domain::Principal::Authenticated { .. })
                )
            };
            let victim = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| (logged_in(s), s.expires_at))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                inner.sessions.remove(&victim);
            }
        }
        inner.sessions.insert(id.to_owned(), session);
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<ConsoleSession>, StoreError> {
        Ok(self.lock().sessions.get(id).cloned())
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.lock().sessions.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_domain::Principal;

    use super::*;

    struct Fixed(std::sync::atomic::AtomicU64);

    impl Clock for Fixed {
        fn now(&self) -> strata_domain::Timestamp {
            strata_domain::Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
        }
    }

    fn session(expires_ms: u64) -> ConsoleSession {
        ConsoleSession {
            principal: Some(Principal::Anonymous),
            csrf_token: "t".into(),
            expires_at: strata_domain::Timestamp::from_millis(expires_ms),
        }
    }

    #[tokio::test]
    async fn stores_removes_and_sweeps_expired_sessions() {
        let clock = Arc::new(Fixed(0.into()));
        let store = MemorySessions::new(clock.clone());
        store.insert("a", session(1_000)).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(session(1_000)));
        store.remove("a").await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), None);
        store.insert("old", session(1_000)).await.unwrap();
        clock.0.store(
            Duration::from_secs(2).as_millis() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
        for i in 0..SWEEP_EVERY {
            store
                .insert(&format!("s{i}"), session(10_000))
                .await
                .unwrap();
        }
        assert_eq!(store.get("old").await.unwrap(), None, "swept");
        assert_eq!(store.len(), SWEEP_EVERY as usize);
    }

    #[tokio::test]
    async fn at_the_bound_pre_login_sessions_go_before_logged_in_ones() {
        let clock = Arc::new(Fixed(0.into()));
        let store = MemorySessions::new(clock);
        let logged_in = ConsoleSession {
            principal: Some(Principal::Authenticated {
                subject: "ops".into(),
                grants: vec![],
            }),
            csrf_token: "t".into(),
            // Ends before every pre-login session below.
            expires_at: strata_domain::Timestamp::from_millis(500),
        };
        store.insert("ops", logged_in.clone()).await.unwrap();
        let pre_login = |ms| ConsoleSession {
            principal: None,
            csrf_token: "t".into(),
            expires_at: strata_domain::Timestamp::from_millis(ms),
        };
        for i in 0..MAX_SESSIONS as u64 + 100 {
            store
                .insert(&format!("form{i}"), pre_login(1_000 + i))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), MAX_SESSIONS);
        assert_eq!(store.get("ops").await.unwrap(), Some(logged_in));
        // The soonest-ending pre-login sessions went first.
        assert_eq!(store.get("form0").await.unwrap(), None);
        let last = format!("form{}", MAX_SESSIONS as u64 + 99);
        assert!(store.get(&last).await.unwrap().is_some());
    }
}
