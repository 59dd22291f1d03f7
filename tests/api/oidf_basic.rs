//! The checks of the OpenID Foundation's Basic OP test plan (`oidcc-basic-certification-test-plan`,
//! code flow, `client_secret_basic`, static client) against braid over HTTP, one test per module
//! of the plan, named after it. A person signs in with the dev provider; the clock is braid's
//! test clock, so waiting is advancing it. Modules for features braid does not offer (address
//! and phone scopes, request objects) check that braid answers as the plan allows for an OP
//! without them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// An authorization request of the confidential test client with `extra` parameters (replacing
/// the defaults of the same name).
pub fn request(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q = authorize_query(APP_ID, APP_CB, None, "nonce-oidf");
    for (k, v) in extra {
        q.retain(|(name, _)| name != k);
        if !v.is_empty() {
            q.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    q
}

/// Send the authorization request and follow the browser through the chooser and the dev
/// provider (as `user`) when braid asks for a sign-in; returns where braid finally sends the
/// browser (the client's redirect URI, with a code or an error).
pub async fn flow(app: &TestApp, b: &reqwest::Client, extra: &[(&str, &str)], user: &str) -> String {
    let r = b.get(app.url("/authorize")).query(&request(extra)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let mut next = location(&r);
    for _ in 0..5 {
        if !next.starts_with('/') {
            return next;
        }
        let r = b.get(app.url(&next)).send().await.unwrap();
        if r.status() == StatusCode::OK {
            let html = r.text().await.unwrap();
            if !html.contains("name=\"state\"") {
                // The provider chooser: choose the dev provider.
                let link = html.split("href=\"/login/dev?").nth(1).and_then(|s| s.split('"').next());
                next =
                    format!("/login/dev?{}", link.expect("the chooser offers the dev provider").replace("&amp;", "&"));
                continue;
            }
            let state = form_state(&html);
            let email = format!("{user}@example.com");
            let r = b
                .post(app.url("/login/dev"))
                .form(&[("state", state.as_str()), ("username", user), ("email", &email), ("email_verified", "true")])
                .send()
                .await
                .unwrap();
            return location(&r);
        }
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        next = location(&r);
    }
    panic!("the sign-in did not finish");
}

/// The code of a successful authorization response (with its `state` and RFC 9207 `iss`).
pub fn code_of(app: &TestApp, back: &str) -> String {
    assert!(back.starts_with(APP_CB), "{back}");
    assert_eq!(query_param(back, "error"), None, "{back}");
    assert_eq!(query_param(back, "iss").as_deref(), Some(app.base.as_str()), "iss on every response");
    assert_eq!(query_param(back, "state").as_deref(), Some("st-123"));
    query_param(back, "code").expect("code")
}

/// The error of an authorization response sent back to the client (with `state` and `iss`).
pub fn error_of(app: &TestApp, back: &str) -> String {
    assert!(back.starts_with(APP_CB), "{back}");
    assert_eq!(query_param(back, "code"), None);
    assert_eq!(query_param(back, "iss").as_deref(), Some(app.base.as_str()), "iss on error redirects (RFC 9207)");
    assert_eq!(query_param(back, "state").as_deref(), Some("st-123"));
    query_param(back, "error").expect("error")
}

/// Redeem `code` (client_secret_basic) and check the token response as the plan does.
pub async fn tokens(app: &TestApp, code: &str) -> Value {
    let r = redeem(app, code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["access_token"].is_string() && t["expires_in"].is_i64());
    t
}

/// The validated ID token of a token response.
pub async fn id_token(app: &TestApp, t: &Value) -> Value {
    let claims = verify_id_token(&app.base, t["id_token"].as_str().unwrap(), APP_ID).await;
    assert_eq!(claims["iss"], json!(app.base));
    claims
}

async fn userinfo_get(app: &TestApp, at: &str) -> reqwest::Response {
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap()
}

/// Sign in once and return (browser, token response, ID token claims).
async fn signed_in(app: &TestApp, extra: &[(&str, &str)]) -> (reqwest::Client, Value, Value) {
    let b = browser();
    let back = flow(app, &b, extra, "oidf-alice").await;
    let t = tokens(app, &code_of(app, &back)).await;
    let claims = id_token(app, &t).await;
    (b, t, claims)
}

#[tokio::test]
async fn oidcc_server() {
    let app = spawn_app().await;
    let (_, t, claims) = signed_in(&app, &[]).await;
    assert_eq!(claims["aud"], json!(APP_ID), "aud is the client, a single value");
    assert_eq!(claims["nonce"], "nonce-oidf");
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty() && s.len() <= 255));
    let iat = claims["iat"].as_i64().unwrap();
    assert!(claims["exp"].as_i64().unwrap() > iat);
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);
    let header = jsonwebtoken::decode_header(t["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
}

#[tokio::test]
async fn oidcc_response_type_missing() {
    let app = spawn_app().await;
    let back = flow(&app, &browser(), &[("response_type", "")], "x").await;
    assert_eq!(error_of(&app, &back), "invalid_request");
}

#[tokio::test]
async fn oidcc_userinfo_get() {
    let app = spawn_app().await;
    let (_, t, claims) = signed_in(&app, &[]).await;
    let r = userinfo_get(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], claims["sub"]);
}

#[tokio::test]
async fn oidcc_userinfo_post_header() {
    let app = spawn_app().await;
    let (_, t, claims) = signed_in(&app, &[]).await;
    let r = reqwest::Client::new()
        .post(app.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], claims["sub"]);
}

