//! [`StoreKind`]: AC or CAS, below both `flush` and `ports`.

/// Which of the build cache's two stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreKind {
    /// The action cache: serialized `ActionResult`s keyed by action digest.
    Ac,
    /// The content-addressable storage: blobs keyed by their SHA-256.
    Cas,
}

impl StoreKind {
    /// `ac` or `cas`, as in bazel-remote's paths and the metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ac => "ac",
            Self::Cas => "cas",
        }
    }
}
