//! The Redis keys of one instance and kind (the layout is in the wing's
//! module docs): every key shares the instance's hash tag, so one Lua
//! script can touch them all in a Cluster. Knows nothing of commands.

use strata_domain::{DigestHash, InstanceName, StoreKind};

/// The keys of one instance and kind.
pub(super) struct Keys {
    /// `p{i}:k:`
    base: String,
    pub(super) index: String,
    pub(super) sizes: String,
    pub(super) bytes: String,
}

impl Keys {
    pub(super) fn new(prefix: &str, kind: StoreKind, instance: &InstanceName) -> Self {
        let tag = if instance.is_default() {
            "/"
        } else {
            instance.as_str()
        };
        let base = format!("{prefix}{{{tag}}}:{}:", kind.as_str());
        Self {
            index: format!("{base}idx"),
            sizes: format!("{base}size"),
            bytes: format!("{base}bytes"),
            base,
        }
    }

    pub(super) fn entry(&self, hash: &DigestHash) -> String {
        format!("{}{hash}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag_per_instance() {
        let k = Keys::new(
            "strata:bc:",
            StoreKind::Ac,
            &InstanceName::parse("team-a/linux").unwrap(),
        );
        assert_eq!(k.index, "strata:bc:{team-a/linux}:ac:idx");
        assert_eq!(
            k.entry(&DigestHash::EMPTY),
            format!("strata:bc:{{team-a/linux}}:ac:{}", DigestHash::EMPTY)
        );
        let d = Keys::new("p:", StoreKind::Cas, &InstanceName::default());
        assert_eq!(d.sizes, "p:{/}:cas:size");
        assert_eq!(d.bytes, "p:{/}:cas:bytes");
    }
}