#[tokio::test]
async fn oidcc_userinfo_post_body() {
    let app = spawn_app().await;
    let (_, t, claims) = signed_in(&app, &[]).await;
    let r = reqwest::Client::new()
        .post(app.url("/userinfo"))
        .form(&[("access_token", t["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], claims["sub"]);
}

#[tokio::test]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let app = spawn_app().await;
    let (_, _, claims) = signed_in(&app, &[("nonce", "")]).await;
    assert!(claims.get("nonce").is_none(), "no nonce asked, none returned");
}

async fn scope_case(scope: &str) -> (Value, Value) {
    let app = spawn_app().await;
    let (_, t, claims) = signed_in(&app, &[("scope", scope)]).await;
    let info: Value = userinfo_get(&app, t["access_token"].as_str().unwrap()).await.json().await.unwrap();
    let granted = t["scope"].as_str().unwrap().to_owned();
    assert!(granted.split(' ').all(|s| ["openid", "profile", "email", "offline_access"].contains(&s)));
    (claims, json!({"userinfo": info, "granted": granted}))
}

#[tokio::test]
async fn oidcc_scope_profile() {
    let (_, r) = scope_case("openid profile").await;
    assert_eq!(r["userinfo"]["name"], "oidf-alice");
    assert_eq!(r["userinfo"]["preferred_username"], "oidf-alice");
    assert!(r["userinfo"].get("email").is_none(), "email needs its own scope");
}

#[tokio::test]
async fn oidcc_scope_email() {
    let (_, r) = scope_case("openid email").await;
    assert_eq!(r["userinfo"]["email"], "oidf-alice@example.com");
    // The dev provider is not trusted for email: never verified.
    assert_eq!(r["userinfo"]["email_verified"], false);
    assert!(r["userinfo"].get("name").is_none(), "name needs the profile scope");
}

#[tokio::test]
async fn oidcc_scope_address() {
    // braid does not offer the address scope (not in scopes_supported): it is ignored.
    let (_, r) = scope_case("openid address").await;
    assert_eq!(r["granted"], "openid");
    assert!(r["userinfo"].get("address").is_none());
}

#[tokio::test]
async fn oidcc_scope_phone() {
    let (_, r) = scope_case("openid phone").await;
    assert_eq!(r["granted"], "openid");
    assert!(r["userinfo"].get("phone_number").is_none());
}

#[tokio::test]
async fn oidcc_scope_all() {
    let (_, r) = scope_case("openid profile email address phone").await;
    assert_eq!(r["granted"], "openid profile email");
    assert_eq!(r["userinfo"]["email"], "oidf-alice@example.com");
    assert_eq!(r["userinfo"]["name"], "oidf-alice");
}

#[tokio::test]
async fn oidcc_ensure_other_scope_order_succeeds() {
    let (_, r) = scope_case("email openid").await;
    assert_eq!(r["granted"], "openid email");
    assert_eq!(r["userinfo"]["email"], "oidf-alice@example.com");
}

#[tokio::test]
async fn oidcc_display_page() {
    let app = spawn_app().await;
    signed_in(&app, &[("display", "page")]).await;
}

#[tokio::test]
async fn oidcc_display_popup() {
    let app = spawn_app().await;
    signed_in(&app, &[("display", "popup")]).await;
}

#[tokio::test]
async fn oidcc_prompt_login() {
    let app = spawn_app().await;
    let (b, _, first) = signed_in(&app, &[]).await;
    app.clock.advance(Duration::from_secs(5));
    // The session exists, yet prompt=login makes the person sign in again.
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "login")])).send().await.unwrap();
    assert!(location(&r).starts_with("/login?"), "a sign-in is asked for, not single sign-on");
    let back = flow(&app, &b, &[("prompt", "login")], "oidf-alice").await;
    let second = id_token(&app, &tokens(&app, &code_of(&app, &back)).await).await;
    assert_eq!(second["sub"], first["sub"]);
    assert!(second["auth_time"].as_i64() > first["auth_time"].as_i64(), "auth_time advances");
}

