//! `/account`: the signed-in person's account id and identities, and the changes they may make
//! themselves: link another identity (a fresh upstream sign-in), unlink, allow or forbid sign-in
//! per identity, choose the primary. Every POST carries the session's CSRF token, must come from
//! braid's own origin, and needs a recent sign-in.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::client_ip::ClientIp;
use super::html::{self, esc};
use crate::accounts::{Actor, Refusal};
use crate::error::AppError;
use crate::records::BrowserSession;
use crate::state::AppState;

fn message(key: &str) -> Option<&'static str> {
    Some(match key {
        "linked" => "The identity is linked. Your other sessions were signed out.",
        "already" => "That identity was already linked to this account; nothing changed.",
        "unlinked" => "The identity is unlinked. Your other sessions were signed out.",
        "primary" => "The primary identity is changed.",
        "sign_in" => "Sign-in permissions are changed.",
        "last_sign_in" => "Refused: this is the last identity that can sign in to your account.",
        "is_primary" => "Refused: this is your primary identity. Choose another primary first.",
        "changed" => "Refused: your account changed meanwhile. Look again and retry.",
        "not_found" => "Refused: that identity is not on your account.",
        "not_active" => "Refused: the account is not active.",
        _ => return None,
    })
}

/// `GET /account`
pub async fn account_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let Some((_, session)) = state.current_session(&headers).await? else {
        return Ok(Redirect::to(crate::routes::LOGIN).into_response());
    };
    let Some(account) = state.accounts.account(&session.account_id).await? else {
        return Ok(Redirect::to(crate::routes::LOGIN).into_response());
    };
    if session.created_at <= account.sessions_valid_after {
        tracing::info!(account = %account.id, "session ended: an account change ended the sessions made before it");
        if let Some(sid) = state.session_cookie().get(&headers) {
            state.end_session(&sid, &session).await?;
        }
        return Ok(Redirect::to(crate::routes::LOGIN).into_response());
    }
    let identities = state.accounts.identities(&account.id).await?;
    let providers = state.providers.snapshot();
    let csrf = esc(&session.csrf);
    let form = |action: &str, id: i64, extra: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"{action}\" style=\"display:inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"identity\" value=\"{id}\">{extra}<button class=\"secondary\" type=\"submit\">{label}</button></form> "
        )
    };
    let mut rows = String::new();
    for i in &identities {
        let provider =
            providers.all().find(|p| p.id == i.provider_id).map(|p| p.display_name.as_str()).unwrap_or(&i.provider_id);
        let primary = Some(i.id) == account.primary_identity;
        let mut notes = Vec::new();
        if primary {
            notes.push("primary");
        }
        if i.id == session.identity_id {
            notes.push("used for this session");
        }
        notes.push(if i.can_sign_in { "can sign in" } else { "cannot sign in" });
        let mut actions = String::new();
        if !primary {
            actions.push_str(&form("/account/primary", i.id, "", "Make primary"));
        }
        let (allowed, label) = if i.can_sign_in { ("false", "Forbid sign-in") } else { ("true", "Allow sign-in") };
        actions.push_str(&form(
            "/account/sign-in",
            i.id,
            &format!("<input type=\"hidden\" name=\"allowed\" value=\"{allowed}\">"),
            label,
        ));
        if !primary {
            actions.push_str(&form("/account/unlink", i.id, "", "Unlink"));
        }
        rows.push_str(&format!(
            "<tr data-identity=\"{}\"><td>{}</td><td><code>{}</code><br><code class=\"subject\">{}</code></td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            i.id,
            esc(provider),
            esc(&i.issuer),
            esc(&i.subject),
            esc(i.email.as_deref().unwrap_or("")),
            if i.email_verified { " ✓" } else { "" },
            esc(&notes.join(", ")),
            actions,
        ));
    }
    let mut link = String::new();
    for p in providers.all().filter(|p| p.enabled) {
        link.push_str(&format!(
            "<form method=\"post\" action=\"/account/link/{id}\" style=\"display:inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" id=\"link-{id}\">{name}</button></form> ",
            id = esc(&p.id),
            name = esc(&p.display_name),
        ));
    }
    let notice = q
        .get("done")
        .or_else(|| q.get("error"))
        .and_then(|k| message(k))
        .map(|m| format!("<p class=\"notice\" role=\"status\">{}</p>", esc(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Your account</h1>{notice}<p>Account id (the <code>sub</code> applications see): <code id=\"account-id\">{}</code></p>\
<p>Status: {}</p><h2>Linked identities</h2><table><tr><th>Provider</th><th>Issuer / subject</th><th>Email</th><th></th><th></th></tr>{}</table>\
<h2>Link another identity</h2><p class=\"muted\">You will sign in with it; it then signs you in to this same account.</p><p>{}</p>\
<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button class=\"secondary\" type=\"submit\" id=\"sign-out\">Sign out</button></form>",
        esc(account.id.as_str()),
        esc(&account.status.to_db()),
        rows,
        link,
    );
    Ok(html::respond(StatusCode::OK, html::page("Your account", &body)))
}

/// Check a self-service POST: a live session, its CSRF token, braid's own origin, and a recent
/// sign-in. Returns the session id and session.
pub(crate) async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(String, BrowserSession), AppError> {
    let session = match state.current_session(headers).await? {
        Some((sid, s)) if crate::trust::session_ended(state, &s).await? => {
            state.end_session(&sid, &s).await?;
            None
        }
        other => other,
    };
    let Some((sid, session)) = session else {
        return Err(AppError::page_status(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "You are not signed in, so nothing was changed.",
        ));
    };
    let token_ok = !session.csrf.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(csrf.as_bytes()));
    let origin_ok =
        headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).is_none_or(|o| o == origin_of(&state.issuer));
    if !token_ok || !origin_ok {
        tracing::warn!(account = %session.account_id, token_ok, origin_ok, "account change refused: CSRF check failed");
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "braid could not confirm this request came from your account page, so nothing was changed. Reload the page and try again.",
        ));
    }
    // An unknown authentication time is never recent.
    let fresh_for = i64::try_from(state.settings.account.fresh_auth_secs).unwrap_or(i64::MAX);
    if session.auth_time.is_none_or(|t| state.clock.now_secs() - t > fresh_for) {
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "Sign in again to make this change",
            "Changes to your account need a recent sign-in, so nothing was changed. Sign in again (the link at the bottom asks your provider for a fresh sign-in), then repeat the change.",
        ));
    }
    Ok((sid, session))
}

