//! `POST /backchannel-logout/{provider}`: an OIDC provider tells braid that a person signed out
//! there. The logout token is verified like an ID token (keys pinned per JWK, `iss`, `aud`) plus
//! the Back-Channel Logout rules (the event, no `nonce`, `typ` logout+jwt when given), taken once
//! by `jti`, and then every braid session of the identity's account ends.

use std::time::Duration;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Protocol;
use crate::state::AppState;

fn answer(status: StatusCode, error: Option<&str>) -> Response {
    let body = match error {
        Some(e) => json!({"error": "invalid_request", "error_description": e}),
        None => json!({}),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /backchannel-logout/{provider}`
pub async fn backchannel_logout_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<std::collections::HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let providers = state.providers.snapshot();
    let Some(Protocol::Oidc(client)) = providers.enabled(&id).map(|p| p.protocol.clone()) else {
        return answer(StatusCode::NOT_FOUND, Some("unknown provider"));
    };
    let Some(token) = form.ok().and_then(|Form(f)| f.get("logout_token").cloned()) else {
        return answer(StatusCode::BAD_REQUEST, Some("logout_token is required"));
    };
    let now = state.clock.now_ms();
    let meta = match client.metadata(&state.http, now).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(provider = %id, error = %e, "back-channel logout: discovery failed");
            return answer(StatusCode::SERVICE_UNAVAILABLE, Some("provider metadata unavailable"));
        }
    };
    let (iss, sub, jti) = match client.validate_logout_token(&state.http, &meta, &token, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(provider = %id, error = %e, "back-channel logout token refused");
            return answer(StatusCode::BAD_REQUEST, Some("invalid logout token"));
        }
    };
    // Each logout token acts once.
    let key = format!("bcl:{}", crate::ids::sha256_b64(format!("{iss}\n{jti}").as_bytes()));
    match state.records.store().put_new(&key, b"1", Duration::from_secs(3600)).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::BAD_REQUEST, Some("logout token replayed")),
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: session store unavailable");
            return answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"));
        }
    }
    let identity = match state.accounts.find_identity(&iss, &sub).await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: account store unavailable");
            return answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"));
        }
    };
    if let Some(i) = identity {
        match state.records.store().end_all(i.account_id.as_str(), None).await {
            Ok(n) => {
                tracing::info!(provider = %id, account = %i.account_id, sessions = n, "back-channel logout ended sessions");
                if let Err(e) = state.grants.revoke_account(&i.account_id, now).await {
                    tracing::error!(error = %e, "back-channel logout: account store unavailable");
                    return answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "back-channel logout: session store unavailable");
                return answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"));
            }
        }
    }
    answer(StatusCode::OK, None)
}
