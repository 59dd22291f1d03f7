//! `GET /auth/start?rd=` and `/auth/sign-out?rd=`: the links a proxy sends people to. `rd` is
//! followed only when it is an http(s) URL on a route's host or a `[proxy] redirect_hosts`
//! entry; anything else is an error page and changes nothing. Sign-in reuses the chooser and
//! the providers through a login transaction that returns to `rd`.
//!
//! Sign-out is a GET (the oauth2-proxy convention: a plain link in the protected app), so a
//! third-party page could navigate a browser to it. It ends the session at once only when the
//! browser says the navigation came from braid's own site or typed by the person
//! (`Sec-Fetch-Site` of `same-origin`, `same-site` or `none`); a cross-site or unlabelled
//! request gets a confirmation page that POSTs back with the session's CSRF token.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::error::AppError;
use crate::records::{LoginTx, ProxyReturn, key};
use crate::state::AppState;
use crate::web::html;

/// A 303 to `to`.
fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => html::error_page(StatusCode::BAD_REQUEST, "Invalid return address", "braid cannot send you there."),
    }
}

fn refused_rd(reason: &str) -> AppError {
    AppError::page(
        "Return address refused",
        format!(
            "The application asked braid to send you to an address braid does not protect ({reason}), so braid will \
             not send you there and did nothing. Tell the application's administrator."
        ),
    )
}

/// The checked `rd` of `q` (`None` when absent); other parameters are capped as everywhere.
fn return_param(state: &AppState, q: &HashMap<String, String>) -> Result<Option<Url>, AppError> {
    if let Some(name) = crate::issuer::authorize::oversized(q) {
        return Err(AppError::page("Request too large", format!("`{name}` is longer than braid accepts.")));
    }
    // An `rd` that is present but empty is refused like any other bad one.
    match q.get("rd") {
        None => Ok(None),
        Some(rd) => state.proxy.return_address(rd).map(Some).map_err(refused_rd),
    }
}

/// `GET /auth/start?rd=`: a live session goes straight back to `rd`; otherwise the person
/// signs in (chooser, provider) and then returns to `rd`.
pub async fn start_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let rd = return_param(&state, &q)?.ok_or_else(|| {
        AppError::page(
            "Missing return address",
            "The sign-in link did not say where to return you (no rd). Go back to the application.",
        )
    })?;
    if let Some((sid, s)) = state.current_session(&headers).await? {
        match crate::trust::check(&state, &s.account_id, Some(s.identity_id), Some(&s.provider_id), Some(s.created_at))
            .await?
        {
            Ok(_) => return Ok(see_other(rd.as_str())),
            Err(lost) => {
                tracing::info!(account = %s.account_id, reason = lost.as_str(), "session ended before forward-auth sign-in");
                state.end_session(&sid, &s).await?;
            }
        }
    }
    crate::limits::check(&state, crate::limits::Kind::SignInStart, crate::limits::address(&ip), true).await?;
    let tx = crate::ids::random_token(24);
    let ret = LoginTx::Proxy(ProxyReturn { return_to: rd.into() });
    state.records.put(&key::tx(&tx), &ret, Duration::from_secs(state.settings.session.login_ttl_secs)).await?;
    Ok(see_other(&crate::issuer::authorize::with_params(crate::routes::LOGIN, &[("tx", &tx)])))
}

/// After a sign-in started at `/auth/start`: back to the return address (checked again).
pub fn return_after_sign_in(state: &AppState, ret: &ProxyReturn) -> Response {
    match state.proxy.return_address(&ret.return_to) {
        Ok(url) => see_other(url.as_str()),
        Err(reason) => refused_rd(reason).into_response(),
    }
}

/// End this browser's session and the tokens issued through it.
async fn end(state: &AppState, sid: &str, s: &crate::records::BrowserSession) -> Result<(), AppError> {
    state.end_session(sid, s).await?;
    state.grants.revoke_session(&crate::ids::public_sid(sid), state.clock.now_ms()).await?;
    tracing::info!(account = %s.account_id, "signed out (forward-auth)");
    Ok(())
}

/// Signed out: to `rd`, or braid's signed-out page; the session cookie is cleared.
fn done(state: &AppState, rd: Option<&Url>) -> Response {
    let mut resp = match rd {
        Some(u) => see_other(u.as_str()),
        None => html::signed_out(),
    };
    state.session_cookie().clear(resp.headers_mut());
    resp
}

/// `GET /auth/sign-out?rd=`
pub async fn sign_out_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let rd = return_param(&state, &q)?;
    let Some((sid, s)) = state.current_session(&headers).await? else {
        return Ok(done(&state, rd.as_ref()));
    };
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("same-origin" | "same-site" | "none")) {
        end(&state, &sid, &s).await?;
        return Ok(done(&state, rd.as_ref()));
    }
    Ok(confirmation(rd.as_ref(), &s.csrf))
}

/// `POST /auth/sign-out`: braid's confirmation form (`csrf`, `rd`).
pub async fn sign_out_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let axum::Form(q) =
        form.map_err(|_| AppError::page("Invalid sign-out request", "The sign-out was not a form braid can read."))?;
    let rd = return_param(&state, &q)?;
    let Some((sid, s)) = state.current_session(&headers).await? else {
        return Ok(done(&state, rd.as_ref()));
    };
    let token_ok = q.get("csrf").is_some_and(|c| {
        !s.csrf.is_empty() && bool::from(subtle::ConstantTimeEq::ct_eq(s.csrf.as_bytes(), c.as_bytes()))
    });
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == crate::web::account::origin_of(&state.issuer));
    if !token_ok || !origin_ok {
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "Sign-out not confirmed",
            "This sign-out did not come from braid's confirmation page, so you are still signed in.",
        ));
    }
    end(&state, &sid, &s).await?;
    Ok(done(&state, rd.as_ref()))
}

/// The page asking the person to confirm a sign-out that another site started.
fn confirmation(rd: Option<&Url>, csrf: &str) -> Response {
    let fields: Vec<(&str, &str)> = rd.map(|u| ("rd", u.as_str())).into_iter().collect();
    html::sign_out_confirmation(crate::routes::AUTH_SIGN_OUT, &fields, csrf)
}
