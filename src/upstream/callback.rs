//! Starting an OIDC sign-in (`GET /login/{provider}`) and finishing it at the provider's own
//! callback (`GET /callback/{provider}`): state bound to this browser and taken once, RFC 9207
//! `iss` checked, the code redeemed with PKCE, and the ID token validated before anything is
//! written.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::oidc::{Metadata, OidcClient};
use super::registry::issuer_matches;
use super::{Protocol, Provider};
use crate::error::AppError;
use crate::ids;
use crate::records::UpstreamAttempt;
use crate::state::AppState;
use crate::web::client_ip::ClientIp;

/// The redirect URI braid registers at provider `id`.
pub fn redirect_uri(state: &AppState, id: &str) -> String {
    format!("{}/callback/{id}", state.issuer)
}

fn unreachable_page(provider: &Provider) -> AppError {
    AppError::page_status(
        StatusCode::BAD_GATEWAY,
        format!("{} cannot be reached", provider.display_name),
        "braid could not reach this sign-in provider, so nothing was changed. Try again later or choose another way to sign in.",
    )
}

async fn metadata(
    state: &AppState,
    provider: &Provider,
    client: &OidcClient,
) -> Result<std::sync::Arc<Metadata>, AppError> {
    client.metadata(&state.http, state.clock.now_ms()).await.map_err(|e| {
        tracing::warn!(provider = %provider.id, error = %e, "upstream discovery failed");
        unreachable_page(provider)
    })
}

