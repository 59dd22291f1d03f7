//! SAML 2.0 service provider: provider settings, the IdP metadata cache and the bound on signed
//! AuthnRequests (`SamlClient`). The rest lives in submodules: reading the provider file's keys,
//! the gate every message passes first, IdP metadata parsing and its signature, braid's own SP
//! key and metadata, the AuthnRequest, response verification and checks, decryption, and the
//! HTTP handlers.

pub mod acs;
pub mod budget;
pub mod checks;
pub mod decrypt;
pub mod gate;
pub mod metadata;
pub mod metadata_signature;
pub mod request;
pub mod settings;
pub mod sp;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

pub use metadata::IdpMetadata;

use crate::clock::UnixMillis;

/// The transient NameID format: never an identity key.
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// Where the IdP metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    /// A local file (read again when it is due).
    File(PathBuf),
    /// An https URL (http only on loopback).
    Url(String),
}

/// Settings of a SAML provider.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    /// The IdP's entity ID (its identities' issuer).
    pub issuer: String,
    /// Its metadata.
    pub metadata: MetadataSource,
    /// The certificates (DER) that must sign the metadata (`metadata_signing_cert`), if any.
    pub metadata_signing_certs: Option<Vec<Vec<u8>>>,
    /// braid's SP entity ID at this IdP (default `{public_url}/saml/{provider}`).
    pub entity_id: Option<String>,
    /// The attribute holding the subject; without it, a persistent (non-transient) NameID.
    pub subject_attribute: Option<String>,
    /// The assertion itself must be signed (not only the response).
    pub want_assertions_signed: bool,
    /// Accept responses no request of braid's asked for.
    pub allow_idp_initiated: bool,
    /// Sign AuthnRequests (default: when the IdP metadata asks for it).
    pub sign_requests: Option<bool>,
    /// Signed AuthnRequests allowed per second, on average, for this provider (bucket refill).
    pub signed_requests_per_sec: u32,
    /// Signed AuthnRequests allowed at once for this provider (bucket size).
    pub signed_requests_burst: u32,
    /// Accept assertions and NameIDs encrypted with AES-CBC (unauthenticated; GCM otherwise).
    pub allow_cbc_encryption: bool,
    /// Re-read the metadata at least this often.
    pub metadata_refresh_secs: u64,
    /// Allowed clock difference, seconds.
    pub clock_skew_secs: i64,
    /// The attribute holding the email (default: the usual names, `mail` first).
    pub email_attribute: Option<String>,
    /// The attribute holding the display name (default: the usual names).
    pub name_attribute: Option<String>,
    /// Other attributes kept on the identity.
    pub keep: Vec<String>,
    /// Test-only: accept rsa-sha1 / sha1 (dated third-party fixtures). Never set from a file.
    #[doc(hidden)]
    pub legacy_sha1: bool,
}

/// Re-read or re-fetch no more often than this after a failure.
const RETRY_MS: i64 = 30_000;

#[derive(Default)]
struct Cache {
    current: Option<(Arc<IdpMetadata>, UnixMillis)>,
    last_try: UnixMillis,
}

/// One SAML provider: its settings, its metadata cache and its signing budget.
pub struct SamlClient {
    /// Settings from the provider file.
    pub settings: SamlSettings,
    /// Bounds the RSA signatures anyone can ask for by starting sign-ins.
    pub signing_budget: budget::TokenBucket,
    /// The provider's id (the label of its metadata fetch timings).
    provider: Arc<str>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for SamlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlClient").field("issuer", &self.settings.issuer).finish()
    }
}

impl SamlClient {
    /// A client of provider `provider` for `settings`, cache empty.
    pub fn new(provider: &str, settings: SamlSettings) -> Self {
        let signing_budget = budget::TokenBucket::new(settings.signed_requests_per_sec, settings.signed_requests_burst);
        Self { settings, signing_budget, provider: provider.into(), cache: Mutex::new(Cache::default()) }
    }

    /// The IdP metadata, read again when due: at the earliest of `metadata_refresh_secs`,
    /// `cacheDuration` and `validUntil`. While the source fails, the last good metadata serves
    /// until its own `validUntil`; after that braid fails closed.
    pub async fn metadata(&self, http: &reqwest::Client, now: UnixMillis) -> Result<Arc<IdpMetadata>, String> {
        let last_good = {
            let mut cache = self.cache.lock().await;
            match &cache.current {
                Some((m, due)) if now < *due => return Ok(m.clone()),
                Some((m, _)) if now - cache.last_try < RETRY_MS && still_valid(m, now) => return Ok(m.clone()),
                _ => {}
            }
            cache.last_try = now;
            cache.current.clone()
        };
        match self.load(http).await.and_then(|m| {
            if still_valid(&m, now) { Ok(m) } else { Err("the IdP metadata is past its validUntil".to_owned()) }
        }) {
            Ok(m) => {
                let mut due = now + i64::try_from(self.settings.metadata_refresh_secs).unwrap_or(i64::MAX / 4) * 1000;
                if let Some(c) = m.cache_duration {
                    due = due.min(now + c);
                }
                if let Some(v) = m.valid_until {
                    due = due.min(v);
                }
                let m = Arc::new(m);
                self.cache.lock().await.current = Some((m.clone(), due));
                Ok(m)
            }
            Err(e) => match last_good {
                Some((m, _)) if still_valid(&m, now) => {
                    tracing::warn!(issuer = %self.settings.issuer, error = %e, "IdP metadata refresh failed; keeping the last good metadata");
                    Ok(m)
                }
                _ => Err(e),
            },
        }
    }

    async fn load(&self, http: &reqwest::Client) -> Result<IdpMetadata, String> {
        let text = match &self.settings.metadata {
            MetadataSource::File(path) => {
                tokio::fs::read_to_string(path).await.map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            MetadataSource::Url(url) => {
                let fetch = super::http::text(http.get(url), metadata::MAX_METADATA);
                crate::metrics::upstream(&self.provider, "metadata", fetch)
                    .await
                    .map_err(|e| format!("fetching {url}: {e}"))?
            }
        };
        // Verifying a signed document is CPU work for xmlsec: off the async runtime.
        let (issuer, certs) = (self.settings.issuer.clone(), self.settings.metadata_signing_certs.clone());
        tokio::task::spawn_blocking(move || {
            metadata::parse(&text, &issuer, certs.as_deref()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("metadata task: {e}"))?
    }
}

fn still_valid(m: &IdpMetadata, now: UnixMillis) -> bool {
    m.valid_until.is_none_or(|v| now < v)
}
