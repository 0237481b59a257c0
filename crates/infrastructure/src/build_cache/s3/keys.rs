//! The object key layout of the object-store tier.
//!
//! With the configured `prefix` `p` (no leading or trailing `/`), the kind
//! `k` (`ac` or `cas`) and the instance name with each `/` written as `!`
//! (`!` is not allowed in an instance name, and is one of S3's safe key
//! characters, so the mapping is one to one; the default instance, whose
//! name is empty, is `!` alone):
//!
//! `p/k/!<instance>/<64 hex>`
//!
//! One instance of one kind is one listing prefix (`p/k/!<instance>/`),
//! and a key parses back into its instance and hash.

use object_store::path::Path;
use strata_domain::{DigestHash, InstanceName, StoreKind};

/// Builds and parses the object keys under one prefix.
#[derive(Clone, Debug)]
pub(super) struct ObjectKeys {
    prefix: String,
}

fn kind_segment(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::Ac => "ac",
        StoreKind::Cas => "cas",
    }
}

fn instance_segment(instance: &InstanceName) -> String {
    format!("!{}", instance.as_str().replace('/', "!"))
}

impl ObjectKeys {
    /// Keys under `prefix` (leading and trailing `/` are dropped).
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn join(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    /// The object of one entry.
    pub(super) fn entry(
        &self,
        kind: StoreKind,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Path {
        self.join(&format!(
            "{}/{}/{hash}",
            kind_segment(kind),
            instance_segment(instance)
        ))
    }

    /// The listing prefix of one kind, of one instance or (`None`) all.
    pub(super) fn listing(&self, kind: StoreKind, instance: Option<&InstanceName>) -> Path {
        match instance {
            Some(i) => self.join(&format!("{}/{}", kind_segment(kind), instance_segment(i))),
            None => self.join(kind_segment(kind)),
        }
    }

    /// The instance and hash of an object `location`, or `None` for an
    /// object that is not an entry of `kind` (a foreign file in the
    /// bucket).
    pub(super) fn parse(
        &self,
        kind: StoreKind,
        location: &Path,
    ) -> Option<(InstanceName, DigestHash)> {
        let s = location.as_ref();
        let rest = if self.prefix.is_empty() {
            s
        } else {
            s.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?
        };
        let rest = rest.strip_prefix(kind_segment(kind))?.strip_prefix("/!")?;
        let (instance, hash) = rest.rsplit_once('/')?;
        let instance = InstanceName::parse(&instance.replace('!', "/")).ok()?;
        let hash = DigestHash::parse(hash).ok()?;
        Some((instance, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_for_every_instance_shape() {
        let hash = DigestHash::parse(&"ab".repeat(32)).unwrap();
        for prefix in ["", "team/cache", "/x/"] {
            let keys = ObjectKeys::new(prefix);
            for name in ["", "a", "team-a/linux"] {
                let instance = InstanceName::parse(name).unwrap();
                let key = keys.entry(StoreKind::Cas, &instance, &hash);
                assert!(
                    key.as_ref()
                        .starts_with(keys.listing(StoreKind::Cas, Some(&instance)).as_ref())
                );
                assert_eq!(
                    keys.parse(StoreKind::Cas, &key),
                    Some((instance.clone(), hash))
                );
                assert_eq!(keys.parse(StoreKind::Ac, &key), None);
            }
        }
        let keys = ObjectKeys::new("p");
        let a = InstanceName::parse("a").unwrap();
        assert_eq!(
            keys.entry(StoreKind::Ac, &a, &hash).as_ref(),
            format!("p/ac/!a/{hash}")
        );
        assert_eq!(
            keys.parse(StoreKind::Cas, &Path::from("p/cas/!a/notahash")),
            None
        );
    }
}
