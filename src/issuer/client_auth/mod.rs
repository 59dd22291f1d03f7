//! Client authentication at `/token`, `/revoke`, `/introspect` and `/par`: client_secret_basic,
//! client_secret_post, client_secret_jwt and private_key_jwt (RFC 7523 assertions), or none for a
//! public client. A client may use only its configured `token_endpoint_auth_method`.

pub mod assertion;
pub mod keys;
pub mod settings;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::clients::Client;
use crate::error::AppError;
use crate::state::AppState;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Every method braid takes, as discovery lists them.
pub const METHODS: &[&str] =
    &["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"];

/// The assertion signing algorithms braid verifies, as discovery lists them.
pub const SIGNING_ALGS: &[&str] = &["HS256", "RS256", "PS256", "ES256", "EdDSA"];

/// A `token_endpoint_auth_method` (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The secret in HTTP Basic.
    ClientSecretBasic,
    /// The secret in the form.
    ClientSecretPost,
    /// An HS256 assertion keyed with the secret.
    ClientSecretJwt,
    /// An assertion signed with one of the client's keys.
    PrivateKeyJwt,
    /// A public client: `client_id` only.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// The client-authentication parameters of a request body.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `client_secret`.
    pub client_secret: Option<&'a str>,
    /// `client_assertion_type`.
    pub assertion_type: Option<&'a str>,
    /// `client_assertion`.
    pub assertion: Option<&'a str>,
}

/// A 401 `invalid_client`.
pub fn invalid_client(desc: &str) -> AppError {
    AppError::OAuth { status: StatusCode::UNAUTHORIZED, code: "invalid_client", description: desc.into() }
}

/// The id and secret of HTTP Basic credentials, form-decoded (RFC 6749 §2.3.1); `None` without.
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, AppError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b64| {
            let raw = STANDARD.decode(b64.trim()).map_err(|_| invalid_client("malformed Basic credentials"))?;
            let raw = String::from_utf8(raw).map_err(|_| invalid_client("malformed Basic credentials"))?;
            let (id, secret) = raw.split_once(':').ok_or_else(|| invalid_client("malformed Basic credentials"))?;
            let dec =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Ok((dec(id).unwrap_or_default(), dec(secret).unwrap_or_default()))
        })
        .transpose()
}

/// The client a request names (Basic id, assertion `sub`, or `client_id`), checked or not: only
/// a budget key.
pub fn claimed_client(headers: &HeaderMap, creds: &Credentials<'_>) -> String {
    if let Ok(Some((id, _))) = basic(headers) {
        return id;
    }
    creds.assertion.and_then(unverified_subject).or_else(|| creds.client_id.map(str::to_owned)).unwrap_or_default()
}

/// The `sub` of a JWT, unverified.
fn unverified_subject(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub")?.as_str().map(str::to_owned)
}

/// The key of the client-authentication failure budget: the claimed client (checked or not)
/// and the client address, so guessing a client's secret is slowed and nobody elsewhere can
/// lock the client out.
pub fn budget_key(headers: &HeaderMap, creds: &Credentials<'_>, ip: &Option<String>) -> String {
    format!("{}|{}", claimed_client(headers, creds), crate::limits::address(ip))
}

/// [`authenticate`] within the failure budget of `/token`, shared by every endpoint that
/// authenticates clients (`[limits] token_failures_per_minute`, per [`budget_key`]): over the
/// budget, 429 before any check; each failed authentication spends a unit.
pub async fn authenticate_budgeted(
    state: &AppState,
    headers: &HeaderMap,
    creds: &Credentials<'_>,
    path: &str,
    ip: &Option<String>,
) -> Result<Arc<Client>, AppError> {
    let who = budget_key(headers, creds, ip);
    crate::limits::check(state, crate::limits::Kind::TokenFailure, &who, false).await?;
    let result = authenticate(state, headers, creds, path).await;
    if matches!(&result, Err(AppError::OAuth { status, .. }) if status.is_client_error()) {
        if let Err(e) = crate::limits::check(state, crate::limits::Kind::TokenFailure, &who, true).await {
            tracing::debug!(error = %e, "client authentication failure budget spent");
        }
    }
    result
}

/// Authenticate the client of a request to braid's route `path` (its absolute URL is an
/// accepted assertion audience). Every failure is a 401 `invalid_client` (two methods at once:
/// 400 `invalid_request`); a store that cannot answer fails closed.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    creds: &Credentials<'_>,
    path: &str,
) -> Result<Arc<Client>, AppError> {
    let basic = basic(headers)?;
    let presented = usize::from(basic.is_some())
        + usize::from(creds.client_secret.is_some())
        + usize::from(creds.assertion.is_some() || creds.assertion_type.is_some());
    if presented > 1 {
        return Err(AppError::oauth("invalid_request", "use one client authentication method, not two"));
    }
    if creds.assertion.is_some() || creds.assertion_type.is_some() {
        if creds.assertion_type != Some(JWT_BEARER) {
            return Err(invalid_client(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let jwt = creds.assertion.ok_or_else(|| invalid_client("client_assertion is required"))?;
        let sub =
            unverified_subject(jwt).ok_or_else(|| invalid_client("the client assertion is not a JWT with a sub"))?;
        if creds.client_id.is_some_and(|id| id != sub) {
            return Err(invalid_client("client_id does not match the client assertion"));
        }
        let client = state.clients.get(&sub).ok_or_else(|| invalid_client("unknown client"))?;
        let method = assertion::method_of(jwt)?;
        if !client.allows(method) {
            return Err(invalid_client(&format!("this client may not authenticate with {}", method.as_str())));
        }
        let endpoint = format!("{}{path}", state.issuer);
        assertion::verify(state, &client, method, jwt, &endpoint).await?;
        return Ok(client);
    }
    let (id, secret, method) = match basic {
        Some((id, secret)) => {
            if creds.client_id.is_some_and(|f| f != id) {
                return Err(AppError::oauth("invalid_request", "client_id does not match the credentials"));
            }
            (id, Some(secret), AuthMethod::ClientSecretBasic)
        }
        None => {
            let id = creds.client_id.ok_or_else(|| invalid_client("client authentication is required"))?;
            match creds.client_secret {
                Some(s) => (id.to_owned(), Some(s.to_owned()), AuthMethod::ClientSecretPost),
                None => (id.to_owned(), None, AuthMethod::None),
            }
        }
    };
    let client = state.clients.get(&id).ok_or_else(|| invalid_client("unknown client"))?;
    if client.is_public() && method != AuthMethod::None {
        return Err(invalid_client("this public client has no secret"));
    }
    if !client.allows(method) {
        return Err(invalid_client(&format!("this client may not authenticate with {}", method.as_str())));
    }
    match secret {
        None => Ok(client),
        Some(s) if client.secret_matches(&s) => Ok(client),
        Some(_) => Err(invalid_client("client authentication failed")),
    }
}
