//! A full sign-in as an application does it, and what the tokens say.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn full_sign_in_issues_verifiable_tokens_whose_sub_is_the_account() {
    let app = spawn_app().await;
    let b = browser();
    let (verifier, challenge) = pkce();
    let q = authorize_query(APP_ID, APP_CB, Some(&challenge), "n-0S6_WzA2Mj");
    let back = walk_sign_in(&b, &[&app.base], &q, "alice", "alice@example.com").await;
    assert!(back.starts_with(&format!("{APP_CB}?code=")), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()), "RFC 9207 iss");
    let code = query_param(&back, "code").unwrap();

    let (status, body) = token_request(
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
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let id = verify_id_token(&app.base, body["id_token"].as_str().unwrap(), APP_ID).await;
    assert_eq!(id["iss"], app.base.as_str());
    assert_eq!(id["aud"], APP_ID);
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj", "nonce echoed byte for byte");
    assert_eq!(id["idp"], "urn:braid:dev:dev");
    assert_eq!(id["email"], "alice@example.com");
    let now = braid::clock::Clock::now_secs(app.clock.as_ref());
    assert!(id["exp"].as_i64().unwrap() > now && id["iat"].as_i64().unwrap() <= now);

    // `sub` is the account braid holds for (issuer, subject).
    let identity = app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().unwrap();
    assert_eq!(id["sub"], identity.account_id.as_str());

    // The access token is an RFC 9068 JWT and opens /userinfo.
    let at = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let info: Value =
        reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["email"], "alice@example.com");
    assert!(body["refresh_token"].as_str().is_some_and(|r| r.len() >= 40));
}

#[tokio::test]
async fn the_same_user_gets_the_same_sub_and_another_user_a_different_one() {
    let app = spawn_app().await;
    let mut subs = Vec::new();
    for user in ["bob", "bob", "carol"] {
        // A new browser each time: a real second sign-in, not single sign-on.
        let code = code_for(&app, &browser(), user, "n").await;
        let r = redeem(&app, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        subs.push(verify_id_token(&app.base, body["id_token"].as_str().unwrap(), APP_ID).await["sub"].clone());
    }
    assert_eq!(subs[0], subs[1], "same dev user, same sub");
    assert_ne!(subs[0], subs[2], "another dev user, another sub");
}

#[tokio::test]
async fn a_signed_in_browser_gets_a_code_without_signing_in_again() {
    let app = spawn_app().await;
    let b = browser();
    let first = code_for(&app, &b, "dana", "n1").await;
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n2")).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(APP_CB), "single sign-on answers at once: {back}");
    let second = query_param(&back, "code").unwrap();
    let a: Value = redeem(&app, &first).await.json().await.unwrap();
    let b2: Value = redeem(&app, &second).await.json().await.unwrap();
    let (ia, ib) = (jwt_payload(a["id_token"].as_str().unwrap()), jwt_payload(b2["id_token"].as_str().unwrap()));
    assert_eq!(ia["sub"], ib["sub"]);
    assert_eq!(ia["auth_time"], ib["auth_time"], "auth_time is that of the real sign-in");
    assert_eq!(ib["nonce"], "n2");
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let app = spawn_app().await;
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.push(("prompt".into(), "none".into()));
    let r = browser().get(app.url("/authorize")).query(&q).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(APP_CB));
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()));
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_issuer() {
    let app = spawn_app().await;
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(d["issuer"], app.base.as_str());
    assert_eq!(d["authorization_endpoint"], app.url("/authorize"));
    assert_eq!(d["token_endpoint"], app.url("/token"));
    assert_eq!(d["jwks_uri"], app.url("/jwks.json"));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(!d["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"none".into()));
    let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], braid::issuer::keys::thumbprint(key).as_str(), "kid is the RFC 7638 thumbprint");
    assert!(key.get("d").is_none(), "no private material");
}

#[tokio::test]
async fn account_page_shows_the_account_and_its_identity() {
    let app = spawn_app().await;
    let b = browser();
    let r = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "signed out: sent to sign in");
    code_for(&app, &b, "erin", "n").await;
    let html = b.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let identity = app.state.accounts.find_identity("urn:braid:dev:dev", "erin").await.unwrap().unwrap();
    assert!(html.contains(identity.account_id.as_str()));
    assert!(html.contains("urn:braid:dev:dev") && html.contains("erin@example.com"));
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_only_to_a_registered_uri() {
    let app = spawn_app().await;
    let b = browser();
    let code = code_for(&app, &b, "fay", "n").await;
    let body: Value = redeem(&app, &code).await.json().await.unwrap();
    let hint = body["id_token"].as_str().unwrap();
    let r = b
        .get(app.url("/logout"))
        .query(&[("id_token_hint", hint), ("post_logout_redirect_uri", "http://127.0.0.1:9/evil")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unregistered post-logout URI: no redirect");
    let r = b.get(app.url("/logout")).query(&[("id_token_hint", "x.y.z")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "bad hint refused");
    let r = b
        .get(app.url("/logout"))
        .query(&[("id_token_hint", hint), ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"), ("state", "s1")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=s1");
    let r = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "session is gone");
}

/// The size of the SQLite write-ahead log: every commit appends to it.
fn wal_size(app: &TestApp) -> u64 {
    std::fs::metadata(app.dir().join("braid.db-wal")).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn a_known_users_sign_in_is_audited_once_and_single_sign_on_writes_nothing_to_sql() {
    let app = spawn_app().await;
    code_for(&app, &browser(), "gus", "n0").await;
    let b = browser();
    code_for(&app, &b, "gus", "n1").await;
    let identity = app.state.accounts.find_identity("urn:braid:dev:dev", "gus").await.unwrap().unwrap();
    let audit = app.state.accounts.audit(&identity.account_id).await.unwrap();
    let signed_in = audit.iter().filter(|e| e.action == "identity.signed_in").count();
    assert_eq!(signed_in, 2, "one audit row per sign-in, new or known: {audit:?}");

    // Single sign-on: a code for the signed-in browser, and no SQL commit at all until the code
    // is redeemed (the grant is written then).
    let wal = wal_size(&app);
    assert!(wal > 0, "SQLite runs in WAL mode");
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n2")).send().await.unwrap();
    let back = location(&r);
    let code = query_param(&back, "code").expect("single sign-on answers with a code");
    assert_eq!(wal_size(&app), wal, "single sign-on committed nothing to SQL");
    assert_eq!(app.state.accounts.audit(&identity.account_id).await.unwrap().len(), audit.len());
    let after = app.state.accounts.find_identity("urn:braid:dev:dev", "gus").await.unwrap().unwrap();
    assert_eq!(after.last_login_at, identity.last_login_at);
    assert_eq!(redeem(&app, &code).await.status(), StatusCode::OK);
    assert!(wal_size(&app) > wal, "the code's redemption stores its grant");
}
