//! The admin API under `/admin/v1`: bearer-token authentication (off, 404, without a token
//! configured), RFC 9457 problems, the OpenAPI document, the provider and client catalog
//! (`admin::catalog`), and the account, identity, audit and session endpoints over the admin
//! services (`admin::accounts`). Every call is logged with the
//! token's name; every change is audited as `admin:<name>`.

pub mod accounts;
pub mod catalog;
pub mod extract;
pub mod openapi;
pub mod problem;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::problem::{Cause, Problem};
use crate::accounts::Actor;
use crate::admin::accounts::Admin;
use crate::state::AppState;

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";

/// The caller of an admin API request: the name of its token.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

impl Caller {
    /// This caller in the audit log: `admin:<token name>`.
    pub fn actor(&self) -> Actor {
        Actor::admin(&self.0)
    }

    /// The admin service acting as this caller.
    pub fn admin(&self, state: &AppState) -> Admin {
        Admin {
            accounts: state.accounts.clone(),
            grants: state.grants.clone(),
            sessions: state.records.store().clone(),
            clock: state.clock.clone(),
            actor: self.actor(),
            sign_in_providers: state.providers.snapshot().sign_in_providers(),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::new(Cause::Unauthorized, "an admin token is required"))
    }
}

/// The bearer token of `req`, if it sent exactly one.
fn bearer(req: &Request) -> Option<&str> {
    let mut all = req.headers().get_all(header::AUTHORIZATION).iter();
    let value = all.next()?.to_str().ok()?;
    if all.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Off without tokens (404); otherwise a known bearer token or 401. The call is logged with
/// the token's name and its outcome.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let admin = &state.settings.admin;
    if !admin.api_enabled() {
        return Problem::new(Cause::Off, "no admin token is configured (`[[admin.tokens]]` in braid.toml)")
            .into_response();
    }
    // Refused calls are budgeted per client address: token guessing is slowed.
    let ip = crate::web::client_ip::of_request(&state, req.extensions(), req.headers()).map(|ip| ip.to_string());
    let who = crate::limits::address(&ip).to_owned();
    if let Err(e) = crate::limits::check(&state, crate::limits::Kind::AdminFailure, &who, false).await {
        return limited(e);
    }
    let Some(name) = bearer(&req).and_then(|t| admin.token_name(t)).map(str::to_owned) else {
        tracing::info!(target: "braid::admin", method = %req.method(), path = %req.uri().path(), "admin API: refused, no valid token");
        if let Err(e) = crate::limits::check(&state, crate::limits::Kind::AdminFailure, &who, true).await {
            tracing::debug!(error = %e, "admin failure budget spent");
        }
        return Problem::new(Cause::Unauthorized, "send `Authorization: Bearer <admin token>`").into_response();
    };
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    // Nested under the prefix, the path seen here is relative to it; the audit log names the
    // whole one.
    let original =
        req.extensions().get::<axum::extract::OriginalUri>().map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let asked = original.path_and_query().map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let account = account_of(&path, req.uri().query());
    req.extensions_mut().insert(Caller(name.clone()));
    let resp = next.run(req).await;
    let status = resp.status();
    tracing::info!(target: "braid::admin", token = %name, %method, %path, status = status.as_u16(), "admin API call");
    // Every call is in the audit log: a change by its own event (written with it); a read, or
    // a call that was refused, here.
    let refused = status.is_client_error() || status.is_server_error();
    let read = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if !refused && !read {
        return resp;
    }
    let (action, target) = if refused {
        ("admin.refused", format!("{method} {asked} ({})", status.as_u16()))
    } else {
        ("admin.read", format!("{method} {asked}"))
    };
    let actor = Actor { ip, ..Caller(name).actor() };
    let now = state.clock.now_ms();
    match state.accounts.audit_admin_call(&actor, action, account.as_ref(), &target, now).await {
        Ok(()) => resp,
        Err(e) if refused => {
            tracing::warn!(error = %e, "admin API: a refused call could not be audited");
            resp
        }
        // Nothing is shown that the audit log does not hold.
        Err(e) => {
            tracing::warn!(error = %e, "admin API: a read could not be audited; not answered");
            Problem::new(Cause::Unavailable, "the audit log did not answer; try again").into_response()
        }
    }
}

/// The account an admin API call concerns: `/accounts/{id}…`, or the `account` parameter of
/// `/sessions` and `/audit` (`path` relative to [`PREFIX`] or not).
fn account_of(path: &str, query: Option<&str>) -> Option<crate::accounts::AccountId> {
    let rest = path.strip_prefix(PREFIX).unwrap_or(path);
    if let Some(id) = rest.strip_prefix("/accounts/") {
        let id = id.split('/').next().filter(|i| !i.is_empty())?;
        return Some(crate::accounts::AccountId(id.to_owned()));
    }
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, v)| k == "account" && !v.is_empty())
        .map(|(_, v)| crate::accounts::AccountId(v.into_owned()))
}

/// A rate-limit (429, with `Retry-After`) or store error as a problem.
fn limited(e: crate::error::AppError) -> Response {
    match e {
        crate::error::AppError::Limited { retry_after_secs, .. } => {
            let mut resp =
                Problem::new(Cause::RateLimited, format!("too many refused calls; retry after {retry_after_secs} s"))
                    .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        other => Problem::from(other).into_response(),
    }
}

async fn not_found() -> Problem {
    Problem::new(Cause::NotFound, "no such admin API path")
}

/// The admin API's routes (nested under [`PREFIX`] by the caller).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/providers", get(catalog::list_providers).post(catalog::create_provider))
        .route(
            "/providers/{id}",
            get(catalog::get_provider).put(catalog::replace_provider).delete(catalog::delete_provider),
        )
        .route("/providers/{id}/check", post(catalog::check_provider))
        .route("/clients", get(catalog::list_clients).post(catalog::create_client))
        .route("/clients/{id}", get(catalog::get_client).put(catalog::replace_client).delete(catalog::delete_client))
        .route("/clients/{id}/secret", post(catalog::rotate_secret))
        .route("/accounts", get(accounts::search))
        .route("/accounts/{id}", get(accounts::get_account).delete(accounts::delete_account))
        .route("/accounts/{id}/identities", post(accounts::link))
        .route("/accounts/{id}/merge", post(accounts::merge))
        .route("/accounts/{id}/disable", post(accounts::disable))
        .route("/accounts/{id}/enable", post(accounts::enable))
        .route("/accounts/{id}/sessions", axum::routing::delete(accounts::end_sessions))
        .route("/identities/{id}", axum::routing::delete(accounts::unlink).patch(accounts::update_identity))
        .route("/identities/{id}/move", post(accounts::move_identity))
        .route("/audit", get(accounts::audit))
        .route("/sessions", get(accounts::sessions))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(state, authenticate))
}
