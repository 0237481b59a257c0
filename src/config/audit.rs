//! `[audit]`: where the audit trail is written. The file is opened by the
//! composition root.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[audit]`: the JSON Lines audit trail of admin operations and refused
/// requests (see docs/security.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The file records are appended to (created if missing).
    pub path: PathBuf,
    /// Size in bytes past which the file is rotated to `<path>.1`
    /// (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}
