//! `POST /token`: client authentication (`client_auth`), the `authorization_code` grant with
//! PKCE, and the `refresh_token` grant with rotation on every use and revocation of the whole
//! family on replay.

use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::client_auth::{self, Credentials};
use super::clients::Client;
use super::grants::{Grant, Rotation};
use super::jwt;
use crate::accounts::AccountId;
use crate::error::AppError;
use crate::ids;
use crate::records::{AuthCode, key};
use crate::state::AppState;
use crate::trust::Checked;

/// The form of a token request.
#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    /// Also the token to revoke at `/revoke`.
    pub(crate) token: Option<String>,
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /token`
pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let result = match form {
        Ok(Form(form)) => {
            // Failures are budgeted per (claimed client, client address): guessing a client's
            // secret is slowed, and nobody elsewhere can lock a client out.
            let who = client_auth::budget_key(&headers, &form.credentials(), &ip);
            match crate::limits::check(&state, crate::limits::Kind::TokenFailure, &who, false).await {
                Err(e) => Err(e),
                Ok(()) => {
                    let result = token(&state, &headers, form).await;
                    if matches!(&result, Err(AppError::OAuth { status, .. }) if status.is_client_error()) {
                        if let Err(e) =
                            crate::limits::check(&state, crate::limits::Kind::TokenFailure, &who, true).await
                        {
                            tracing::debug!(error = %e, "token failure budget spent");
                        }
                    }
                    result
                }
            }
        }
        Err(_) => Err(AppError::oauth("invalid_request", "the body must be application/x-www-form-urlencoded")),
    };
    match result {
        Ok(body) => {
            let mut resp = axum::Json(body).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => e.into_oauth().into_response(),
    }
}

async fn token(state: &AppState, headers: &HeaderMap, form: TokenForm) -> Result<Value, AppError> {
    let client = authenticate(state, headers, &form, crate::routes::TOKEN).await?;
    match form.grant_type.as_deref() {
        Some("authorization_code") => code_grant(state, &client, &form).await,
        Some("refresh_token") => refresh_grant(state, &client, &form).await,
        Some(_) => Err(AppError::oauth("unsupported_grant_type", "supported: authorization_code, refresh_token")),
        None => Err(AppError::oauth("invalid_request", "grant_type is required")),
    }
}

impl TokenForm {
    /// The client-authentication parameters of the form.
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            client_id: self.client_id.as_deref(),
            client_secret: self.client_secret.as_deref(),
            assertion_type: self.client_assertion_type.as_deref(),
            assertion: self.client_assertion.as_deref(),
        }
    }
}

/// Authenticate the client of a form posted to `path` (a route of braid's).
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
    path: &str,
) -> Result<std::sync::Arc<Client>, AppError> {
    client_auth::authenticate(state, headers, &form.credentials(), path).await
}

/// [`authenticate`] within the client-authentication failure budget (`/revoke`, `/introspect`).
pub(crate) async fn authenticate_budgeted(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
    path: &str,
    ip: &Option<String>,
) -> Result<std::sync::Arc<Client>, AppError> {
    client_auth::authenticate_budgeted(state, headers, &form.credentials(), path, ip).await
}

fn invalid_grant(desc: &str) -> AppError {
    AppError::oauth("invalid_grant", desc)
}

async fn code_grant(state: &AppState, client: &Client, form: &TokenForm) -> Result<Value, AppError> {
    let code = form.code.as_deref().ok_or_else(|| AppError::oauth("invalid_request", "code is required"))?;
    let hash = ids::sha256_b64(code.as_bytes());
    // The code is taken and marked used in one atomic step, the mark naming the grant it is about
    // to make: a second presentation at any moment after finds the mark.
    let grant_id = ids::random_token(18);
    let marker_ttl = Duration::from_secs(state.settings.tokens.code_ttl_secs.max(600));
    let taken = state
        .records
        .take_and_mark::<AuthCode, _>(&key::code(&hash), &key::code_used(&hash), &grant_id, marker_ttl)
        .await?;
    let Some(ac) = taken else {
        // A code presented again: revoke what its first redemption produced (RFC 6749 §4.1.2),
        // and tell a redemption still under way (it checks before answering).
        if let Some(first) = state.records.get::<String>(&key::code_used(&hash)).await? {
            // Revoked even when the marker cannot be written (a store failure must not keep
            // the first redemption's tokens alive).
            let marked = state.records.put(&key::code_reused(&hash), &true, marker_ttl).await;
            state.grants.revoke(&first, state.clock.now_ms()).await?;
            marked?;
            tracing::warn!(client = %client.id, grant = %first, "authorization code reused; grant revoked");
        }
        return Err(invalid_grant("the code is invalid, expired or already used"));
    };
    let now_ms = state.clock.now_ms();
    if ac.expires_at <= now_ms {
        return Err(invalid_grant("the code has expired"));
    }
    if ac.request.client_id != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.redirect_uri.as_deref() != Some(ac.request.redirect_uri.as_str()) {
        return Err(invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&ac.request.code_challenge, form.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            let ok_syntax = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = ids::sha256_b64(verifier.as_bytes());
            if !ok_syntax || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
        (None, Some(_)) => return Err(invalid_grant("code_verifier sent but no code_challenge was")),
        (None, None) => {}
    }
    // The code is worth only as much as the session it came from: that session must still live,
    // and its identity still sign in to the account.
    if !session_lives(state, Some(&ac.session_key), &ac.session.account_id).await? {
        return Err(invalid_grant("the browser session of this code has ended"));
    }
    let checked = standing(
        state,
        &ac.session.account_id,
        Some(ac.session.identity_id),
        Some(&ac.session.provider_id),
        Some(ac.session.created_at),
        &client.id,
    )
    .await?;
    let ttl_ms =
        i64::try_from(state.settings.tokens.refresh_token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let grant = Grant {
        id: grant_id,
        account_id: checked.account.id.clone(),
        client_id: client.id.clone(),
        scope: ac.request.scope.clone(),
        auth_time: ac.session.auth_time,
        idp: ac.session.idp.clone(),
        amr: ac.session.amr.join(" "),
        sid: ac.sid.clone(),
        created_at: now_ms,
        expires_at: now_ms.saturating_add(ttl_ms),
        revoked_at: None,
        identity_id: Some(ac.session.identity_id),
        provider_id: Some(ac.session.provider_id.clone()),
        session_key: Some(ac.session_key.clone()),
        acr: ac.session.acr.clone(),
        claims: ac.request.claims.clone(),
    };
    let refresh = ids::random_token(32);
    state.grants.create(&grant, &ids::sha256_b64(refresh.as_bytes())).await?;
    if state.records.get::<bool>(&key::code_reused(&hash)).await?.is_some() {
        state.grants.revoke(&grant.id, state.clock.now_ms()).await?;
        tracing::warn!(client = %client.id, grant = %grant.id, "authorization code reused during its redemption; grant revoked");
        return Err(invalid_grant("the code is invalid, expired or already used"));
    }
    let body = mint(state, &grant, &checked, &grant.scope, ac.request.nonce.as_deref(), &refresh)?;
    crate::metrics::token_issued("authorization_code");
    Ok(body)
}

/// Whether the browser session stored under `session_key` still lives, for `account`.
async fn session_lives(state: &AppState, session_key: Option<&str>, account: &AccountId) -> Result<bool, AppError> {
    let Some(k) = session_key.filter(|k| !k.is_empty()) else { return Ok(false) };
    let session: Option<crate::records::BrowserSession> = state.records.get(k).await?;
    Ok(session.is_some_and(|s| s.account_id == *account))
}

/// The account and its identities, if the identity behind a code or grant may still sign in
/// to it.
async fn standing(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
    client: &str,
) -> Result<Checked, AppError> {
    match crate::trust::check_all(state, account, identity, provider, session_made).await? {
        Ok(a) => Ok(a),
        Err(lost) => {
            tracing::info!(account = %account, client = %client, reason = lost.as_str(), "tokens refused: the sign-in no longer stands");
            Err(invalid_grant("the sign-in behind this grant no longer stands"))
        }
    }
}

async fn refresh_grant(state: &AppState, client: &Client, form: &TokenForm) -> Result<Value, AppError> {
    let presented =
        form.refresh_token.as_deref().ok_or_else(|| AppError::oauth("invalid_request", "refresh_token is required"))?;
    let presented_hash = ids::sha256_b64(presented.as_bytes());
    // A wider scope is refused before the token is spent.
    if let Some(asked) = form.scope.as_deref() {
        if let Some(g) = state.grants.by_token(&presented_hash).await? {
            let granted: Vec<&str> = g.scope.split(' ').collect();
            if g.client_id == client.id && asked.split(' ').any(|a| !a.is_empty() && !granted.contains(&a)) {
                return Err(AppError::oauth("invalid_scope", "the requested scope exceeds the granted scope"));
            }
        }
    }
    let now = state.clock.now_ms();
    // Everything that may refuse or fail is checked before the token is spent: once rotated, only
    // signing (no store) is left, so a store failure never leaves the client without its new token.
    let checked = match state.grants.by_token_state(&presented_hash).await? {
        Some((g, false)) if g.client_id == client.id && g.revoked_at.is_none() && g.expires_at > now => {
            Some(still_allowed(state, &g, client, now).await?)
        }
        _ => None,
    };
    let new_token = ids::random_token(32);
    let grace_ms = i64::try_from(state.settings.tokens.refresh_reuse_grace_secs.saturating_mul(1000)).unwrap_or(0);
    let outcome =
        state.grants.rotate(&presented_hash, &ids::sha256_b64(new_token.as_bytes()), &client.id, now, grace_ms).await?;
    let grant = match outcome {
        Rotation::Rotated(g) => g,
        Rotation::Replayed(g) => {
            crate::metrics::refresh_reuse();
            tracing::warn!(client = %client.id, grant = %g.id, account = %g.account_id, "rotated refresh token replayed; grant revoked");
            return Err(invalid_grant("the refresh token was already used; the grant is revoked"));
        }
        Rotation::Dead(_) => return Err(invalid_grant("the grant is revoked or expired")),
        Rotation::WrongClient | Rotation::Unknown => return Err(invalid_grant("unknown refresh token")),
    };
    let scope = match form.scope.as_deref() {
        None => grant.scope.clone(),
        Some(s) => {
            let granted: Vec<&str> = grant.scope.split(' ').collect();
            let asked: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if asked.iter().any(|a| !granted.contains(a)) {
                return Err(AppError::oauth("invalid_scope", "the requested scope exceeds the granted scope"));
            }
            asked.join(" ")
        }
    };
    // A retried rotation (within the grace) was not checked before: it is now.
    let checked = match checked {
        Some(c) => c,
        None => still_allowed(state, &grant, client, now).await?,
    };
    let body = mint(state, &grant, &checked, &scope, None, &new_token)?;
    crate::metrics::token_issued("refresh_token");
    Ok(body)
}

/// Trust is checked again at every refresh: the identity, its provider and the account; and a
/// grant without offline_access ends with its browser session. A refusal revokes the grant; a
/// store that cannot answer is an error (nothing revoked, nothing spent).
async fn still_allowed(state: &AppState, grant: &Grant, client: &Client, now: i64) -> Result<Checked, AppError> {
    let checked =
        match standing(state, &grant.account_id, grant.identity_id, grant.provider_id.as_deref(), None, &client.id)
            .await
        {
            Ok(a) => a,
            Err(e @ AppError::OAuth { .. }) => {
                state.grants.revoke(&grant.id, now).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
    let offline = grant.scope.split(' ').any(|s| s == "offline_access");
    if !offline && !session_lives(state, grant.session_key.as_deref(), &grant.account_id).await? {
        state.grants.revoke(&grant.id, now).await?;
        tracing::info!(client = %client.id, grant = %grant.id, "refresh refused: the browser session ended and the grant is not offline");
        return Err(invalid_grant("the browser session of this grant has ended"));
    }
    Ok(checked)
}

/// Sign the ID and access tokens for `grant` and build the token response. The grant's `acr`
/// and the claims its request asked for go in every time; the profile claims come from the
/// identities the trust check read.
fn mint(
    state: &AppState,
    grant: &Grant,
    checked: &Checked,
    scope: &str,
    nonce: Option<&str>,
    refresh: &str,
) -> Result<Value, AppError> {
    let now = state.clock.now_secs();
    let t = &state.settings.tokens;
    let at_ttl = i64::try_from(t.access_token_ttl_secs).unwrap_or(i64::MAX / 4);
    let id_ttl = i64::try_from(t.id_token_ttl_secs).unwrap_or(i64::MAX / 4);
    let sign_err = |e: super::keys::KeyError| AppError::Internal(e.to_string());
    // The client's algorithms and subject (looked up again: one removed meanwhile gets nothing).
    let client = state.clients.get(&grant.client_id).ok_or_else(|| invalid_grant("unknown client"))?;
    let shape = &client.token_shape;
    let keys = state.keys.snapshot();
    let key_for = |alg: Option<crate::config::SigningAlg>| {
        let alg = alg.unwrap_or(keys.set.default_alg());
        keys.set.current_for(alg).ok_or_else(|| AppError::Internal(format!("no {} signing key", alg.as_str())))
    };
    let (id_key, access_key) = (key_for(shape.id_token_alg)?, key_for(shape.access_token_alg)?);
    let sub = super::shape::subject(state, shape, checked.account.id.as_str());
    let amr: Vec<&str> = grant.amr.split(' ').filter(|s| !s.is_empty()).collect();
    let mut access = json!({
        "iss": &*state.issuer, "sub": &sub, "aud": &grant.client_id,
        "client_id": &grant.client_id, "exp": now + at_ttl, "iat": now, "jti": ids::random_token(16),
        "scope": scope, "sid": &grant.sid, "idp": &grant.idp, "gid": &grant.id,
    });
    let mut id = json!({
        "iss": &*state.issuer, "sub": &sub, "aud": &grant.client_id, "azp": &grant.client_id,
        "exp": now + id_ttl, "iat": now, "sid": &grant.sid,
        "idp": &grant.idp, "amr": amr,
    });
    // auth_time only when known: braid never invents it.
    if let Some(t) = grant.auth_time {
        for o in [access.as_object_mut(), id.as_object_mut()].into_iter().flatten() {
            o.insert("auth_time".into(), json!(t));
        }
    }
    if let (Some(n), Some(o)) = (nonce, id.as_object_mut()) {
        o.insert("nonce".into(), json!(n));
    }
    let asked = &grant.claims;
    if let Some(o) = id.as_object_mut() {
        for (k, v) in super::userinfo::profile_claims(&checked.account, &checked.identities, scope, &asked.id_token) {
            o.insert(k, v);
        }
        if let Some(acr) = grant.acr.as_deref() {
            o.insert("acr".into(), json!(acr));
        }
    }
    if let (false, Some(o)) = (asked.userinfo.is_empty(), access.as_object_mut()) {
        o.insert(super::userinfo::USERINFO_CLAIMS.into(), json!(asked.userinfo));
    }
    Ok(json!({
        "access_token": jwt::sign(access_key, jwt::TYP_ACCESS, &access).map_err(sign_err)?,
        "token_type": "Bearer",
        "expires_in": at_ttl,
        "id_token": jwt::sign(id_key, jwt::TYP_ID, &id).map_err(sign_err)?,
        "refresh_token": refresh,
        "scope": scope,
    }))
}
