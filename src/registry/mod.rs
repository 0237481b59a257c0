//! The backend registry: which `[backends.<name>] kind`s this server can
//! open, each with its [`BackendFactory`]. The stock kinds (`redis`,
//! `redis-cluster`, `memcached`) are registered by
//! [`BackendRegistry::stock`] with factories of their own (`stock.rs`); a
//! plugin adds its kinds with
//! [`ApplicationBuilder::backend`](crate::ApplicationBuilder::backend) or
//! [`BackendRegistry::backend`] (for `strata::cli::main_with`). The server
//! opens every backend, stock or plugin, through its kind's factory.
//!
//! A factory gets a [`BackendArgs`]: the backend's name, its settings
//! table, its per-call timeout and the [`Clock`], and returns the
//! [`StoreProvider`] that opens the stores of the caches naming the
//! backend in `tiers`, or a [`BackendError`] that names the file and key.

mod stock;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use strata_domain::{Clock, StoreProvider};

use crate::config::STOCK_KINDS;

/// What a backend factory returns.
pub type BackendFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn StoreProvider>, BackendError>> + Send>>;

/// Opens a backend kind: `open` gets the backend's name, settings,
/// timeout and clock and returns its [`StoreProvider`]. Implemented by every
/// `Fn(BackendArgs) -> impl Future<Output = Result<Arc<dyn StoreProvider>,
/// BackendError>>`.
pub trait BackendFactory: Send + Sync + 'static {
    /// Opens the backend `args.name`.
    fn open(&self, args: BackendArgs) -> BackendFuture;
}

impl<F, Fut> BackendFactory for F
where
    F: Fn(BackendArgs) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<dyn StoreProvider>, BackendError>> + Send + 'static,
{
    fn open(&self, args: BackendArgs) -> BackendFuture {
        Box::pin(self(args))
    }
}

/// Why a backend could not be opened; its message is shown to the
/// operator as is, and names the file and key when made by
/// [`BackendArgs::invalid`] or [`BackendArgs::settings`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(String);

impl BackendError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What a factory gets for one `[backends.<name>]`.
#[derive(Clone)]
pub struct BackendArgs {
    /// The backend's name (`x` in `[backends.x]`), which caches list in
    /// `tiers`.
    pub name: String,
    /// Its table as written, without `kind` and `timeout_ms` (which
    /// Strata reads: the kind picks the factory, the timeout bounds
    /// every call).
    pub table: toml::Table,
    /// The deadline Strata puts on every call of this backend's stores
    /// (`timeout_ms`, default [`DEFAULT_BACKEND_TIMEOUT_MS`](crate::DEFAULT_BACKEND_TIMEOUT_MS)
    /// ms). A client with a timeout of its own can use it too, as the
    /// stock kinds do for their drivers' response timeout.
    pub timeout: Duration,
    /// The clock stores must measure expiry against (tests inject a
    /// manual one).
    pub clock: Arc<dyn Clock>,
    /// The settings file, for messages.
    pub source: Option<PathBuf>,
}

impl BackendArgs {
    /// Where the table was read: `[backends.x]` and the file.
    pub fn place(&self) -> String {
        match &self.source {
            Some(file) => format!("[backends.{}] in {}", self.name, file.display()),
            None => format!("[backends.{}]", self.name),
        }
    }

    /// An error about `key` of this table: `[backends.x] key in FILE:
    /// message`.
    pub fn invalid(&self, key: &str, message: impl std::fmt::Display) -> BackendError {
        let place = match &self.source {
            Some(file) => format!("[backends.{}] {key} in {}", self.name, file.display()),
            None => format!("[backends.{}] {key}", self.name),
        };
        BackendError(format!("{place}: {message}"))
    }

    /// The table read as `T` (a plugin's settings struct, best with
    /// `#[serde(deny_unknown_fields)]`).
    ///
    /// # Errors
    /// A [`BackendError`] naming the table, the file and the key serde
    /// complains about (a missing, unknown or mistyped one).
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        toml::Value::Table(self.table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                BackendError(format!("{}: {}", self.place(), e.message()))
            })
    }
}

/// The backend kinds a server knows, each with its factory.
/// [`stock`](Self::stock) has Redis, Redis Cluster and Memcached;
/// [`backend`](Self::backend) adds more.
#[derive(Clone)]
pub struct BackendRegistry {
    kinds: BTreeMap<String, Arc<dyn BackendFactory>>,
    /// Stock kinds a plugin tried to register (the build refuses them).
    taken: Vec<String>,
}

impl Default for BackendRegistry {
    /// The stock kinds.
    fn default() -> Self {
        Self::stock()
    }
}

impl BackendRegistry {
    /// The kinds the stock `strata` binary serves: `redis`,
    /// `redis-cluster`, `memcached`, each opened by a factory that reads
    /// its table (`url`, `urls`, `servers`) and connects the driver.
    pub fn stock() -> Self {
        Self {
            kinds: stock::factories()
                .into_iter()
                .map(|(kind, factory)| (kind.to_owned(), factory))
                .collect(),
            taken: Vec::new(),
        }
    }

