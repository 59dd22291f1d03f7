//! The admin console at `/admin`: server-rendered pages for the accounts listed in
//! `[admin] accounts`. They sign in through braid like anyone. Every page re-checks the
//! session's trust and the account's membership. Every change is a CSRF-protected POST from
//! braid's own origin, needs a recent sign-in, and goes through a confirmation page that names
//! what will happen. The console uses the same admin services as the API and the CLI.

pub mod accounts;
pub mod catalog;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::accounts::Actor;
use crate::admin::accounts::{Admin, AdminError};
use crate::error::AppError;
use crate::records::BrowserSession;
use crate::state::AppState;
use crate::web::html::{self, esc};

/// Where the console lives.
pub const CONSOLE: &str = "/admin";

/// A signed-in admin of the console.
pub struct ConsoleAdmin {
    /// The session id.
    pub sid: String,
    /// The session.
    pub session: BrowserSession,
}

impl ConsoleAdmin {
    /// This person in the audit log: `admin:console:<account>`.
    pub fn actor(&self, ip: Option<String>) -> Actor {
        Actor { who: format!("admin:console:{}", self.session.account_id), ip, expect: None }
    }

    /// The admin service acting as this person (`admin:console:<account>` in the audit log).
    pub fn admin(&self, state: &AppState, ip: Option<String>) -> Admin {
        Admin {
            accounts: state.accounts.clone(),
            grants: state.grants.clone(),
            sessions: state.records.store().clone(),
            clock: state.clock.clone(),
            actor: self.actor(ip),
            sign_in_providers: state.providers.snapshot().sign_in_providers(),
        }
    }
}

fn forbidden() -> AppError {
    AppError::page_status(
        StatusCode::FORBIDDEN,
        "Not an administrator",
        "This account may not use the admin console. An administrator lists the account ids that may in `[admin] accounts`.",
    )
}

/// Whether `session` may use the console now: its account is listed and its sign-in still
/// stands (identity, provider and account re-checked).
async fn admitted(state: &AppState, session: &BrowserSession) -> Result<bool, AppError> {
    if !state.settings.admin.accounts.iter().any(|a| a == session.account_id.as_str()) {
        return Ok(false);
    }
    let standing = crate::trust::check(
        state,
        &session.account_id,
        Some(session.identity_id),
        Some(&session.provider_id),
        Some(session.created_at),
    )
    .await?;
    Ok(standing.is_ok())
}

/// The console's reader: a live session of a listed account, else a sign-in redirect (no
/// session) or 403.
pub async fn reader(state: &AppState, headers: &HeaderMap) -> Result<Result<ConsoleAdmin, Response>, AppError> {
    let Some((sid, session)) = state.current_session(headers).await? else {
        return Ok(Err(Redirect::to(crate::routes::LOGIN).into_response()));
    };
    if !admitted(state, &session).await? {
        tracing::warn!(account = %session.account_id, "admin console refused: not an administrator");
        return Err(forbidden());
    }
    Ok(Ok(ConsoleAdmin { sid, session }))
}

/// The console's writer: as [`reader`], plus the form's CSRF token, braid's own origin and a
/// recent sign-in (the same checks as `/account`).
pub async fn writer(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<ConsoleAdmin, AppError> {
    let (sid, session) = crate::web::account::guard(state, headers, csrf).await?;
    if !admitted(state, &session).await? {
        tracing::warn!(account = %session.account_id, "admin console change refused: not an administrator");
        return Err(forbidden());
    }
    Ok(ConsoleAdmin { sid, session })
}

/// A console page: the navigation, then `body` (already escaped HTML).
pub fn page(title: &str, body: &str) -> Response {
    let nav = "<p class=\"muted\"><a href=\"/admin\">Console</a> · <a href=\"/admin/providers\">Providers</a> · \
<a href=\"/admin/clients\">Clients</a> · <a href=\"/admin/accounts\">Accounts</a> · <a href=\"/admin/audit\">Audit log</a> · \
<a href=\"/account\">Your account</a></p>";
    html::respond(StatusCode::OK, html::page(title, &format!("{nav}<h1>{}</h1>{body}", esc(title))))
}

/// The page for an admin service error.
pub fn failed(e: AdminError) -> AppError {
    match e {
        AdminError::NotFound(what) => {
            AppError::page_status(StatusCode::NOT_FOUND, "Not found", format!("Nothing changed: {what}."))
        }
        AdminError::Store(detail) => AppError::Internal(detail),
        refused => AppError::page_status(StatusCode::CONFLICT, "Refused", format!("Nothing changed: {refused}.")),
    }
}

async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let body = format!(
        "<p>Signed in as <code>{}</code>.</p><ul><li><a href=\"/admin/providers\">Providers</a>: add an OpenID Connect or \
SAML provider, enable, disable, edit, delete</li><li><a href=\"/admin/clients\">Clients</a>: add, rotate a secret, delete</li>\
<li><a href=\"/admin/accounts\">Accounts</a>: search, identities, \
link, unlink, move, merge, disable, delete</li><li><a href=\"/admin/audit\">Audit log</a></li></ul>",
        esc(me.session.account_id.as_str())
    );
    Ok(page("Admin console", &body))
}

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONSOLE, get(home))
        .route("/admin/accounts", get(accounts::search_get))
        .route("/admin/accounts/{id}", get(accounts::account_get))
        .route("/admin/accounts/{id}/change", post(accounts::change_post))
        .route("/admin/audit", get(accounts::audit_get))
        .route("/admin/providers", get(catalog::providers_get))
        .route("/admin/providers/add", post(catalog::provider_add_post))
        .route("/admin/providers/edit", get(catalog::provider_edit_get))
        .route("/admin/providers/change", post(catalog::provider_change_post))
        .route("/admin/clients", get(catalog::clients_get))
        .route("/admin/clients/change", post(catalog::client_change_post))
}
