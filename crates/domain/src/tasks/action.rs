//! [`ActionComponents`]: everything an action digest covers, and its
//! canonical encoding.

use std::collections::BTreeMap;

use super::{ContentHasher, EnvValue, TaskCommand};
use crate::{Digest, DigestHash};

/// Version of the canonical encoding. Bumped whenever what is hashed or
/// how changes, so digests of different versions never collide.
///
/// 2: ad hoc runs are named after their command (not `adhoc`), and the
/// `portable` environment preset exists (its patterns are in the key).
pub const ACTION_DIGEST_VERSION: u32 = 2;

/// The encoding's first bytes.
const MAGIC: &[u8] = b"strata-action\0";

/// One input file as the digest sees it: no mtime, no absolute path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The SHA-256 and size of its content (for a symlink: of the file it
    /// points to).
    pub digest: Digest,
    /// Whether its owner-executable bit is set.
    pub executable: bool,
}

/// The platform an action runs on (`std::env::consts::OS`, `ARCH`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Platform {
    /// `linux`, `macos`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
}

/// Everything the action digest covers. Maps are sorted by key, so the
/// order in which files were enumerated or variables read never matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionComponents {
    /// The task's name.
    pub task: String,
    /// Its command or argv.
    pub command: TaskCommand,
    /// The working directory relative to the project root, `/`-separated,
    /// empty for the root itself.
    pub workdir: String,
    /// The filtered environment.
    pub env: BTreeMap<String, EnvValue>,
    /// Input files by path relative to the root, `/`-separated.
    pub inputs: BTreeMap<String, InputFile>,
    /// The task's configuration ([`TaskSpec::key_config`](super::TaskSpec::key_config)).
    pub config: BTreeMap<String, String>,
    /// Where it runs.
    pub platform: Platform,
}

/// One component that differs between two runs (`strata run --explain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The command changed.
    Command {
        /// Before.
        before: String,
        /// Now.
        now: String,
    },
    /// The working directory (relative to the root) changed.
    Workdir {
        /// Before.
        before: String,
        /// Now.
        now: String,
    },
    /// A variable was added, removed or changed (values of secret-looking
    /// ones are not shown).
    Env {
        /// Its name.
        name: String,
        /// Before (`None`: absent).
        before: Option<String>,
        /// Now (`None`: absent).
        now: Option<String>,
    },
    /// An input file was added, removed or changed (content or mode).
    Input {
        /// Its path relative to the root.
        path: String,
        /// What happened: `added`, `removed`, `content` or `mode`.
        change: &'static str,
    },
    /// A configuration setting changed.
    Config {
        /// The setting.
        key: String,
        /// Before.
        before: Option<String>,
        /// Now.
        now: Option<String>,
    },
    /// The platform changed.
    Platform {
        /// Before, `os/arch`.
        before: String,
        /// Now.
        now: String,
    },
    /// The task name changed.
    Task {
        /// Before.
        before: String,
        /// Now.
        now: String,
    },
}

impl Difference {
    /// The component, without its values: `command`, `working directory`,
    /// `env HOME`, `input src/a.rs (content)`, `config inputs`,
    /// `platform` or `task name` (the miss line of `strata run`).
    pub fn component(&self) -> String {
        match self {
            Self::Task { .. } => "task name".to_owned(),
            Self::Command { .. } => "command".to_owned(),
            Self::Workdir { .. } => "working directory".to_owned(),
            Self::Env { name, .. } => format!("env {name}"),
            Self::Input { path, change } => format!("input {path} ({change})"),
            Self::Config { key, .. } => format!("config {key}"),
            Self::Platform { .. } => "platform".to_owned(),
        }
    }
}

