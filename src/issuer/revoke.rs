//! `POST /revoke` (RFC 7009): a client ends one of its refresh tokens or access tokens, and with
//! it the whole grant. Tokens of other clients and unknown tokens are ignored (200), as the RFC
//! says; a client that fails authentication gets `invalid_client`.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::jwt;
use super::token::{TokenForm, authenticate_budgeted};
use crate::error::AppError;
use crate::state::AppState;

/// `POST /revoke`
pub async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let result = async {
        let Form(form) = form.map_err(|_| AppError::oauth("invalid_request", "the body must be form-encoded"))?;
        let client = authenticate_budgeted(&state, &headers, &form, crate::routes::REVOKE, &ip).await?;
        let token = form.token.as_deref().ok_or_else(|| AppError::oauth("invalid_request", "token is required"))?;
        let grant = if token.split('.').count() == 3 {
            // An access token: its grant, even if it has expired.
            match jwt::verify(token, &state.keys.snapshot().decoding, &state.issuer, jwt::TYP_ACCESS, i64::MIN) {
                Ok(claims) => match claims.get("gid").and_then(|g| g.as_str()) {
                    Some(gid) => state.grants.get(gid).await?,
                    None => None,
                },
                Err(_) => None,
            }
        } else {
            state.grants.by_token(&crate::ids::sha256_b64(token.as_bytes())).await?
        };
        if let Some(g) = grant.filter(|g| g.client_id == client.id) {
            state.grants.revoke(&g.id, state.clock.now_ms()).await?;
            tracing::info!(client = %client.id, grant = %g.id, account = %g.account_id, "grant revoked by the client");
        }
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_oauth().into_response(),
    }
}
