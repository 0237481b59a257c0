//! [`MemorySessions`]: console sessions in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use strata_domain::{Clock, ConsoleSession, SessionStore, StoreError};

/// Inserts between two sweeps of expired sessions.
const SWEEP_EVERY: u64 = 256;

/// Console sessions in this process's memory: lost at restart (users log
/// in again), not shared between instances. Expired sessions are swept
/// every [`SWEEP_EVERY`] inserts, so the map stays bounded by the logins
/// of one session lifetime.
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
        if inner.inserts.is_multiple_of(SWEEP_EVERY) {
            inner.sessions.retain(|_, s| !s.is_expired(now));
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
}
