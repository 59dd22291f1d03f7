//! `GET /login` (the provider chooser, with `idp_hint` and email-domain routing, skipped when
//! only one provider can be used) and `GET /login/{provider}` (start an upstream sign-in).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, esc};
use crate::error::AppError;
use crate::issuer::authorize::with_params;
use crate::state::AppState;
use crate::upstream::Protocol;

fn start_url(provider: &str, tx: Option<&str>, hint: Option<&str>, force: bool) -> String {
    let base = format!("/login/{provider}");
    let mut params = Vec::new();
    if force {
        params.push(("prompt", "login"));
    }
    if let Some(t) = tx {
        params.push(("tx", t));
    }
    if let Some(h) = hint {
        params.push(("login_hint", h));
    }
    if params.is_empty() { base } else { with_params(&base, &params) }
}

/// Refuse parameters longer than braid stores or reflects.
fn too_long(q: &HashMap<String, String>) -> Result<(), AppError> {
    match crate::issuer::authorize::oversized(q) {
        Some(name) => Err(AppError::page("Request too large", format!("`{name}` is longer than braid accepts."))),
        None => Ok(()),
    }
}

/// `GET /login`
pub async fn login_get(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    too_long(&q)?;
    let tx = q.get("tx").map(String::as_str).filter(|t| !t.is_empty());
    let login_hint = q.get("login_hint").or_else(|| q.get("email")).map(String::as_str).filter(|h| !h.is_empty());
    let force = q.get("prompt").is_some_and(|p| p == "login");
    // prompt=select_account: the person chooses, even among one provider or with a hint.
    let choose = q.get("prompt").is_some_and(|p| p == "select_account");
    let providers = state.providers.snapshot();
    if let Some(hint) = q.get("idp_hint").filter(|_| !choose) {
        if providers.enabled(hint).is_some_and(|p| p.usable()) {
            return Ok(Redirect::to(&start_url(hint, tx, login_hint, force)).into_response());
        }
    }
    let domain = login_hint.and_then(|h| h.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase());
    if let Some(d) = domain.filter(|_| !choose) {
        if let Some(p) = providers.usable().find(|p| p.domains.contains(&d)) {
            return Ok(Redirect::to(&start_url(&p.id, tx, login_hint, force)).into_response());
        }
    }
    let usable: Vec<_> = providers.usable().collect();
    match usable.as_slice() {
        [] => Err(AppError::page_status(
            StatusCode::SERVICE_UNAVAILABLE,
            "No sign-in providers",
            "braid has no enabled provider to sign in with. The administrator must add a provider file to the providers directory.",
        )),
        [only] if !choose => Ok(Redirect::to(&start_url(&only.id, tx, login_hint, force)).into_response()),
        many => {
            let mut body =
                String::from("<h1>Sign in</h1><p>Choose how to sign in.</p><ul style=\"list-style:none;padding:0\">");
            for p in many {
                body.push_str(&format!(
                    "<li><a class=\"button\" href=\"{}\">{}</a></li>",
                    esc(&start_url(&p.id, tx, login_hint, force)),
                    esc(&p.display_name)
                ));
            }
            body.push_str("</ul>");
            body.push_str(&format!(
                "<form method=\"get\" action=\"/login\"><label>Or type your work email<input type=\"email\" name=\"email\" autocomplete=\"email\" value=\"{}\"></label>{}<button type=\"submit\" class=\"secondary\">Continue</button></form>",
                esc(login_hint.unwrap_or_default()),
                tx.map(|t| format!("<input type=\"hidden\" name=\"tx\" value=\"{}\">", esc(t))).unwrap_or_default()
            ));
            Ok(html::respond(StatusCode::OK, html::page("Sign in", &body)))
        }
    }
}

/// `GET /login/{provider}`
pub async fn login_provider_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    too_long(&q)?;
    let provider = state.providers.snapshot().enabled(&id).filter(|p| p.usable()).cloned().ok_or_else(|| {
        AppError::page_status(
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "This sign-in provider does not exist or is disabled. Choose another on the sign-in page.",
        )
    })?;
    let tx = q.get("tx").filter(|t| !t.is_empty()).cloned();
    let hint = q.get("login_hint").map(String::as_str).filter(|h| !h.is_empty());
    let force = q.get("prompt").is_some_and(|p| p == "login");
    start(&state, &headers, ip.as_deref(), &provider, tx, hint, None, force).await
}

/// Start a sign-in (or, with `link`, a link) with `provider`, within the rate limits on
/// starting sign-ins (per client address `ip`, and per provider).
#[allow(clippy::too_many_arguments)] // the request's parts and what the sign-in is for
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<&str>,
    provider: &crate::upstream::Provider,
    tx: Option<String>,
    hint: Option<&str>,
    link: Option<crate::accounts::AccountId>,
    force: bool,
) -> Result<Response, AppError> {
    crate::limits::check(state, crate::limits::Kind::SignInStart, ip.unwrap_or("unknown"), true).await?;
    crate::limits::check(state, crate::limits::Kind::ProviderStart, &provider.id, true).await?;
    match &provider.protocol {
        Protocol::Dev => {
            // The dev form is a fresh sign-in every time.
            crate::signin::live_tx(state, tx.as_deref()).await?;
            let (login_state, cookie) =
                crate::signin::begin(state, headers, provider, tx, None, link, false, None).await?;
            Ok(crate::upstream::dev::form(provider, &login_state, cookie))
        }
        Protocol::Oidc(_) | Protocol::OAuth2(_) => {
            crate::upstream::callback::start(state, headers, provider, tx, hint, link, force).await
        }
        Protocol::Saml(client) => {
            crate::upstream::saml::acs::start(state, headers, provider, client, tx, link, force).await
        }
    }
}
