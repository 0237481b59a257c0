//! [`FileConfigurationRepository`]: configurations in one JSON state file.
//!
//! The file, `<data_dir>/caches.json`, is
//! `{"format":1,"caches":[<record>, ...]}` with one record per cache (see
//! `record.rs`). Every change rewrites it atomically: the new content goes
//! to a temporary file in the same directory, which is fsynced, renamed
//! over the state file, and the directory is fsynced, so a crash leaves
//! either the old or the new file, never a torn one. The in-process copy
//! changes only after the file did.
//!
//! A state file that cannot be read or parsed fails [`open`](FileConfigurationRepository::open)
//! and is left as it is: the service refuses to start rather than
//! overwrite configurations it could not read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strata_domain::{
    CacheConfiguration, CacheName, ConfigurationRepository, ExpectedVersion, Provenance,
    RepositoryError, SaveError, StoredConfiguration, check_expected,
};
use tokio::sync::Mutex;

use super::record::{FORMAT, Record};

/// Name of the state file under `data_dir`.
pub(crate) const STATE_FILE_NAME: &str = "caches.json";

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    caches: Vec<Record>,
}

/// Why the state file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("configuration state file {}: {reason}", path.display())]
struct StateFileError {
    path: PathBuf,
    reason: String,
}

/// Cache configurations in `<data_dir>/caches.json`, rewritten atomically
/// on every change. One process owns the file: two instances must not
/// share a `data_dir` (use `[cluster] config_backend` to share).
pub struct FileConfigurationRepository {
    path: PathBuf,
    configs: Mutex<BTreeMap<CacheName, StoredConfiguration>>,
}

impl std::fmt::Debug for FileConfigurationRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfigurationRepository")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileConfigurationRepository {
    /// Opens the state file under `data_dir` (creating the directory if
    /// needed); a missing file is an empty repository.
    ///
    /// # Errors
    /// [`RepositoryError`] naming the file when the directory cannot be
    /// created or the file cannot be read, is not a state file of format
    /// 1, or holds an invalid configuration. The file is not touched.
    pub fn open(data_dir: &Path) -> Result<Self, RepositoryError> {
        let path = data_dir.join(STATE_FILE_NAME);
        let fail = |reason: String| {
            RepositoryError(Box::new(StateFileError {
                path: path.clone(),
                reason,
            }))
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| fail(format!("cannot create the directory: {e}")))?;
        let mut configs = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let state: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                    fail(format!(
                        "corrupt or not a state file ({e}); fix or remove it, it is left unchanged"
                    ))
                })?;
                if state.format != FORMAT {
                    return Err(fail(format!(
                        "format {} is not the supported {FORMAT}; it is left unchanged",
                        state.format
                    )));
                }
                for record in state.caches {
                    let stored = record
                        .into_domain()
                        .map_err(|e| fail(format!("invalid record ({e}); it is left unchanged")))?;
                    configs.insert(stored.config.name().clone(), stored);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        }
        Ok(Self {
            path,
            configs: Mutex::new(configs),
        })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `configs` to the state file atomically.
    async fn persist(
        &self,
        configs: &BTreeMap<CacheName, StoredConfiguration>,
    ) -> Result<(), RepositoryError> {
        let state = StateFile {
            format: FORMAT,
            caches: configs.values().map(Record::from).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| RepositoryError(Box::new(e)))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| RepositoryError(Box::new(e)))?
            .map_err(|e| {
                RepositoryError(Box::new(StateFileError {
                    path: self.path.clone(),
                    reason: format!("cannot write it: {e}"),
                }))
            })
    }
}

