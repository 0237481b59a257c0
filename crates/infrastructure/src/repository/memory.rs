//! [`InMemoryConfigurationRepository`]: configurations held in process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use strata_domain::{
    CacheConfiguration, CacheName, ConfigurationRepository, ExpectedVersion, Provenance,
    RepositoryError, SaveError, StoredConfiguration, check_expected,
};

/// Cache configurations in a process-local map. Run-time changes are lost
/// on restart (used when neither `[server] data_dir` nor
/// `[cluster] config_backend` is set).
#[derive(Default)]
pub struct InMemoryConfigurationRepository {
    configs: Mutex<BTreeMap<CacheName, StoredConfiguration>>,
}

impl InMemoryConfigurationRepository {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<CacheName, StoredConfiguration>> {
        // No code panics while holding the lock; a poisoned map is still whole.
        self.configs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ConfigurationRepository for InMemoryConfigurationRepository {
    async fn get(&self, name: &CacheName) -> Result<Option<StoredConfiguration>, RepositoryError> {
        Ok(self.lock().get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<StoredConfiguration>, RepositoryError> {
        Ok(self.lock().values().cloned().collect())
    }

    async fn save(
        &self,
        config: CacheConfiguration,
        provenance: Provenance,
        expected: ExpectedVersion,
    ) -> Result<StoredConfiguration, SaveError> {
        let mut map = self.lock();
        let version = check_expected(expected, map.get(config.name()).map(|s| s.version))?;
        let stored = StoredConfiguration {
            config,
            version,
            provenance,
        };
        map.insert(stored.config.name().clone(), stored.clone());
        Ok(stored)
    }

    async fn delete(
        &self,
        name: &CacheName,
        expected: ExpectedVersion,
    ) -> Result<Option<StoredConfiguration>, SaveError> {
        let mut map = self.lock();
        check_expected(expected, map.get(name).map(|s| s.version))?;
        Ok(map.remove(name))
    }
}