#[tokio::test]
async fn oidcc_prompt_none_not_logged_in() {
    let app = spawn_app().await;
    let back = flow(&app, &browser(), &[("prompt", "none")], "x").await;
    assert_eq!(error_of(&app, &back), "login_required");
}

#[tokio::test]
async fn oidcc_prompt_none_logged_in() {
    let app = spawn_app().await;
    let (b, _, first) = signed_in(&app, &[]).await;
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "none")])).send().await.unwrap();
    let back = location(&r);
    let second = id_token(&app, &tokens(&app, &code_of(&app, &back)).await).await;
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(second["auth_time"], first["auth_time"], "no new sign-in happened");
}

#[tokio::test]
async fn oidcc_max_age_1() {
    let app = spawn_app().await;
    let (b, _, first) = signed_in(&app, &[]).await;
    app.clock.advance(Duration::from_secs(2));
    let r = b.get(app.url("/authorize")).query(&request(&[("max_age", "1")])).send().await.unwrap();
    assert!(location(&r).starts_with("/login?"), "the sign-in is too old: the person signs in again");
    let back = flow(&app, &b, &[("max_age", "1")], "oidf-alice").await;
    let second = id_token(&app, &tokens(&app, &code_of(&app, &back)).await).await;
    assert_eq!(second["sub"], first["sub"]);
    assert!(second["auth_time"].as_i64().unwrap() >= first["auth_time"].as_i64().unwrap() + 2);
}

#[tokio::test]
async fn oidcc_max_age_10000() {
    let app = spawn_app().await;
    let (b, _, first) = signed_in(&app, &[]).await;
    app.clock.advance(Duration::from_secs(2));
    let r = b.get(app.url("/authorize")).query(&request(&[("max_age", "10000")])).send().await.unwrap();
    let second = id_token(&app, &tokens(&app, &code_of(&app, &location(&r))).await).await;
    assert_eq!(second["auth_time"], first["auth_time"], "a recent enough sign-in is reused");
}

#[tokio::test]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let app = spawn_app().await;
    signed_in(&app, &[("extra", "foobar"), ("x-unknown", "1")]).await;
}

#[tokio::test]
async fn oidcc_id_token_hint() {
    let app = spawn_app().await;
    let (b, t, first) = signed_in(&app, &[]).await;
    let hint = t["id_token"].as_str().unwrap();
    // Even once the hint has expired (OIDC Core 3.1.2.1 allows it).
    app.clock.advance(Duration::from_secs(7200));
    let r = b
        .get(app.url("/authorize"))
        .query(&request(&[("prompt", "none"), ("id_token_hint", hint), ("max_age", "")]))
        .send()
        .await
        .unwrap();
    let second = id_token(&app, &tokens(&app, &code_of(&app, &location(&r))).await).await;
    assert_eq!(second["sub"], first["sub"]);
}

