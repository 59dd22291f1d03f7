//! OpenID Connect upstreams: discovery (refused when the discovered issuer differs), the
//! authorization URL (S256 PKCE, state, nonce always), the code exchange, ID-token validation
//! with keys pinned per JWK (cached with a TTL, fetched again on an unknown `kid` at most every
//! 30 s, last good keys kept when the JWKS endpoint fails), and userinfo.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::http::{self, HttpError};
use super::jose::{JoseError, PinnedKeys};
use super::registry::OidcSettings;
use crate::accounts::ExternalIdentity;
use crate::clock::UnixMillis;
use crate::metrics;

/// Discovery and keys are fetched again after this long.
const CACHE_TTL_MS: i64 = 3600 * 1000;
/// An unknown `kid` triggers a JWKS fetch at most this often.
const REFETCH_MIN_MS: i64 = 30 * 1000;
/// How long the last good keys stand in for a failing JWKS endpoint.
const LAST_GOOD_MAX_MS: i64 = 24 * 3600 * 1000;

/// `max_age` sent upstream when no fresh sign-in is needed: a year, so that it asks for
/// `auth_time` without making anyone sign in again.
const UNFORCED_MAX_AGE: &str = "31536000";

/// Why an upstream sign-in failed. Logged; the person sees a generic page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Discovery, JWKS, token or userinfo endpoint failed.
    #[error("{what}: {source}")]
    Http {
        /// Which call.
        what: &'static str,
        /// The failure.
        source: HttpError,
    },
    /// The discovery document is unusable or names another issuer.
    #[error("discovery: {0}")]
    Discovery(String),
    /// No usable keys.
    #[error("no usable signing keys")]
    NoKeys,
    /// The ID token's signature or structure.
    #[error("id_token: {0}")]
    Jose(#[from] JoseError),
    /// A claim check failed.
    #[error("id_token claim check failed: {0}")]
    Claims(String),
    /// The token or userinfo answer is unusable.
    #[error("response: {0}")]
    Response(String),
}

/// What discovery says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The issuer (equal to the configured one).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// JWKS.
    pub jwks_uri: String,
    /// Userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// Whether the provider sends `iss` on authorization responses (RFC 9207).
    pub iss_parameter_supported: bool,
}

#[derive(Default)]
struct Cache {
    metadata: Option<(Arc<Metadata>, UnixMillis)>,
    last_discovery_fetch: UnixMillis,
    keys: Option<(Arc<PinnedKeys>, UnixMillis)>,
    last_keys_fetch: UnixMillis,
}

/// One OIDC provider: its settings and caches.
pub struct OidcClient {
    /// Settings from the provider file.
    pub settings: OidcSettings,
    /// The provider's id (the label of its upstream timings).
    provider: Arc<str>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient").field("issuer", &self.settings.issuer).finish()
    }
}

fn http_err(what: &'static str) -> impl Fn(HttpError) -> OidcError {
    move |source| OidcError::Http { what, source }
}

fn str_field(doc: &Value, name: &str) -> Result<String, OidcError> {
    doc.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| OidcError::Discovery(format!("`{name}` missing")))
}

/// What the client's authorization request asks of the upstream sign-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAsks<'a> {
    /// The client's `acr_values`, passed on as asked.
    pub acr_values: Option<&'a str>,
    /// The client's `prompt=select_account`, passed on unless a fresh sign-in is asked.
    pub select_account: bool,
}

/// What a successful callback yields.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The identity for the account store.
    pub identity: ExternalIdentity,
    /// `amr` of the upstream sign-in, if it said.
    pub amr: Vec<String>,
    /// When the person authenticated at the upstream (seconds), if it said.
    pub auth_time: Option<i64>,
    /// `acr` of the upstream sign-in, if it said.
    pub acr: Option<String>,
}

impl OidcClient {
    /// A client of provider `provider` for `settings`, caches empty.
    pub fn new(provider: &str, settings: OidcSettings) -> Self {
        Self { settings, provider: provider.into(), cache: Mutex::new(Cache::default()) }
    }