/// The origin (scheme, host, port) of `url`, as browsers send it in `Origin`.
pub fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_owned(),
    }
}

fn refused(r: Refusal) -> Response {
    let key = match r {
        Refusal::LastSignIn => "last_sign_in",
        Refusal::Primary => "is_primary",
        Refusal::NotActive => "not_active",
        Refusal::NotFound | Refusal::SameAccount => "not_found",
        Refusal::Changed => "changed",
    };
    Redirect::to(&format!("{}?error={key}", crate::routes::ACCOUNT)).into_response()
}

fn done(key: &str) -> Response {
    Redirect::to(&format!("{}?done={key}", crate::routes::ACCOUNT)).into_response()
}

/// A self-service form.
#[derive(Debug, serde::Deserialize)]
pub struct ChangeForm {
    csrf: String,
    #[serde(default)]
    identity: Option<i64>,
    #[serde(default)]
    allowed: Option<String>,
}

type FormResult = Result<Form<ChangeForm>, axum::extract::rejection::FormRejection>;

fn parse(form: FormResult) -> Result<(ChangeForm, i64), AppError> {
    let Form(f) =
        form.map_err(|_| AppError::page("Incomplete form", "The form was incomplete; nothing was changed."))?;
    let id =
        f.identity.ok_or_else(|| AppError::page("Incomplete form", "No identity was chosen; nothing was changed."))?;
    Ok((f, id))
}

/// One self-service change to an identity of the signed-in account.
enum Change {
    Unlink,
    Primary,
    SignIn,
}

/// Check the request, make the change, end the account's other sessions, and say how it went.
async fn apply(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    form: FormResult,
    change: Change,
) -> Result<Response, AppError> {
    let (f, id) = parse(form)?;
    let allowed = match (&change, f.allowed.as_deref()) {
        (Change::SignIn, Some("true")) => true,
        (Change::SignIn, Some("false")) | (Change::Unlink | Change::Primary, _) => false,
        (Change::SignIn, _) => {
            return Err(AppError::page("Incomplete form", "Say whether sign-in is allowed; nothing was changed."));
        }
    };
    let (sid, s) = guard(state, headers, &f.csrf).await?;
    crate::limits::check(state, crate::limits::Kind::AccountChange, s.account_id.as_str(), true).await?;
    crate::linking::before_change(state).await?;
    let (account, actor, now) = (&s.account_id, Actor::person(&s.account_id, ip), state.clock.now_ms());
    let usable = state.providers.snapshot().sign_in_providers();
    let (outcome, key) = match change {
        Change::Unlink => (state.accounts.unlink(account, id, &usable, &actor, now).await?.map(|_| ()), "unlinked"),
        Change::Primary => (state.accounts.set_primary(account, id, &actor, now).await?, "primary"),
        Change::SignIn => {
            (state.accounts.set_can_sign_in(account, id, allowed, &usable, &actor, now).await?, "sign_in")
        }
    };
    match outcome {
        Ok(()) => {
            tracing::info!(account = %account, identity = id, change = key, "account changed");
            crate::linking::after_change(state, account, Some(&sid), now).await?;
            Ok(done(key))
        }
        Err(r) => Ok(refused(r)),
    }
}

/// `POST /account/unlink`
pub async fn unlink_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormResult,
) -> Result<Response, AppError> {
    apply(&state, &headers, ip, form, Change::Unlink).await
}

/// `POST /account/primary`
pub async fn primary_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormResult,
) -> Result<Response, AppError> {
    apply(&state, &headers, ip, form, Change::Primary).await
}

/// `POST /account/sign-in`
pub async fn sign_in_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormResult,
) -> Result<Response, AppError> {
    apply(&state, &headers, ip, form, Change::SignIn).await
}

/// `POST /account/link/{provider}`: a fresh sign-in with the provider; its identity is then
/// linked to this account.
pub async fn link_post(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormResult,
) -> Result<Response, AppError> {
    let Form(f) =
        form.map_err(|_| AppError::page("Incomplete form", "The form was incomplete; nothing was changed."))?;
    let (_, s) = guard(&state, &headers, &f.csrf).await?;
    crate::limits::check(&state, crate::limits::Kind::AccountChange, s.account_id.as_str(), true).await?;
    let provider = state.providers.snapshot().enabled(&provider).cloned().ok_or_else(|| {
        AppError::page_status(StatusCode::NOT_FOUND, "Unknown provider", "This provider does not exist or is disabled.")
    })?;
    super::login::start(&state, &headers, ip.as_deref(), &provider, None, None, Some(s.account_id.clone()), true).await
}
