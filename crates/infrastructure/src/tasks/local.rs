//! The local cache directory of `strata run`.
//!
//! ```text
//! <cache_dir>/store/          a DiskBuildStore: @/ac/.., @/cas/..
//! <cache_dir>/store.lock      held while a process has the store open
//! <cache_dir>/locks/<key>.lock  one per action digest being run
//! <cache_dir>/history/<task>.{last,prior}  digest components of recent runs
//! <cache_dir>/stats.log       one line per run: time, hit|miss, saved ms, task
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use strata_application::tasks::{LocalSession, LocalTaskCache, TaskError};
use strata_domain::tasks::ActionComponents;
use strata_domain::{BuildCacheError, Digest, DigestHash, InstanceName, StoreKind};

use crate::DiskBuildStore;

fn lock_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.lock()?;
    Ok(f)
}

/// The local task cache: a [`DiskBuildStore`] in `<cache_dir>/store`,
/// bounded by `max_bytes` with LRU eviction. The disk store expects one
/// process per directory, so every session holds an exclusive `flock` on
/// `<cache_dir>/store.lock` (and reopens the store, rebuilding its index
/// from the files); sessions are short (a lookup, or the recording of one
/// result), never the command's run.
#[derive(Clone, Debug)]
pub struct DiskTaskCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DiskTaskCache {
    /// The cache in `dir`, at most `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the store, blocking until other processes' sessions end.
    ///
    /// # Errors
    /// [`BuildCacheError`] when the directory cannot be locked or read.
    pub fn open_blocking(&self) -> Result<(Arc<DiskBuildStore>, File), BuildCacheError> {
        let lock = lock_file(&self.dir.join("store.lock"))
            .map_err(|e| BuildCacheError::io("disk", "lock the task cache", e))?;
        let store = DiskBuildStore::builder(self.dir.join("store"))
            .max_bytes(self.max_bytes)
            .build()?;
        Ok((store, lock))
    }
}

/// What a [`DiskTaskCache`] session holds: the store (for file paths)
/// and the directory lock, released last.
struct DiskSession {
    store: Arc<DiskBuildStore>,
    _lock: File,
}

#[async_trait]
impl LocalTaskCache for DiskTaskCache {
    async fn open(&self) -> Result<LocalSession, TaskError> {
        let me = self.clone();
        let (store, lock) = tokio::task::spawn_blocking(move || me.open_blocking())
            .await
            .map_err(|e| TaskError::Files(e.to_string()))??;
        Ok(LocalSession {
            ac: store.clone(),
            cas: store.clone(),
            guard: Box::new(DiskSession { store, _lock: lock }),
        })
    }

    /// Sets the files' modification times to now: the disk store rebuilds
    /// its last accesses from them at the next open.
    async fn touch(&self, session: &LocalSession, key: &DigestHash, blobs: &[Digest]) {
        let Some(s) = session.guard.downcast_ref::<DiskSession>() else {
            return;
        };
        let instance = InstanceName::default();
        let mut paths = vec![s.store.path_of(StoreKind::Ac, &instance, key)];
        paths.extend(
            blobs
                .iter()
                .map(|d| s.store.path_of(StoreKind::Cas, &instance, d.hash())),
        );
        let _ = tokio::task::spawn_blocking(move || {
            let now = SystemTime::now();
            for p in paths {
                if let Ok(f) = File::options().write(true).open(&p) {
                    let _ = f.set_modified(now);
                }
            }
        })
        .await;
    }
}

/// An exclusive lock on one action digest: two identical runs started
/// together run once; the second waits here, then finds the first's
/// result. Released on drop (the OS releases it if the process dies).
#[derive(Debug)]
pub struct ActionLock {
    _file: File,
}

impl ActionLock {
    /// Waits for and takes the lock of `key` in `cache_dir`.
    ///
    /// # Errors
    /// An I/O error creating or locking the file.
    pub fn acquire(cache_dir: &Path, key: &DigestHash) -> io::Result<Self> {
        let path = cache_dir.join("locks").join(format!("{key}.lock"));
        Ok(Self {
            _file: lock_file(&path)?,
        })
    }
}

/// The digest components of each task's last two distinct runs, for
/// `strata run --explain`.
#[derive(Clone, Debug)]
pub struct RunHistory {
    dir: PathBuf,
}

