//! `[cluster]`: settings of a deployment of several instances.

use serde::{Deserialize, Serialize};

/// `[cluster]`: settings of a deployment of several instances.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// The `[backends.<name>]` (kind `redis`) that holds every cache
    /// configuration, shared by all instances; changes are announced on
    /// its coherence channel, so `[coherence]` must stay enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_backend: Option<String>,
}
