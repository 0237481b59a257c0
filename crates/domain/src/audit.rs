//! The audit trail: who did what to which cache, and how it ended.
//!
//! An [`AuditRecord`] is written through the [`AuditLog`] port for every
//! admin operation (configure, delete, flush, invalidation by pattern or
//! tag) and for every refused request (401, protected mode's 403).

use async_trait::async_trait;

use crate::Timestamp;

/// What an [`AuditRecord`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// Create or reconfigure a cache.
    Configure,
    /// Delete a cache.
    DeleteCache,
    /// Remove every entry of a cache.
    Flush,
    /// Invalidate entries by pattern or tags.
    Invalidate,
    /// Export every entry of a cache (`GET .../export`).
    Export,
    /// Import entries into a cache (`POST .../import`).
    Import,
    /// A request without a valid credential (401).
    Unauthorized,
    /// A request refused before reaching an operation (403, e.g. protected mode).
    Forbidden,
    /// An alert changed state (pending, firing, resolved); principal
    /// `alerts`.
    Alert,
    /// A silence was created or removed.
    Silence,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 10] = [
        Self::Configure,
        Self::DeleteCache,
        Self::Flush,
        Self::Invalidate,
        Self::Export,
        Self::Import,
        Self::Unauthorized,
        Self::Forbidden,
        Self::Alert,
        Self::Silence,
    ];

    /// The action's stable name: `configure`, `delete_cache`, `flush`,
    /// `invalidate`, `export`, `import`, `unauthorized`, `forbidden`,
    /// `alert`, `silence`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Configure => "configure",
            Self::DeleteCache => "delete_cache",
            Self::Flush => "flush",
            Self::Invalidate => "invalidate",
            Self::Export => "export",
            Self::Import => "import",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Alert => "alert",
            Self::Silence => "silence",
        }
    }

    /// The action named `s` ([`AuditAction::as_str`]), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The outcome of an operation that succeeded.
pub const AUDIT_OK: &str = "ok";
/// The outcome of the record written before an operation runs.
pub const AUDIT_ATTEMPT: &str = "attempt";

/// One line of the audit trail. It never holds a secret: the principal
/// is the key id (or `anonymous`), never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub time: Timestamp,
    /// Who: the principal's `Display` (key id or `anonymous`).
    pub principal: String,
    /// What.
    pub action: AuditAction,
    /// The target cache, when there is one.
    pub cache: Option<String>,
    /// Parameters, in order (the configuration, the selector, ...).
    pub params: Vec<(String, String)>,
    /// [`AUDIT_ATTEMPT`] before the operation, then [`AUDIT_OK`] or the
    /// error's stable code (`forbidden`, `cache_not_found`, ...).
    pub outcome: String,
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The peer address.
    pub peer: Option<String>,
}

/// Which records [`AuditLog::read`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records of this principal.
    pub principal: Option<String>,
    /// Only records of this action.
    pub action: Option<AuditAction>,
    /// At most this many ([`AUDIT_DEFAULT_LIMIT`] when `None`, capped at
    /// [`AUDIT_MAX_LIMIT`]).
    pub limit: Option<usize>,
}

/// Records [`AuditLog::read`] returns when the query names no limit.
pub const AUDIT_DEFAULT_LIMIT: usize = 100;
/// Most records one [`AuditLog::read`] returns.
pub const AUDIT_MAX_LIMIT: usize = 1000;

impl AuditQuery {
    /// The effective limit: default 100, at most 1000.
    pub fn effective_limit(&self) -> usize {
        self.limit
            .unwrap_or(AUDIT_DEFAULT_LIMIT)
            .min(AUDIT_MAX_LIMIT)
    }

    /// Whether `record` passes the filters (not the limit).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.since.is_none_or(|t| record.time >= t)
            && self
                .principal
                .as_deref()
                .is_none_or(|p| record.principal == p)
            && self.action.is_none_or(|a| record.action == a)
    }
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("audit log {operation} failed: {detail}")]
pub struct AuditError {
    /// `append` or `read`.
    pub operation: &'static str,
    /// What went wrong (an I/O error's text; never a secret).
    pub detail: String,
}

/// Where audit records go. An append returns only once the record is
/// durable: an admin operation does not run when it fails.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends `record` durably.
    ///
    /// # Errors
    /// [`AuditError`] when it could not be written.
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// The records matching `query`, newest first, at most its limit.
    ///
    /// # Errors
    /// [`AuditError`] when the log cannot be read.
    async fn read(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError>;
}
