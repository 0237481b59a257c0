//! The composition root: settings -> adapters -> services -> HTTP server.
//!
//! This is the only crate that sees every layer; it holds wiring only.

mod alerts;
pub mod cli;
pub mod config;
mod config_sync;
mod grpc;
mod inbound;
mod log_format;
pub mod registry;
mod shutdown;
mod snapshot_schedule;
pub mod telemetry;
mod tls;
mod trends;
pub mod wiring;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
use anyhow::Context;
use strata_application::{CacheService, Dependencies, FlushWatch};
use strata_domain::{AuditLog, Clock, TrendArchive};
use strata_infrastructure::{
    JsonLinesAuditLog, Keyring, RebuildHook, ShardsAnalyzerProvider, StrataStoreProvider,
    SystemClock, TracingEventPublisher, UnlinkHook,
};
use strata_presentation::{AppState, ServerInfo};

pub use config::DEFAULT_BACKEND_TIMEOUT_MS;
pub use config::Settings;
pub use registry::{BackendArgs, BackendError, BackendFactory, BackendRegistry};
pub use strata_presentation::Listener;
use wiring::auth::{check_public_listen, credentials_authenticator, protected_mode, rate_limits};

pub use telemetry::{Telemetry, init_tracing};

/// A built, not yet awaited, HTTP server and the port it bound.
pub struct Application {
    server: Server,
    port: u16,
    service: CacheService,
    /// The gRPC listener and the state it serves.
    grpc: Option<(grpc::GrpcServer, AppState)>,
    grpc_port: Option<u16>,
    listeners: Vec<Listener>,
    snapshots: Option<Arc<snapshot_schedule::Snapshots>>,
    /// The invalidation-event consumers, aborted when the server stops.
    consumers: Vec<tokio::task::JoinHandle<()>>,
    /// SIGTERM and Ctrl-C, registered at build time.
    signals: shutdown::ShutdownSignals,
    /// Where the trends are saved at shutdown (`[server] data_dir`).
    trend_archive: Option<Arc<dyn TrendArchive>>,
}

/// Builds an [`Application`]: [`Application::builder`], optional
/// overrides, then [`ApplicationBuilder::build`].
pub struct ApplicationBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
    disk_before_unlink: Option<UnlinkHook>,
    disk_rebuild_hook: Option<RebuildHook>,
    backends: BackendRegistry,
}

impl ApplicationBuilder {
    /// Registers the backend kind `kind`: each `[backends.<name>] kind =
    /// "<kind>"` is opened by `factory` (see [`BackendFactory`]), and
    /// caches list `<name>` in `tiers` alone or under the memory tier.
    pub fn backend(mut self, kind: impl Into<String>, factory: impl BackendFactory) -> Self {
        self.backends = self.backends.backend(kind, factory);
        self
    }

    /// Replaces the registry of backend kinds (default: the stock kinds),
    /// as `strata::cli::main_with` does.
    pub fn backends(mut self, registry: BackendRegistry) -> Self {
        self.backends = registry;
        self
    }

    /// Measure TTLs, `Age` and expiry against `clock` instead of the system
    /// clock (tests inject `strata_testkit::ManualClock` here).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `hook` with the path of each file the build cache's disk
    /// store evicts or flushes, just before it is unlinked (see
    /// `DiskBuildStoreBuilder::before_unlink`). For instrumentation and
    /// for tests that hold an eviction or flush mid-unlink.
    pub fn disk_before_unlink(mut self, hook: UnlinkHook) -> Self {
        self.disk_before_unlink = Some(hook);
        self
    }

    /// Calls `hook` on the build cache's disk index rebuild thread with
    /// the number of files found, after the start-up scan and before they
    /// join the index (see `DiskBuildStoreBuilder::rebuild_hook`). For
    /// tests that hold the rebuild at a barrier while the service serves.
    pub fn disk_rebuild_hook(mut self, hook: RebuildHook) -> Self {
        self.disk_rebuild_hook = Some(hook);
        self
    }