impl RunHistory {
    /// The history under `<cache_dir>/history`.
    pub fn new(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join("history"),
        }
    }

    fn path(&self, task: &str, which: &str) -> PathBuf {
        self.dir.join(format!("{task}.{which}"))
    }

    fn read(&self, task: &str, which: &str) -> Option<ActionComponents> {
        let bytes = fs::read(self.path(task, which)).ok()?;
        ActionComponents::decode(&bytes).ok()
    }

    /// The last recorded run of `task`.
    pub fn last(&self, task: &str) -> Option<ActionComponents> {
        self.read(task, "last")
    }

    /// The run before [`last`](Self::last) (whose digest differed).
    pub fn prior(&self, task: &str) -> Option<ActionComponents> {
        self.read(task, "prior")
    }

    /// Records a run: when it differs from the last one, the last one
    /// becomes the prior one.
    ///
    /// # Errors
    /// An I/O error.
    pub fn record(&self, task: &str, components: &ActionComponents) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let encoded = components.encode();
        let last = self.path(task, "last");
        match fs::read(&last) {
            Ok(old) if old == encoded => return Ok(()),
            Ok(_) => fs::rename(&last, self.path(task, "prior"))?,
            Err(_) => {}
        }
        let tmp = self.dir.join(format!(".{task}.{}.tmp", std::process::id()));
        fs::write(&tmp, encoded)?;
        fs::rename(tmp, last)
    }

    /// Removes the whole history.
    ///
    /// # Errors
    /// An I/O error other than "not found".
    pub fn clear(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// One run, as the statistics log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsEvent {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// A hit (replayed) or a miss (ran).
    pub hit: bool,
    /// On a hit, the original run's duration, in milliseconds.
    pub saved_ms: u64,
    /// The task's name.
    pub task: String,
}

/// Totals over the statistics window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSummary {
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Sum of the original durations of replayed runs, in milliseconds.
    pub saved_ms: u64,
}

/// `<cache_dir>/stats.log`: one line per run (`<ms> hit|miss <saved ms>
/// <task>`), appended with `O_APPEND` (each line one `write`).
#[derive(Clone, Debug)]
pub struct StatsLog {
    path: PathBuf,
}

/// Milliseconds since the Unix epoch, now.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl StatsLog {
    /// The log of `cache_dir`.
    pub fn new(cache_dir: &Path) -> Self {
        Self {
            path: cache_dir.join("stats.log"),
        }
    }

    /// Appends one run, stamped now.
    ///
    /// # Errors
    /// An I/O error.
    pub fn append(&self, hit: bool, saved_ms: u64, task: &str) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let line = format!(
            "{} {} {saved_ms} {task}\n",
            now_ms(),
            if hit { "hit" } else { "miss" }
        );
        f.write_all(line.as_bytes())
    }

    /// Every event since `since_ms` (malformed lines are skipped).
    ///
    /// # Errors
    /// An I/O error other than "not found".
    pub fn events(&self, since_ms: u64) -> io::Result<Vec<StatsEvent>> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in BufReader::new(f).lines() {
            let line = line?;
            let mut parts = line.splitn(4, ' ');
            let (Some(at), Some(kind), Some(saved), Some(task)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(at_ms), Ok(saved_ms)) = (at.parse::<u64>(), saved.parse::<u64>()) else {
                continue;
            };
            if at_ms >= since_ms {
                out.push(StatsEvent {
                    at_ms,
                    hit: kind == "hit",
                    saved_ms,
                    task: task.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// Totals since `since_ms`.
    ///
    /// # Errors
    /// See [`events`](Self::events).
    pub fn summary(&self, since_ms: u64) -> io::Result<StatsSummary> {
        let mut s = StatsSummary::default();
        for e in self.events(since_ms)? {
            if e.hit {
                s.hits += 1;
                s.saved_ms += e.saved_ms;
            } else {
                s.misses += 1;
            }
        }
        Ok(s)
    }

    /// Drops events older than `since_ms` (rewrites the file).
    ///
    /// # Errors
    /// An I/O error.
    pub fn retain_since(&self, since_ms: u64) -> io::Result<()> {
        let kept = self.events(since_ms)?;
        let tmp = self.path.with_extension("tmp");
        let mut body = String::new();
        for e in kept {
            body.push_str(&format!(
                "{} {} {} {}\n",
                e.at_ms,
                if e.hit { "hit" } else { "miss" },
                e.saved_ms,
                e.task
            ));
        }
        fs::write(&tmp, body)?;
        fs::rename(tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let log = StatsLog::new(dir.path());
        log.append(true, 1500, "build").unwrap();
        log.append(false, 0, "build").unwrap();
        let s = log.summary(0).unwrap();
        assert_eq!(
            s,
            StatsSummary {
                hits: 1,
                misses: 1,
                saved_ms: 1500
            }
        );
        assert_eq!(log.summary(u64::MAX).unwrap(), StatsSummary::default());
        log.retain_since(u64::MAX).unwrap();
        assert!(log.events(0).unwrap().is_empty());
    }
}
