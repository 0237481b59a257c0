//! The backend registry: which `[backends.<name>] kind`s this server can
//! open. The stock kinds (`redis`, `redis-cluster`, `memcached`) are
//! registered by [`BackendRegistry::stock`]; a plugin adds its own with
//! [`ApplicationBuilder::backend`](crate::ApplicationBuilder::backend) or
//! [`BackendRegistry::backend`] (for `strata::cli::main_with`).
//!
//! A plugin kind's factory gets a [`BackendArgs`]: the backend's name,
//! its settings table and the [`Clock`], and returns the
//! [`StoreProvider`] that opens the stores of the caches naming the
//! backend in `tiers`, or a [`BackendError`] that names the file and key.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use strata_domain::{Clock, StoreProvider};

use crate::config::STOCK_KINDS;

/// What a backend factory returns.
pub type BackendFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn StoreProvider>, BackendError>> + Send>>;

/// Opens a plugin backend kind: `open` gets the backend's name, settings
/// and clock and returns its [`StoreProvider`]. Implemented by every
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

/// Why a plugin backend could not be opened; its message is shown to the
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

/// A registered kind.
#[derive(Clone)]
enum Kind {
    /// Built in: the infrastructure's `StrataStoreProvider` connects it.
    Stock,
    /// A plugin's.
    Plugin(Arc<dyn BackendFactory>),
}

/// The backend kinds a server knows. [`stock`](Self::stock) has Redis,
/// Redis Cluster and Memcached; [`backend`](Self::backend) adds more.
#[derive(Clone)]
pub struct BackendRegistry {
    kinds: BTreeMap<String, Kind>,
}

impl Default for BackendRegistry {
    /// The stock kinds.
    fn default() -> Self {
        Self::stock()
    }
}

impl BackendRegistry {
    /// The kinds the stock `strata` binary serves: `redis`,
    /// `redis-cluster`, `memcached`.
    pub fn stock() -> Self {
        Self {
            kinds: STOCK_KINDS
                .iter()
                .map(|k| ((*k).to_owned(), Kind::Stock))
                .collect(),
        }
    }

    /// Registers `kind`, opened by `factory`, for `[backends.<name>] kind
    /// = "<kind>"`. Registering a kind again replaces its factory; a stock
    /// kind cannot be replaced (the server refuses to start).
    pub fn backend(mut self, kind: impl Into<String>, factory: impl BackendFactory) -> Self {
        let kind = kind.into();
        if STOCK_KINDS.contains(&kind.as_str()) {
            // Kept as a marker the build refuses with a clear message.
            self.kinds.insert(format!("!{kind}"), Kind::Stock);
            return self;
        }
        self.kinds.insert(kind, Kind::Plugin(Arc::new(factory)));
        self
    }

    /// Every registered kind, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.kinds
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('!'))
            .collect()
    }

    /// Checks the registrations: a plugin may not take a stock kind.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if let Some(taken) = self.kinds.keys().find(|k| k.starts_with('!')) {
            anyhow::bail!(
                "backend kind {:?} is built in; register the plugin under another kind",
                &taken[1..]
            );
        }
        Ok(())
    }

    /// The plugin factory of `kind`; `Ok(None)` for a stock kind.
    ///
    /// # Errors
    /// `kind` is not registered: the message lists the kinds that are.
    pub(crate) fn factory(
        &self,
        name: &str,
        kind: &str,
        source: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<Arc<dyn BackendFactory>>> {
        match self.kinds.get(kind) {
            Some(Kind::Stock) => Ok(None),
            Some(Kind::Plugin(factory)) => Ok(Some(factory.clone())),
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
