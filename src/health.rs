//! `/healthz` (the process answers) and `/readyz` (both stores answer and no shutdown is under
//! way; the detail also names every provider file out of force and why).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`
pub async fn readyz(State(state): State<AppState>) -> Response {
    let sessions = state.records.store().ping().await;
    let accounts = state.accounts.ping().await;
    let draining = state.is_draining();
    let ready = sessions.is_ok() && accounts.is_ok() && !draining;
    if let Err(e) = &sessions {
        tracing::warn!(error = %e, "readiness: session store");
    }
    if let Err(e) = &accounts {
        tracing::warn!(error = %e, "readiness: account store");
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": ready,
        "sessions": sessions.is_ok(),
        "accounts": accounts.is_ok(),
        "draining": draining,
        // Not a readiness failure (the other providers serve), but the operator must see it.
        "providers_refused": state.providers.refused().iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    (status, axum::Json(body)).into_response()
}
