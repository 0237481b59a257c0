//! The key every build-cache store uses.

use strata_domain::{DigestHash, InstanceName, StoreKind};

/// One entry: which store, which instance, which hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) kind: StoreKind,
    pub(crate) instance: InstanceName,
    pub(crate) hash: DigestHash,
}

impl Key {
    pub(crate) fn new(kind: StoreKind, instance: &InstanceName, hash: DigestHash) -> Self {
        Self {
            kind,
            instance: instance.clone(),
            hash,
        }
    }
}
