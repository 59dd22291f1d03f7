//! `GET /logout`: RP-initiated logout. Ends braid's browser session; returns to a registered
//! `post_logout_redirect_uri` (exact match) with `state`, or shows a signed-out page.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::jwt;
use crate::error::AppError;
use crate::records::key;
use crate::state::AppState;
use crate::web::{cookies, html};

/// `GET /logout`
pub async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // An expired hint is fine (RP-initiated logout §2); a forged or foreign one is not.
    let hinted_client = match p("id_token_hint") {
        Some(hint) => {
            let claims = jwt::verify(hint, &state.keys.snapshot().decoding, &state.issuer, jwt::TYP_ID, i64::MIN)
                .map_err(|_| {
                    AppError::page(
                        "Invalid logout request",
                        "The application sent a sign-out request braid cannot verify, so nothing was done.",
                    )
                })?;
            claims.get("aud").and_then(|a| a.as_str()).map(str::to_owned)
        }
        None => None,
    };
    let client_id = match (p("client_id"), hinted_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(AppError::page("Invalid logout request", "client_id does not match id_token_hint."));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let target = match p("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client_id.as_deref().and_then(|c| state.clients.get(c));
            match client {
                Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.to_owned()),
                _ => {
                    return Err(AppError::page(
                        "Unregistered sign-out address",
                        "The application asked to be sent to an address it has not registered for sign-out. You were not signed out; tell the application's administrator.",
                    ));
                }
            }
        }
    };
    if let Some((sid, s)) = state.current_session(&headers).await? {
        state.records.store().delete(&key::session(&sid)).await?;
        state.records.store().index_remove(s.account_id.as_str(), &key::session(&sid)).await?;
        // Tokens the applications got through this session end with it (offline ones stay).
        state.grants.revoke_session(&crate::ids::public_sid(&sid), state.clock.now_ms()).await?;
        tracing::info!(account = %s.account_id, "signed out");
    }
    let mut resp = match target {
        Some(uri) => {
            let params: Vec<(&str, &str)> = p("state").map(|s| vec![("state", s)]).unwrap_or_default();
            let to = if params.is_empty() { uri } else { super::authorize::with_params(&uri, &params) };
            Redirect::to(&to).into_response()
        }
        None => html::respond(
            StatusCode::OK,
            html::page(
                "Signed out",
                "<h1>You are signed out of braid</h1><p><a class=\"button\" href=\"/login\">Sign in again</a></p>",
            ),
        ),
    };
    resp.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::SESSION, state.secure_cookies()));
    Ok(resp)
}
