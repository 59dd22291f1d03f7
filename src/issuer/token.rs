//! `POST /token`: client authentication (client_secret_basic, client_secret_post, or none for
//! public clients), the `authorization_code` grant with PKCE, and the `refresh_token` grant with
//! rotation on every use and revocation of the whole family on replay.

use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::clients::Client;
use super::grants::{Grant, Rotation};
use super::jwt;
use crate::accounts::{Account, AccountId, AccountStatus};
use crate::error::AppError;
use crate::ids;
use crate::records::{AuthCode, key};
use crate::state::AppState;

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
}

/// `POST /token`
pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let result = match form {
        Ok(Form(form)) => token(&state, &headers, form).await,
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
    let client = authenticate(state, headers, &form)?;
    match form.grant_type.as_deref() {
        Some("authorization_code") => code_grant(state, client, &form).await,
        Some("refresh_token") => refresh_grant(state, client, &form).await,
        Some(_) => Err(AppError::oauth("unsupported_grant_type", "supported: authorization_code, refresh_token")),
        None => Err(AppError::oauth("invalid_request", "grant_type is required")),
    }
}

fn invalid_client(desc: &str) -> AppError {
    AppError::OAuth { status: axum::http::StatusCode::UNAUTHORIZED, code: "invalid_client", description: desc.into() }
}

pub(crate) fn authenticate<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<&'a Client, AppError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b64| {
            let raw = STANDARD.decode(b64.trim()).map_err(|_| invalid_client("malformed Basic credentials"))?;
            let raw = String::from_utf8(raw).map_err(|_| invalid_client("malformed Basic credentials"))?;
            let (id, secret) = raw.split_once(':').ok_or_else(|| invalid_client("malformed Basic credentials"))?;
            let dec =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Ok::<_, AppError>((dec(id).unwrap_or_default(), dec(secret).unwrap_or_default()))
        })
        .transpose()?;
    if basic.is_some() && form.client_secret.is_some() {
        return Err(AppError::oauth("invalid_request", "use one client authentication method, not two"));
    }
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if form.client_id.as_deref().is_some_and(|f| f != id) {
                return Err(AppError::oauth("invalid_request", "client_id does not match the credentials"));
            }
            (id, Some(secret))
        }
        None => (
            form.client_id.clone().ok_or_else(|| invalid_client("client authentication is required"))?,
            form.client_secret.clone(),
        ),
    };
    let client = state.clients.get(&id).ok_or_else(|| invalid_client("unknown client"))?;
    match (client.is_public(), secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(invalid_client("this public client has no secret")),
        (false, Some(s)) if client.secret_matches(&s) => Ok(client),
        (false, _) => Err(invalid_client("client authentication failed")),
    }
}

fn invalid_grant(desc: &str) -> AppError {
    AppError::oauth("invalid_grant", desc)
}

async fn code_grant(state: &AppState, client: &Client, form: &TokenForm) -> Result<Value, AppError> {
    let code = form.code.as_deref().ok_or_else(|| AppError::oauth("invalid_request", "code is required"))?;
    let hash = ids::sha256_b64(code.as_bytes());
    let Some(ac) = state.records.take::<AuthCode>(&key::code(&hash)).await? else {
        // A code presented again: revoke what its first redemption produced (RFC 6749 §4.1.2).
        if let Some(grant_id) = state.records.take::<String>(&key::code_used(&hash)).await? {
            state.grants.revoke(&grant_id, state.clock.now_ms()).await?;
            tracing::warn!(client = %client.id, grant = %grant_id, "authorization code reused; grant revoked");
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
    let account = active_account(state, &ac.session.account_id).await?;
    let ttl_ms =
        i64::try_from(state.settings.tokens.refresh_token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let grant = Grant {
        id: ids::random_token(18),
        account_id: account.id.clone(),
        client_id: client.id.clone(),
        scope: ac.request.scope.clone(),
        auth_time: ac.session.auth_time,
        idp: ac.session.idp.clone(),
        amr: ac.session.amr.join(" "),
        sid: ac.sid.clone(),
        created_at: now_ms,
        expires_at: now_ms.saturating_add(ttl_ms),
        revoked_at: None,
    };
    let refresh = ids::random_token(32);
    state.grants.create(&grant, &ids::sha256_b64(refresh.as_bytes())).await?;
    state
        .records
        .put(&key::code_used(&hash), &grant.id, Duration::from_secs(state.settings.tokens.code_ttl_secs.max(600)))
        .await?;
    mint(state, &grant, &account, &grant.scope, ac.request.nonce.as_deref(), &refresh).await
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
    let new_token = ids::random_token(32);
    let now = state.clock.now_ms();
    let outcome = state.grants.rotate(&presented_hash, &ids::sha256_b64(new_token.as_bytes()), &client.id, now).await?;
    let grant = match outcome {
        Rotation::Rotated(g) => g,
        Rotation::Replayed(g) => {
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
    let account = active_account(state, &grant.account_id).await?;
    mint(state, &grant, &account, &scope, None, &new_token).await
}

async fn active_account(state: &AppState, id: &AccountId) -> Result<Account, AppError> {
    match state.accounts.account(id).await? {
        Some(a) if a.status == AccountStatus::Active => Ok(a),
        _ => Err(invalid_grant("the account is not active")),
    }
}

/// Sign the ID and access tokens for `grant` and build the token response.
async fn mint(
    state: &AppState,
    grant: &Grant,
    account: &Account,
    scope: &str,
    nonce: Option<&str>,
    refresh: &str,
) -> Result<Value, AppError> {
    let now = state.clock.now_secs();
    let t = &state.settings.tokens;
    let at_ttl = i64::try_from(t.access_token_ttl_secs).unwrap_or(i64::MAX / 4);
    let id_ttl = i64::try_from(t.id_token_ttl_secs).unwrap_or(i64::MAX / 4);
    let keys = state.keys.snapshot();
    let key = keys.set.current();
    let sign_err = |e: super::keys::KeyError| AppError::Internal(e.to_string());
    let amr: Vec<&str> = grant.amr.split(' ').filter(|s| !s.is_empty()).collect();
    let access = json!({
        "iss": &*state.issuer, "sub": account.id.as_str(), "aud": &grant.client_id,
        "client_id": &grant.client_id, "exp": now + at_ttl, "iat": now, "jti": ids::random_token(16),
        "scope": scope, "auth_time": grant.auth_time, "sid": &grant.sid, "idp": &grant.idp, "gid": &grant.id,
    });
    let mut id = json!({
        "iss": &*state.issuer, "sub": account.id.as_str(), "aud": &grant.client_id, "azp": &grant.client_id,
        "exp": now + id_ttl, "iat": now, "auth_time": grant.auth_time, "sid": &grant.sid,
        "idp": &grant.idp, "amr": amr,
    });
    if let (Some(n), Some(o)) = (nonce, id.as_object_mut()) {
        o.insert("nonce".into(), json!(n));
    }
    if let Some(o) = id.as_object_mut() {
        for (k, v) in super::userinfo::profile_claims(state, account, scope).await? {
            o.insert(k, v);
        }
    }
    Ok(json!({
        "access_token": jwt::sign(key, jwt::TYP_ACCESS, &access).map_err(sign_err)?,
        "token_type": "Bearer",
        "expires_in": at_ttl,
        "id_token": jwt::sign(key, jwt::TYP_ID, &id).map_err(sign_err)?,
        "refresh_token": refresh,
        "scope": scope,
    }))
}
