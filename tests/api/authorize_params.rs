//! Authorization request parameters beyond the basics: `prompt=select_account` and `consent`,
//! `login_hint` on the chooser, `id_token_hint` choosing the hinted account's provider,
//! `acr_values` passed to an OIDC upstream and its `acr` returned, and the `claims` parameter.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::oidf_basic::{code_of, error_of, flow, id_token, request, tokens};

#[tokio::test]
async fn prompt_select_account_shows_the_chooser_even_with_a_session_then_signs_in() {
    let app = spawn_app().await;
    let b = browser();
    let first = id_token(&app, &tokens(&app, &code_of(&app, &flow(&app, &b, &[], "sel-a").await)).await).await;
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "select_account")])).send().await.unwrap();
    let to_chooser = location(&r);
    assert!(to_chooser.starts_with("/login?"), "no single sign-on: {to_chooser}");
    let r = b.get(app.url(&to_chooser)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the chooser is shown, even for one provider");
    let html = r.text().await.unwrap();
    assert!(html.contains("Demo sign-in") && html.contains("/login/dev?tx="), "{html}");
    // Choosing continues normally: another person signs in.
    let back = flow(&app, &b, &[("prompt", "select_account")], "sel-b").await;
    let second = id_token(&app, &tokens(&app, &code_of(&app, &back)).await).await;
    assert_ne!(second["sub"], first["sub"]);
}

#[tokio::test]
async fn prompt_consent_is_answered_for_first_party_clients() {
    let app = spawn_app().await;
    let b = browser();
    flow(&app, &b, &[], "consent-a").await;
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "consent")])).send().await.unwrap();
    code_of(&app, &location(&r));
    // prompt=none cannot be combined with any other value.
    let r = b.get(app.url("/authorize")).query(&request(&[("prompt", "none consent")])).send().await.unwrap();
    assert_eq!(error_of(&app, &location(&r)), "invalid_request");
}

#[tokio::test]
async fn login_hint_is_shown_on_the_chooser() {
    let app = spawn_app().await;
    let b = browser();
    let r = b
        .get(app.url("/authorize"))
        .query(&request(&[("prompt", "select_account"), ("login_hint", "hint<me>@example.com")]))
        .send()
        .await
        .unwrap();
    let html = b.get(app.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("value=\"hint&lt;me&gt;@example.com\""), "pre-filled and escaped: {html}");
    assert!(html.contains("login_hint=hint%3Cme%3E%40example.com"), "carried to the provider: {html}");
}

