//! [`InMemoryConfigurationRepository`]: configurations held in process.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;
use strata_domain::{CacheConfiguration, CacheName, ConfigurationRepository, RepositoryError};

/// Cache configurations in a process-local map. Run-time changes are lost
/// on restart: the TOML file is the durable source of configuration.
#[derive(Default)]
pub struct InMemoryConfigurationRepository {
    configs: RwLock<BTreeMap<CacheName, CacheConfiguration>>,
}

impl InMemoryConfigurationRepository {
    /// A repository holding `configs`.
    pub fn with(configs: impl IntoIterator<Item = CacheConfiguration>) -> Self {
        Self {
            configs: RwLock::new(configs.into_iter().map(|c| (c.name().clone(), c)).collect()),
        }
    }
}

#[async_trait]
impl ConfigurationRepository for InMemoryConfigurationRepository {
    async fn get(&self, name: &CacheName) -> Result<Option<CacheConfiguration>, RepositoryError> {
        Ok(self
            .configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned())
    }

    async fn list(&self) -> Result<Vec<CacheConfiguration>, RepositoryError> {
        Ok(self
            .configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect())
    }

    async fn save(
        &self,
        config: CacheConfiguration,
    ) -> Result<Option<CacheConfiguration>, RepositoryError> {
        Ok(self
            .configs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(config.name().clone(), config))
    }

    async fn delete(
        &self,
        name: &CacheName,
    ) -> Result<Option<CacheConfiguration>, RepositoryError> {
        Ok(self
            .configs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name))
    }
}
