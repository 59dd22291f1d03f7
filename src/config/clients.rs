//! One `[[clients]]` entry of `braid.toml` and its checks (the keys, their defaults, and every
//! problem named by its key), apart from the settings of braid itself.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{SigningAlg, check_redirect_uri, resolve_secret, strip_key};

/// One `[[clients]]` entry: an application that delegates sign-in to braid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The `client_id`.
    pub id: String,
    /// A name shown to people.
    pub name: Option<String>,
    /// The secret of a confidential client; `${ENV_VAR}` is replaced. Omit for a public client.
    pub secret: Option<SecretString>,
    /// A file holding the secret (trailing newline ignored).
    pub secret_file: Option<PathBuf>,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where `/logout` may send the browser afterwards, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    // Signing algorithms and pairwise subjects (`crate::issuer::shape`).
    /// Algorithm of this client's ID tokens; default `[keys] algorithm`.
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Algorithm of this client's access tokens; default `[keys] algorithm`.
    pub access_token_signed_response_alg: Option<SigningAlg>,
    /// `public` (the account id) or `pairwise` (a hash of the sector and the account id).
    #[serde(default)]
    pub subject_type: crate::issuer::shape::SubjectType,
    /// The sector of pairwise subjects: a host or an https URL (its host); default: the one host
    /// of the redirect URIs.
    pub sector_identifier: Option<String>,
    // Back- and front-channel logout (see `issuer::app_logout`).
    /// Where braid POSTs logout tokens (OIDC Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// The client requires `sid` in every logout token.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// What braid's logout page loads in an invisible iframe (OIDC Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    /// The client requires `iss` and `sid` on its front-channel logout URI.
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    // --- JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)
    /// How the client authenticates at `/token`, `/revoke`, `/introspect` and `/par`; unset: a
    /// client with a secret may use client_secret_basic or client_secret_post, one without is public.
    pub token_endpoint_auth_method: Option<crate::issuer::client_auth::AuthMethod>,
    /// The client's public keys for private_key_jwt: a JWK Set (a table, or a string of JSON).
    pub jwks: Option<serde_json::Value>,
    /// Where to fetch the client's JWK Set for private_key_jwt (https, or http on loopback).
    pub jwks_uri: Option<String>,
    /// Refuse authorization requests not pushed through `/par` (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
}

impl ClientSettings {
    /// Every problem of this entry, as (key below `clients[i]`, reason); `prefix` is
    /// `clients[i]`, for messages that name the whole key.
    pub fn problems(&self, prefix: &str) -> Vec<(String, String)> {
        let c = self;
        let mut out: Vec<(String, String)> = Vec::new();
        if c.secret.is_some() && c.secret_file.is_some() {
            out.push(("secret_file".into(), "give `secret` or `secret_file`, not both".into()));
        }
        if c.secret.is_some() || c.secret_file.is_some() {
            let rel = if c.secret_file.is_some() { "secret_file" } else { "secret" };
            let key = format!("{prefix}.{rel}");
            match resolve_secret(c.secret.as_ref(), c.secret_file.as_deref(), &key) {
                Err(reason) => out.push((rel.into(), strip_key(&reason, &key))),
                Ok(Some(secret)) => {
                    let len = secrecy::ExposeSecret::expose_secret(&secret).len();
                    let min = crate::issuer::clients::MIN_SECRET_BYTES;
                    if len < min {
                        out.push((
                            rel.into(),
                            format!(
                                "a client secret must be at least {min} bytes, this one has {len} \
                                 (an unset environment variable? make one with `openssl rand -base64 32`)"
                            ),
                        ));
                    }
                }
                Ok(None) => {}
            }
        }
        if c.redirect_uris.is_empty() {
            out.push(("redirect_uris".into(), "at least one redirect URI is needed".into()));
        }
        let registration = crate::issuer::client_auth::settings::Registration {
            method: c.token_endpoint_auth_method,
            has_secret: c.secret.is_some() || c.secret_file.is_some(),
            secret_hashed: false,
            jwks: c.jwks.as_ref(),
            jwks_uri: c.jwks_uri.as_deref(),
        };
        for (k, reason) in crate::issuer::client_auth::settings::check(&registration) {
            out.push((k.to_string(), reason));
        }
        for (kind, list) in
            [("redirect_uris", &c.redirect_uris), ("post_logout_redirect_uris", &c.post_logout_redirect_uris)]
        {
            for (j, u) in list.iter().enumerate() {
                if let Err(reason) = check_redirect_uri(u) {
                    out.push((format!("{kind}[{j}]"), reason));
                }
            }
        }
        if let Err((field, reason)) = crate::issuer::shape::TokenShape::of_settings(c) {
            out.push((field.to_string(), reason));
        }
        if let Err((key, reason)) = c.logout().check() {
            out.push((key.to_string(), reason));
        }
        out
    }
}
