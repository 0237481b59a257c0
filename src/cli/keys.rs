//! `strata keys generate`: a new random API key, alone on stdout, and the
//! config lines that admit it (the key's SHA-256, never the key) on stderr.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use strata_infrastructure::ApiKeyDigest;

/// `strata keys`.
#[derive(clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Print a new random API key (alone on stdout) and the config lines
    /// that admit it (on stderr).
    Generate {
        /// The key's id (its principal's name), e.g. `ci-bot`.
        #[arg(long)]
        id: String,
    },
}

/// Runs `strata keys ...`.
///
/// # Errors
/// [`InvalidKeyId`].
pub(crate) fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { id } => {
            let key = generate(&id)?;
            // The key alone on stdout, so `KEY=$(strata keys generate ..)`
            // captures it; the guidance and the configuration lines on
            // stderr, for the operator.
            eprintln!(
                "API key for {id} on stdout (shown once; give it to the client, store it nowhere)."
            );
            eprintln!("Add to the configuration, then set the grants:");
            eprintln!();
            eprint!("{}", key.toml());
            #[expect(clippy::print_stdout, reason = "the command's output")]
            {
                println!("{}", key.key);
            }
            Ok(())
        }
    }
}

/// Random bytes in a generated key (256 bits).
pub(crate) const KEY_BYTES: usize = 32;

/// A freshly generated API key.
pub(crate) struct GeneratedKey {
    /// The key's id, the principal's subject.
    pub(crate) id: String,
    /// The key itself: [`KEY_BYTES`] random bytes, base64url without
    /// padding (43 characters). Shown once, stored nowhere.
    pub(crate) key: String,
    /// SHA-256 of `key`, 64 lowercase hex digits.
    pub(crate) sha256: String,
}

impl GeneratedKey {
    /// The TOML to paste into the configuration. Its grants are empty
    /// (the key may do nothing) until the operator fills them in, as the
    /// commented example shows.
    pub(crate) fn toml(&self) -> String {
        format!(
            "[auth.api_keys.{}]\nsha256 = \"{}\"\n\
             # e.g. [{{ caches = \"build-*\", role = \"writer\" }}, {{ caches = \"sessions\", role = \"reader\" }}]\n\
             grants = []\n",
            self.id, self.sha256
        )
    }
}

/// Why a key id cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("key id {0:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'")]
pub(crate) struct InvalidKeyId(pub(crate) String);

/// Generates a key for `id` from the operating system's CSPRNG (through
/// `rand`'s thread RNG).
///
/// # Errors
/// [`InvalidKeyId`] when `id` would not be a bare TOML key.
pub(crate) fn generate(id: &str) -> Result<GeneratedKey, InvalidKeyId> {
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(InvalidKeyId(id.to_owned()));
    }
    let mut bytes = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let key = URL_SAFE_NO_PAD.encode(bytes);
    let sha256 = ApiKeyDigest::of(&key).to_hex();
    Ok(GeneratedKey {
        id: id.to_owned(),
        key,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    /// Was the doctest of `strata::keys::generate` before the command
    /// moved into the binary (whose doctests do not run).
    #[test]
    fn a_generated_key_is_43_characters_and_its_toml_names_its_digest() {
        let k = generate("ci-bot").unwrap();
        assert_eq!(k.key.len(), 43);
        assert!(k.toml().contains(&k.sha256));
    }

    #[test]
    fn printed_sha256_is_the_digest_of_the_printed_key() {
        let k = generate("ci-bot").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&k.key).unwrap().len(), KEY_BYTES);
        assert_eq!(ApiKeyDigest::of(&k.key).to_hex(), k.sha256);
        // The printed TOML is valid config that admits the printed key.
        let settings: Settings = figment::Figment::new()
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&k.toml()))
            .extract()
            .unwrap();
        let auth = crate::wiring::auth::api_key_authenticator(&settings.auth.unwrap()).unwrap();
        use strata_domain::{Authenticator, Credential, Secret};
        let p = auth
            .authenticate(&Credential::ApiKey(Secret::new(k.key.clone())))
            .unwrap();
        assert_eq!(p.to_string(), "ci-bot");
        assert_ne!(generate("ci-bot").unwrap().key, k.key);
    }

    #[test]
    fn ids_that_are_not_bare_toml_keys_are_rejected() {
        for id in ["", "a b", "a.b", "ü", &"x".repeat(65)] {
            assert!(generate(id).is_err(), "{id:?}");
        }
    }
}
