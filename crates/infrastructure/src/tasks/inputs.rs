//! [`InputScanner`]: a task's input globs to hashed files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::{WalkBuilder, WalkState};
use sha2::{Digest as _, Sha256};
use strata_domain::tasks::InputFile;
use strata_domain::{Digest, DigestHash};

/// Bytes read per `read` call while hashing: 64 KiB.
const HASH_CHUNK_BYTES: usize = 64 << 10;

/// Why the inputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A pattern is not a valid glob.
    #[error("bad glob {pattern:?}: {reason}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// globset's reason.
        reason: String,
    },
    /// A pattern without wildcards names a file that does not exist.
    #[error("input {0:?} does not exist")]
    Missing(String),
    /// An input is a symlink to nothing.
    #[error("input {0:?} is a dangling symlink")]
    Dangling(String),
    /// An I/O error on a file.
    #[error("cannot read input {path:?}: {source}")]
    Io {
        /// The file, relative to the root.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// Builds one glob the way task files mean them: `*` and `?` stay inside
/// one path segment, `**` crosses segments (globset's
/// `literal_separator(true)`), and `{a,b}` alternates.
///
/// # Errors
/// [`InputError::BadGlob`].
pub(super) fn glob(pattern: &str) -> Result<Glob, InputError> {
    GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .map_err(|e| InputError::BadGlob {
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, InputError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p)?);
        // `dir/` and `dir` as a pattern mean everything under it.
        let trimmed = p.trim_end_matches('/');
        if !has_wildcard(trimmed) {
            b.add(glob(&format!("{trimmed}/**"))?);
        }
    }
    b.build().map_err(|e| InputError::BadGlob {
        pattern: patterns.join(", "),
        reason: e.kind().to_string(),
    })
}

fn has_wildcard(p: &str) -> bool {
    p.contains(['*', '?', '[', '{'])
}

/// Expands input globs under a project root and hashes the files.
///
/// Rules (docs/tasks.md, "Inputs"):
/// - paths are relative to the root, `/`-separated; patterns match whole
///   paths (`src/*.rs` does not reach `src/a/b.rs`; `src/**/*.rs` does);
///   a pattern without wildcards also takes everything under it when it
///   names a directory;
/// - the walk (the `ignore` crate, parallel) honours `.gitignore`,
///   `.ignore` and `.git/info/exclude` even outside a git repository
///   (`require_git(false)`), includes hidden files, and never enters `.git`;
/// - `ignore_inputs` globs remove files from the set;
/// - symlinks are not followed into directories; a symlink to a file is
///   hashed as the content it points to; a dangling one is an error;
/// - a pattern without wildcards that matches nothing is an error
///   ([`InputError::Missing`]); a glob that matches nothing is not;
/// - each file is read in 64 KiB chunks into SHA-256, on all cores; only
///   its content and owner-executable bit count, never its mtime.
#[derive(Clone, Debug)]
pub struct InputScanner {
    root: PathBuf,
    threads: usize,
}

impl InputScanner {
    /// A scanner of `root`, hashing on all cores.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }

    /// Validates globs without walking (the task-file parser's check).
    ///
    /// # Errors
    /// [`InputError::BadGlob`].
    pub fn check_glob(pattern: &str) -> Result<(), InputError> {
        glob(pattern).map(drop)
    }

