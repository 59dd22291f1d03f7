//! `GET,POST /userinfo`: claims about the account behind a valid access token (header or form
//! body; never the query string), and the profile claims shared with the ID token.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::jwt;
use crate::accounts::{Account, Identity};
use crate::error::AppError;
use crate::state::AppState;

/// `email` and `profile` claims from the account's primary identity (among `identities`, the
/// account's), as the scope allows, and the claims of `asked` (the `claims` request parameter,
/// names of `REQUESTABLE`) whatever the scope.
pub fn profile_claims(account: &Account, identities: &[Identity], scope: &str, asked: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    let scopes: Vec<&str> = scope.split(' ').collect();
    let wants = |claim: &str, by_scope: &str| scopes.contains(&by_scope) || asked.iter().any(|a| a == claim);
    let (email, email_verified, name, username) = (
        wants("email", "email"),
        wants("email_verified", "email"),
        wants("name", "profile"),
        wants("preferred_username", "profile"),
    );
    if !(email || email_verified || name || username) {
        return out;
    }
    if let Some(p) = crate::trust::primary_of(account, identities) {
        if let Some(e) = p.email.as_ref().filter(|_| email) {
            out.insert("email".into(), json!(e));
        }
        if p.email.is_some() && email_verified {
            out.insert("email_verified".into(), json!(p.email_verified));
        }
        if let Some(n) = p.name.as_ref().filter(|_| name) {
            out.insert("name".into(), json!(n));
        }
        let preferred = p.last_claims.get("preferred_username").and_then(Value::as_str).filter(|u| !u.is_empty());
        if let Some(u) = preferred.filter(|_| username) {
            out.insert("preferred_username".into(), json!(u));
        }
    }
    out
}

/// The access token's claim listing the claims asked for at `/userinfo` by the `claims` parameter.
pub const USERINFO_CLAIMS: &str = "userinfo_claims";

fn bearer_error(status: StatusCode, code: &'static str, desc: &str) -> Response {
    let challenge = format!("Bearer error=\"{code}\", error_description=\"{desc}\"");
    let mut resp = (status, axum::Json(json!({"error": code, "error_description": desc}))).into_response();
    if let Ok(v) = challenge.parse() {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    if query.contains_key("access_token") {
        return bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "access tokens are not accepted in the query string",
        );
    }
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let from_body = body.as_ref().ok().and_then(|b| b.get("access_token")).map(String::as_str);
    let token = match (from_header, from_body) {
        (Some(t), None) | (None, Some(t)) => t,
        (Some(_), Some(_)) => {
            return bearer_error(StatusCode::BAD_REQUEST, "invalid_request", "send the token one way only");
        }
        (None, None) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "an access token is required"),
    };
    match claims_for(&state, token).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(Some(desc)) => bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", desc),
        Err(None) => AppError::Unavailable("userinfo".into()).into_oauth().into_response(),
    }
}

async fn claims_for(state: &AppState, token: &str) -> Result<Value, Option<&'static str>> {
    let claims =
        jwt::verify(token, &state.keys.snapshot().decoding, &state.issuer, jwt::TYP_ACCESS, state.clock.now_secs())
            .map_err(|_| Some("the access token is invalid or expired"))?;
    let grant_id = claims.get("gid").and_then(Value::as_str).ok_or(Some("the access token is invalid"))?;
    let grant = state.grants.get(grant_id).await.map_err(|_| None)?;
    let grant = grant.filter(|g| g.revoked_at.is_none()).ok_or(Some("the grant behind this token was revoked"))?;
    // The token's `sub` is what its client sees (pairwise or the account id); the account is
    // the grant's. Trust is re-checked as at a refresh: the identity must still be on the
    // account and able to sign in, its provider enabled, the account active.
    let sub = claims.get("sub").and_then(Value::as_str).ok_or(Some("the access token is invalid"))?;
    let checked = crate::trust::grant_stands(state, &grant)
        .await
        .map_err(|_| None)?
        .ok_or(Some("the sign-in behind this token no longer stands"))?;
    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
    // Claims the client asked for by the `claims` parameter, carried in its access token.
    let asked: Vec<String> = claims
        .get(USERINFO_CLAIMS)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut out = profile_claims(&checked.account, &checked.identities, scope, &asked);
    out.insert("sub".into(), json!(sub));
    if let Some(idp) = claims.get("idp") {
        out.insert("idp".into(), idp.clone());
    }
    Ok(Value::Object(out))
}