    /// The discovery document, cached for an hour; the last good one is kept while the provider
    /// cannot be reached.
    pub async fn metadata(&self, client: &reqwest::Client, now: UnixMillis) -> Result<Arc<Metadata>, OidcError> {
        // The lock guards the cache only, never a fetch: a slow provider delays nobody else.
        let last_good = {
            let mut cache = self.cache.lock().await;
            let last_good = cache.metadata.clone();
            match &last_good {
                Some((m, at)) if now - at < CACHE_TTL_MS => return Ok(m.clone()),
                // Stale, and fetched (or tried) within the last 30 s: the last good one serves.
                Some((m, _)) if now - cache.last_discovery_fetch < REFETCH_MIN_MS => return Ok(m.clone()),
                _ => {}
            }
            cache.last_discovery_fetch = now;
            last_good
        };
        match self.discover(client).await {
            Ok(m) => {
                let m = Arc::new(m);
                self.cache.lock().await.metadata = Some((m.clone(), now));
                Ok(m)
            }
            Err(e) => match last_good {
                Some((m, _)) => {
                    tracing::warn!(issuer = %self.settings.issuer, error = %e, "discovery failed; keeping the last good document");
                    Ok(m)
                }
                None => Err(e),
            },
        }
    }

    /// Fetch and check the discovery document.
    pub async fn discover(&self, client: &reqwest::Client) -> Result<Metadata, OidcError> {
        let fetch = http::json(client.get(&self.settings.discovery_url));
        let doc = metrics::upstream(&self.provider, "discovery", fetch).await.map_err(http_err("discovery"))?;
        let issuer = str_field(&doc, "issuer")?;
        if issuer != self.settings.issuer {
            return Err(OidcError::Discovery(format!(
                "the provider says its issuer is `{issuer}`, the provider file says `{}`",
                self.settings.issuer
            )));
        }
        Ok(Metadata {
            issuer,
            authorization_endpoint: str_field(&doc, "authorization_endpoint")?,
            token_endpoint: str_field(&doc, "token_endpoint")?,
            jwks_uri: str_field(&doc, "jwks_uri")?,
            userinfo_endpoint: doc.get("userinfo_endpoint").and_then(Value::as_str).map(str::to_owned),
            iss_parameter_supported: doc.get("authorization_response_iss_parameter_supported")
                == Some(&Value::Bool(true)),
        })
    }