#[tokio::test]
async fn oidcc_login_hint() {
    let app = spawn_app().await;
    let b = browser();
    let r =
        b.get(app.url("/authorize")).query(&request(&[("login_hint", "oidf-alice@example.com")])).send().await.unwrap();
    let to_chooser = location(&r);
    assert_eq!(query_param(&to_chooser, "login_hint").as_deref(), Some("oidf-alice@example.com"));
    signed_in(&app, &[("login_hint", "oidf-alice@example.com")]).await;
}

#[tokio::test]
async fn oidcc_ui_locales() {
    let app = spawn_app().await;
    signed_in(&app, &[("ui_locales", "se")]).await;
}

#[tokio::test]
async fn oidcc_claims_locales() {
    let app = spawn_app().await;
    signed_in(&app, &[("claims_locales", "se")]).await;
}

#[tokio::test]
async fn oidcc_ensure_request_with_acr_values_succeeds() {
    let app = spawn_app().await;
    signed_in(&app, &[("acr_values", "1 2")]).await;
}

/// A second redemption is refused and ends what the first one produced: the access token at
/// `/userinfo` and introspection, and the refresh token.
async fn code_reuse_after(wait: Duration) {
    let app = spawn_app().await;
    let b = browser();
    let code = code_of(&app, &flow(&app, &b, &[], "oidf-alice").await);
    let t = tokens(&app, &code).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo_get(&app, at).await.status(), StatusCode::OK);
    app.clock.advance(wait);
    let r = redeem(&app, &code).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let r = userinfo_get(&app, at).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the first redemption's access token is revoked");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer error=\"invalid_token\""));
    let i: Value = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i, json!({"active": false}));
    let (status, v) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn oidcc_codereuse() {
    code_reuse_after(Duration::ZERO).await;
}

#[tokio::test]
async fn oidcc_codereuse_30seconds() {
    code_reuse_after(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn oidcc_ensure_registered_redirect_uri() {
    let app = spawn_app().await;
    let r = browser()
        .get(app.url("/authorize"))
        .query(&request(&[("redirect_uri", "http://127.0.0.1:9/cb?evil=1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an error page, never a redirect");
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let app = spawn_app().await;
    // An unsigned request object (alg none) naming the same request.
    let request_object = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({"client_id": APP_ID, "redirect_uri": APP_CB, "response_type": "code", "scope": "openid"})
                .to_string()
        )
    );
    let back = flow(&app, &browser(), &[("request", &request_object)], "x").await;
    assert_eq!(error_of(&app, &back), "request_not_supported");
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(d["request_parameter_supported"], false, "and discovery says so");
}

#[tokio::test]
async fn oidcc_claims_essential() {
    let app = spawn_app().await;
    let claims = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let (_, t, _) = signed_in(&app, &[("scope", "openid"), ("claims", claims)]).await;
    let info: Value = userinfo_get(&app, t["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(info["name"], "oidf-alice", "the essential claim is returned without the profile scope");
    assert!(info.get("email").is_none(), "and only it");
}

#[tokio::test]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let app = spawn_app().await;
    let back = flow(&app, &browser(), &[("request", "eyJhbGciOiJub25lIn0.e30.")], "x").await;
    assert_eq!(error_of(&app, &back), "request_not_supported");
}

#[tokio::test]
async fn oidcc_refresh_token() {
    let app = spawn_app().await;
    let (_, t, first) = signed_in(&app, &[("scope", "openid email offline_access")]).await;
    let rt = t["refresh_token"].as_str().unwrap();
    // Another client may not use it.
    let (status, v) =
        token_request(&app, (OTHER_ID, Some(OTHER_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .await;
    assert_eq!((status, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, v) =
        token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .await;
    assert_eq!(status, StatusCode::OK);
    let again = id_token(&app, &v).await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["auth_time"], first["auth_time"]);
    assert_ne!(v["refresh_token"].as_str(), Some(rt), "rotated");
}

#[tokio::test]
async fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let app = spawn_app().await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let back = flow(&app, &b, &[("code_challenge", &challenge), ("code_challenge_method", "S256")], "oidf-alice").await;
    let code = code_of(&app, &back);
    let (status, _) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
