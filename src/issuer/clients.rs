//! Registered clients (applications): from `[[clients]]`, the demo client and the admin service
//! (SQL); exact redirect-URI matching and the secrets and methods client authentication
//! (`client_auth`) checks. [`LiveClients`] holds the set in force and is swapped on every change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::client_auth::AuthMethod;
use super::client_auth::keys::ClientKeys;
use super::client_auth::settings::Registration;
use crate::config::{Settings, resolve_secret};

/// The shortest client secret braid accepts, in bytes (256 bits when random).
pub const MIN_SECRET_BYTES: usize = 32;

/// An application registered at braid.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Name shown to people.
    pub name: String,
    /// Secret of a confidential client; `None` for a public client (PKCE required).
    pub secret: Option<ClientSecret>,
    /// Redirect URIs, compared byte for byte.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, compared byte for byte.
    pub post_logout_redirect_uris: Vec<String>,
    // Signing algorithms and pairwise subjects.
    /// The algorithms of its tokens and the `sub` it sees.
    pub token_shape: super::shape::TokenShape,
    // Back- and front-channel logout.
    /// The client's logout endpoints.
    pub logout: super::app_logout::ClientLogout,
    // --- JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)
    /// `token_endpoint_auth_method` as registered; `None`: a client with a secret may use Basic
    /// or post, one without is public.
    pub auth_method: Option<AuthMethod>,
    /// The public keys of a private_key_jwt client.
    pub jwks: Option<Arc<ClientKeys>>,
    /// Refuse authorization requests not pushed through `/par`.
    pub require_par: bool,
}

impl Client {
    /// Whether this is a public client.
    pub fn is_public(&self) -> bool {
        match self.auth_method {
            Some(m) => m == AuthMethod::None,
            None => self.secret.is_none(),
        }
    }

    /// Whether the client may authenticate with `method` (its registered one only; a client
    /// registered without one: Basic or post with a secret, none without).
    pub fn allows(&self, method: AuthMethod) -> bool {
        match self.auth_method {
            Some(m) => m == method,
            None if self.secret.is_some() => {
                matches!(method, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
            }
            None => method == AuthMethod::None,
        }
    }

    /// Exact match, as RFC 9700 §4.1.3 requires: no normalisation of any kind.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Check a presented secret in constant time.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret {
            Some(ClientSecret::Plain(s)) => bool::from(s.expose_secret().as_bytes().ct_eq(presented.as_bytes())),
            Some(ClientSecret::Sha256(digest)) => {
                let got = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
                bool::from(got.as_ref().ct_eq(digest.as_slice()))
            }
            None => false,
        }
    }
}

/// How a confidential client's secret is known.
#[derive(Clone)]
pub enum ClientSecret {
    /// As written in `braid.toml` (references resolved).
    Plain(SecretString),
    /// Only its SHA-256 (clients of the admin service: the secret was shown once).
    Sha256([u8; 32]),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "ClientSecret::Plain(..)",
            Self::Sha256(_) => "ClientSecret::Sha256(..)",
        })
    }
}

/// Every client, by id.
#[derive(Debug, Clone, Default)]
pub struct Clients(HashMap<String, Arc<Client>>);

impl Clients {
    /// Build from settings (secrets resolved) plus the demo client when enabled.
    pub fn from_settings(s: &Settings) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (i, c) in s.clients.iter().enumerate() {
            let key = if c.secret_file.is_some() {
                format!("clients[{i}].secret_file")
            } else {
                format!("clients[{i}].secret")
            };
            let secret = resolve_secret(c.secret.as_ref(), c.secret_file.as_deref(), &key)?;
            // A short or empty secret (an unset `${ENV}` that expanded to nothing, a placeholder)
            // would make a confidential client guessable: refused, never started with.
            if let Some(s) = &secret {
                let len = s.expose_secret().len();
                if len < MIN_SECRET_BYTES {
                    return Err(format!(
                        "key `{key}`: a client secret must be at least {MIN_SECRET_BYTES} bytes, this one has {len} \
                         (make one with `openssl rand -base64 32`)"
                    ));
                }
            }
            let token_shape = super::shape::TokenShape::of_settings(c)
                .map_err(|(field, reason)| format!("key `clients[{i}].{field}`: {reason}"))?;
            let reg = Registration {
                method: c.token_endpoint_auth_method,
                has_secret: secret.is_some(),
                secret_hashed: false,
                jwks: c.jwks.as_ref(),
                jwks_uri: c.jwks_uri.as_deref(),
            };
            if let Some((k, reason)) = super::client_auth::settings::check(&reg).into_iter().next() {
                return Err(format!("key `clients[{i}].{k}`: {reason}"));
            }
            let jwks = super::client_auth::settings::keys(&reg).map_err(|e| format!("key `clients[{i}].jwks`: {e}"))?;
            map.insert(
                c.id.clone(),
                Arc::new(Client {
                    id: c.id.clone(),
                    name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                    secret: secret.map(ClientSecret::Plain),
                    redirect_uris: c.redirect_uris.clone(),
                    post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                    token_shape,
                    logout: c.logout(),
                    auth_method: c.token_endpoint_auth_method,
                    jwks,
                    require_par: c.require_pushed_authorization_requests,
                }),
            );
        }
        if s.demo.enabled {
            let demo = crate::web::demo::client(&s.public_url());
            map.insert(demo.id.clone(), Arc::new(demo));
        }
        Ok(Self(map))
    }

    /// A client by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Client>> {
        self.0.get(id)
    }

    /// Whether `id` is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// Every client id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Every client, in id order.
    pub fn sorted(&self) -> Vec<Arc<Client>> {
        let mut all: Vec<Arc<Client>> = self.0.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// These clients and `more` (an id already here keeps its client; the ids refused are returned).
    pub fn merged(&self, more: Vec<Client>) -> (Self, Vec<String>) {
        let mut map = self.0.clone();
        let mut refused = Vec::new();
        for c in more {
            if map.contains_key(&c.id) {
                refused.push(c.id);
            } else {
                map.insert(c.id.clone(), Arc::new(c));
            }
        }
        (Self(map), refused)
    }
}

/// The clients in force: those of `braid.toml` (fixed) merged with those of the admin service,
/// swapped whole on every change. A lookup takes a read lock and two reference counts.
#[derive(Debug)]
pub struct LiveClients {
    from_settings: Clients,
    current: RwLock<Arc<Clients>>,
}

impl LiveClients {
    /// Start with the clients of the settings only.
    pub fn new(from_settings: Clients) -> Self {
        let current = RwLock::new(Arc::new(from_settings.clone()));
        Self { from_settings, current }
    }

    /// A client in force now, by id.
    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.snapshot().get(id).cloned()
    }

    /// Every client in force now.
    pub fn snapshot(&self) -> Arc<Clients> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The clients of `braid.toml` (and the demo client): read-only for the admin service.
    pub fn from_settings(&self) -> &Clients {
        &self.from_settings
    }

    /// Put the admin service's clients in force beside those of the settings; returns the ids
    /// refused because the settings define them too.
    pub fn set_sql(&self, sql: Vec<Client>) -> Vec<String> {
        let (next, refused) = self.from_settings.merged(sql);
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        refused
    }
}
