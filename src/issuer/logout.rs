//! `GET` and `POST /logout`: RP-initiated logout. Ends braid's browser session and the refresh
//! tokens issued through it when the request carries an `id_token_hint` of the signed-in person;
//! otherwise the person confirms first (a POST with the session's CSRF token from braid's own
//! origin), so that no third-party page can sign anyone out. Returns to a registered
//! `post_logout_redirect_uri` (exact match) with `state`, or shows a signed-out page. The clients
//! that got tokens in the session are told: logout tokens from the outbox (back-channel) and
//! iframes on the page (front-channel, see [`super::frontchannel`]).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::jwt;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::html;

/// `GET /logout`
pub async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    logout(state, headers, q).await
}

/// `POST /logout`: the same parameters as a form (RP-Initiated Logout 1.0 §2), or braid's own
/// confirmation form (which adds `csrf`).
pub async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let axum::Form(q) = form
        .map_err(|_| AppError::page("Invalid logout request", "The sign-out request was not a form braid can read."))?;
    logout(state, headers, q).await
}

async fn logout(state: AppState, headers: HeaderMap, q: HashMap<String, String>) -> Result<Response, AppError> {
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(name) = super::authorize::oversized(&q) {
        return Err(AppError::page("Invalid logout request", format!("`{name}` is longer than braid accepts.")));
    }
    // An expired hint is fine (RP-initiated logout §2); a forged or foreign one is not.
    let mut hinted: Option<serde_json::Map<String, serde_json::Value>> = None;
    let hinted_client = match p("id_token_hint") {
        Some(hint) => {
            let claims = jwt::verify(hint, &state.keys.snapshot().decoding, &state.issuer, jwt::TYP_ID, i64::MIN)
                .map_err(|_| {
                    AppError::page(
                        "Invalid logout request",
                        "The application sent a sign-out request braid cannot verify, so nothing was done.",
                    )
                })?;
            let aud = claims.get("aud").and_then(|a| a.as_str()).map(str::to_owned);
            hinted = Some(claims);
            aud
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
    let mut ended: Option<String> = None;
    if let Some((sid, s)) = state.current_session(&headers).await? {
        // Only the signed-in person's own application (its ID token for this account) or the
        // person (braid's confirmation form) may end the session.
        // The hint's `sub` is what its client sees (pairwise or the account id).
        let hint_matches = hinted.as_ref().is_some_and(|h| super::shape::hint_names(&state, h, s.account_id.as_str()));
        let confirmed = p("csrf").is_some_and(|c| {
            !s.csrf.is_empty() && bool::from(subtle::ConstantTimeEq::ct_eq(s.csrf.as_bytes(), c.as_bytes()))
        }) && headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_none_or(|o| o == crate::web::account::origin_of(&state.issuer));
        if !hint_matches && !confirmed {
            return Ok(confirmation(&q, &s.csrf));
        }
        state.end_session(&sid, &s).await?;
        // Tokens the applications got through this session end with it (offline ones stay), and
        // the applications are told (back-channel logout, from the outbox).
        let public = crate::ids::public_sid(&sid);
        state.grants.revoke_session(&public, state.clock.now_ms()).await?;
        tracing::info!(account = %s.account_id, "signed out");
        ended = Some(public);
    }
    let to = target.map(|uri| {
        let params: Vec<(&str, &str)> = p("state").map(|s| vec![("state", s)]).unwrap_or_default();
        if params.is_empty() { uri } else { super::authorize::with_params(&uri, &params) }
    });
    // Front-channel logout: the applications of the ended session load their logout pages first.
    let frames = match &ended {
        Some(public) => front_channel(&state, public, to.as_deref()).await,
        None => None,
    };
    let mut resp = match (frames, to) {
        (Some(page), _) => page,
        (None, Some(to)) => Redirect::to(&to).into_response(),
        (None, None) => html::signed_out(),
    };
    state.session_cookie().clear(resp.headers_mut());
    Ok(resp)
}

/// The front-channel logout page for the clients that got tokens in session `public` (its public
/// id), if any of them has a `frontchannel_logout_uri`. A store failure only skips the frames:
/// the session is already over.
async fn front_channel(state: &AppState, public: &str, next: Option<&str>) -> Option<Response> {
    let ids = match state.grants.clients_of_session(public).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "front-channel logout skipped: the grant store did not answer");
            return None;
        }
    };
    let clients: Vec<_> = ids.iter().filter_map(|id| state.clients.get(id)).collect();
    super::frontchannel::page(&clients, &state.issuer, public, next)
}

/// The page asking the person to confirm the sign-out; it posts the same parameters back with
/// the session's CSRF token.
fn confirmation(q: &HashMap<String, String>, csrf: &str) -> Response {
    let fields: Vec<(&str, &str)> = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"]
        .into_iter()
        .filter_map(|k| q.get(k).filter(|v| !v.is_empty()).map(|v| (k, v.as_str())))
        .collect();
    html::sign_out_confirmation(crate::routes::LOGOUT, &fields, csrf)
}
