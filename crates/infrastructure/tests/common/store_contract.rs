//! What the `CacheStore` contract tests share (`#[path]`-included).

use std::sync::Arc;

use strata_infrastructure::{Keyring, ValueCodec};

/// Compresses whatever shrinks and encrypts everything, so that every
/// contract clause goes through both transforms.
pub(crate) fn encrypting_codec() -> ValueCodec {
    let keyring = Keyring::from_base64([("k1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")])
        .expect("valid key");
    ValueCodec::new(Some(0), Some(("k1".to_owned(), Arc::new(keyring)))).expect("valid codec")
}
