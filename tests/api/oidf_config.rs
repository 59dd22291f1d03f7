//! The checks of the OpenID Foundation's Config OP test plan (discovery and keys) and of the
//! RP-Initiated Logout plan, plus the protocol rules those plans check along the way (RFC 9207
//! `iss` on error redirects, `no-store` on token responses, `WWW-Authenticate` on 401s), against
//! braid over HTTP. Tests are named after the plan's modules where one exists.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::oidf_basic::{code_of, error_of, flow, id_token, request, tokens};

async fn discovery(app: &TestApp) -> Value {
    let r = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    r.json().await.unwrap()
}

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = spawn_app().await;
    let d = discovery(&app).await;
    // Required (OIDC Discovery 3) and recommended metadata of a code-flow OP.
    for k in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let v = d[k].as_str().unwrap_or_else(|| panic!("{k} missing"));
        // Every endpoint is under the issuer: https wherever the issuer is (braid refuses a
        // plain-http issuer off loopback), never another host or scheme.
        assert!(v.starts_with(&app.base), "{k} = {v}");
        let parsed = url::Url::parse(v).unwrap();
        assert!(parsed.fragment().is_none() && parsed.query().is_none(), "{k} has no query or fragment");
    }
    let has = |k: &str, v: &str| d[k].as_array().is_some_and(|a| a.contains(&json!(v)));
    assert!(has("response_types_supported", "code"));
    assert!(has("subject_types_supported", "public"));
    assert!(has("id_token_signing_alg_values_supported", "RS256"), "RS256 is required");
    assert!(!has("id_token_signing_alg_values_supported", "none"));
    assert!(has("scopes_supported", "openid"));
    assert!(has("grant_types_supported", "authorization_code"));
    assert!(has("token_endpoint_auth_methods_supported", "client_secret_basic"));
    assert!(has("code_challenge_methods_supported", "S256"));
    for c in ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "name", "preferred_username", "acr"] {
        assert!(has("claims_supported", c), "claims_supported names {c}");
    }
    assert_eq!(d["claims_parameter_supported"], true);
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(has("prompt_values_supported", "select_account"));
}

#[tokio::test]
async fn oidcc_discovery_issuer_not_matching_config() {
    let app = spawn_app().await;
    let d = discovery(&app).await;
    // Exactly the issuer braid was configured with, and the iss of its tokens.
    assert_eq!(d["issuer"], json!(app.base));
    assert!(!app.base.ends_with('/'));
    let b = browser();
    let t = tokens(&app, &code_of(&app, &flow(&app, &b, &[], "cfg-alice").await)).await;
    assert_eq!(id_token(&app, &t).await["iss"], d["issuer"]);
}

#[tokio::test]
async fn oidcc_idtoken_rs256() {
    let app = spawn_app().await;
    let d = discovery(&app).await;
    let jwks_resp = reqwest::get(d["jwks_uri"].as_str().unwrap()).await.unwrap();
    assert_eq!(jwks_resp.status(), StatusCode::OK, "jwks_uri is reachable");
    let jwks: Value = jwks_resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert!(k["kid"].is_string() && k.get("d").is_none(), "public keys with kid only: {k}");
    }
    let b = browser();
    let t = tokens(&app, &code_of(&app, &flow(&app, &b, &[], "cfg-alice").await)).await;
    let header = jsonwebtoken::decode_header(t["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let kid = header.kid.unwrap();
    let key = keys.iter().find(|k| k["kid"] == json!(kid)).expect("the ID token's kid is published");
    assert_eq!(key["kty"], "RSA");
    id_token(&app, &t).await;
}

#[tokio::test]
async fn rfc9207_iss_on_every_error_redirect() {
    let app = spawn_app().await;
    let b = browser();
    for (extra, error) in [
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("prompt", "none")], "login_required"),
        (vec![("claims", "{not json")], "invalid_request"),
        (vec![("request_uri", "urn:x")], "request_uri_not_supported"),
    ] {
        let back = flow(&app, &b, &extra, "x").await;
        assert_eq!(error_of(&app, &back), error, "{extra:?}");
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = spawn_app().await;
    let b = browser();
    let code = code_of(&app, &flow(&app, &b, &[], "cfg-alice").await);
    let ok = redeem(&app, &code).await;
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["pragma"], "no-cache");
    let err = redeem(&app, &code).await;
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert_eq!(err.headers()["cache-control"], "no-store", "errors too");
}

#[tokio::test]
async fn unauthorized_answers_carry_www_authenticate() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
    let r = http.get(app.url("/userinfo")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let r = http
        .post(app.url("/token"))
        .basic_auth(APP_ID, Some("wrong-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", APP_CB)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic "));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri() {
    let app = spawn_app().await;
    let b = browser();
    let t = tokens(&app, &code_of(&app, &flow(&app, &b, &[], "cfg-alice").await)).await;
    let hint = t["id_token"].as_str().unwrap();
    for bad in ["http://127.0.0.1:9/evil", "http://127.0.0.1:9/bye/", "http://127.0.0.1:9/cb"] {
        let r = b
            .get(app.url("/logout"))
            .query(&[("id_token_hint", hint), ("post_logout_redirect_uri", bad), ("state", "s")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get("location").is_none(), "never redirected to {bad}");
    }
    // Nothing was ended: single sign-on still answers.
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "none")])).send().await.unwrap();
    code_of(&app, &location(&r));
}

#[tokio::test]
async fn oidcc_rp_initiated_logout() {
    let app = spawn_app().await;
    let b = browser();
    let t = tokens(&app, &code_of(&app, &flow(&app, &b, &[], "cfg-alice").await)).await;
    let r = b
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", t["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=s-1");
    let back = flow(&app, &b, &[("prompt", "none")], "x").await;
    assert_eq!(error_of(&app, &back), "login_required", "the session is over");
}
