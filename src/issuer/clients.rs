//! Registered clients (applications): from `[[clients]]` and the demo client; exact redirect-URI
//! matching and client authentication (client_secret_basic, client_secret_post).

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

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
    pub secret: Option<SecretString>,
    /// Redirect URIs, compared byte for byte.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, compared byte for byte.
    pub post_logout_redirect_uris: Vec<String>,
}

impl Client {
    /// Whether this is a public client.
    pub fn is_public(&self) -> bool {
        self.secret.is_none()
    }

    /// Exact match, as RFC 9700 §4.1.3 requires: no normalisation of any kind.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Check a presented secret in constant time.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret {
            Some(s) => bool::from(s.expose_secret().as_bytes().ct_eq(presented.as_bytes())),
            None => false,
        }
    }
}

/// Every client, by id.
#[derive(Debug, Clone, Default)]
pub struct Clients(HashMap<String, Client>);

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
            map.insert(
                c.id.clone(),
                Client {
                    id: c.id.clone(),
                    name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                    secret,
                    redirect_uris: c.redirect_uris.clone(),
                    post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                },
            );
        }
        if s.demo.enabled {
            let demo = crate::web::demo::client(&s.public_url());
            map.insert(demo.id.clone(), demo);
        }
        Ok(Self(map))
    }

    /// A client by id.
    pub fn get(&self, id: &str) -> Option<&Client> {
        self.0.get(id)
    }
}
