//! `GET` and `POST /authorize`: the code flow. The client and its exact redirect URI are checked
//! first (a bad one gets an error page, never a redirect); other problems go back to the client
//! with `error`, `state` and `iss`. S256 PKCE is required of public clients. Reflected
//! parameters have length caps. Single sign-on and every code re-check that the session's
//! identity may still sign in.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::AppError;
use crate::records::{AuthCode, AuthRequest, BrowserSession, LoginTx, key};
use crate::state::AppState;
use crate::web::client_ip::ClientIp;

/// Scopes braid understands; others are ignored.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Append query parameters to a registered URI without normalising it.
pub fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", ser.finish())
}

fn redirect_error(state: &AppState, req_uri: &str, client_state: Option<&str>, error: &str, desc: &str) -> Response {
    let mut params = vec![("error", error), ("error_description", desc)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", &state.issuer));
    Redirect::to(&with_params(req_uri, &params)).into_response()
}

/// The longest value braid takes for most request parameters (they are stored and reflected).
pub const MAX_PARAM: usize = 512;

/// The length cap of parameter `name`.
pub fn param_cap(name: &str) -> usize {
    match name {
        "id_token_hint" => 8192,
        "redirect_uri" | "post_logout_redirect_uri" | "rd" => 2048,
        _ => MAX_PARAM,
    }
}

/// The first parameter longer than its cap, if any.
/// Its name is echoed only when short and plain; else "a parameter".
pub fn oversized(q: &HashMap<String, String>) -> Option<&str> {
    q.iter().find(|(k, v)| v.len() > param_cap(k) || k.len() > MAX_PARAM).map(|(k, _)| {
        if k.len() <= 32 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            k.as_str()
        } else {
            "a parameter"
        }
    })
}

/// Answer the client's request held in login transaction `tx` with an error (taking the
/// transaction once); an expired transaction gets an error page.
pub async fn answer_with_error(state: &AppState, tx: &str, error: &str, desc: &str) -> Result<Response, AppError> {
    match state.records.take::<LoginTx>(&key::tx(tx)).await? {
        Some(LoginTx::Client(req)) => Ok(redirect_error(state, &req.redirect_uri, req.state.as_deref(), error, desc)),
        Some(LoginTx::Proxy(_)) | None => Err(AppError::page(
            "The application's request has expired",
            "Go back to the application and sign in again.",
        )),
    }
}

/// `GET /authorize`
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    authorize(state, headers, ip, q).await
}

/// `POST /authorize` with form parameters (OIDC Core 3.1.2.1).
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let axum::Form(q) = form.map_err(|_| {
        AppError::page(
            "Unreadable request",
            "The application's sign-in request was not a form braid can read. Tell its administrator.",
        )
    })?;
    authorize(state, headers, ip, q).await
}

/// How an authorization request reached braid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Straight to `/authorize`.
    Front,
    /// Pushed to `/par` by the client (already authenticated).
    Push,
    /// At `/authorize` by a `request_uri` of a pushed request.
    Pushed,
}

/// Why an authorization request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// No client or redirect URI to trust: a page at `/authorize`, `invalid_request` at `/par`.
    Page(AppError),
    /// An error for the client, sent to its redirect URI from `/authorize`.
    Client {
        /// The checked redirect URI.
        redirect_uri: String,
        /// The client's `state`, when short enough to reflect.
        state: Option<String>,
        /// The OAuth error code.
        error: &'static str,
        /// Its description.
        description: String,
    },
}

