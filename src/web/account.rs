//! `GET /account`: the signed-in person's account id, status and linked identities.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, esc};
use crate::error::AppError;
use crate::state::AppState;

/// `GET /account`
pub async fn account_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let Some((_, session)) = state.current_session(&headers).await? else {
        return Ok(Redirect::to(crate::routes::LOGIN).into_response());
    };
    let Some(account) = state.accounts.account(&session.account_id).await? else {
        return Ok(Redirect::to(crate::routes::LOGIN).into_response());
    };
    let identities = state.accounts.identities(&account.id).await?;
    let providers = state.providers.snapshot();
    let mut rows = String::new();
    for i in &identities {
        let provider = providers.all().find(|p| p.id == i.provider_id).map(|p| p.display_name.as_str()).unwrap_or(&i.provider_id);
        let mut notes = Vec::new();
        if Some(i.id) == account.primary_identity {
            notes.push("primary");
        }
        if i.id == session.identity_id {
            notes.push("used for this session");
        }
        if !i.can_sign_in {
            notes.push("cannot sign in");
        }
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code><br><code>{}</code></td><td>{}{}</td><td>{}</td></tr>",
            esc(provider),
            esc(&i.issuer),
            esc(&i.subject),
            esc(i.email.as_deref().unwrap_or("")),
            if i.email_verified { " ✓" } else { "" },
            esc(&notes.join(", ")),
        ));
    }
    let body = format!(
        "<h1>Your account</h1><p>Account id (the <code>sub</code> applications see): <code id=\"account-id\">{}</code></p>\
<p>Status: {}</p><h2>Linked identities</h2><table><tr><th>Provider</th><th>Issuer / subject</th><th>Email</th><th></th></tr>{}</table>\
<p><a class=\"button secondary\" href=\"/logout\">Sign out</a></p>",
        esc(account.id.as_str()),
        esc(&account.status.to_db()),
        rows
    );
    Ok(html::respond(StatusCode::OK, html::page("Your account", &body)))
}
