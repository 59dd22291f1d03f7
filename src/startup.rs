//! `Application::build(settings)` assembles braid from its settings (stores, keys, clients,
//! providers) and binds its listener; `run_until_stopped()` serves until SIGTERM or Ctrl-C and
//! drains in-flight requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::accounts::SqlAccountStore;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::db::Db;
use crate::issuer::clients::{Clients, LiveClients};
use crate::issuer::grants::SqlGrantStore;
use crate::issuer::keyring::KeyRing;
use crate::records::Records;
use crate::sessions::{MemorySessionStore, RedisSessionStore, SessionStore};
use crate::state::AppState;
use crate::upstream::{Protocol, ProviderRegistry, RegistryPolicy};

/// A built braid, listening but not yet serving.
pub struct Application {
    listener: tokio::net::TcpListener,
    /// `[metrics] listen`: `/metrics` alone, on its own address.
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
    workers: Workers,
}

/// Background tasks that live as long as the application: aborted when it is dropped or stops
/// serving, so a stopped braid sends nothing more.
struct Workers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &self.0 {
            w.abort();
        }
    }
}

impl Application {
    /// Build with the wall clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Build with a given clock (tests pin and advance it).
    pub async fn build_with_clock(mut settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(&settings.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        let addr = listener.local_addr()?;
        // Port 0 (tests): the real port becomes part of the default public URL.
        if settings.server.public_url.is_none() {
            settings.server.public_url = Some(format!("http://{addr}"));
        }
        // Settings built in code (tests, embedding) skip `Settings::load`'s checks: the ones
        // that keep braid from failing open are repeated here.
        if settings.demo.enabled && !settings.dev_allowed() {
            anyhow::bail!(
                "braid.toml: key `demo.enabled`: the demo application is refused on `{}` (not an http loopback \
                 address); set `[demo] enabled = false`",
                settings.public_url()
            );
        }
        // The recorder goes in first, so that everything built below records into it.
        let metrics = if settings.metrics.enabled {
            Some(crate::metrics::Endpoint::new(&settings.metrics).map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?)
        } else {
            None
        };
        let metrics_listener = match (&metrics, &settings.metrics.listen) {
            (Some(_), Some(at)) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {at} (metrics.listen): {e}"))?,
            ),
            _ => None,
        };
        if metrics.is_some()
            && metrics_listener.is_none()
            && settings.metrics.token_sha256.is_none()
            && !addr.ip().is_loopback()
        {
            tracing::warn!(listen = %addr, "/metrics is served on the main listener without a token; set `[metrics] listen` or `token_sha256`");
        }
        let db = Db::connect_with(&settings.store.accounts, settings.store.sqlite_synchronous)
            .await
            .map_err(|e| anyhow::anyhow!("account store {}: {e}", redact(&settings.store.accounts)))?;
        // Webhooks and emails leave from the durable outboxes, never from a person's request.
        let webhooks = crate::notify::Notifier::from_settings(db.clone(), &settings, clock.clone())
            .map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?;
        let emails = crate::notify::email_outbox::EmailNotifier::from_settings(db.clone(), &settings, clock.clone())
            .map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?;
        let workers = Workers(vec![webhooks.spawn(), emails.spawn()]);
        let sessions: Arc<dyn SessionStore> = if settings.store.sessions == "memory" {
            let cap = usize::try_from(settings.store.memory_max_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
            Arc::new(MemorySessionStore::with_cap(clock.clone(), cap))
        } else {
            let store = RedisSessionStore::connect(
                &settings.store.sessions,
                &settings.store.redis_key_prefix,
                Duration::from_millis(settings.store.redis_timeout_ms),
            )
            .await
            .map_err(|e| anyhow::anyhow!("session store {}: {e}", redact(&settings.store.sessions)))?;
            Arc::new(store)
        };
        let keys = Arc::new(KeyRing::load(
            settings.keys.dir.clone(),
            settings.keys.algorithm,
            Duration::from_secs(settings.keys.activation_delay_secs),
            clock.clone(),
        )?);
        keys.watch(Duration::from_secs(settings.keys.reload_interval_secs));
        let clients = Clients::from_settings(&settings).map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?;
        let (registry, problems) =
            ProviderRegistry::load(&settings.providers.dir, RegistryPolicy::from_settings(&settings));
        let providers = registry.snapshot();
        // An enabled dev provider where it is not allowed stops braid (a file added later is
        // refused by the reload, which cannot stop a running braid).
        if let Some(p) = problems.iter().find(|p| p.reason == crate::upstream::DEV_REFUSED) {
            anyhow::bail!("{p}");
        }
        // Loopback only if braid both listens on and is known by a loopback address (a loopback
        // listener behind a public proxy is public).
        let loopback = addr.ip().is_loopback()
            && crate::config::check_redirect_uri(&settings.public_url()).is_ok()
            && settings.public_url().starts_with("http://");
        for p in providers.all().filter(|p| matches!(p.protocol, Protocol::Dev) && p.enabled) {
            if loopback {
                tracing::warn!(provider = %p.id, "the dev provider is enabled: anyone can sign in as anyone");
            } else {
                for _ in 0..3 {
                    tracing::warn!(provider = %p.id, listen = %addr, "DANGER: the dev provider is enabled on a non-loopback address; anyone who can reach braid can sign in as anyone. Disable providers/{}.toml.", p.id);
                }
            }
        }
        // Providers and clients of the admin catalog join those of the files; an id defined in
        // both is a startup error.
        let registry = Arc::new(registry);
        let clients = Arc::new(LiveClients::new(clients));
        let http = crate::upstream::http::client(std::time::Duration::from_secs(
            settings.providers.upstream_timeout_secs.max(1),
        ));
        let catalog = Arc::new(crate::admin::catalog::Catalog::new(
            db.clone(),
            registry.clone(),
            clients.clone(),
            http.clone(),
            clock.clone(),
        ));
        let report = catalog.load().await.map_err(|e| anyhow::anyhow!("admin catalog: {e}"))?;
        if let Some(clash) = report.clash_message() {
            anyhow::bail!("{clash}");
        }
        registry.watch(Duration::from_millis(settings.providers.reload_interval_ms));
        catalog.watch(Duration::from_millis(settings.providers.reload_interval_ms));
        let issuer: Arc<str> = Arc::from(settings.public_url());
        let proxy = crate::proxy::RouteTable::build(&settings.routes, &settings.proxy, &settings.public_url())
            .map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?;
        let clock_for_sp = clock.clone();
        // Logout tokens to applications leave from their durable outbox too.
        let logouts = crate::notify::logout_outbox::LogoutNotifier::new(
            db.clone(),
            clients.clone(),
            keys.clone(),
            issuer.clone(),
            clock.clone(),
            &settings.notify,
        )
        .map_err(|e| anyhow::anyhow!("braid.toml: {e}"))?;
        let mut workers = workers;
        workers.0.push(logouts.spawn());
        let state = AppState::new(crate::state::Shared {
            keys,
            issuer,
            clock,
            records: Records::new(sessions),
            accounts: Arc::new(SqlAccountStore::new(db.clone())),
            grants: Arc::new(SqlGrantStore::new(db)),
            clients,
            providers: registry,
            catalog,
            http,
            saml_sp: {
                let clock = clock_for_sp;
                let cn = url::Url::parse(&settings.public_url())
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "braid".into());
                Arc::new(crate::upstream::saml::sp::SpKeys::new(
                    settings.keys.dir.clone(),
                    cn,
                    Box::new(move || clock.now_secs()),
                ))
            },
            proxy: Arc::new(proxy),
            draining: Arc::new(AtomicBool::new(false)),
            metrics,
            assertions: Arc::default(),
            proxy_sessions: Arc::default(),
            standing: Arc::default(),
            settings: Arc::new(settings),
        });
        Ok(Self { listener, metrics_listener, state, workers })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address of the separate metrics listener, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests inspect the stores through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `stop` completes; then readiness turns false, accepting stops, and in-flight
    /// requests get `server.shutdown_timeout_secs` to finish.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let _workers = self.workers;
        let draining = self.state.draining.clone();
        let grace = Duration::from_secs(self.state.settings.server.shutdown_timeout_secs);
        // The separate metrics listener serves until the process ends; it holds no request state
        // worth draining.
        if let (Some(listener), Some(endpoint)) = (self.metrics_listener, self.state.metrics.clone()) {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, endpoint.router()).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let app = crate::routes::router(self.state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            stop.await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!("shutting down: draining in-flight requests");
            let _ = tx.send(());
        };
        let listener = self.listener;
        let mut serve = tokio::spawn(crate::serve::serve(listener, app, signal));
        tokio::select! {
            res = &mut serve => return res.map_err(Into::into),
            _ = rx => {}
        }
        match tokio::time::timeout(grace, serve).await {
            Ok(res) => res.map_err(Into::into),
            Err(_) => {
                tracing::warn!("shutdown timeout reached; closing remaining connections");
                Ok(())
            }
        }
    }
}

/// Hide the password of a URL for logs and messages.
pub fn redact(url: &str) -> String {
    crate::sessions::redact(url)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