/// Why bytes are not an encoding of [`ActionComponents`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a version-{ACTION_DIGEST_VERSION} action encoding: {0}")]
pub struct InvalidComponents(pub String);

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_count(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

fn env_text(v: &EnvValue) -> String {
    match v {
        EnvValue::Plain(s) => s.clone(),
        EnvValue::SecretHash(_) => "<secret, hashed>".to_owned(),
    }
}

impl ActionComponents {
    /// The canonical encoding: a magic string, [`ACTION_DIGEST_VERSION`]
    /// (u32, big-endian), then each component under a one-byte tag, every
    /// string and list length-prefixed (u64, big-endian), maps in key
    /// order. Two different values never share an encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.inputs.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&ACTION_DIGEST_VERSION.to_be_bytes());
        put_count(&mut out, b'n', 1);
        put_bytes(&mut out, self.task.as_bytes());
        match &self.command {
            TaskCommand::Shell(s) => {
                put_count(&mut out, b's', 1);
                put_bytes(&mut out, s.as_bytes());
            }
            TaskCommand::Args(args) => {
                put_count(&mut out, b'a', args.len());
                for a in args {
                    put_bytes(&mut out, a.as_bytes());
                }
            }
        }
        put_count(&mut out, b'w', 1);
        put_bytes(&mut out, self.workdir.as_bytes());
        put_count(&mut out, b'e', self.env.len());
        for (name, value) in &self.env {
            put_bytes(&mut out, name.as_bytes());
            match value {
                EnvValue::Plain(v) => {
                    out.push(b'p');
                    put_bytes(&mut out, v.as_bytes());
                }
                EnvValue::SecretHash(h) => {
                    out.push(b'h');
                    out.extend_from_slice(h.as_bytes());
                }
            }
        }
        put_count(&mut out, b'i', self.inputs.len());
        for (path, f) in &self.inputs {
            put_bytes(&mut out, path.as_bytes());
            out.extend_from_slice(f.digest.hash().as_bytes());
            out.extend_from_slice(&f.digest.size_bytes().to_be_bytes());
            out.push(u8::from(f.executable));
        }
        put_count(&mut out, b'c', self.config.len());
        for (k, v) in &self.config {
            put_bytes(&mut out, k.as_bytes());
            put_bytes(&mut out, v.as_bytes());
        }
        put_count(&mut out, b'p', 2);
        put_bytes(&mut out, self.platform.os.as_bytes());
        put_bytes(&mut out, self.platform.arch.as_bytes());
        out
    }

    /// The action digest: SHA-256 of [`encode`](Self::encode).
    pub fn digest(&self, hasher: &dyn ContentHasher) -> DigestHash {
        hasher.sha256(&self.encode())
    }

    /// Parses [`encode`](Self::encode)'s output (the run history of
    /// `--explain` keeps it).
    ///
    /// # Errors
    /// [`InvalidComponents`] on a wrong magic, version or truncation.
    pub fn decode(bytes: &[u8]) -> Result<Self, InvalidComponents> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(InvalidComponents("bad magic".into()));
        }
        let version = u32::from_be_bytes(r.array::<4>()?);
        if version != ACTION_DIGEST_VERSION {
            return Err(InvalidComponents(format!("version {version}")));
        }
        r.tag(b'n')?;
        let task = r.string()?;
        let (tag, n) = r.section()?;
        let command = match tag {
            b's' => TaskCommand::Shell(r.string()?),
            b'a' => TaskCommand::Args((0..n).map(|_| r.string()).collect::<Result<_, _>>()?),
            _ => return Err(InvalidComponents("bad command tag".into())),
        };
        r.tag(b'w')?;
        let workdir = r.string()?;
        let n = r.tag(b'e')?;
        let mut env = BTreeMap::new();
        for _ in 0..n {
            let name = r.string()?;
            let value = match r.array::<1>()?[0] {
                b'p' => EnvValue::Plain(r.string()?),
                b'h' => EnvValue::SecretHash(DigestHash::from_bytes(r.array::<32>()?)),
                _ => return Err(InvalidComponents("bad env tag".into())),
            };
            env.insert(name, value);
        }
        let n = r.tag(b'i')?;
        let mut inputs = BTreeMap::new();
        for _ in 0..n {
            let path = r.string()?;
            let hash = DigestHash::from_bytes(r.array::<32>()?);
            let size = u64::from_be_bytes(r.array::<8>()?);
            let executable = r.array::<1>()?[0] == 1;
            inputs.insert(
                path,
                InputFile {
                    digest: Digest::new(hash, size),
                    executable,
                },
            );
        }
        let n = r.tag(b'c')?;
        let mut config = BTreeMap::new();
        for _ in 0..n {
            let k = r.string()?;
            config.insert(k, r.string()?);
        }
        r.tag(b'p')?;
        let platform = Platform {
            os: r.string()?,
            arch: r.string()?,
        };
        if r.pos != bytes.len() {
            return Err(InvalidComponents("trailing bytes".into()));
        }
        Ok(Self {
            task,
            command,
            workdir,
            env,
            inputs,
            config,
            platform,
        })
    }

    /// What differs from `before`, component by component (task, command,
    /// workdir, env, inputs, config, platform), each map in key order.
    pub fn differences(&self, before: &Self) -> Vec<Difference> {
        let mut out = Vec::new();
        if self.task != before.task {
            out.push(Difference::Task {
                before: before.task.clone(),
                now: self.task.clone(),
            });
        }
        if self.command != before.command {
            out.push(Difference::Command {
                before: before.command.display(),
                now: self.command.display(),
            });
        }
        if self.workdir != before.workdir {
            out.push(Difference::Workdir {
                before: before.workdir.clone(),
                now: self.workdir.clone(),
            });
        }
        for name in union(&before.env, &self.env) {
            let (b, n) = (before.env.get(name), self.env.get(name));
            if b != n {
                out.push(Difference::Env {
                    name: name.clone(),
                    before: b.map(env_text),
                    now: n.map(env_text),
                });
            }
        }
        for path in union(&before.inputs, &self.inputs) {
            let change = match (before.inputs.get(path), self.inputs.get(path)) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(b), Some(n)) if b.digest != n.digest => "content",
                (Some(b), Some(n)) if b.executable != n.executable => "mode",
                _ => continue,
            };
            out.push(Difference::Input {
                path: path.clone(),
                change,
            });
        }
        for key in union(&before.config, &self.config) {
            let (b, n) = (before.config.get(key), self.config.get(key));
            if b != n {
                out.push(Difference::Config {
                    key: key.clone(),
                    before: b.cloned(),
                    now: n.cloned(),
                });
            }
        }
        if self.platform != before.platform {
            out.push(Difference::Platform {
                before: format!("{}/{}", before.platform.os, before.platform.arch),
                now: format!("{}/{}", self.platform.os, self.platform.arch),
            });
        }
        out
    }
}

