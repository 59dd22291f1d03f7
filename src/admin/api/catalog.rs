//! Admin API endpoints for the catalog of upstream providers and OIDC clients
//! (`admin::catalog`): listed with their source (`file` or `api`), made, replaced and deleted
//! with the catalog's version as `ETag`/`If-Match`, a provider checked online, a client's
//! secret rotated (shown once). Those of files and `braid.toml` are read-only here (409).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Caller;
use super::extract::{Body, IfMatch, etag_of};
use super::problem::{Cause, Problem};
use crate::admin::catalog::ClientDefinition;
use crate::admin::catalog::{CatalogError, CheckReport, ClientView, NewClient, ProviderView};
use crate::state::AppState;
use crate::upstream::definition::ProviderDefinition;

impl From<CatalogError> for Problem {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid { pointer, detail } => Problem::invalid(pointer, detail),
            CatalogError::NotFound => Problem::new(Cause::NotFound, "no provider or client has this id"),
            CatalogError::FromFile => Problem::new(
                Cause::FromFile,
                "defined in a provider file or braid.toml; change it there (the API changes only its own)",
            ),
            CatalogError::Exists => Problem::new(Cause::Conflict, "this id is taken"),
            CatalogError::VersionMismatch => {
                Problem::new(Cause::PreconditionFailed, "If-Match does not name the current version; read it again")
            }
            CatalogError::Unreachable(detail) => Problem::new(Cause::Unreachable, detail),
            CatalogError::Store(detail) => {
                tracing::warn!(error = %detail, "admin API: the catalog store failed");
                Problem::new(Cause::Unavailable, "a store did not answer; try again")
            }
        }
    }
}

/// A new client's secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretOut {
    /// The client.
    pub client_id: String,
    /// The new secret: shown this once, stored only as its SHA-256.
    pub secret: String,
}

/// The ETag of a catalog item (its version), or of a file's (its content).
fn etag<T: Serialize>(version: Option<i64>, view: &T) -> String {
    match version {
        Some(v) => format!("\"v{v}\""),
        None => etag_of(view),
    }
}

/// The version `If-Match` names: `None` without the header (or `*`); a tag that names no
/// version of ours is stale.
fn expected_version(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let v = v.to_str().map_err(|_| Problem::invalid("#/If-Match", "not ASCII"))?.trim();
    if v == "*" {
        return Ok(None);
    }
    let version = v.strip_prefix("\"v").and_then(|r| r.strip_suffix('"')).and_then(|n| n.parse::<i64>().ok());
    match version {
        Some(n) => Ok(Some(n)),
        None => {
            Err(Problem::new(Cause::PreconditionFailed, "If-Match does not name the current version; read it again"))
        }
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T, etag: Option<String>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// An id for a provider or client: 1 to 64 of `a-z 0-9 - _`, starting with a letter or digit.
fn check_id(id: &str, pointer: &str) -> Result<(), Problem> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(pointer, "must be 1 to 64 of a-z, 0-9, `-` and `_`, starting with a letter or digit"))
    }
}

/// The `id` member of a create body and the rest (the definition).
fn split_id(mut body: Map<String, Value>) -> Result<(String, Value), Problem> {
    let id = match body.remove("id") {
        Some(Value::String(id)) => id,
        Some(_) => return Err(Problem::invalid("/id", "must be a string")),
        None => return Err(Problem::invalid("/id", "is required")),
    };
    check_id(&id, "/id")?;
    Ok((id, Value::Object(body)))
}

/// A replacement body: the definition, whose `id` (if sent) must be the path's.
fn same_id(id: &str, mut body: Map<String, Value>) -> Result<Value, Problem> {
    match body.remove("id") {
        None => {}
        Some(Value::String(i)) if i == id => {}
        Some(_) => return Err(Problem::invalid("/id", "must be the id in the path (an id cannot change)")),
    }
    Ok(Value::Object(body))
}

/// Every provider, from files (`source: file`) and from this API (`source: api`).
#[utoipa::path(get, path = "/admin/v1/providers", tag = "providers", responses((status = 200, body = Vec<ProviderView>)))]
pub async fn list_providers(State(state): State<AppState>, _caller: Caller) -> Result<Response, Problem> {
    Ok(json(StatusCode::OK, &state.catalog.list_providers().await?, None))
}

