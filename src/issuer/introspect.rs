//! `POST /introspect` (RFC 7662): a client asks whether one of its tokens is active. Access
//! tokens are verified and their grant checked; refresh tokens are looked up by hash (a spent,
//! rotated-out token is inactive). Tokens of other clients are reported inactive.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::jwt;
use super::token::{TokenForm, authenticate_budgeted};
use crate::error::AppError;
use crate::state::AppState;

/// `POST /introspect`
pub async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::web::client_ip::ClientIp(ip): crate::web::client_ip::ClientIp,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let result = async {
        let Form(form) = form.map_err(|_| AppError::oauth("invalid_request", "the body must be form-encoded"))?;
        let client = authenticate_budgeted(&state, &headers, &form, crate::routes::INTROSPECT, &ip).await?;
        let token = form.token.as_deref().ok_or_else(|| AppError::oauth("invalid_request", "token is required"))?;
        let now = state.clock.now_secs();
        let inactive = json!({ "active": false });
        let answer = if token.split('.').count() == 3 {
            match jwt::verify(token, &state.keys.snapshot().decoding, &state.issuer, jwt::TYP_ACCESS, now) {
                Ok(claims) if claims.get("client_id").and_then(Value::as_str) == Some(client.id.as_str()) => {
                    let grant = match claims.get("gid").and_then(Value::as_str) {
                        Some(gid) => state.grants.get(gid).await?,
                        None => None,
                    };
                    // The account is the grant's (`sub` may be pairwise); trust is re-checked as at a
                    // refresh.
                    let active = match grant {
                        Some(g) => crate::trust::grant_stands(&state, &g).await?.is_some(),
                        None => false,
                    };
                    if active {
                        let mut out = json!({ "active": true, "token_type": "Bearer" });
                        for k in ["sub", "client_id", "scope", "exp", "iat", "iss", "aud", "jti", "idp", "auth_time"] {
                            if let (Some(v), Some(o)) = (claims.get(k), out.as_object_mut()) {
                                o.insert(k.into(), v.clone());
                            }
                        }
                        out
                    } else {
                        inactive
                    }
                }
                _ => inactive,
            }
        } else {
            let found = state.grants.by_token_state(&crate::ids::sha256_b64(token.as_bytes())).await?;
            let found = match found {
                Some((g, spent)) if crate::trust::grant_stands(&state, &g).await?.is_some() => Some((g, spent)),
                _ => None,
            };
            match found {
                Some((g, spent))
                    if g.client_id == client.id && !spent && g.revoked_at.is_none() && g.expires_at > state.clock.now_ms() =>
                {
                    json!({
                        "active": true, "token_type": "refresh_token",
                        "sub": super::shape::subject(&state, &client.token_shape, g.account_id.as_str()), "client_id": g.client_id,
                        "scope": g.scope, "exp": g.expires_at / 1000, "iat": g.created_at / 1000, "iss": &*state.issuer,
                    })
                }
                _ => inactive,
            }
        };
        Ok::<_, AppError>(answer)
    }
    .await;
    match result {
        Ok(v) => {
            let mut resp = axum::Json(v).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_oauth().into_response(),
    }
}