fn union<'a, V>(a: &'a BTreeMap<String, V>, b: &'a BTreeMap<String, V>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InvalidComponents> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| InvalidComponents("truncated".into()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], InvalidComponents> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len(&mut self) -> Result<usize, InvalidComponents> {
        usize::try_from(u64::from_be_bytes(self.array::<8>()?))
            .map_err(|_| InvalidComponents("length overflow".into()))
    }

    fn string(&mut self) -> Result<String, InvalidComponents> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| InvalidComponents("not UTF-8".into()))
    }

    fn section(&mut self) -> Result<(u8, usize), InvalidComponents> {
        let tag = self.array::<1>()?[0];
        Ok((tag, self.len()?))
    }

    fn tag(&mut self, want: u8) -> Result<usize, InvalidComponents> {
        let (tag, n) = self.section()?;
        if tag != want {
            return Err(InvalidComponents(format!(
                "expected section {:?}",
                char::from(want)
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stand-in hash for the domain's own tests: the encoding itself,
    /// folded (the real SHA-256 lives in infrastructure).
    struct Fold;
    impl ContentHasher for Fold {
        fn sha256(&self, bytes: &[u8]) -> DigestHash {
            let mut out = [0u8; 32];
            for (i, b) in bytes.iter().enumerate() {
                out[i % 32] = out[i % 32].wrapping_mul(31).wrapping_add(*b);
            }
            DigestHash::from_bytes(out)
        }
    }

    fn file(byte: u8, exec: bool) -> InputFile {
        InputFile {
            digest: Digest::new(DigestHash::from_bytes([byte; 32]), u64::from(byte)),
            executable: exec,
        }
    }

    fn sample(inputs: &[(String, u8)], env: &[(String, String)]) -> ActionComponents {
        ActionComponents {
            task: "build".into(),
            command: TaskCommand::Args(vec!["make".into(), "-j4".into()]),
            workdir: "sub".into(),
            env: env
                .iter()
                .map(|(k, v)| (k.clone(), EnvValue::Plain(v.clone())))
                .collect(),
            inputs: inputs
                .iter()
                .map(|(p, b)| (p.clone(), file(*b, false)))
                .collect(),
            config: [("outputs".to_owned(), "out/".to_owned())].into(),
            platform: Platform {
                os: "linux".into(),
                arch: "x86_64".into(),
            },
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let c = sample(
            &[("a.rs".into(), 1), ("b/c.rs".into(), 2)],
            &[("PATH".into(), "/bin".into())],
        );
        assert_eq!(ActionComponents::decode(&c.encode()), Ok(c.clone()));
        let mut bytes = c.encode();
        bytes.pop();
        assert!(ActionComponents::decode(&bytes).is_err());
        assert!(ActionComponents::decode(b"nope").is_err());
    }

    #[test]
    fn differences_name_the_component() {
        let before = sample(&[("a".into(), 1), ("b".into(), 2)], &[]);
        let mut now = before.clone();
        now.inputs.insert("a".into(), file(9, false));
        now.inputs.remove("b");
        now.inputs.insert("c".into(), file(3, true));
        now.env
            .insert("RUSTFLAGS".into(), EnvValue::Plain("-O".into()));
        now.command = TaskCommand::Shell("make".into());
        let d = now.differences(&before);
        assert!(d.contains(&Difference::Input {
            path: "a".into(),
            change: "content"
        }));
        assert!(d.contains(&Difference::Input {
            path: "b".into(),
            change: "removed"
        }));
        assert!(d.contains(&Difference::Input {
            path: "c".into(),
            change: "added"
        }));
        assert!(
            d.iter()
                .any(|x| matches!(x, Difference::Env { name, .. } if name == "RUSTFLAGS"))
        );
        assert!(d.iter().any(|x| matches!(x, Difference::Command { .. })));
        assert!(before.differences(&before).is_empty());
    }

    #[test]
    fn shell_and_args_never_collide() {
        let mut a = sample(&[], &[]);
        a.command = TaskCommand::Shell("make".into());
        let mut b = a.clone();
        b.command = TaskCommand::Args(vec!["make".into()]);
        assert_ne!(a.encode(), b.encode());
    }

    proptest! {
        /// The digest is independent of the order in which files were
        /// enumerated and variables read.
        #[test]
        fn order_independent(
            files in proptest::collection::btree_map("[a-z/]{1,12}", any::<u8>(), 0..20),
            vars in proptest::collection::btree_map("[A-Z_]{1,8}", "[ -~]{0,8}", 0..10),
            seed in any::<u64>(),
        ) {
            let f: Vec<(String, u8)> = files.into_iter().collect();
            let v: Vec<(String, String)> = vars.into_iter().collect();
            let mut f2 = f.clone();
            let mut v2 = v.clone();
            // A deterministic shuffle.
            let n = f2.len().max(1);
            f2.rotate_left(usize::try_from(seed).unwrap_or(0) % n);
            f2.reverse();
            v2.reverse();
            prop_assert_eq!(sample(&f, &v).digest(&Fold), sample(&f2, &v2).digest(&Fold));
            prop_assert_eq!(sample(&f, &v).encode(), sample(&f2, &v2).encode());
        }

        /// Changing any included component changes the encoding.
        #[test]
        fn any_component_change_changes_the_encoding(
            files in proptest::collection::btree_map("[a-z]{1,6}", any::<u8>(), 1..8),
            which in 0usize..8,
            text in "[a-z]{1,6}",
        ) {
            let f: Vec<(String, u8)> = files.into_iter().collect();
            let base = sample(&f, &[("PATH".into(), "/bin".into())]);
            let mut changed = base.clone();
            match which {
                0 => changed.task.push_str(&text),
                1 => changed.command = TaskCommand::Args(vec![text.clone()]),
                2 => changed.workdir.push_str(&text),
                3 => { changed.env.insert("PATH".into(), EnvValue::Plain(text.clone())); }
                4 => {
                    let (p, f) = changed.inputs.iter_mut().next().expect("one input");
                    let _ = p;
                    f.executable = !f.executable;
                }
                5 => {
                    let f = changed.inputs.values_mut().next().expect("one input");
                    let h = f.digest.hash().as_bytes()[0].wrapping_add(1);
                    f.digest = Digest::new(DigestHash::from_bytes([h; 32]), f.digest.size_bytes());
                }
                6 => { changed.config.insert("cache_key.extra".into(), text.clone()); }
                _ => changed.platform.arch.push_str(&text),
            }
            prop_assert_ne!(base.encode(), changed.encode());
            prop_assert!(!changed.differences(&base).is_empty());
        }
    }
}
