//! `AppState`: what every handler shares (settings, clock, stores, keys, clients, providers),
//! as `Arc`s of traits so tests and replicas plug in their own parts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;

use crate::accounts::AccountStore;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::AppError;
use crate::issuer::clients::LiveClients;
use crate::issuer::grants::GrantStore;
use crate::issuer::keyring::KeyRing;
use crate::records::{BrowserSession, Records, key};
use crate::upstream::ProviderRegistry;
use crate::web::cookies;

/// Verification keys of braid's own tokens by `kid`, each pinned to its algorithm.
pub type DecodingKeys = HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)>;

/// Shared state of one braid process: one allocation, so a handler's copy costs one reference
/// count, whatever the state holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// Settings as loaded.
    pub settings: Arc<Settings>,
    /// The issuer URL (no trailing slash).
    pub issuer: Arc<str>,
    /// Time.
    pub clock: SharedClock,
    /// Short-lived records over the session store.
    pub records: Records,
    /// Accounts and identities.
    pub accounts: Arc<dyn AccountStore>,
    /// Refresh-token families.
    pub grants: Arc<dyn GrantStore>,
    /// Signing keys, reloaded from their directory while braid runs.
    pub keys: Arc<KeyRing>,
    /// Registered clients (`braid.toml` and the admin catalog), swapped on every change.
    pub clients: Arc<LiveClients>,
    /// Upstream providers, reloaded from their files and the admin catalog while braid runs.
    pub providers: Arc<ProviderRegistry>,
    /// Providers and clients registered through the admin service.
    pub catalog: Arc<crate::admin::catalog::Catalog>,
    /// The client for upstream calls (no redirects, bounded).
    pub http: reqwest::Client,
    /// braid's SAML SP key pair (loaded or made on first use).
    pub saml_sp: Arc<crate::upstream::saml::sp::SpKeys>,
    /// Forward-auth routes and return addresses.
    pub proxy: Arc<crate::proxy::RouteTable>,
    /// Forward-auth assertions, reused while young.
    pub assertions: Arc<crate::proxy::assertions::AssertionCache>,
    /// Browser sessions decoded on the proxy paths, reused while their stored bytes are the same.
    pub proxy_sessions: Arc<crate::proxy::sessions::SessionMemo>,
    /// Passed trust checks, reused briefly on the proxy paths.
    pub standing: Arc<crate::trust::StandingCache>,
    /// `GET /metrics` when metrics are on (served on the main listener unless `[metrics] listen`).
    pub metrics: Option<crate::metrics::Endpoint>,
    /// Set once shutdown has begun: readiness turns false.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.settings.secure_cookies()
    }

    /// The session cookie: its name, and its `Domain` when `[session] cookie_domain` is set.
    pub fn session_cookie(&self) -> cookies::SessionCookie<'_> {
        self.settings.session_cookie()
    }

    /// The browser session named by the request's cookie, if it is still live.
    pub async fn current_session(&self, headers: &HeaderMap) -> Result<Option<(String, BrowserSession)>, AppError> {
        let Some(sid) = self.session_cookie().get(headers) else {
            return Ok(None);
        };
        Ok(self.session_by_id(&sid).await?.map(|s| (sid, s)))
    }

    /// The live browser session `sid`; a session whose provider was disabled or removed since is
    /// ended here.
    pub async fn session_by_id(&self, sid: &str) -> Result<Option<BrowserSession>, AppError> {
        let session: Option<BrowserSession> = self.records.get(&key::session(sid)).await?;
        let Some(session) = session else { return Ok(None) };
        Ok(self.session_usable(sid, &session).await?.then_some(session))
    }

    /// Whether live session `sid` may still be used: a provider disabled or removed since ends
    /// its sessions at their next request (ended here).
    pub async fn session_usable(&self, sid: &str, session: &BrowserSession) -> Result<bool, AppError> {
        if self.providers.snapshot().enabled(&session.provider_id).is_some_and(|p| p.usable()) {
            return Ok(true);
        }
        tracing::info!(account = %session.account_id, provider = %session.provider_id, "session ended: its provider is disabled or removed");
        self.end_session(sid, session).await?;
        Ok(false)
    }

    /// End one browser session (its record and its entry in the account's index).
    pub async fn end_session(&self, sid: &str, session: &BrowserSession) -> Result<(), AppError> {
        let store = self.records.store();
        store.delete(&key::session(sid)).await?;
        store.index_remove(session.account_id.as_str(), &key::session(sid)).await?;
        Ok(())
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