    /// The provider's keys: cached for an hour; `refresh` fetches again (at most every 30 s);
    /// on failure the last good keys serve for up to a day.
    async fn keys(
        &self,
        client: &reqwest::Client,
        jwks_uri: &str,
        now: UnixMillis,
        refresh: bool,
    ) -> Result<Arc<PinnedKeys>, OidcError> {
        let last_good = {
            let mut cache = self.cache.lock().await;
            let fresh = cache.keys.as_ref().is_some_and(|(_, at)| now - at < CACHE_TTL_MS);
            let may_fetch = now - cache.last_keys_fetch >= REFETCH_MIN_MS;
            // Keys in hand are used unless they are stale or a refresh is due; fetches are at
            // most every 30 s while there are keys to fall back on.
            if cache.keys.is_some() && ((fresh && !refresh) || !may_fetch) {
                return cache.keys.as_ref().map(|(k, _)| k.clone()).ok_or(OidcError::NoKeys);
            }
            cache.last_keys_fetch = now;
            cache.keys.clone()
        };
        let fetched = metrics::upstream(&self.provider, "jwks", http::json(client.get(jwks_uri)))
            .await
            .map_err(http_err("jwks"))
            .map(|doc| PinnedKeys::from_jwks(&doc, false));
        match fetched {
            Ok(keys) if !keys.is_empty() => {
                let keys = Arc::new(keys);
                self.cache.lock().await.keys = Some((keys.clone(), now));
                Ok(keys)
            }
            other => {
                let err = other.err().unwrap_or(OidcError::NoKeys);
                match last_good {
                    Some((k, at)) if now - at < LAST_GOOD_MAX_MS => {
                        tracing::warn!(issuer = %self.settings.issuer, error = %err, "JWKS fetch failed; keeping the last good keys");
                        Ok(k)
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// The URL that starts the upstream sign-in.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization_url(
        &self,
        metadata: &Metadata,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        login_hint: Option<&str>,
        force_login: bool,
        asks: ClientAsks<'_>,
    ) -> String {
        let s = &self.settings;
        let scope = s.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &s.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        // max_age is always sent: it obliges the provider to return auth_time (OIDC Core 3.1.2.1),
        // which braid then checks, or keeps as the session's authentication time.
        match (force_login, &s.prompt) {
            (true, _) => {
                params.push(("prompt", "login"));
                params.push(("max_age", "0"));
            }
            (false, _) if asks.select_account => {
                params.push(("prompt", "select_account"));
                params.push(("max_age", UNFORCED_MAX_AGE));
            }
            (false, Some(p)) => {
                params.push(("prompt", p));
                params.push(("max_age", UNFORCED_MAX_AGE));
            }
            (false, None) => params.push(("max_age", UNFORCED_MAX_AGE)),
        }
        if let Some(h) = login_hint {
            params.push(("login_hint", h));
        }
        if let Some(d) = &s.domain_hint {
            params.push(("domain_hint", d));
        }
        // A client's acr_values are a voluntary request (OIDC Core 3.1.2.1): passed on as asked.
        if let Some(a) = asks.acr_values {
            params.push(("acr_values", a));
        }
        for (k, v) in &s.extra_params {
            params.push((k, v));
        }
        crate::issuer::authorize::with_params(&metadata.authorization_endpoint, &params)
    }

    #[allow(clippy::too_many_arguments)]
    /// Redeem `code`, validate the ID token against `nonce` at `now`, merge userinfo when
    /// configured, and map the claims to an identity.
    pub async fn finish(
        &self,
        client: &reqwest::Client,
        metadata: &Metadata,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
        now: UnixMillis,
    ) -> Result<Authenticated, OidcError> {
        let s = &self.settings;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ];
        let req = http::token_request(
            client,
            &metadata.token_endpoint,
            form,
            &s.client_id,
            s.client_secret.as_ref(),
            s.token_auth,
        );
        let tokens = metrics::upstream(&self.provider, "token", http::json(req)).await.map_err(http_err("token"))?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Response("no id_token in the token response".into()))?;
        let claims = self.validate_id_token(client, metadata, id_token, nonce, now).await?;
        let mut merged = claims.clone();
        let mut ui_email: Option<(Value, bool)> = None;
        if s.userinfo {
            let endpoint = metadata.userinfo_endpoint.as_deref().ok_or_else(|| {
                OidcError::Response("userinfo is configured but the provider has no userinfo endpoint".into())
            })?;
            let access = tokens
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| OidcError::Response("no access_token for userinfo".into()))?;
            let fetch = http::json(client.get(endpoint).bearer_auth(access));
            let info = metrics::upstream(&self.provider, "userinfo", fetch).await.map_err(http_err("userinfo"))?;
            if info.get("sub") != claims.get("sub") {
                return Err(OidcError::Claims("userinfo sub differs from the ID token's".into()));
            }
            if let Some(e) = info.get(&s.claims.email) {
                ui_email = Some((e.clone(), is_true(info.get(&s.claims.email_verified))));
            }
            if let Some(o) = info.as_object() {
                for (k, v) in o {
                    if !matches!(k.as_str(), "iss" | "sub" | "aud" | "exp" | "iat" | "nbf" | "nonce" | "azp") {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let amr = claims
            .get("amr")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let auth_time = claims.get("auth_time").and_then(Value::as_i64);
        let acr =
            claims.get("acr").and_then(Value::as_str).filter(|a| !a.is_empty() && a.len() <= 255).map(str::to_owned);
        Ok(Authenticated { identity: self.identity(&claims, &merged, ui_email)?, amr, auth_time, acr })
    }

    /// Verify a JWT from this provider with its keys (fetched again once on an unknown `kid`).
    async fn verify_jwt(
        &self,
        client: &reqwest::Client,
        metadata: &Metadata,
        token: &str,
        now: UnixMillis,
    ) -> Result<(Map<String, Value>, Map<String, Value>), OidcError> {
        let keys = self.keys(client, &metadata.jwks_uri, now, false).await?;
        let verified = match keys.verify(token) {
            Err(JoseError::UnknownKid(_)) => self.keys(client, &metadata.jwks_uri, now, true).await?.verify(token)?,
            other => other?,
        };
        let claims: Map<String, Value> = serde_json::from_slice(&verified.payload)
            .map_err(|_| OidcError::Claims("payload is not a JSON object".into()))?;
        Ok((verified.header, claims))
    }

    /// Validate an ID token's signature and claims; returns its claims.
    pub async fn validate_id_token(
        &self,
        client: &reqwest::Client,
        metadata: &Metadata,
        token: &str,
        nonce: &str,
        now: UnixMillis,
    ) -> Result<Map<String, Value>, OidcError> {
        let (header, claims) = self.verify_jwt(client, metadata, token, now).await?;
        // Explicitly typed tokens of other kinds (at+jwt, logout+jwt, …) are not ID tokens.
        if header.get("typ").and_then(Value::as_str).is_some_and(|t| t.to_ascii_lowercase().ends_with("+jwt")) {
            return Err(OidcError::Claims("the token's typ is not that of an ID token".into()));
        }
        check_claims(&self.settings, &claims, nonce, now / 1000)?;
        Ok(claims)
    }

    /// Validate a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.6); returns
    /// (issuer, subject under the provider's claim mapping, jti).
    pub async fn validate_logout_token(
        &self,
        client: &reqwest::Client,
        metadata: &Metadata,
        token: &str,
        now: UnixMillis,
    ) -> Result<(String, String, String), OidcError> {
        let (header, c) = self.verify_jwt(client, metadata, token, now).await?;
        if header.get("typ").and_then(Value::as_str).is_some_and(|t| !t.eq_ignore_ascii_case("logout+jwt")) {
            return Err(OidcError::Claims("the token's typ is not logout+jwt".into()));
        }
        check_issuer_and_audience(&self.settings, &c)?;
        let (now, skew) = (now / 1000, self.settings.clock_skew_secs);
        // Logout tokens are sent at once: one issued long ago is a replay.
        if c.get("iat").and_then(Value::as_i64).is_none_or(|iat| iat - skew > now || now - iat > 300 + skew) {
            return Err(OidcError::Claims("iat missing, in the future or too old".into()));
        }
        if c.get("jti").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(OidcError::Claims("a logout token needs a jti".into()));
        }
        if c.get("exp").is_some_and(|e| e.as_i64().is_none_or(|exp| exp + skew <= now)) {
            return Err(OidcError::Claims("logout token expired".into()));
        }
        let event = "http://schemas.openid.net/event/backchannel-logout";
        if !c.get("events").and_then(Value::as_object).is_some_and(|e| e.get(event).is_some_and(Value::is_object)) {
            return Err(OidcError::Claims("events lacks the back-channel logout event".into()));
        }
        if c.contains_key("nonce") {
            return Err(OidcError::Claims("a logout token must not carry a nonce".into()));
        }
        let subject = &self.settings.claims.subject;
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let sub = text(c.get(subject));
        if sub.is_empty() {
            return Err(OidcError::Claims(format!("braid needs the subject claim `{subject}` in logout tokens")));
        }
        Ok((text(c.get("iss")), sub, text(c.get("jti"))))
    }

    fn identity(
        &self,
        id_claims: &Map<String, Value>,
        merged: &Map<String, Value>,
        ui_email: Option<(Value, bool)>,
    ) -> Result<ExternalIdentity, OidcError> {
        let m = &self.settings.claims;
        // The subject comes from the verified ID token only: userinfo is an unsigned answer.
        let subject = match id_claims.get(&m.subject) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(OidcError::Claims(format!("subject claim `{}` missing", m.subject))),
        };
        // email_verified applies only to the email it came with (SECURITY-CASES 66), and only the
        // verified ID token decides it: an email userinfo adds or changes is never verified.
        let id_email = id_claims.get(&m.email).and_then(Value::as_str).map(str::to_owned);
        let id_verified = is_true(id_claims.get(&m.email_verified));
        let (email, email_verified) = match ui_email {
            Some((Value::String(e), _)) if Some(&e) == id_email.as_ref() => (Some(e), id_verified),
            Some((Value::String(e), _)) => (Some(e), false),
            _ => (id_email, id_verified),
        };
        let mut claims = Map::new();
        for k in &m.keep {
            if let Some(v) = merged.get(k) {
                claims.insert(k.clone(), v.clone());
            }
        }
        Ok(ExternalIdentity {
            issuer: id_claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_owned(),
            subject,
            email_verified: email.is_some() && email_verified,
            email,
            name: merged.get(&m.name).and_then(Value::as_str).map(str::to_owned),
            claims,
        })
    }
}

/// `email_verified` counts only as JSON `true` or the string `"true"`.
pub fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

/// The issuer an ID token must carry: the configured one, with `{tenantid}` filled from `tid`.
fn expected_issuer(s: &OidcSettings, claims: &Map<String, Value>) -> Result<String, OidcError> {
    if !s.issuer.contains("{tenantid}") {
        return Ok(s.issuer.clone());
    }
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .ok_or_else(|| OidcError::Claims("multi-tenant issuer needs a `tid` claim".into()))?;
    Ok(s.issuer.replace("{tenantid}", tid))
}

/// `iss` (with `{tenantid}` filled from `tid`), `aud` naming braid and no one else, `azp`.
fn check_issuer_and_audience(s: &OidcSettings, c: &Map<String, Value>) -> Result<(), OidcError> {
    let fail = |m: &str| Err(OidcError::Claims(m.to_owned()));
    if c.get("iss").and_then(Value::as_str) != Some(expected_issuer(s, c)?.as_str()) {
        return fail("iss does not match the provider's issuer");
    }
    match c.get("aud") {
        Some(Value::String(a)) if *a == s.client_id => {}
        Some(Value::Array(list)) if list.len() == 1 && list[0].as_str() == Some(s.client_id.as_str()) => {}
        Some(Value::Array(list)) if list.iter().any(|a| a.as_str() == Some(s.client_id.as_str())) => {
            return fail("aud holds audiences braid does not trust");
        }
        _ => return fail("aud does not name braid's client id"),
    }
    if let Some(azp) = c.get("azp") {
        if azp.as_str() != Some(s.client_id.as_str()) {
            return fail("azp is not braid's client id");
        }
    }
    Ok(())
}

/// The claim checks of OIDC Core 3.1.3.7 at `now` (seconds).
fn check_claims(s: &OidcSettings, c: &Map<String, Value>, nonce: &str, now: i64) -> Result<(), OidcError> {
    let fail = |m: &str| Err(OidcError::Claims(m.to_owned()));
    check_issuer_and_audience(s, c)?;
    if c.get("sub").and_then(Value::as_str).is_none_or(|x| x.is_empty()) {
        return fail("sub missing");
    }
    let skew = s.clock_skew_secs;
    match c.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp + skew > now => {}
        Some(_) => return fail("token expired"),
        None => return fail("exp missing"),
    }
    match c.get("iat").and_then(Value::as_i64) {
        Some(iat) if iat - skew <= now => {}
        Some(_) => return fail("iat is in the future"),
        None => return fail("iat missing"),
    }
    if let Some(nbf) = c.get("nbf") {
        if nbf.as_i64().is_none_or(|n| n - skew > now) {
            return fail("token not yet valid");
        }
    }
    if c.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return fail("nonce does not match this sign-in");
    }
    Ok(())
}
