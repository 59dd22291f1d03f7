//! The built-in demo provider: `GET /login/{id}` shows a form; posting `username` (the subject)
//! and `email` signs in as issuer `urn:braid:dev:{id}`. Loaded only from a provider file, and
//! never for real users: `braid serve` warns when it is enabled on a non-loopback address.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::Provider;
use crate::accounts::ExternalIdentity;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::html::{self, esc};

/// The issuer of identities from dev provider `id`.
pub fn issuer(id: &str) -> String {
    format!("urn:braid:dev:{id}")
}

/// The sign-in form for a started attempt.
pub fn form(provider: &Provider, login_state: &str, cookie: HeaderValue) -> Response {
    let body = format!(
        "<h1>{name}</h1><p class=\"muted\">Demo provider: anyone can type any name. Never enable it for real users.</p>\
<form method=\"post\" action=\"/login/{id}\"><input type=\"hidden\" name=\"state\" value=\"{state}\">\
<label>Username (the subject)<input name=\"username\" required autofocus autocomplete=\"username\"></label>\
<label>Email<input name=\"email\" type=\"email\" autocomplete=\"email\"></label>\
<label><input type=\"checkbox\" name=\"email_verified\" value=\"true\" checked style=\"width:auto\"> Email is verified</label><br>\
<button type=\"submit\">Sign in</button></form>",
        name = esc(&provider.display_name),
        id = esc(&provider.id),
        state = esc(login_state),
    );
    let mut resp = html::respond(StatusCode::OK, html::page(&provider.display_name, &body));
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

/// The posted form.
#[derive(Debug, Deserialize)]
pub struct DevLogin {
    state: String,
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_verified: Option<String>,
}

/// `POST /login/{id}` for a dev provider.
pub async fn login_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: Result<Form<DevLogin>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    crate::limits::check(&state, crate::limits::Kind::Callback, crate::limits::address(&ip), true).await?;
    let provider = state
        .providers
        .snapshot()
        .enabled(&id)
        .filter(|p| matches!(p.protocol, super::Protocol::Dev))
        .cloned()
        .ok_or_else(|| {
            AppError::page_status(
                StatusCode::NOT_FOUND,
                "Unknown provider",
                "This sign-in provider does not exist or is disabled.",
            )
        })?;
    let Form(form) = form
        .map_err(|_| AppError::page("Incomplete form", "The sign-in form was incomplete. Go back and fill it in."))?;
    let attempt = crate::signin::take_attempt(&state, &headers, &form.state, &provider.id).await?;
    let username = form.username.trim();
    if username.is_empty() || username.len() > 255 {
        return Err(AppError::page("Username required", "Type a username of 1 to 255 characters. Start again."));
    }
    let email = Some(form.email.trim().to_owned()).filter(|e| !e.is_empty());
    let ext = ExternalIdentity {
        issuer: issuer(&provider.id),
        subject: username.to_owned(),
        email_verified: email.is_some() && form.email_verified.as_deref() == Some("true"),
        email,
        name: Some(username.to_owned()),
        claims: serde_json::Map::from_iter([("preferred_username".to_owned(), serde_json::json!(username))]),
    };
    // The dev form is braid's own: the person authenticated (as anyone) just now.
    let now = state.clock.now_secs();
    crate::signin::finish(&state, &headers, ip, &provider, attempt, ext, "dev", Some(now)).await
}