/// Send the browser to an OIDC or OAuth2 provider.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    tx: Option<String>,
    login_hint: Option<&str>,
    link: Option<crate::accounts::AccountId>,
    force: bool,
) -> Result<Response, AppError> {
    // Linking always asks the upstream for a fresh sign-in; so does a client's prompt=login or
    // max_age.
    let client_request = match crate::signin::live_tx(state, tx.as_deref()).await? {
        Some(crate::records::LoginTx::Client(r)) => Some(r),
        _ => None,
    };
    let asked_by_client = client_request.as_ref().is_some_and(|r| r.force_login);
    // What the client asked of the sign-in goes upstream; never for a link.
    let asked = client_request.as_ref().filter(|_| link.is_none());
    let acr_values = asked.and_then(|r| r.acr_values.clone());
    let select_account = asked.is_some_and(|r| r.select_account);
    // An OAuth2 provider that cannot be made to authenticate the person again cannot answer a
    // client's prompt=login or max_age: the client hears login_required (OIDC Core 3.1.2.6).
    if let (Protocol::OAuth2(client), Some(t)) = (&provider.protocol, &tx) {
        if asked_by_client && link.is_none() && !client.settings.can_force_login {
            return crate::issuer::authorize::answer_with_error(
                state,
                t,
                "login_required",
                "the chosen provider cannot confirm a fresh sign-in",
            )
            .await;
        }
    }
    let force_login = force || link.is_some() || asked_by_client;
    let upstream = UpstreamAttempt { nonce: ids::random_token(24), verifier: ids::random_token(32) };
    let challenge = ids::sha256_b64(upstream.verifier.as_bytes());
    let nonce = upstream.nonce.clone();
    let redirect = redirect_uri(state, &provider.id);
    let meta = match &provider.protocol {
        Protocol::Oidc(client) => Some(metadata(state, provider, client).await?),
        _ => None,
    };
    let (login_state, cookie) =
        crate::signin::begin(state, headers, provider, tx, Some(upstream), link, force_login, None).await?;
    let url = match (&provider.protocol, meta) {
        (Protocol::Oidc(client), Some(meta)) => client.authorization_url(
            &meta,
            &redirect,
            &login_state,
            &nonce,
            &challenge,
            login_hint,
            force_login,
            super::oidc::ClientAsks { acr_values: acr_values.as_deref(), select_account },
        ),
        (Protocol::OAuth2(client), _) => {
            client.authorization_url(&redirect, &login_state, &challenge, login_hint, force_login)
        }
        _ => return Err(AppError::page("Provider not available", "This provider cannot be started this way.")),
    };
    let mut resp = Redirect::to(&url).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

fn refused(provider: &str) -> AppError {
    AppError::page(
        "Sign-in could not be verified",
        format!(
            "braid could not verify the answer of {provider}, so you were not signed in and nothing was changed. Start again."
        ),
    )
}

/// `GET /callback/{provider}`
pub async fn callback_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    crate::limits::check(&state, crate::limits::Kind::Callback, crate::limits::address(&ip), true).await?;
    let provider = state.providers.snapshot().enabled(&id).cloned().ok_or_else(|| {
        AppError::page_status(
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "This sign-in provider does not exist or is disabled.",
        )
    })?;
    if matches!(provider.protocol, Protocol::Dev | Protocol::Saml(_)) {
        return Err(AppError::page_status(StatusCode::NOT_FOUND, "Unknown provider", "This provider has no callback."));
    }
    // Codes of some providers are long (Entra ID's exceed 1 KiB); everything else is short.
    let cap = |k: &str| if k == "code" { 8192 } else { crate::issuer::authorize::MAX_PARAM * 2 };
    if let Some((k, _)) = q.iter().find(|(k, v)| v.len() > cap(k)) {
        return Err(AppError::page(
            "Sign-in answer too large",
            format!("The provider's `{k}` is longer than braid accepts. Start again."),
        ));
    }
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let login_state = p("state").ok_or_else(|| {
        AppError::page("Sign-in answer without state", "The provider's answer is missing its state, so braid cannot tell which sign-in it belongs to. Start again.")
    })?;
    // Bound to this browser and taken once, before anything else is looked at.
    let attempt = crate::signin::take_attempt(&state, &headers, login_state, &provider.id).await?;
    if let Some(err) = p("error") {
        tracing::info!(provider = %provider.id, error = %err, description = ?p("error_description"), "upstream refused the sign-in");
        crate::metrics::sign_in(&provider.id, crate::metrics::outcome::REFUSED_UPSTREAM);
        return Err(AppError::page(
            format!("{} did not sign you in", provider.display_name),
            format!(
                "The provider answered `{err}`. Nothing was changed. Start again, or choose another way to sign in."
            ),
        ));
    }
    let code = p("code").ok_or_else(|| refused(&provider.display_name))?;
    let upstream = attempt.upstream.clone().ok_or_else(|| refused(&provider.display_name))?;
    let redirect = redirect_uri(&state, &provider.id);
    let log_refusal = |e: &dyn std::fmt::Display| {
        tracing::warn!(provider = %provider.id, error = %e, "upstream sign-in refused");
        crate::metrics::sign_in(&provider.id, crate::metrics::outcome::REFUSED_UPSTREAM);
        refused(&provider.display_name)
    };
    let mut attempt = attempt;
    let (identity, amr, auth_time) = match &provider.protocol {
        Protocol::Oidc(client) => {
            let meta = metadata(&state, &provider, client).await?;
            match p("iss") {
                Some(iss) if !issuer_matches(&client.settings.issuer, iss) => {
                    return Err(log_refusal(&format!("authorization response from another issuer `{iss}` (mix-up)")));
                }
                None if meta.iss_parameter_supported => {
                    return Err(log_refusal(&"authorization response without the iss the provider advertises"));
                }
                _ => {}
            }
            let done = client
                .finish(&state.http, &meta, code, &upstream.verifier, &redirect, &upstream.nonce, state.clock.now_ms())
                .await
                .map_err(|e| log_refusal(&e))?;
            if attempt.force_login {
                // A fresh sign-in was asked for: the provider must say it happened after we asked.
                let skew = client.settings.clock_skew_secs;
                let fresh = done.auth_time.is_some_and(|t| t + skew >= attempt.started_at / 1000);
                if !fresh {
                    return Err(log_refusal(
                        &"a fresh sign-in was asked for and the provider's auth_time is missing or older",
                    ));
                }
            }
            attempt.upstream_acr = done.acr;
            (done.identity, done.amr.first().cloned().unwrap_or_else(|| "fed".into()), done.auth_time)
        }
        Protocol::OAuth2(client) => {
            if let Some(iss) = p("iss").filter(|i| *i != client.settings.issuer) {
                return Err(log_refusal(&format!("authorization response from another issuer `{iss}` (mix-up)")));
            }
            let identity =
                client.finish(&state.http, code, &upstream.verifier, &redirect).await.map_err(|e| log_refusal(&e))?;
            // OAuth2 says nothing of when the person authenticated; only a provider known to
            // honour prompt=login, asked for it, authenticated them after braid asked.
            let auth_time =
                (attempt.force_login && client.settings.can_force_login).then_some(attempt.started_at / 1000);
            (identity, "fed".to_owned(), auth_time)
        }
        Protocol::Dev | Protocol::Saml(_) => return Err(refused(&provider.display_name)),
    };
    crate::signin::finish(&state, &headers, ip, &provider, attempt, identity, &amr, auth_time).await
}
