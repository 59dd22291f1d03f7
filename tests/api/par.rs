//! Pushed authorization requests (RFC 9126): push then authorize signs in and the code redeems;
//! the stored parameters alone count; a `request_uri` is used once, expires, and belongs to its
//! client; a client that must push is refused a plain request; `/par` authenticates the client
//! (private_key_jwt too) and refuses bad requests without redirecting.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client_auth_jwt::{JWT_BEARER, PKJ_CB, PKJ_ID, Signer, jwt_clients_toml, redeem_with};
use crate::helpers::*;

/// Push `params` as `app` (client_secret_basic); status and body.
async fn push(app: &TestApp, params: &[(String, String)]) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(params)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn app_request() -> Vec<(String, String)> {
    authorize_query(APP_ID, APP_CB, None, "n-par")
}

fn by_reference(client: &str, request_uri: &str) -> Vec<(String, String)> {
    vec![("client_id".into(), client.into()), ("request_uri".into(), request_uri.into())]
}

#[tokio::test]
async fn a_pushed_request_signs_in_and_its_code_redeems() {
    let app = spawn_app().await;
    let (status, body) = push(&app, &app_request()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{uri}");
    // Parameters beside client_id and request_uri are ignored (RFC 9126 §4).
    let mut q = by_reference(APP_ID, uri);
    q.push(("redirect_uri".into(), "http://127.0.0.1:9/cb2".into()));
    q.push(("state".into(), "not-this-one".into()));
    let back = walk_sign_in(&browser(), &[&app.base], &q, "par1", "par1@example.com").await;
    assert!(back.starts_with(&format!("{APP_CB}?")), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    let r = redeem(&app, &query_param(&back, "code").unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(jwt_payload(tokens["id_token"].as_str().unwrap())["nonce"], "n-par");
}

#[tokio::test]
async fn a_request_uri_is_used_once_expires_and_belongs_to_its_client() {
    let app = spawn_app().await;
    let b = browser();
    let (_, body) = push(&app, &app_request()).await;
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    // Another client naming it: an error page, and the request is not spent.
    let r = b.get(app.url("/authorize")).query(&by_reference(OTHER_ID, &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = b.get(app.url("/authorize")).query(&by_reference(APP_ID, &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login?tx="));
    // Used once.
    let r = b.get(app.url("/authorize")).query(&by_reference(APP_ID, &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a request_uri works once");
    // Expired after 60 s.
    let (_, body) = push(&app, &app_request()).await;
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(61));
    let r = b.get(app.url("/authorize")).query(&by_reference(APP_ID, &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "expired");
    // A request_uri braid never made.
    let r = b
        .get(app.url("/authorize"))
        .query(&by_reference(APP_ID, "urn:ietf:params:oauth:request_uri:made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_client_that_must_push_is_refused_a_plain_request() {
    let extra = format!(
        "[[clients]]\nid = \"pushy\"\nsecret = \"{APP_SECRET}\"\nredirect_uris = [\"{APP_CB}\"]\n\
         require_pushed_authorization_requests = true\n"
    );
    let app = spawn_app_with(&extra).await;
    let q = authorize_query("pushy", APP_CB, None, "n");
    let r = browser().get(app.url("/authorize")).query(&q).send().await.unwrap();
    let to = location(&r);
    assert!(to.starts_with(APP_CB), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"));
    // Pushed, it goes through.
    let r = reqwest::Client::new()
        .post(app.url("/par"))
        .basic_auth("pushy", Some(APP_SECRET))
        .form(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let back = walk_sign_in(&browser(), &[&app.base], &by_reference("pushy", &uri), "pushy1", "").await;
    assert!(query_param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn bad_pushes_are_refused_without_redirecting() {
    let app = spawn_app().await;
    let h = reqwest::Client::new();
    // Bad client authentication.
    let r = h
        .post(app.url("/par"))
        .basic_auth(APP_ID, Some("wrong-secret-0123456789abcdef0123"))
        .form(&app_request())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = h.post(app.url("/par")).form(&app_request()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no client authentication");
    // An unregistered redirect URI: 400 invalid_request, never a redirect.
    let mut q = app_request();
    q.retain(|(k, _)| k != "redirect_uri");
    q.push(("redirect_uri".into(), "https://evil.example/cb".into()));
    let (status, body) = push(&app, &q).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    // Other errors of the request, as /authorize would find them.
    let mut q = app_request();
    q.retain(|(k, _)| k != "scope");
    q.push(("scope".into(), "profile".into()));
    let (status, body) = push(&app, &q).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{body}");
    // A request_uri inside a push, and a client_id other than the authenticated one.
    let mut q = app_request();
    q.push(("request_uri".into(), "urn:ietf:params:oauth:request_uri:x".into()));
    assert_eq!(push(&app, &q).await.1["error"], "invalid_request");
    let mut q = authorize_query(OTHER_ID, "http://127.0.0.1:9/other", None, "n");
    q.push(("unused".into(), "x".into()));
    assert_eq!(push(&app, &q).await.1["error"], "invalid_request");
}

#[tokio::test]
async fn a_private_key_jwt_client_pushes_with_the_par_endpoint_as_audience() {
    let es = Signer::ec("es");
    let app = spawn_app_with(&jwt_clients_toml(&json!({"keys": [es.jwk.clone()]}))).await;
    let q = authorize_query(PKJ_ID, PKJ_CB, None, "n");
    let assertion = es.sign(&app, PKJ_ID, json!({"aud": app.url("/par")}));
    let mut form = q.clone();
    form.push(("client_assertion_type".into(), JWT_BEARER.into()));
    form.push(("client_assertion".into(), assertion.clone()));
    let r = reqwest::Client::new().post(app.url("/par")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    // The same assertion again: replayed.
    let r = reqwest::Client::new().post(app.url("/par")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let back = walk_sign_in(&browser(), &[&app.base], &by_reference(PKJ_ID, &uri), "pkpar", "").await;
    let code = query_param(&back, "code").unwrap();
    let (status, body) = redeem_with(&app, &code, PKJ_CB, &es.sign(&app, PKJ_ID, json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