    /// Registers `kind`, opened by `factory`, for `[backends.<name>] kind
    /// = "<kind>"`. Registering a kind again replaces its factory; a stock
    /// kind cannot be replaced (the server refuses to start).
    pub fn backend(mut self, kind: impl Into<String>, factory: impl BackendFactory) -> Self {
        let kind = kind.into();
        if STOCK_KINDS.contains(&kind.as_str()) {
            // Kept for the build to refuse with a clear message.
            self.taken.push(kind);
            return self;
        }
        self.kinds.insert(kind, Arc::new(factory));
        self
    }

    /// The factory registered for `kind`, stock or plugin; `None` when
    /// there is none. A plugin can build on a stock kind with it, e.g.
    /// register `"vault-redis"` whose factory fills in the table's `url`
    /// from a secret store and then calls the stock `redis` factory: what
    /// that returns is served as the stock kind's (sessions, configuration
    /// sync, coherence and leases included).
    pub fn get(&self, kind: &str) -> Option<Arc<dyn BackendFactory>> {
        self.kinds.get(kind).cloned()
    }

    /// Every registered kind, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.kinds.keys().map(String::as_str).collect()
    }

    /// Checks the registrations: a plugin may not take a stock kind.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if let Some(taken) = self.taken.first() {
            anyhow::bail!(
                "backend kind {taken:?} is built in; register the plugin under another kind"
            );
        }
        Ok(())
    }

    /// The factory of `kind`, for the backend `name` of the settings file
    /// `source`.
    ///
    /// # Errors
    /// `kind` is not registered: the message names the table, the file
    /// and the kinds that are.
    pub(crate) fn factory(
        &self,
        name: &str,
        kind: &str,
        source: Option<&std::path::Path>,
    ) -> anyhow::Result<Arc<dyn BackendFactory>> {
        match self.kinds.get(kind) {
            Some(factory) => Ok(factory.clone()),
            None => {
                let file = source.map_or(String::new(), |f| format!(" in {}", f.display()));
                anyhow::bail!(
                    "[backends.{name}] kind{file}: unknown backend kind {kind:?}; this server \
                     knows {}",
                    self.kinds().join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use strata_infrastructure::{ConnectedBackend, SystemClock};
    use strata_testkit::{RedisServer, require};

    use super::{BackendArgs, BackendRegistry};
    use crate::config::STOCK_KINDS;

    fn args(name: &str, table: &str) -> BackendArgs {
        BackendArgs {
            name: name.to_owned(),
            table: table.parse().expect("a TOML table"),
            timeout: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            source: Some("strata.toml".into()),
        }
    }

    #[test]
    fn stock_registers_a_factory_for_every_kind_the_settings_file_reads() {
        let registry = BackendRegistry::stock();
        assert_eq!(registry.kinds(), STOCK_KINDS);
        for kind in STOCK_KINDS {
            assert!(registry.get(kind).is_some(), "{kind}");
        }
        assert!(registry.get("files").is_none());
    }

    #[test]
    fn a_plugin_cannot_take_a_stock_kind() {
        let plugin = |_: BackendArgs| async { Err(super::BackendError::new("never opened")) };
        let registry = BackendRegistry::stock().backend("redis", plugin);
        let e = registry.check().expect_err("refused");
        assert!(e.to_string().contains("\"redis\" is built in"), "{e}");
        let registry = BackendRegistry::stock().backend("files", plugin);
        assert!(registry.check().is_ok());
        assert_eq!(
            registry.kinds(),
            ["files", "memcached", "redis", "redis-cluster"]
        );
    }

    #[tokio::test]
    async fn a_stock_factory_names_the_table_file_and_key_it_refuses() {
        let registry = BackendRegistry::stock();
        let factory = registry.get("redis").expect("stock redis");
        let e = match factory.open(args("main", "urls = []")).await {
            Ok(_) => panic!("a redis table without url must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.starts_with("[backends.main] in strata.toml: ") && e.contains("urls"),
            "{e}"
        );
        let factory = registry.get("memcached").expect("stock memcached");
        let e = match factory.open(args("mc", "url = \"x\"")).await {
            Ok(_) => panic!("a memcached table without servers must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("[backends.mc]") && e.contains("url"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stock_redis_factory_connects_a_backend_the_provider_recognises() {
        let Some(server) = require(RedisServer::spawn()) else {
            return;
        };
        let factory = BackendRegistry::stock().get("redis").expect("stock redis");
        let table = format!("url = {:?}", server.url());
        let provider = match factory.open(args("main", &table)).await {
            Ok(provider) => provider,
            Err(e) => panic!("connects: {e}"),
        };
        let any: Arc<dyn std::any::Any + Send + Sync> = provider;
        let connected = any
            .downcast::<ConnectedBackend>()
            .unwrap_or_else(|_| panic!("the stock factory returns a ConnectedBackend"));
        assert_eq!((connected.name(), connected.kind()), ("main", "redis"));
    }
}