/// Register a provider: `id` and the keys of a provider file. Validated as a file is; an OIDC
/// discovery document or SAML metadata is fetched and must answer. In force on every replica
/// within seconds.
#[utoipa::path(post, path = "/admin/v1/providers", tag = "providers",
    request_body(content = ProviderDefinition, description = "The definition, with its `id` (required here)"),
    responses((status = 201, body = ProviderView, headers(("ETag" = String))), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_provider(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, Problem> {
    let (id, definition) = split_id(body)?;
    let view = state.catalog.create_provider(&id, definition, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, provider = %id, "provider created");
    Ok(json(StatusCode::CREATED, &view, Some(etag(view.version, &view))))
}

/// One provider (its secret never shown).
#[utoipa::path(get, path = "/admin/v1/providers/{id}", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_provider(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let view = state.catalog.get_provider(&id).await?;
    Ok(json(StatusCode::OK, &view, Some(etag(view.version, &view))))
}

/// Replace a provider's definition (leave out `client_secret` to keep the stored one).
#[utoipa::path(put, path = "/admin/v1/providers/{id}", tag = "providers", params(("id" = String, Path), IfMatch),
    request_body(content = ProviderDefinition, description = "The whole new definition; `id`, if sent, is the path's; without `client_secret` the stored one is kept"),
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn replace_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, Problem> {
    let expected = expected_version(&headers)?;
    let definition = same_id(&id, body)?;
    let view = state.catalog.replace_provider(&id, definition, expected, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, provider = %id, "provider replaced");
    Ok(json(StatusCode::OK, &view, Some(etag(view.version, &view))))
}

/// Delete a provider: sign-in through it is refused from then on.
#[utoipa::path(delete, path = "/admin/v1/providers/{id}", tag = "providers", params(("id" = String, Path), IfMatch),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = expected_version(&headers)?;
    state.catalog.delete_provider(&id, expected, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, provider = %id, "provider deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What `braid check --online` says of the provider.
#[utoipa::path(post, path = "/admin/v1/providers/{id}/check", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, body = CheckReport), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn check_provider(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(json(StatusCode::OK, &state.catalog.check_provider(&id).await?, None))
}

/// Every client, from `braid.toml` (`source: file`) and from this API (`source: api`).
#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients", responses((status = 200, body = Vec<ClientView>)))]
pub async fn list_clients(State(state): State<AppState>, _caller: Caller) -> Result<Response, Problem> {
    Ok(json(StatusCode::OK, &state.catalog.list_clients().await?, None))
}

/// Register a client: `id`, `redirect_uris`, `post_logout_redirect_uris`, `name`, `public`.
/// A confidential client's secret is made by braid and returned this once.
#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients",
    request_body(content = ClientDefinition, description = "The definition, with its `id` (required here)"),
    responses((status = 201, body = NewClient, headers(("ETag" = String))), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_client(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, Problem> {
    let (id, definition) = split_id(body)?;
    let made = state.catalog.create_client(&id, definition, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, client = %id, "client created");
    Ok(json(StatusCode::CREATED, &made, Some(etag(made.client.version, &made.client))))
}

/// One client (its secret never shown).
#[utoipa::path(get, path = "/admin/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_client(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let view = state.catalog.get_client(&id).await?;
    Ok(json(StatusCode::OK, &view, Some(etag(view.version, &view))))
}

/// Replace a client's definition; its secret stays (a public client made confidential gets one,
/// returned this once).
#[utoipa::path(put, path = "/admin/v1/clients/{id}", tag = "clients", params(("id" = String, Path), IfMatch),
    request_body(content = ClientDefinition, description = "The whole new definition; `id`, if sent, is the path's"),
    responses((status = 200, body = NewClient, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn replace_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, Problem> {
    let expected = expected_version(&headers)?;
    let definition = same_id(&id, body)?;
    let made = state.catalog.replace_client(&id, definition, expected, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, client = %id, "client replaced");
    Ok(json(StatusCode::OK, &made, Some(etag(made.client.version, &made.client))))
}

/// Delete a client: its refresh tokens stop working at once.
#[utoipa::path(delete, path = "/admin/v1/clients/{id}", tag = "clients", params(("id" = String, Path), IfMatch),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = expected_version(&headers)?;
    state.catalog.delete_client(&id, expected, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, client = %id, "client deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Make a new secret for a confidential client; the old one stops working at once.
#[utoipa::path(post, path = "/admin/v1/clients/{id}/secret", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = SecretOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let secret = state.catalog.rotate_client_secret(&id, &caller.actor()).await?;
    tracing::info!(target: "braid::admin", token = %caller.0, client = %id, "client secret rotated");
    Ok(json(StatusCode::OK, &SecretOut { client_id: id, secret }, None))
}
