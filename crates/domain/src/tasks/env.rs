//! [`EnvFilter`]: which environment variables reach the action digest.

use std::collections::BTreeMap;

use super::{ContentHasher, wildcard_match};
use crate::DigestHash;

/// Included by the `default` preset: the variables that change what most
/// tools do on one machine.
const DEFAULT_INCLUDE: [&str; 6] = ["PATH", "HOME", "USER", "SHELL", "LANG", "STRATA_*"];

/// Included by the `portable` preset: only what means the same on every
/// machine. `PATH`, `HOME`, `USER` and `SHELL` name a machine's or a
/// person's directories and accounts, so a key holding them is never
/// shared between a CI runner and a laptop.
const PORTABLE_INCLUDE: [&str; 2] = ["LANG", "STRATA_*"];

/// Excluded by default: noise that changes between shells, and the task
/// runner's own settings (which say where the cache is, not what the task
/// does: two machines with different cache directories must share hits).
const DEFAULT_EXCLUDE: [&str; 13] = [
    "RANDOM",
    "TEMP",
    "TMP",
    "TERM",
    "SSH_*",
    "STRATA_CACHE_DIR",
    "STRATA_MAX_SIZE",
    "STRATA_DEFAULT_MODE",
    "STRATA_REMOTE_*",
    "STRATA_TOKEN",
    "STRATA_CONFIG",
    "STRATA_ENV_*",
    "STRATA__*",
];

/// Names that look secret: such a variable enters the digest only when an
/// include pattern names it exactly (no `*`), and then only as the
/// SHA-256 of its value.
pub const SECRET_PATTERNS: [&str; 4] = ["*_TOKEN", "*_SECRET", "*_KEY", "*PASSWORD*"];

/// Whether `name` matches one of [`SECRET_PATTERNS`].
pub fn looks_secret(name: &str) -> bool {
    SECRET_PATTERNS.iter().any(|p| wildcard_match(p, name))
}

/// Which variables a filter starts from, before the global and per-task
/// `include`/`exclude` patterns (`env_preset` in the settings and the
/// task file). Both presets exclude the same noise and the task runner's
/// own settings.
///
/// ```
/// use strata_domain::tasks::{EnvFilter, EnvPreset};
/// let p = EnvFilter::preset(EnvPreset::Portable);
/// assert!(p.selects("LANG") && p.selects("STRATA_PROFILE"));
/// assert!(!p.selects("PATH") && !p.selects("HOME") && !p.selects("USER"));
/// assert_eq!(EnvPreset::parse("portable"), Some(EnvPreset::Portable));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EnvPreset {
    /// `default`: PATH, HOME, USER, SHELL, LANG and `STRATA_*`; right for
    /// one machine's local cache, never shared between machines.
    #[default]
    Default,
    /// `portable`: LANG and `STRATA_*` only (plus what the task names);
    /// machines with different homes, users, shells and PATHs share hits.
    Portable,
}

impl EnvPreset {
    /// The names the settings accept.
    pub const NAMES: [&'static str; 2] = ["default", "portable"];

    /// Parses `default` or `portable`; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "default" => Some(Self::Default),
            "portable" => Some(Self::Portable),
            _ => None,
        }
    }

    /// Its name, as [`parse`](Self::parse) accepts it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Portable => "portable",
        }
    }

    fn include(self) -> &'static [&'static str] {
        match self {
            Self::Default => &DEFAULT_INCLUDE,
            Self::Portable => &PORTABLE_INCLUDE,
        }
    }
}

/// A variable's contribution to the digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EnvValue {
    /// The value itself.
    Plain(String),
    /// The SHA-256 of a secret-looking variable's value (never the value).
    SecretHash(DigestHash),
}

