//! `[coherence]`: L1 coherence between instances over Redis pub/sub.

use serde::{Deserialize, Serialize};

/// Default pub/sub channel of `[coherence]`.
pub const DEFAULT_COHERENCE_CHANNEL: &str = "strata:coherence";

/// `[coherence]`: how instances stacking a memory tier over a shared one
/// tell each other about invalidations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoherenceSettings {
    /// Publish and subscribe at all (default true). Off, an instance's L1
    /// learns of other instances' writes only when `l1_max_ttl` expires.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// This instance's id on the channel; a random UUID when absent.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The Redis pub/sub channel (default `strata:coherence`); every
    /// instance of one deployment must use the same one.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The Redis backend that carries the channel for every stacked cache;
    /// when absent each cache uses its own L2 (which must then be Redis).
    #[serde(default)]
    pub backend: Option<String>,
}

fn default_channel() -> String {
    DEFAULT_COHERENCE_CHANNEL.to_owned()
}

impl Default for CoherenceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            instance_id: None,
            channel: default_channel(),
            backend: None,
        }
    }
}

fn default_true() -> bool {
    true
}
