//! Pushed authorization requests (RFC 9126): `POST /par` authenticates the client, checks the
//! request exactly as `/authorize` would, and keeps it for [`EXPIRES_IN_SECS`] under a one-time
//! `request_uri`; `/authorize?client_id=…&request_uri=…` then uses the stored parameters only.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::authorize::{Refusal, Via, check_request, param_cap};
use super::client_auth::{self, Credentials};
use crate::error::AppError;
use crate::state::AppState;

/// The prefix of the `request_uri`s braid hands out.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request may be used, in seconds.
pub const EXPIRES_IN_SECS: u64 = 60;

/// The parameters that authenticate the client and are not part of the authorization request.
const AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// A pushed request, kept until used once or expired.
#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    client_id: String,
    params: HashMap<String, String>,
    /// Expiry, ms (also enforced by the store TTL).
    expires_at: i64,
}

fn store_key(request_uri: &str) -> String {
    format!("par:{}", crate::ids::sha256_b64(request_uri.as_bytes()))
}

/// `POST /par`
pub async fn par_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    form: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let result = async {
        let axum::Form(mut q) =
            form.map_err(|_| AppError::oauth("invalid_request", "the body must be application/x-www-form-urlencoded"))?;
        let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let creds = Credentials {
            client_id: get("client_id"),
            client_secret: get("client_secret"),
            assertion_type: get("client_assertion_type"),
            assertion: get("client_assertion"),
        };
        let client = client_auth::authenticate_budgeted(&state, &headers, &creds, crate::routes::PAR, &ip).await?;
        for k in AUTH_PARAMS {
            q.remove(*k);
        }
        if q.contains_key("request_uri") {
            return Err(AppError::oauth("invalid_request", "request_uri must not be pushed"));
        }
        match q.get("client_id") {
            Some(id) if *id != client.id => {
                return Err(AppError::oauth("invalid_request", "client_id is not the authenticated client"));
            }
            Some(_) => {}
            None => {
                q.insert("client_id".into(), client.id.clone());
            }
        }
        if let Err(refusal) = check_request(&state, &q, Via::Push) {
            return Err(match refusal {
                Refusal::Page(AppError::Page { detail, .. }) => AppError::oauth("invalid_request", detail),
                Refusal::Page(e) => e,
                Refusal::Client { error, description, .. } => AppError::oauth(error, description),
            });
        }
        let request_uri = format!("{URN_PREFIX}{}", crate::ids::random_token(32));
        let ttl = Duration::from_secs(EXPIRES_IN_SECS);
        let expires_at = state.clock.now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(60_000));
        let pushed = Pushed { client_id: client.id.clone(), params: q, expires_at };
        state.records.put(&store_key(&request_uri), &pushed, ttl).await?;
        tracing::debug!(client = %client.id, "authorization request pushed");
        Ok::<_, AppError>(json!({ "request_uri": request_uri, "expires_in": EXPIRES_IN_SECS }))
    }
    .await;
    match result {
        Ok(body) => {
            let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_oauth().into_response(),
    }
}

fn gone() -> AppError {
    AppError::page(
        "The application's request has expired",
        "The sign-in request the application prepared is unknown, already used or expired. Go back to the \
         application and sign in again.",
    )
}

/// The stored parameters of the pushed request an `/authorize` query names (taken: one use),
/// `None` when the query names none. An unknown, used or expired `request_uri`, or one of
/// another client, is an error page: no redirect URI is known to be the client's.
pub async fn pushed_request(
    state: &AppState,
    q: &HashMap<String, String>,
) -> Result<Option<HashMap<String, String>>, AppError> {
    let Some(uri) = q.get("request_uri").filter(|u| u.starts_with(URN_PREFIX)) else { return Ok(None) };
    if uri.len() > param_cap("request_uri") {
        return Err(gone());
    }
    let client_id = q.get("client_id").filter(|c| !c.is_empty()).ok_or_else(|| {
        AppError::page(
            "Missing client",
            "The application did not say who it is (no client_id). Go back to it and try again.",
        )
    })?;
    let key = store_key(uri);
    let Some(found) = state.records.get::<Pushed>(&key).await? else { return Err(gone()) };
    if found.client_id != *client_id {
        tracing::warn!(client = %client_id, "request_uri of another client presented; refused");
        return Err(gone());
    }
    let Some(taken) = state.records.take::<Pushed>(&key).await? else { return Err(gone()) };
    if taken.expires_at <= state.clock.now_ms() {
        return Err(gone());
    }
    Ok(Some(taken.params))
}
