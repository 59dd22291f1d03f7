//! Typed short-lived records kept in the `SessionStore`: browser sessions, login transactions
//! (a client's authorization request while the person signs in), upstream login attempts, and
//! authorization codes. JSON values; secrets are keyed by their hash.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::accounts::AccountId;
use crate::sessions::{SessionStore, StoreError};

/// A person's signed-in session at braid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    /// The account.
    pub account_id: AccountId,
    /// The identity used to sign in (store id).
    pub identity_id: i64,
    /// Issuer of that identity (`idp` claim).
    pub idp: String,
    /// Subject of that identity.
    pub subject: String,
    /// Provider it came through.
    pub provider_id: String,
    /// When the person authenticated, in seconds; `None` when the upstream did not say (then no
    /// `max_age`, `prompt=login` or fresh-sign-in check is ever satisfied by this session).
    pub auth_time: Option<i64>,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The anti-CSRF token of this session's forms.
    #[serde(default)]
    pub csrf: String,
    /// When the session was made (ms), always after the account's `sessions_valid_after` at that
    /// time; a later account change that ends sessions marks it over. Sessions stored before
    /// braid recorded it read as 0, so any account change ends them too.
    #[serde(default)]
    pub created_at: i64,
    // Authorization request parameters (issue 14).
    /// The authentication context class the upstream said the sign-in met (its ID token's
    /// `acr`), returned in braid's ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// A client's authorization request, held while the person signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// Client.
    pub client_id: String,
    /// Validated redirect URI.
    pub redirect_uri: String,
    /// Requested scope.
    pub scope: String,
    /// The client's `state`, returned as given.
    pub state: Option<String>,
    /// The client's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// The client asked for a fresh sign-in (`prompt=login`, `max_age`): the upstream must
    /// authenticate the person again.
    #[serde(default)]
    pub force_login: bool,
    // Authorization request parameters (issue 14).
    /// `acr_values` the client asked for, passed on to an OIDC upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// Claims asked for by the `claims` parameter (OIDC Core 5.5) and returned whatever the scope.
    #[serde(default, skip_serializing_if = "crate::issuer::claims_request::ClaimsRequest::is_empty")]
    pub claims: crate::issuer::claims_request::ClaimsRequest,
    /// The client asked the person to choose an account (`prompt=select_account`): an OIDC
    /// upstream is asked the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub select_account: bool,
}

/// A return to an application protected by forward-auth, held while the person signs in
/// (`/auth/start?rd=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyReturn {
    /// The checked return address.
    pub return_to: String,
}

/// What a login transaction continues once the person has signed in. Stored untagged, so a
/// client's request reads as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoginTx {
    /// A client's authorization request (`/authorize`).
    Client(AuthRequest),
    /// A return to a protected application (`/auth/start`).
    Proxy(ProxyReturn),
}

impl LoginTx {
    /// The client asked for a fresh sign-in.
    pub fn force_login(&self) -> bool {
        matches!(self, Self::Client(r) if r.force_login)
    }
}

/// An upstream sign-in under way, bound to one browser by a cookie holding its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    /// The provider the person chose.
    pub provider_id: String,
    /// The login transaction it continues, if a client started it.
    pub tx: Option<String>,
    /// What an OIDC or OAuth2 upstream must echo or prove (absent for the dev provider).
    #[serde(default)]
    pub upstream: Option<UpstreamAttempt>,
    /// Set when a signed-in person links another identity to this account.
    #[serde(default)]
    pub link: Option<AccountId>,
    /// The link-by-email proof this sign-in may complete (from this browser's proof cookie).
    #[serde(default)]
    pub proof: Option<String>,
    /// The upstream was asked for a fresh sign-in; its `auth_time` must be after `started_at`.
    #[serde(default)]
    pub force_login: bool,
    /// When the attempt began (ms).
    #[serde(default)]
    pub started_at: i64,
    /// The ID of the SAML AuthnRequest sent (the only `InResponseTo` accepted).
    #[serde(default)]
    pub saml_request_id: Option<String>,
    /// No request of braid's asked for this answer (IdP-initiated SAML): it cannot be bound to
    /// a browser, so it never starts or completes a link.
    #[serde(default)]
    pub unsolicited: bool,
    // Authorization request parameters (issue 14).
    /// The upstream's `acr` for this sign-in, once its answer is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_acr: Option<String>,
}

