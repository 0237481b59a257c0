//! `[encryption]`: the keys of encryption at rest in shared tiers. Their
//! `Debug` shows key ids only; the keyring is built by the composition
//! root.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[encryption]`: AES-256-GCM keys by id, each the standard base64 of 32
/// random bytes (`openssl rand -base64 32`). Set them from the
/// environment rather than a file: `STRATA__ENCRYPTION__KEYS__K1=...`.
/// A cache names its key with `encryption_key_id`; reads accept every key
/// here, so a key rotates by adding the new one, pointing caches at it and
/// dropping the old one once its entries are gone.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettings {
    /// Key id to base64 key.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for EncryptionSettings {
    /// Key ids only: key material never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionSettings")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}