    /// Wires every layer from the settings and binds the listener.
    ///
    /// # Errors
    /// An invalid cache configuration (naming the cache and field), an
    /// unreadable `[server] data_dir` state file or `[cluster] config_backend`, an
    /// invalid `[auth]` section (naming the key id, or `[auth.rate_limits]`,
    /// and the field), protected mode refusing a non-loopback address
    /// without credentials (API keys or `[auth.jwt]`), an `[audit] path` that cannot be opened, a
    /// backend that cannot be opened, a `[server] tls_cert_file` or
    /// `tls_key_file` that is missing its pair, unreadable or not PEM, or an
    /// address that cannot be bound.
    pub async fn build(self) -> anyhow::Result<Application> {
        let Self {
            settings,
            clock,
            disk_before_unlink,
            disk_rebuild_hook,
            backends: registry,
        } = self;
        registry.check()?;
        // What `strata config check` checks, first, so both fail alike.
        wiring::check::settings(&settings)?;
        let events = Arc::new(TracingEventPublisher);
        let mut keyring = Keyring::default();
        for (id, key) in &settings.encryption.keys {
            keyring
                .insert_base64(id, key)
                .with_context(|| format!("[encryption.keys] {id}"))?;
        }
        let mut provider = StrataStoreProvider::new()
            .clock(clock.clone())
            .events(events.clone())
            .keyring(Arc::new(keyring));
        let instance_id = settings
            .coherence
            .instance_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if settings.coherence.enabled {
            provider = provider.coherence(
                instance_id.clone(),
                settings.coherence.channel.clone(),
                settings.coherence.backend.clone(),
            );
        }
        for (name, backend) in &settings.backends {
            let timeout =
                Duration::from_millis(backend.timeout_ms().unwrap_or(DEFAULT_BACKEND_TIMEOUT_MS));
            let source = settings.source.as_deref();
            // Stock kinds and plugins alike: the kind's factory opens it.
            let factory = registry.factory(name, backend.kind(), source)?;
            let args = BackendArgs {
                name: name.clone(),
                table: backend.table(),
                timeout,
                clock: clock.clone(),
                source: settings.source.clone(),
            };
            let opened = factory.open(args).await?;
            provider = provider
                .backend(name, backend.kind(), opened, timeout)
                .await
                .with_context(|| format!("[backends.{name}]"))?;
        }
        let buses = provider.coherence_buses();
        if buses > 0 {
            tracing::info!(%instance_id, channel = %settings.coherence.channel, buses, "coherence on");
        } else if settings.coherence.enabled {
            tracing::debug!("coherence enabled, but no Redis backend carries its channel: off");
        }
        let events = provider.coherence_events(events);
        let provider = Arc::new(provider);
        let (repository, notices) = config_sync::repository(&settings, &provider)?;
        let sessions = config_sync::sessions(&settings, &provider, clock.clone())?;
        let service = CacheService::new(Dependencies {
            repository,
            provider: Arc::new(snapshot_schedule::PersistCheck {
                inner: provider.clone(),
                has_data_dir: settings.server.data_dir.is_some(),
            }),
            events,
            clock: clock.clone(),
            scheduler: Arc::new(strata_infrastructure::TokioScheduler),
            analyzers: if settings.analysis.enabled {
                Some(Arc::new(ShardsAnalyzerProvider::new(
                    settings.analysis.analyzer()?,
                )))
            } else {
                None
            },
            compression_probe: Some(Arc::new(strata_infrastructure::ZstdProbe)),
        });
        let build_cache = wiring::build_cache::service(
            &settings,
            &provider,
            clock.clone(),
            disk_before_unlink,
            disk_rebuild_hook,
            FlushWatch {
                alerts: service.alerts().clone(),
                clock: clock.clone(),
            },
        )?;
        alerts::configure(&settings, &service)?;
        config_sync::load(&service, &settings).await?;
        if let Some(notices) = notices {
            config_sync::spawn_sync(service.clone(), notices);
        }
        // Warm restarts, before the listener exists (so before ready).
        let snapshots = settings
            .server
            .data_dir
            .as_deref()
            .map(|dir| Arc::new(snapshot_schedule::Snapshots::new(dir, clock.clone())));
        if let Some(snapshots) = &snapshots {
            snapshots.load_all(&service).await;
            snapshots.spawn_periodic(service.clone());
        }

        let consumers = inbound::invalidation_events::consumers(&settings)?;
        let tls = tls::server_config(&settings.server)?;
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let auth = settings.auth.clone().unwrap_or_default();
        let rate_limits = rate_limits(&auth)?;
        let authenticator = credentials_authenticator(&auth, clock.clone())?;
        let protected_mode = protected_mode(&auth)?;
        let trusted_proxies = wiring::auth::trusted_proxies(&settings.server)?;
        let metrics_role = auth.metrics_role()?;
        let audit = match &settings.audit {
            Some(audit) => {
                let log =
                    JsonLinesAuditLog::open(&audit.path, audit.max_bytes).with_context(|| {
                        format!("[audit] path {} cannot be opened", audit.path.display())
                    })?;
                tracing::info!(path = %audit.path.display(), "audit file on");
                Some(Arc::new(log) as Arc<dyn AuditLog>)
            }
            None => None,
        };
        check_public_listen(&auth, listener.local_addr()?)?;
        let trend_archive = trends::start(
            &settings,
            &service,
            build_cache.clone(),
            &clock,
            audit.clone(),
        )
        .await;
        if settings.analysis.enabled {
            spawn_auto_tune(
                service.clone(),
                settings.analysis.auto_tune()?,
                Duration::from_millis(settings.analysis.auto_interval_ms),
                audit.clone(),
            );
        }
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let grpc = if settings.server.grpc_listen.is_empty() {
            None
        } else {
            let tls_files = match (
                &settings.server.tls_cert_file,
                &settings.server.tls_key_file,
            ) {
                (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
                _ => None,
            };
            let grpc = grpc::GrpcServer::bind(
                &settings.server.grpc_listen,
                tls_files,
                workers,
                Duration::from_secs(settings.server.shutdown_timeout_secs),
            )?;
            check_public_listen(&auth, grpc.local_addr()?).context("[server] grpc_listen")?;
            Some(grpc)
        };
        let grpc_port = match &grpc {
            Some(g) => Some(g.local_addr()?.port()),
            None => None,
        };
        let mut listeners = vec![Listener {
            protocol: "http",
            url: format!(
                "{}://{}",
                if tls.is_some() { "https" } else { "http" },
                listener.local_addr()?
            ),
        }];
        if let Some(g) = &grpc {
            listeners.push(Listener {
                protocol: "grpc",
                url: format!(
                    "{}://{}",
                    if g.has_tls() { "grpcs" } else { "grpc" },
                    g.local_addr()?
                ),
            });
        }
        let state = AppState {
            service: service.clone(),
            clock,
            authenticator,
            protected_mode,
            trusted_proxies,
            rate_limits,
            audit,
            metrics_role,
            build_cache,
            body_read_timeout: Duration::from_secs(settings.server.body_read_timeout_secs),
            server: ServerInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                listeners: listeners.clone(),
            },
            sessions,
        };
        let grpc = grpc.map(|g| (g, state.clone()));
        let mut server = HttpServer::new(move || {
            // Runs on each worker thread: its Redis commands use a
            // connection of its own instead of crossing to the main thread.
            strata_infrastructure::pin_redis_connections_to_thread();
            strata_presentation::app(state.clone())
        })
        .tcp_nodelay(true)
        // `run` stops it on the signals registered below, at build time.
        .disable_signals()
        .max_connections(settings.server.max_connections)
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        let consumers = consumers
            .into_iter()
            .map(|c| c.spawn(service.clone()))
            .collect();
        Ok(Application {
            server,
            port,
            service,
            grpc,
            grpc_port,
            listeners,
            snapshots,
            consumers,
            signals: shutdown::ShutdownSignals::register(),
            trend_archive,
        })
    }
}