/// Include and exclude patterns over variable names (`*` wildcards, see
/// [`wildcard_match`]). A variable is selected when some include pattern
/// matches it and no exclude pattern does; a secret-looking one
/// ([`looks_secret`]) only when an include pattern is exactly its name.
///
/// ```
/// use strata_domain::tasks::EnvFilter;
/// let mut f = EnvFilter::seed();
/// f.extend(["RUST*".to_owned()], ["RUST_LOG".to_owned()]);
/// assert!(f.selects("RUSTFLAGS") && !f.selects("RUST_LOG") && f.selects("PATH"));
/// assert!(!f.selects("TERM") && !f.selects("STRATA_TOKEN"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl EnvFilter {
    /// The [`EnvPreset::Default`] filter: PATH, HOME, USER, SHELL, LANG
    /// and `STRATA_*` in; RANDOM, TEMP, TMP, TERM, `SSH_*` and the task
    /// runner's own settings (`STRATA_CACHE_DIR`, `STRATA_REMOTE_*`,
    /// `STRATA_TOKEN`, ...) out.
    pub fn seed() -> Self {
        Self::preset(EnvPreset::Default)
    }

    /// The filter `preset` starts from: its include list, and the
    /// exclusions every preset shares.
    pub fn preset(preset: EnvPreset) -> Self {
        Self {
            include: preset.include().iter().map(|s| (*s).to_owned()).collect(),
            exclude: DEFAULT_EXCLUDE.map(str::to_owned).to_vec(),
        }
    }

    /// No variable at all (for tests and hermetic tasks).
    pub fn empty() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }

    /// Adds patterns to both lists.
    pub fn extend(
        &mut self,
        include: impl IntoIterator<Item = String>,
        exclude: impl IntoIterator<Item = String>,
    ) {
        self.include.extend(include);
        self.exclude.extend(exclude);
    }

    /// The include patterns.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// The exclude patterns.
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }

    /// Whether the variable `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        if self.exclude.iter().any(|p| wildcard_match(p, name)) {
            return false;
        }
        if looks_secret(name) {
            return self.include.iter().any(|p| p == name);
        }
        self.include.iter().any(|p| wildcard_match(p, name))
    }

    /// The selected variables of `vars`, sorted by name, secret-looking
    /// ones as the hash of their value.
    pub fn select(
        &self,
        vars: impl IntoIterator<Item = (String, String)>,
        hasher: &dyn ContentHasher,
    ) -> BTreeMap<String, EnvValue> {
        vars.into_iter()
            .filter(|(name, _)| self.selects(name))
            .map(|(name, value)| {
                let v = if looks_secret(&name) {
                    EnvValue::SecretHash(hasher.sha256(value.as_bytes()))
                } else {
                    EnvValue::Plain(value)
                };
                (name, v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct XorHasher;
    impl ContentHasher for XorHasher {
        fn sha256(&self, bytes: &[u8]) -> DigestHash {
            let mut out = [0u8; 32];
            for (i, b) in bytes.iter().enumerate() {
                out[i % 32] ^= b;
            }
            DigestHash::from_bytes(out)
        }
    }

    #[test]
    fn secrets_only_when_named_and_only_hashed() {
        let vars = || {
            vec![
                ("GITHUB_TOKEN".to_owned(), "hunter2".to_owned()),
                ("PATH".to_owned(), "/bin".to_owned()),
                ("DB_PASSWORD".to_owned(), "pw".to_owned()),
            ]
        };
        let mut f = EnvFilter::seed();
        f.extend(["*".to_owned()], []);
        let got = f.select(vars(), &XorHasher);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["PATH"]);
        f.extend(["GITHUB_TOKEN".to_owned()], []);
        let got = f.select(vars(), &XorHasher);
        assert_eq!(
            got["GITHUB_TOKEN"],
            EnvValue::SecretHash(XorHasher.sha256(b"hunter2"))
        );
        assert!(!got.contains_key("DB_PASSWORD"));
    }

    #[test]
    fn the_portable_preset_drops_machine_and_person_variables() {
        let vars = || {
            vec![
                ("PATH".to_owned(), "/home/ci/bin:/usr/bin".to_owned()),
                ("HOME".to_owned(), "/home/ci".to_owned()),
                ("USER".to_owned(), "ci".to_owned()),
                ("SHELL".to_owned(), "/bin/bash".to_owned()),
                ("LANG".to_owned(), "C.UTF-8".to_owned()),
                ("STRATA_PROFILE".to_owned(), "release".to_owned()),
                ("STRATA_CACHE_DIR".to_owned(), "/c".to_owned()),
                ("CC".to_owned(), "clang".to_owned()),
            ]
        };
        let mut f = EnvFilter::preset(EnvPreset::Portable);
        f.extend(["CC".to_owned()], []);
        let got = f.select(vars(), &XorHasher);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            vec!["CC", "LANG", "STRATA_PROFILE"]
        );
        let default = EnvFilter::preset(EnvPreset::Default).select(vars(), &XorHasher);
        for name in ["PATH", "HOME", "USER", "SHELL"] {
            assert!(default.contains_key(name), "{name}");
        }
        for name in EnvPreset::NAMES {
            assert_eq!(EnvPreset::parse(name).map(EnvPreset::name), Some(name));
        }
    }

    #[test]
    fn exclude_wins() {
        let mut f = EnvFilter::seed();
        f.extend(["X".to_owned()], ["X".to_owned()]);
        assert!(!f.selects("X"));
        assert!(f.selects("STRATA_PROFILE"));
        assert!(!f.selects("STRATA_CACHE_DIR"));
    }
}
