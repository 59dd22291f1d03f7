//! Bad token requests, each with its exact outcome: PKCE, code reuse and expiry, codes of other
//! clients, client authentication, and refresh-token rotation with replay detection.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Sign in with the public client and PKCE; returns (code, verifier).
async fn spa_code(app: &TestApp, user: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let q = authorize_query(SPA_ID, SPA_CB, Some(&challenge), "n");
    let back = walk_sign_in(&browser(), &[&app.base], &q, user, "").await;
    (query_param(&back, "code").unwrap(), verifier)
}

fn spa_form<'a>(code: &'a str, verifier: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", SPA_CB)];
    if let Some(v) = verifier {
        f.push(("code_verifier", v));
    }
    f
}

#[tokio::test]
async fn a_missing_pkce_verifier_is_refused() {
    let app = spawn_app().await;
    let (code, _) = spa_code(&app, "u1").await;
    let (status, body) = token_request(&app, (SPA_ID, None), &spa_form(&code, None)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_and_a_right_one_works() {
    let app = spawn_app().await;
    let (code, _) = spa_code(&app, "u2").await;
    let (wrong, _) = pkce();
    let (status, body) = token_request(&app, (SPA_ID, None), &spa_form(&code, Some(&wrong))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (code, verifier) = spa_code(&app, "u2").await;
    let (status, body) = token_request(&app, (SPA_ID, None), &spa_form(&code, Some(&verifier))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u3", "n").await;
    let (v, _) = pkce();
    let (status, body) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", APP_CB), ("code_verifier", &v)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn a_code_used_twice_is_refused_and_revokes_what_the_first_use_got() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u4", "n").await;
    let first: Value = redeem(&app, &code).await.json().await.unwrap();
    let at = first["access_token"].as_str().unwrap();
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let second = redeem(&app, &code).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert_eq!(second.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "first access token revoked");
    let rt = first["refresh_token"].as_str().unwrap();
    let (status, body) =
        token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "first refresh token revoked"
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u5", "n").await;
    app.clock.advance(Duration::from_secs(61));
    let r = redeem(&app, &code).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u6", "n").await;
    let (status, body) = token_request(
        &app,
        (OTHER_ID, Some(OTHER_SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", APP_CB)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn a_code_with_another_redirect_uri_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u7", "n").await;
    let (status, body) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://127.0.0.1:9/cb2")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn wrong_client_credentials_get_invalid_client() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u8", "n").await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_CB)];
    let (status, body) = token_request(&app, (APP_ID, Some("wrong")), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = token_request(&app, ("nobody", Some("x")), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // client_secret_post works as well as basic.
    let mut post = form.to_vec();
    post.extend([("client_id", APP_ID), ("client_secret", APP_SECRET)]);
    let r = reqwest::Client::new().post(app.url("/token")).form(&post).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the code survived failed client authentication");
}

async fn refresh(app: &TestApp, client: (&str, Option<&str>), rt: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token_request(app, client, &form).await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_whole_family() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u9", "n").await;
    let first: Value = redeem(&app, &code).await.json().await.unwrap();
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let creds = (APP_ID, Some(APP_SECRET));
    let (status, second) = refresh(&app, creds, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated on use");
    let (i1, i2) =
        (jwt_payload(first["id_token"].as_str().unwrap()), jwt_payload(second["id_token"].as_str().unwrap()));
    for claim in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(i1[claim], i2[claim], "refreshed ID token keeps {claim}");
    }
    // The client goes on with its new token, so the rotation's answer was received.
    let (status, third) = refresh(&app, creds, &rt2, None).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_owned();
    // The rotated-out token comes back: refused, and the family dies with it.
    let (status, body) = refresh(&app, creds, &rt1, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, body) = refresh(&app, creds, &rt3, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "newest token stops working"
    );
    let r = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(third["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "access tokens of the family stop working");
}

#[tokio::test]
async fn a_rotation_whose_answer_was_lost_is_retried_once_and_the_unused_successor_dies() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u9b", "n").await;
    let first: Value = redeem(&app, &code).await.json().await.unwrap();
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let creds = (APP_ID, Some(APP_SECRET));
    // The answer to this rotation never reaches the client…
    let (status, lost) = refresh(&app, creds, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "{lost}");
    let lost_rt = lost["refresh_token"].as_str().unwrap().to_owned();
    // …so it presents its token again within [tokens] refresh_reuse_grace_secs: a new successor.
    let (status, retried) = refresh(&app, creds, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "a retry within the grace is not a replay: {retried}");
    let rt2 = retried["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, lost_rt);
    // The successor it never received is spent: only one live token per grant.
    let (status, body) = refresh(&app, creds, &lost_rt, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn a_refresh_token_of_another_client_or_with_a_wider_scope_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u10", "n").await;
    let first: Value = redeem(&app, &code).await.json().await.unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&app, (OTHER_ID, Some(OTHER_SECRET)), rt, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, body) = refresh(&app, (APP_ID, Some(APP_SECRET)), rt, Some("openid offline_access")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    // Neither attempt spent the token.
    let (status, body) = refresh(&app, (APP_ID, Some(APP_SECRET)), rt, Some("openid email")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid email", "narrowed scope");
}

#[tokio::test]
async fn userinfo_refuses_tokens_in_the_query_and_id_tokens_as_access_tokens() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "u11", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    let r = reqwest::Client::new().get(app.url("/userinfo")).query(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(t["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an ID token is not an access token");
    let r = reqwest::Client::new().post(app.url("/userinfo")).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "form body works");
    app.clock.advance(Duration::from_secs(601));
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expired by braid's clock");
}