/// An authorization request checked in full.
#[derive(Debug)]
pub struct Checked {
    /// The client.
    pub client: std::sync::Arc<super::clients::Client>,
    /// What is kept until the code is issued.
    pub req: AuthRequest,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age`.
    pub max_age: Option<i64>,
    /// The claims of a valid `id_token_hint` (its `sub` is what its client sees).
    pub hinted: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Check an authorization request's parameters exactly as `/authorize` does, for `/authorize`
/// and `/par` alike.
pub fn check_request(state: &AppState, q: &HashMap<String, String>, via: Via) -> Result<Checked, Refusal> {
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(name) = ["client_id", "redirect_uri"].into_iter().find(|k| p(k).is_some_and(|v| v.len() > param_cap(k)))
    {
        return Err(Refusal::Page(AppError::page(
            "Request too large",
            format!("The application's `{name}` is longer than braid accepts. Tell its administrator."),
        )));
    }
    let client_id = p("client_id").ok_or_else(|| {
        Refusal::Page(AppError::page(
            "Missing client",
            "The application did not say who it is (no client_id). Go back to it and try again.",
        ))
    })?;
    let client = state.clients.get(client_id).ok_or_else(|| {
        Refusal::Page(AppError::page(
            "Unknown application",
            "This application is not registered at braid, so you cannot be signed in to it. Tell its administrator.",
        ))
    })?;
    let redirect_uri = p("redirect_uri").ok_or_else(|| {
        Refusal::Page(AppError::page(
            "Missing redirect URI",
            "The application did not say where to return you (no redirect_uri). Tell its administrator.",
        ))
    })?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(Refusal::Page(AppError::page(
            "Unregistered redirect URI",
            "The application asked braid to send you to an address it has not registered, so braid will not send you there. Tell the application's administrator.",
        )));
    }
    // An oversized state is refused below and never reflected.
    let client_state = p("state").filter(|s| s.len() <= MAX_PARAM);
    let fail = |error: &'static str, desc: &str| {
        Err(Refusal::Client {
            redirect_uri: redirect_uri.to_owned(),
            state: client_state.map(str::to_owned),
            error,
            description: desc.to_owned(),
        })
    };

    if let Some(name) = oversized(q) {
        return fail("invalid_request", &format!("`{name}` is longer than braid accepts"));
    }
    if p("request_uri").is_some() {
        return match via {
            Via::Push => fail("invalid_request", "request_uri must not be pushed"),
            _ => fail("request_uri_not_supported", "request_uri is supported only for pushed authorization requests"),
        };
    }
    if p("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if via == Via::Front && client.require_par {
        return fail("invalid_request", "this client must push its authorization requests to the PAR endpoint");
    }
    match p("response_type") {
        None => return fail("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => return fail("unsupported_response_type", "only the code flow is supported"),
    }
    if p("response_mode").is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    let requested: Vec<&str> = p("scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if !requested.contains(&"openid") {
        return fail("invalid_scope", "the openid scope is required");
    }
    let scope = SCOPES.iter().copied().filter(|s| requested.contains(s)).collect::<Vec<_>>().join(" ");
    let code_challenge = match (p("code_challenge"), p("code_challenge_method")) {
        (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => return fail("invalid_request", "code_challenge must be 43 base64url characters"),
        (Some(_), None | Some(_)) => return fail("invalid_request", "code_challenge_method must be S256"),
        (None, Some(_)) => return fail("invalid_request", "code_challenge_method without code_challenge"),
        (None, None) if client.is_public() => {
            return fail("invalid_request", "public clients must use PKCE with S256");
        }
        (None, None) => None,
    };
    let prompt: Vec<String> =
        p("prompt").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if prompt.iter().any(|v| v == "none") && prompt.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined with other values");
    }
    let max_age = match p("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(v)) if v >= 0 => Some(v),
        Some(_) => return fail("invalid_request", "max_age must be a non-negative integer"),
    };
    // An ID token the client holds for this person: it must be one of ours.
    let hinted = match p("id_token_hint") {
        None => None,
        Some(hint) => {
            match super::jwt::verify(hint, &state.keys.snapshot().decoding, &state.issuer, super::jwt::TYP_ID, i64::MIN)
            {
                Ok(claims) => Some(claims),
                Err(_) => return fail("invalid_request", "id_token_hint is not a valid ID token of this issuer"),
            }
        }
    };
    let claims = match p("claims").map(super::claims_request::ClaimsRequest::parse) {
        None => Default::default(),
        Some(Ok(c)) => c,
        Some(Err(desc)) => return fail("invalid_request", desc),
    };
    let req = AuthRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: client_state.map(str::to_owned),
        nonce: p("nonce").map(str::to_owned),
        code_challenge,
        force_login: prompt.iter().any(|v| v == "login") || max_age.is_some(),
        acr_values: p("acr_values").map(str::to_owned),
        claims,
        select_account: prompt.iter().any(|v| v == "select_account"),
    };
    Ok(Checked { client, req, prompt, max_age, hinted })
}

async fn authorize(
    state: AppState,
    headers: HeaderMap,
    ip: Option<String>,
    q: HashMap<String, String>,
) -> Result<Response, AppError> {
    // A pushed request (RFC 9126 §4): its stored parameters replace every other one.
    let (q, via) = match super::par::pushed_request(&state, &q).await? {
        Some(stored) => (stored, Via::Pushed),
        None => (q, Via::Front),
    };
    let Checked { mut req, prompt, max_age, hinted, .. } = match check_request(&state, &q, via) {
        Ok(c) => c,
        Err(Refusal::Page(e)) => return Err(e),
        Err(Refusal::Client { redirect_uri, state: client_state, error, description }) => {
            return Ok(redirect_error(&state, &redirect_uri, client_state.as_deref(), error, &description));
        }
    };
    let p = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let has = |v: &str| prompt.iter().any(|x| x == v);

    // Single sign-on: an existing session answers at once unless the client asks otherwise. A
    // session whose authentication time is unknown never satisfies `max_age`.
    let session = state.current_session(&headers).await?;
    let now = state.clock.now_secs();
    let fresh = |s: &BrowserSession| max_age.is_none_or(|m| s.auth_time.is_some_and(|t| now - t <= m));
    // The hint's `sub` is what its client sees (pairwise or the account id).
    let same_person =
        |s: &BrowserSession| hinted.as_ref().is_none_or(|h| super::shape::hint_names(&state, h, s.account_id.as_str()));
    if let Some((sid, s)) = session.as_ref().filter(|(_, s)| fresh(s) && same_person(s)) {
        if !has("login") && !has("select_account") {
            req.force_login = false;
            match issue_code(&state, req.clone(), sid, s.clone()).await? {
                Ok(resp) => return Ok(resp),
                // The session's identity may no longer sign in: the session is over; the person
                // signs in again (or the client hears login_required).
                Err(lost) => {
                    tracing::info!(account = %s.account_id, reason = lost.as_str(), "single sign-on refused; session ended");
                    state.end_session(sid, s).await?;
                }
            }
            req.force_login = has("login") || max_age.is_some();
        }
    }
    if has("none") {
        return Ok(redirect_error(
            &state,
            &req.redirect_uri,
            req.state.as_deref(),
            "login_required",
            "no signed-in session at braid",
        ));
    }
    // A sign-in request is kept until it finishes: within the budget of this client address.
    crate::limits::check(&state, crate::limits::Kind::SignInStart, crate::limits::address(&ip), true).await?;
    let tx = crate::ids::random_token(24);
    state
        .records
        .put(&key::tx(&tx), &LoginTx::Client(req), Duration::from_secs(state.settings.session.login_ttl_secs))
        .await?;
    let mut params: Vec<(&str, &str)> = vec![("tx", &tx)];
    for k in ["login_hint", "idp_hint"] {
        if let Some(v) = p(k) {
            params.push((k, v));
        }
    }
    // The chooser is shown even for one provider when the client asks the person to choose.
    if has("select_account") {
        params.push(("prompt", "select_account"));
    }
    // The person an id_token_hint names signs in again with the provider of their primary
    // identity, unless the client named one.
    // Only a public `sub` is an account id: a pairwise one names no account by itself (it does
    // when it is its own subject, which only the public shape gives).
    let hinted_account = hinted.as_ref().and_then(|h| {
        h.get("sub").and_then(serde_json::Value::as_str).filter(|sub| super::shape::hint_names(&state, h, sub))
    });
    let hinted_provider = match (hinted_account, p("idp_hint")) {
        (Some(sub), None) => hinted_provider(&state, sub).await?,
        _ => None,
    };
    if let Some(provider) = hinted_provider.as_deref() {
        params.push(("idp_hint", provider));
    }
    Ok(Redirect::to(&with_params("/login", &params)).into_response())
}

/// The provider of the primary identity of account `sub`, if it has one.
async fn hinted_provider(state: &AppState, sub: &str) -> Result<Option<String>, AppError> {
    let id = crate::accounts::AccountId(sub.to_owned());
    let Some(account) = state.accounts.account(&id).await? else { return Ok(None) };
    let identities = state.accounts.identities(&id).await?;
    let primary = identities.iter().find(|i| Some(i.id) == account.primary_identity).or_else(|| identities.first());
    Ok(primary.map(|i| i.provider_id.clone()))
}

fn valid_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issue a code for `req` to the signed-in session and send the browser back to the client, if
/// the session's identity may still sign in (else nothing is issued).
pub async fn issue_code(
    state: &AppState,
    req: AuthRequest,
    sid: &str,
    session: BrowserSession,
) -> Result<Result<Response, crate::trust::Lost>, AppError> {
    let standing = crate::trust::check(
        state,
        &session.account_id,
        Some(session.identity_id),
        Some(&session.provider_id),
        Some(session.created_at),
    )
    .await?;
    if let Err(lost) = standing {
        return Ok(Err(lost));
    }
    Ok(Ok(issue_code_to_fresh_sign_in(state, req, sid, session).await?))
}

/// `issue_code` for a session made in this very request by a sign-in that has just checked the
/// identity, its account and its provider (`signin::finish`): the same checks again would only
/// cost two more SQL reads on every sign-in.
pub async fn issue_code_to_fresh_sign_in(
    state: &AppState,
    req: AuthRequest,
    sid: &str,
    session: BrowserSession,
) -> Result<Response, AppError> {
    let code = crate::ids::random_token(32);
    let ttl = state.settings.tokens.code_ttl_secs;
    let expires_at = state.clock.now_ms() + i64::try_from(ttl * 1000).unwrap_or(i64::MAX / 2);
    let redirect_uri = req.redirect_uri.clone();
    let client_state = req.state.clone();
    let payload = AuthCode {
        request: req,
        session,
        sid: crate::ids::public_sid(sid),
        session_key: key::session(sid),
        expires_at,
    };
    state.records.put(&key::code(&crate::ids::sha256_b64(code.as_bytes())), &payload, Duration::from_secs(ttl)).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = client_state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", &state.issuer));
    Ok(Redirect::to(&with_params(&redirect_uri, &params)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_appended_without_touching_the_registered_uri() {
        assert_eq!(with_params("https://a/cb", &[("code", "x y")]), "https://a/cb?code=x+y");
        assert_eq!(with_params("https://a/cb?k=v", &[("s", "&")]), "https://a/cb?k=v&s=%26");
    }
}
