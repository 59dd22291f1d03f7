//! A fast local OpenID Provider for the brokered benchmark: discovery, JWKS, an authorize that
//! answers at once with a code naming the user the driver asks for (`bench_user`), a token
//! endpoint that signs an ES256 ID token with the nonce, and userinfo. It keeps no state (the code carries the
//! user and the nonce), so the upstream costs the driver's core little and the measured braid,
//! not its upstream, sets the pace. Loopback only; never a real provider.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid::config::SigningAlg;
use braid::issuer::keys::KeySet;

/// The query parameter that names the user at the fast provider's authorize.
pub const USER_PARAM: &str = "bench_user";

struct Op {
    base: String,
    client: String,
    keys: KeySet,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

async fn discovery(State(op): State<Arc<Op>>) -> Json<serde_json::Value> {
    let b = &op.base;
    Json(serde_json::json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "jwks_uri": format!("{b}/jwks"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
}

async fn jwks(State(op): State<Arc<Op>>) -> Json<serde_json::Value> {
    Json(op.keys.jwks())
}

async fn authorize(State(op): State<Arc<Op>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let code = serde_json::json!({ "sub": get(USER_PARAM), "nonce": get("nonce") }).to_string();
    let code = URL_SAFE_NO_PAD.encode(code);
    let to = url::Url::parse_with_params(
        &get("redirect_uri"),
        &[("code", code.as_str()), ("state", get("state").as_str()), ("iss", op.base.as_str())],
    );
    match to {
        Ok(u) => Redirect::to(u.as_str()).into_response(),
        Err(_) => (axum::http::StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    }
}

async fn token(State(op): State<Arc<Op>>, Form(f): Form<HashMap<String, String>>) -> Response {
    let bad = || (axum::http::StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "invalid_grant"})));
    let Some(code) = f.get("code").and_then(|c| URL_SAFE_NO_PAD.decode(c).ok()) else { return bad().into_response() };
    let Ok(code) = serde_json::from_slice::<serde_json::Value>(&code) else { return bad().into_response() };
    let sub = code["sub"].as_str().unwrap_or_default();
    let t = now();
    let claims = serde_json::json!({
        "iss": op.base, "sub": sub, "aud": op.client, "iat": t, "exp": t + 300, "nonce": code["nonce"],
        "email": format!("{sub}@fast.example"), "email_verified": true, "name": sub,
    });
    match braid::issuer::jwt::sign(op.keys.current(), braid::issuer::jwt::TYP_ID, &claims) {
        Ok(id_token) => Json(serde_json::json!({
            "access_token": format!("at-{sub}-{t}"), "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
        }))
        .into_response(),
        Err(_) => bad().into_response(),
    }
}

/// Userinfo for the access tokens `token` hands out (`at-<sub>-<time>`): SATOSA's backend asks
/// for it at every sign-in; braid only when a provider sets `userinfo`.
async fn userinfo(headers: axum::http::HeaderMap) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let sub = token.and_then(|t| t.strip_prefix("at-")).and_then(|t| t.rsplit_once('-')).map(|(sub, _)| sub);
    match sub {
        Some(sub) => Json(serde_json::json!({
            "sub": sub, "email": format!("{sub}@fast.example"), "email_verified": true, "name": sub,
        }))
        .into_response(),
        None => axum::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Start the provider for client `client`, with an ES256 key kept in `dir`; its issuer URL.
pub async fn start(dir: &Path, client: &str) -> Result<String, String> {
    let keys = KeySet::load_or_generate(&dir.join("fast-op-keys"), SigningAlg::ES256).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr().map_err(|e| e.to_string())?.port());
    let op = Arc::new(Op { base: base.clone(), client: client.to_owned(), keys });
    let app = Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(discovery))
        .route("/jwks", axum::routing::get(jwks))
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/userinfo", axum::routing::get(userinfo))
        .with_state(op);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}