/// Evaluates the `eviction = "auto"` caches every `every` (the first
/// evaluation one interval after start), auditing switches in `audit`.
fn spawn_auto_tune(
    service: CacheService,
    settings: strata_domain::AutoTuneSettings,
    every: Duration,
    audit: Option<Arc<dyn AuditLog>>,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            service.auto_tune(settings, audit.as_deref()).await;
        }
    });
}

impl Application {
    /// A builder over `settings`, on the system clock.
    pub fn builder(settings: Settings) -> ApplicationBuilder {
        ApplicationBuilder {
            settings,
            clock: Arc::new(SystemClock),
            disk_before_unlink: None,
            disk_rebuild_hook: None,
            backends: BackendRegistry::stock(),
        }
    }

    /// Wires every layer from `settings` on the system clock and binds the
    /// listener: `Application::builder(settings).build()`.
    ///
    /// # Errors
    /// As [`ApplicationBuilder::build`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::builder(settings).build().await
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound gRPC port, `None` when `[server] grpc_listen` is empty.
    pub fn grpc_port(&self) -> Option<u16> {
        self.grpc_port
    }

    /// Every bound listener with its URL (HTTP first, then gRPC when
    /// `[server] grpc_listen` is set), a configured port 0 resolved.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// The application service (for tests and embedding).
    pub fn service(&self) -> &CacheService {
        &self.service
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves HTTP and gRPC until SIGTERM or Ctrl-C (or
    /// [`handle`](Self::handle)`.stop`), then drains in-flight requests
    /// of both, then writes the snapshots and warm keys (with
    /// `[server] data_dir`).
    ///
    /// # Errors
    /// An I/O error of the HTTP server, or the gRPC server cannot start.
    pub async fn run(self) -> std::io::Result<()> {
        let grpc = match self.grpc {
            Some((g, state)) => Some(g.start(state).map_err(std::io::Error::other)?),
            None => None,
        };
        let handle = self.server.handle();
        let signals = self.signals;
        let drain_grpc = grpc.as_ref().map(grpc::Running::drainer);
        let watcher = tokio::spawn(async move {
            signals.recv().await;
            tracing::info!("SIGTERM or Ctrl-C received: draining");
            // Both listeners drain at once.
            if let Some(drain) = drain_grpc {
                let _ = drain.send(true);
            }
            handle.stop(true).await;
        });
        let http = self.server.await;
        watcher.abort();
        if let Some(grpc) = grpc {
            grpc.stop().await;
        }
        for consumer in self.consumers {
            consumer.abort();
        }
        if let Some(snapshots) = &self.snapshots {
            snapshots.save_all(&self.service).await;
        }
        if let Some(archive) = &self.trend_archive {
            trends::save(archive.as_ref(), &self.service).await;
        }
        http
    }
}
