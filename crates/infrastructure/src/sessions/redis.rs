//! [`RedisSessions`]: console sessions in Redis, shared by every instance
//! of a deployment, so a user logged in on one is logged in on all.
//!
//! One string key per session, `<prefix>:<session id>`, holding the
//! session as JSON (the principal's subject and grants, the CSRF token,
//! the expiry), written with `PX` so Redis drops it when it expires. The
//! id is a 256-bit secret (the cookie), so the key names nothing guessable.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_domain::{
    Clock, ConsoleSession, Grant, KeyPattern, Principal, Role, SessionStore, StoreError, Timestamp,
};

use crate::RedisConnection;

/// The default key prefix: `strata:session:<id>`.
pub const DEFAULT_SESSION_KEY_PREFIX: &str = "strata:session";

/// Console sessions in Redis (see the module docs).
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A session as stored.
#[derive(Serialize, Deserialize)]
struct Record {
    principal: PrincipalRecord,
    csrf_token: String,
    expires_at_ms: u64,
}

/// Who the session acts as: nobody yet (a login form's session),
/// anonymous, or a subject with its grants as (cache glob, role) pairs.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PrincipalRecord {
    BeforeLogin,
    Anonymous,
    Authenticated {
        subject: String,
        grants: Vec<(String, String)>,
    },
}

impl Record {
    fn of(session: &ConsoleSession) -> Self {
        let principal = match &session.principal {
            None => PrincipalRecord::BeforeLogin,
            Some(Principal::Anonymous) => PrincipalRecord::Anonymous,
            Some(Principal::Authenticated { subject, grants }) => PrincipalRecord::Authenticated {
                subject: subject.to_string(),
                grants: grants
                    .iter()
                    .map(|g| (g.caches.as_str().to_owned(), g.role.as_str().to_owned()))
                    .collect(),
            },
        };
        Self {
            principal,
            csrf_token: session.csrf_token.clone(),
            expires_at_ms: session.expires_at.as_millis(),
        }
    }

    fn into_session(self) -> Result<ConsoleSession, String> {
        let principal = match self.principal {
            PrincipalRecord::BeforeLogin => None,
            PrincipalRecord::Anonymous => Some(Principal::Anonymous),
            PrincipalRecord::Authenticated { subject, grants } => Some(Principal::Authenticated {
                subject: subject.into(),
                grants: grants
                    .iter()
                    .map(|(caches, role)| {
                        Ok(Grant {
                            caches: KeyPattern::parse(caches).map_err(|e| e.to_string())?,
                            role: Role::parse(role).map_err(|e| e.to_string())?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            }),
        };
        Ok(ConsoleSession {
            principal,
            csrf_token: self.csrf_token,
            expires_at: Timestamp::from_millis(self.expires_at_ms),
        })
    }
}

impl RedisSessions {
    /// Sessions on `connection` under [`DEFAULT_SESSION_KEY_PREFIX`]; `clock`
    /// turns each session's expiry into its key's time to live.
    pub fn new(connection: &RedisConnection, clock: Arc<dyn Clock>) -> Self {
        Self::with_prefix(connection, DEFAULT_SESSION_KEY_PREFIX, clock)
    }

    /// Sessions under the keys `<prefix>:<id>`.
    pub fn with_prefix(connection: &RedisConnection, prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            conn: connection.manager(),
            prefix: prefix.to_owned(),
            clock,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable {
        backend: "redis".to_owned(),
        source: Box::new(e),
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn insert(&self, id: &str, session: ConsoleSession) -> Result<(), StoreError> {
        let ttl_ms = session
            .expires_at
            .as_millis()
            .saturating_sub(self.clock.now().as_millis())
            .max(1);
        let json = serde_json::to_string(&Record::of(&session))
            .map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        redis::cmd("SET")
            .arg(self.key(id))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get(&self, id: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let json: Option<String> = redis::cmd("GET")
            .arg(self.key(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let Some(json) = json else {
            return Ok(None);
        };
        let record: Record =
            serde_json::from_str(&json).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        record
            .into_session()
            .map(Some)
            .map_err(|e| StoreError::Unexpected(e.into()))
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.key(id))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_through_its_record() {
        let authenticated = Principal::Authenticated {
            subject: "ops".into(),
            grants: vec![Grant {
                caches: KeyPattern::parse("team-*").unwrap(),
                role: Role::Writer,
            }],
        };
        for principal in [None, Some(Principal::Anonymous), Some(authenticated)] {
            let session = ConsoleSession {
                principal,
                csrf_token: "t".repeat(64),
                expires_at: Timestamp::from_millis(1_234),
            };
            let json = serde_json::to_string(&Record::of(&session)).unwrap();
            let back: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_session().unwrap(), session);
        }
    }
}
