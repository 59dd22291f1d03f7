//! `/.well-known/openid-configuration` and `/jwks.json`, built from the route constants.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_auth;
use crate::routes;
use crate::state::AppState;

/// `GET /.well-known/openid-configuration`
pub async fn discovery_get(State(state): State<AppState>) -> Response {
    let i = &*state.issuer;
    // Signing algorithms: every one braid has a current key of (clients choose theirs).
    let algs: Vec<&str> = state.keys.snapshot().set.algorithms().into_iter().map(|a| a.as_str()).collect();
    let doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}{}", routes::AUTHORIZE),
        "token_endpoint": format!("{i}{}", routes::TOKEN),
        "userinfo_endpoint": format!("{i}{}", routes::USERINFO),
        "jwks_uri": format!("{i}{}", routes::JWKS),
        "end_session_endpoint": format!("{i}{}", routes::LOGOUT),
        "revocation_endpoint": format!("{i}{}", routes::REVOKE),
        "introspection_endpoint": format!("{i}{}", routes::INTROSPECT),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": super::authorize::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "idp", "amr", "azp", "email", "email_verified", "name", "preferred_username", "acr"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // Authorization request parameters (issue 14).
        "claims_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claim_types_supported": ["normal"],
        "ui_locales_supported": ["en"],
        // Back- and front-channel logout.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        // --- JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)
        "token_endpoint_auth_methods_supported": client_auth::METHODS,
        "token_endpoint_auth_signing_alg_values_supported": client_auth::SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": client_auth::METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": client_auth::SIGNING_ALGS,
        "introspection_endpoint_auth_methods_supported": client_auth::METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": client_auth::SIGNING_ALGS,
        "pushed_authorization_request_endpoint": format!("{i}{}", routes::PAR),
        "require_pushed_authorization_requests": false,
    });
    cached(axum::Json(doc).into_response())
}

/// `GET /jwks.json`
pub async fn jwks_get(State(state): State<AppState>) -> Response {
    cached(axum::Json(state.keys.snapshot().set.jwks()).into_response())
}

fn cached(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}