/// A pending link by email: `identity` may join `account` once this browser signs in with one
/// of the account's identities. Bound to (account, issuer, subject), taken once, short-lived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkProof {
    /// The account whose verified email matched.
    pub account: AccountId,
    /// The provider the new identity came through.
    pub provider_id: String,
    /// The new identity.
    pub identity: crate::accounts::ExternalIdentity,
    /// The anti-CSRF token of the confirmation form.
    #[serde(default)]
    pub csrf: String,
    /// The person confirmed, on braid's page naming the identity, that it should be linked; an
    /// unconfirmed proof links nothing.
    #[serde(default)]
    pub confirmed: bool,
    /// When the proof ends (ms).
    #[serde(default)]
    pub expires_at: i64,
}

/// Secrets of one upstream authorization request, kept server-side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamAttempt {
    /// The `nonce` sent upstream.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent upstream.
    pub verifier: String,
}

/// An authorization code's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// The request it answers.
    pub request: AuthRequest,
    /// The signed-in session.
    pub session: BrowserSession,
    /// The public name of the browser session (`sid` claim; never the session id itself).
    pub sid: String,
    /// The session store key of the browser session: the code is redeemable only while it lives.
    #[serde(default)]
    pub session_key: String,
    /// Expiry, ms (also enforced by the store TTL).
    pub expires_at: i64,
}

/// Key prefixes.
pub mod key {
    /// Browser session by the hash of its id (the id itself is only in the cookie).
    pub fn session(sid: &str) -> String {
        format!("sess:{}", crate::ids::sha256_b64(sid.as_bytes()))
    }
    /// Login transaction by id.
    pub fn tx(id: &str) -> String {
        format!("tx:{id}")
    }
    /// Login attempt by its state.
    pub fn login(state: &str) -> String {
        format!("login:{state}")
    }
    /// Authorization code by its hash.
    pub fn code(hash: &str) -> String {
        format!("code:{hash}")
    }
    /// Pending link-by-email proof by the hash of its token.
    pub fn proof(hash: &str) -> String {
        format!("proof:{hash}")
    }
    /// A SAML assertion seen (issuer and assertion ID, hashed), kept until it expires.
    pub fn saml_assertion(issuer: &str, id: &str) -> String {
        format!("samlseen:{}", crate::ids::sha256_b64(format!("{issuer}\n{id}").as_bytes()))
    }
    /// Marker of a redeemed code (its hash) holding the grant it made.
    pub fn code_used(hash: &str) -> String {
        format!("codeused:{hash}")
    }
    /// Marker of a code (its hash) presented again while its first redemption was under way.
    pub fn code_reused(hash: &str) -> String {
        format!("codereused:{hash}")
    }
}

/// JSON over a `SessionStore`.
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn SessionStore>,
}

impl Records {
    /// Wrap a store.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self { store }
    }

    /// The store beneath.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// Store a value.
    pub async fn put<T: Serialize>(&self, key: &str, v: &T, ttl: Duration) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put(key, &bytes, ttl).await
    }

    /// Store a value only over a live one (see [`SessionStore::replace`]); `true` when stored.
    pub async fn replace<T: Serialize>(&self, key: &str, v: &T, ttl: Duration) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.replace(key, &bytes, ttl).await
    }

    /// Read a value.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        decode(self.store.get(key).await?)
    }

    /// Take a value once and, in the same atomic step, store `marker` under `marker_key`.
    pub async fn take_and_mark<T: DeserializeOwned, M: Serialize>(
        &self,
        key: &str,
        marker_key: &str,
        marker: &M,
        ttl: Duration,
    ) -> Result<Option<T>, StoreError> {
        let bytes = serde_json::to_vec(marker).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        decode(self.store.take_and_mark(key, marker_key, &bytes, ttl).await?)
    }

    /// Take a value once.
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        decode(self.store.take(key).await?)
    }
}

fn decode<T: DeserializeOwned>(bytes: Option<Vec<u8>>) -> Result<Option<T>, StoreError> {
    bytes.map(|b| decode_bytes(&b)).transpose()
}

/// A stored value decoded (a value that does not decode is `Corrupt`).
pub fn decode_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