    /// The input files matching `inputs` but not `ignore`, hashed, by
    /// relative path. `progress(done, total)` is called as files are
    /// hashed (a progress bar; may be a no-op).
    ///
    /// # Errors
    /// [`InputError`].
    pub fn scan(
        &self,
        inputs: &[String],
        ignore: &[String],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<BTreeMap<String, InputFile>, InputError> {
        if inputs.is_empty() {
            return Ok(BTreeMap::new());
        }
        let include = glob_set(inputs)?;
        let exclude = glob_set(ignore)?;
        let paths = self.walk(&include, &exclude);
        for p in inputs {
            let literal = p.trim_start_matches("./").trim_end_matches('/');
            if !has_wildcard(literal)
                && !paths
                    .iter()
                    .any(|(rel, _)| rel == literal || rel.starts_with(&format!("{literal}/")))
            {
                return Err(InputError::Missing(p.clone()));
            }
        }
        self.hash_all(paths, progress)
    }

    fn walk(&self, include: &GlobSet, exclude: &GlobSet) -> Vec<(String, PathBuf)> {
        let found = Mutex::new(Vec::new());
        let root = self.root.as_path();
        WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .follow_links(false)
            .threads(self.threads)
            .filter_entry(|e| e.file_name() != ".git")
            .build_parallel()
            .run(|| {
                Box::new(|entry| {
                    let Ok(entry) = entry else {
                        return WalkState::Continue;
                    };
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    if is_dir {
                        return WalkState::Continue;
                    }
                    if let Some(rel) = relative(root, entry.path())
                        && include.is_match(&rel)
                        && !exclude.is_match(&rel)
                    {
                        found
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((rel, entry.path().to_owned()));
                    }
                    WalkState::Continue
                })
            });
        found.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn hash_all(
        &self,
        paths: Vec<(String, PathBuf)>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<BTreeMap<String, InputFile>, InputError> {
        let total = paths.len();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let results = Mutex::new(BTreeMap::new());
        let first_error = Mutex::new(None::<InputError>);
        std::thread::scope(|s| {
            for _ in 0..self.threads.min(total.max(1)) {
                s.spawn(|| {
                    let mut buf = vec![0u8; HASH_CHUNK_BYTES];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((rel, path)) = paths.get(i) else {
                            break;
                        };
                        match hash_file(rel, path, &mut buf) {
                            Ok(f) => {
                                results
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(rel.clone(), f);
                            }
                            Err(e) => {
                                first_error
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                                break;
                            }
                        }
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

fn hash_file(rel: &str, path: &Path, buf: &mut [u8]) -> Result<InputFile, InputError> {
    let io = |source| InputError::Io {
        path: rel.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(InputError::Dangling(rel.to_owned()));
        }
        Err(e) => return Err(io(e)),
    };
    if meta.is_dir() {
        // A symlink to a directory: not followed.
        return Ok(InputFile {
            digest: Digest::EMPTY,
            executable: false,
        });
    }
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = file.read(buf).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(InputFile {
        digest: Digest::new(DigestHash::from_bytes(hasher.finalize().into()), size),
        executable: meta.permissions().mode() & 0o100 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    #[test]
    fn globs_stay_in_segments_and_gitignore_applies_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "src/a.rs", "a");
        write(root, "src/deep/b.rs", "b");
        write(root, "src/x.tmp", "t");
        write(root, "target/out.rs", "o");
        write(root, ".gitignore", "target/\n");
        write(root, "Cargo.toml", "c");
        let s = InputScanner::new(root);
        let got = s.scan(&["src/*.rs".into()], &[], &|_, _| {}).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["src/a.rs"]);
        let got = s
            .scan(
                &["src/**".into(), "Cargo.toml".into(), "**/*.rs".into()],
                &["**/*.tmp".into()],
                &|_, _| {},
            )
            .unwrap();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            vec!["Cargo.toml", "src/a.rs", "src/deep/b.rs"]
        );
        assert!(matches!(
            s.scan(&["nope.txt".into()], &[], &|_, _| {}),
            Err(InputError::Missing(_))
        ));
        assert!(
            s.scan(&["*.none".into()], &[], &|_, _| {})
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            InputScanner::check_glob("src/[a"),
            Err(InputError::BadGlob { .. })
        ));
    }

    #[test]
    fn symlinks_hash_their_target_and_dangling_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "real.txt", "content");
        std::os::unix::fs::symlink(root.join("real.txt"), root.join("link.txt")).unwrap();
        let s = InputScanner::new(root);
        let got = s.scan(&["*.txt".into()], &[], &|_, _| {}).unwrap();
        assert_eq!(got["link.txt"].digest, got["real.txt"].digest);
        std::os::unix::fs::symlink(root.join("gone"), root.join("dead.txt")).unwrap();
        assert!(matches!(
            s.scan(&["*.txt".into()], &[], &|_, _| {}),
            Err(InputError::Dangling(_))
        ));
    }
}
