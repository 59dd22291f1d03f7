//! The admin API's OpenAPI 3.1 document, generated from the handlers' and types' annotations
//! (utoipa): the one source of the API's shape, served at `/admin/v1/openapi.json`.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::accounts as a;
use super::catalog as c;
use super::problem::{FieldError, Problem};

/// The bearer scheme every operation requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("admin_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "braid admin API",
        description = "Register providers and clients, and manage accounts, identities, sessions and the audit log. \
                       Every call needs `Authorization: Bearer <admin token>` (made with `braid admin token create`). \
                       Errors are RFC 9457 problems (`application/problem+json`).",
        license(name = "Apache-2.0")
    ),
    paths(
        c::list_providers, c::create_provider, c::get_provider, c::replace_provider, c::delete_provider,
        c::check_provider, c::list_clients, c::create_client, c::get_client, c::replace_client, c::delete_client,
        c::rotate_secret,
        a::search, a::get_account, a::delete_account, a::link, a::merge, a::disable, a::enable, a::end_sessions,
        a::unlink, a::update_identity, a::move_identity, a::audit, a::sessions, openapi_json
    ),
    components(schemas(
        Problem, FieldError, a::AccountOut, a::IdentityOut, a::AccountDetail, a::AccountPage, a::LinkIn, a::MoveIn,
        a::MoveOut, a::IdentityPatch, a::MergeIn, a::MergeOut, a::AuditOut, a::AuditPage, a::SessionOut, a::GrantOut,
        a::SessionsOut, a::EndedOut, c::SecretOut, crate::admin::catalog::ProviderView,
        crate::admin::catalog::CheckReport, crate::admin::catalog::ClientView, crate::admin::catalog::NewClient,
        crate::upstream::definition::ProviderDefinition, crate::admin::catalog::ClientDefinition
    )),
    modifiers(&BearerAuth),
    security(("admin_token" = [])),
    tags(
        (name = "providers", description = "Upstream providers: files (read-only) and this API's"),
        (name = "clients", description = "OIDC clients: braid.toml's (read-only) and this API's"),
        (name = "accounts", description = "Accounts: search, show, merge, disable, enable, delete"),
        (name = "identities", description = "Identities: link, unlink, move, switch sign-in, primary"),
        (name = "sessions", description = "Browser sessions and refresh-token grants"),
        (name = "audit", description = "The audit log"),
        (name = "openapi", description = "This document")
    )
)]
pub struct AdminApiDoc;

/// The document with braid's version, as JSON. Every error response is documented as
/// `application/problem+json`, and every operation also documents the answers any call may get:
/// 401 (no valid token), 415 (a body that is not JSON), 503 (a store is unavailable).
pub fn document() -> serde_json::Value {
    let mut doc = AdminApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    let problem = serde_json::json!({ "schema": { "$ref": "#/components/schemas/Problem" } });
    let common = [
        ("401", "No valid admin token"),
        ("415", "The body is not JSON"),
        ("422", "A parameter or the body is not valid"),
        ("429", "Too many refused calls from this client address"),
        ("503", "A store is unavailable"),
    ];
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths.values_mut().filter_map(|p| p.as_object_mut()).flat_map(|p| p.values_mut()) {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else { continue };
            for (code, resp) in responses.iter_mut() {
                if code.starts_with('4') || code.starts_with('5') {
                    resp["content"] = serde_json::json!({ super::problem::PROBLEM_JSON: problem });
                }
            }
            for (code, description) in common {
                responses.entry(code).or_insert_with(|| {
                    serde_json::json!({ "description": description, "content": { super::problem::PROBLEM_JSON: problem } })
                });
            }
        }
    }
    doc
}

/// `GET /admin/v1/openapi.json`.
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> Response {
    axum::Json(document()).into_response()
}