#[tokio::test]
async fn an_id_token_hint_without_a_session_starts_at_the_hinted_accounts_provider() {
    let app = spawn_app().await;
    let t = tokens(&app, &code_of(&app, &flow(&app, &browser(), &[], "hinted").await)).await;
    let fresh = browser();
    let r = fresh
        .get(app.url("/authorize"))
        .query(&request(&[("id_token_hint", t["id_token"].as_str().unwrap())]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_param(&location(&r), "idp_hint").as_deref(), Some("dev"));
    let r = fresh
        .get(app.url("/authorize"))
        .query(&request(&[("id_token_hint", t["id_token"].as_str().unwrap()), ("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(&app, &location(&r)), "login_required");
}

#[tokio::test]
async fn the_claims_parameter_returns_requested_claims_whatever_the_scope() {
    let app = spawn_app().await;
    let claims = json!({
        "id_token": {"email": {"essential": true}, "preferred_username": null, "unknown_claim": null},
        "userinfo": {"email_verified": null, "name": {"essential": false}},
    })
    .to_string();
    let back = flow(&app, &browser(), &[("scope", "openid"), ("claims", &claims)], "claims-a").await;
    let t = tokens(&app, &code_of(&app, &back)).await;
    let id = id_token(&app, &t).await;
    assert_eq!(id["email"], "claims-a@example.com");
    assert_eq!(id["preferred_username"], "claims-a");
    assert!(id.get("name").is_none() && id.get("unknown_claim").is_none(), "only what was asked: {id}");
    let info: Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email_verified"], false, "the dev provider is not trusted for email");
    assert_eq!(info["name"], "claims-a");
    assert!(info.get("email").is_none(), "email was asked for the ID token only: {info}");

    // The grant remembers: refreshed tokens answer the same claims.
    let (status, r) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id_token(&app, &r).await["preferred_username"], "claims-a");
    let info: Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(r["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "claims-a");
}

#[tokio::test]
async fn a_malformed_claims_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let b = browser();
    for bad in ["{", "[1]", r#"{"userinfo":["email"]}"#, r#"{"id_token":{"email":true}}"#] {
        let back = flow(&app, &b, &[("claims", bad)], "x").await;
        assert_eq!(error_of(&app, &back), "invalid_request", "{bad}");
    }
}

#[tokio::test]
async fn acr_values_go_to_the_oidc_upstream_and_its_acr_comes_back() {
    let s = crate::upstream_oidc::setup("").await;
    s.mock.claim("acr", json!("urn:example:loa:2"));
    let b = browser();
    let r = b
        .get(s.app.url("/authorize"))
        .query(&request(&[("acr_values", "urn:example:loa:2 urn:example:loa:1")]))
        .send()
        .await
        .unwrap();
    let mut next = location(&r);
    while next.starts_with('/') {
        next = location(&b.get(s.app.url(&next)).send().await.unwrap());
    }
    assert_eq!(query_param(&next, "acr_values").as_deref(), Some("urn:example:loa:2 urn:example:loa:1"));
    let r = b.get(&next).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let t = tokens(&s.app, &code_of(&s.app, &location(&r))).await;
    assert_eq!(id_token(&s.app, &t).await["acr"], "urn:example:loa:2");
    let (status, r) = token_request(
        &s.app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id_token(&s.app, &r).await["acr"], "urn:example:loa:2", "refreshed ID tokens keep the acr");
    // Without acr_values nothing is asked, and an upstream that says no acr gives none.
    s.mock.set(|m| {
        m.claims.remove("acr");
    });
    let other = browser();
    let r = other.get(s.app.url("/authorize")).query(&request(&[])).send().await.unwrap();
    let mut next = location(&r);
    while next.starts_with('/') {
        next = location(&other.get(s.app.url(&next)).send().await.unwrap());
    }
    assert_eq!(query_param(&next, "acr_values"), None);
    let r = other.get(&next).send().await.unwrap();
    let r = other.get(location(&r)).send().await.unwrap();
    let t = tokens(&s.app, &code_of(&s.app, &location(&r))).await;
    assert!(id_token(&s.app, &t).await.get("acr").is_none());
}

/// An application sign-in through the mock OIDC upstream; returns (the upstream authorization
/// URL, where braid finally sends the browser).
async fn via_mock(s: &crate::upstream_oidc::Setup, b: &reqwest::Client, extra: &[(&str, &str)]) -> (String, String) {
    let r = b.get(s.app.url("/authorize")).query(&request(extra)).send().await.unwrap();
    let mut next = location(&r);
    while next.starts_with('/') {
        next = location(&b.get(s.app.url(&next)).send().await.unwrap());
    }
    if next.starts_with(APP_CB) {
        return (String::new(), next);
    }
    let r = b.get(&next).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    (next, location(&r))
}

#[tokio::test]
async fn max_age_0_forces_a_new_upstream_sign_in_and_advances_auth_time() {
    let s = crate::upstream_oidc::setup("").await;
    let t0 = braid::clock::Clock::now_secs(s.app.clock.as_ref());
    s.mock.claim("auth_time", json!(t0));
    let b = browser();
    let (_, back) = via_mock(&s, &b, &[]).await;
    let first = id_token(&s.app, &tokens(&s.app, &code_of(&s.app, &back)).await).await;
    assert_eq!(first["auth_time"], t0);
    s.app.clock.advance(std::time::Duration::from_secs(60));
    s.mock.claim("auth_time", json!(t0 + 60));
    let (to_idp, back) = via_mock(&s, &b, &[("max_age", "0")]).await;
    assert_eq!(query_param(&to_idp, "prompt").as_deref(), Some("login"), "the upstream is asked to sign in again");
    assert_eq!(query_param(&to_idp, "max_age").as_deref(), Some("0"));
    let second = id_token(&s.app, &tokens(&s.app, &code_of(&s.app, &back)).await).await;
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(second["auth_time"], t0 + 60, "auth_time advances");
}

#[tokio::test]
async fn prompt_select_account_is_passed_to_the_oidc_upstream() {
    let s = crate::upstream_oidc::setup("").await;
    let b = browser();
    let r = b.get(s.app.url("/authorize")).query(&request(&[("prompt", "select_account")])).send().await.unwrap();
    let html = b.get(s.app.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    let link = html.split("href=\"").find(|h| h.starts_with("/login/mock?")).and_then(|h| h.split('"').next());
    let start = link.expect("the chooser offers the provider").replace("&amp;", "&");
    let to_idp = location(&b.get(s.app.url(&start)).send().await.unwrap());
    assert_eq!(query_param(&to_idp, "prompt").as_deref(), Some("select_account"), "{to_idp}");
    let r = b.get(&to_idp).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    code_of(&s.app, &location(&r));
}