/// Temporary file in the same directory, fsync, rename, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl ConfigurationRepository for FileConfigurationRepository {
    async fn get(&self, name: &CacheName) -> Result<Option<StoredConfiguration>, RepositoryError> {
        Ok(self.configs.lock().await.get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<StoredConfiguration>, RepositoryError> {
        Ok(self.configs.lock().await.values().cloned().collect())
    }

    async fn save(
        &self,
        config: CacheConfiguration,
        provenance: Provenance,
        expected: ExpectedVersion,
    ) -> Result<StoredConfiguration, SaveError> {
        let mut configs = self.configs.lock().await;
        let version = check_expected(expected, configs.get(config.name()).map(|s| s.version))?;
        let stored = StoredConfiguration {
            config,
            version,
            provenance,
        };
        let mut next = configs.clone();
        next.insert(stored.config.name().clone(), stored.clone());
        self.persist(&next).await?;
        *configs = next;
        Ok(stored)
    }

    async fn delete(
        &self,
        name: &CacheName,
        expected: ExpectedVersion,
    ) -> Result<Option<StoredConfiguration>, SaveError> {
        let mut configs = self.configs.lock().await;
        check_expected(expected, configs.get(name).map(|s| s.version))?;
        if !configs.contains_key(name) {
            return Ok(None);
        }
        let mut next = configs.clone();
        let removed = next.remove(name);
        self.persist(&next).await?;
        *configs = next;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::ConfigOrigin;

    fn config(name: &str, max_entries: u64) -> CacheConfiguration {
        CacheConfiguration::builder(CacheName::parse(name).unwrap())
            .max_entries(Some(max_entries))
            .build()
            .unwrap()
    }

    fn runtime() -> Provenance {
        Provenance::new(ConfigOrigin::Runtime, ["max_entries".to_owned()])
    }

    #[tokio::test]
    async fn saves_survive_a_reopen_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let repo = FileConfigurationRepository::open(dir.path()).unwrap();
        let first = repo
            .save(config("a", 10), runtime(), ExpectedVersion::Absent)
            .await
            .unwrap();
        assert_eq!(first.version, 1);
        repo.save(config("b", 5), runtime(), ExpectedVersion::Any)
            .await
            .unwrap();
        let second = repo
            .save(config("a", 20), runtime(), ExpectedVersion::Exactly(1))
            .await
            .unwrap();
        assert_eq!(second.version, 2);
        repo.delete(&CacheName::parse("b").unwrap(), ExpectedVersion::Any)
            .await
            .unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![STATE_FILE_NAME.to_owned()]);
        let reopened = FileConfigurationRepository::open(dir.path()).unwrap();
        assert_eq!(reopened.list().await.unwrap(), vec![second]);
    }

    #[tokio::test]
    async fn a_stale_version_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let repo = FileConfigurationRepository::open(dir.path()).unwrap();
        repo.save(config("a", 10), runtime(), ExpectedVersion::Absent)
            .await
            .unwrap();
        repo.save(config("a", 11), runtime(), ExpectedVersion::Exactly(1))
            .await
            .unwrap();
        let before = std::fs::read(repo.path()).unwrap();
        let err = repo
            .save(config("a", 12), runtime(), ExpectedVersion::Exactly(1))
            .await
            .unwrap_err();
        assert!(matches!(err, SaveError::Conflict { current: Some(2) }));
        let err = repo
            .save(config("a", 12), runtime(), ExpectedVersion::Absent)
            .await
            .unwrap_err();
        assert!(matches!(err, SaveError::Conflict { current: Some(2) }));
        let err = repo
            .delete(&CacheName::parse("a").unwrap(), ExpectedVersion::Exactly(5))
            .await
            .unwrap_err();
        assert!(matches!(err, SaveError::Conflict { current: Some(2) }));
        assert_eq!(std::fs::read(repo.path()).unwrap(), before);
        let stored = repo.get(&CacheName::parse("a").unwrap()).await.unwrap();
        assert_eq!(stored.unwrap().config.max_entries(), Some(11));
    }

    #[test]
    fn a_corrupt_file_is_refused_naming_it_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE_NAME);
        for bytes in [
            &b"{\"format\":1,\"caches\":[{\"trunc"[..],
            &b"{\"format\":9,\"caches\":[]}"[..],
        ] {
            std::fs::write(&path, bytes).unwrap();
            let err = FileConfigurationRepository::open(dir.path()).unwrap_err();
            let message = format!("{}", err.0);
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }
}
