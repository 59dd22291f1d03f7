//! Trust re-checked after it is granted: single sign-on, codes and refreshes stop when the
//! session's identity leaves the account, may no longer sign in, or its provider is disabled; a
//! code lives only as long as its session; refresh tokens without offline_access end with the
//! session; auth_time is never invented; code reuse is caught even mid-redemption; logout
//! without the person's own ID token asks first; POST /authorize and POST /logout; length caps.

use std::time::Duration;

use braid::accounts::{Actor, SignInProviders};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// braid with dev providers `dev` and `dev2` (sign-ins land on separate identities).
async fn two_devs() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    std::fs::write(dir.path().join("providers/dev2.toml"), "kind = \"dev\"\n").unwrap();
    let url = crate::support::sqlite_url(&dir);
    spawn_in(dir, move |d| settings(d, &url, "memory", "")).await
}

/// Sign in through dev provider `provider` as `user` for the app; returns the code.
async fn code_via(app: &TestApp, b: &reqwest::Client, provider: &str, user: &str, scope: &str) -> String {
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.retain(|(k, _)| k != "scope");
    q.push(("scope".into(), scope.into()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let to_login = location(&r);
    if to_login.starts_with(APP_CB) {
        return query_param(&to_login, "code").expect("code by single sign-on");
    }
    let tx = query_param(&to_login, "tx").unwrap();
    let r = b.get(app.url(&format!("/login/{provider}"))).query(&[("tx", tx.as_str())]).send().await.unwrap();
    let state = form_state(&r.text().await.unwrap());
    let r = b
        .post(app.url(&format!("/login/{provider}")))
        .form(&[("state", state.as_str()), ("username", user), ("email", "")])
        .send()
        .await
        .unwrap();
    let back = location(&r);
    query_param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"))
}

async fn refresh(app: &TestApp, tokens: &Value) -> (StatusCode, Value) {
    let rt = tokens["refresh_token"].as_str().unwrap();
    token_request(app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await
}

/// The status `/userinfo` answers for the access token of `tokens`.
async fn userinfo_status(app: &TestApp, tokens: &Value) -> StatusCode {
    let at = tokens["access_token"].as_str().unwrap();
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap().status()
}

/// Whether `/introspect` says the `kind` token of `tokens` is active.
async fn introspect_active(app: &TestApp, tokens: &Value, kind: &str) -> Option<bool> {
    let token = tokens[kind].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["active"].as_bool()
}

/// Where `/authorize` sends this browser now (a code means single sign-on answered).
async fn sso(app: &TestApp, b: &reqwest::Client) -> String {
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    location(&r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_provider_ends_its_sessions_and_refresh_tokens_at_the_next_request() {
    let app = two_devs().await;
    let b = browser();
    let code = code_via(&app, &b, "dev2", "pia", "openid offline_access").await;
    let tokens: Value = redeem(&app, &code).await.json().await.unwrap();
    assert!(sso(&app, &b).await.starts_with(APP_CB), "single sign-on before");
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::OK);
    assert_eq!(introspect_active(&app, &tokens, "access_token").await, Some(true));
    assert_eq!(introspect_active(&app, &tokens, "refresh_token").await, Some(true));
    std::fs::write(app.dir().join("providers/dev2.toml"), "kind = \"dev\"\nenabled = false\n").unwrap();
    app.state.providers.reload();
    // The access token is still within its lifetime, but what it rests on no longer stands.
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::UNAUTHORIZED, "userinfo refused at once");
    assert_eq!(introspect_active(&app, &tokens, "access_token").await, Some(false));
    assert_eq!(introspect_active(&app, &tokens, "refresh_token").await, Some(false));
    let (status, body) = refresh(&app, &tokens).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "offline too");
    assert!(sso(&app, &b).await.starts_with("/login"), "no single sign-on: the session ended");
    assert_eq!(location(&b.get(app.url("/account")).send().await.unwrap()), "/login");
    // Enabled again, the old refresh token stays dead.
    std::fs::write(app.dir().join("providers/dev2.toml"), "kind = \"dev\"\n").unwrap();
    app.state.providers.reload();
    assert_eq!(refresh(&app, &tokens).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn single_sign_on_codes_and_refreshes_stop_when_the_identity_leaves_or_may_not_sign_in() {
    let app = two_devs().await;
    let usable = SignInProviders::new(["dev", "dev2"]);
    let admin = Actor::admin("test");
    // One account, identities via dev (primary) and dev2; this browser's session is dev2's.
    let b = browser();
    let first = code_via(&app, &b, "dev", "quinn", "openid").await;
    redeem(&app, &first).await;
    let account = app.state.accounts.find_identity("urn:braid:dev:dev", "quinn").await.unwrap().unwrap().account_id;
    let ext = braid::accounts::ExternalIdentity {
        issuer: "urn:braid:dev:dev2".into(),
        subject: "quinn2".into(),
        email: None,
        email_verified: false,
        name: None,
        claims: Default::default(),
    };
    app.state.accounts.link(&account, "dev2", &ext, &admin, 0).await.unwrap();
    let b2 = browser();
    let code = code_via(&app, &b2, "dev2", "quinn2", "openid").await;
    let second = app.state.accounts.find_identity("urn:braid:dev:dev2", "quinn2").await.unwrap().unwrap();
    // Sign-in with dev2's identity switched off elsewhere (a replica that could not end the
    // sessions): the code already issued is not redeemable, and single sign-on stops.
    app.state.accounts.set_can_sign_in(&account, second.id, false, &usable, &admin, 0).await.unwrap().unwrap();
    let (status, body) = {
        let r = redeem(&app, &code).await;
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert!(sso(&app, &b2).await.starts_with("/login"), "no single sign-on for that identity");
    // The identity moved to another account: the first browser's session (dev) still stands,
    // but a session made through the moved identity does not.
    app.state.accounts.set_can_sign_in(&account, second.id, true, &usable, &admin, 0).await.unwrap().unwrap();
    let b3 = browser();
    code_via(&app, &b3, "dev2", "quinn2", "openid").await;
    let other = app
        .state
        .accounts
        .resolve_or_create(
            "dev",
            &braid::accounts::ExternalIdentity {
                subject: "rita".into(),
                issuer: "urn:braid:dev:dev".into(),
                ..ext.clone()
            },
            0,
        )
        .await
        .unwrap()
        .account
        .id;
    app.state.accounts.move_identity(second.id, &other, &usable, &admin, 0).await.unwrap().unwrap();
    assert!(sso(&app, &b3).await.starts_with("/login"), "a moved identity's session is over");
    assert!(sso(&app, &b).await.starts_with(APP_CB), "the other identity's session stands");
}

#[tokio::test]
async fn a_code_is_redeemable_only_while_its_session_lives() {
    let app = spawn_app().await;
    let b = browser();
    let code = code_for(&app, &b, "sam", "n").await;
    // The session ends (signed out elsewhere, or a change to the account) before the application
    // redeems the code.
    let account = app.state.accounts.find_identity("urn:braid:dev:dev", "sam").await.unwrap().unwrap().account_id;
    assert_eq!(app.state.records.store().end_all(account.as_str(), None).await.unwrap(), 1);
    let r = redeem(&app, &code).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_without_offline_access_end_with_their_browser_session() {
    let app = spawn_app().await;
    let b = browser();
    let online: Value = redeem(&app, &code_for(&app, &b, "tia", "n").await).await.json().await.unwrap();
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.retain(|(k, _)| k != "scope");
    q.push(("scope".into(), "openid offline_access".into()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let offline: Value = redeem(&app, &query_param(&location(&r), "code").unwrap()).await.json().await.unwrap();
    let (status, online) = refresh(&app, &online).await;
    assert_eq!(status, StatusCode::OK, "while the session lives");
    // The browser session expires (8 h); the refresh-token family would last 30 days.
    app.clock.advance(Duration::from_secs(9 * 3600));
    let (status, body) = refresh(&app, &online).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(refresh(&app, &offline).await.0, StatusCode::OK, "offline access outlives the session");
}

#[tokio::test]
async fn a_code_presented_twice_at_once_never_leaves_live_tokens() {
    let app = spawn_app().await;
    for round in 0..10 {
        let code = code_for(&app, &browser(), &format!("race{round}"), "n").await;
        let (a, b) = tokio::join!(redeem(&app, &code), redeem(&app, &code));
        let mut refreshes = Vec::new();
        for r in [a, b] {
            if r.status() == StatusCode::OK {
                refreshes.push(r.json::<Value>().await.unwrap());
            }
        }
        assert!(refreshes.len() <= 1, "one redemption at most");
        for t in refreshes {
            assert_eq!(refresh(&app, &t).await.0, StatusCode::BAD_REQUEST, "the reused code's grant is revoked");
        }
    }
}

#[tokio::test]
async fn logout_without_the_persons_own_id_token_asks_for_confirmation() {
    let app = spawn_app().await;
    let b = browser();
    let tokens: Value = redeem(&app, &code_for(&app, &b, "uma", "n").await).await.json().await.unwrap();
    let signed_in = |b: &reqwest::Client| {
        let url = app.url("/account");
        let b = b.clone();
        async move { b.get(url).send().await.unwrap().status() == StatusCode::OK }
    };
    // A bare GET (an image tag on another site): a confirmation page, nothing ended.
    let r = b.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out of braid?"), "{page}");
    assert!(signed_in(&b).await);
    assert_eq!(refresh(&app, &tokens).await.0, StatusCode::OK, "grants untouched");
    // Another person's ID token is no better.
    let other: Value = redeem(&app, &code_for(&app, &browser(), "vic", "n").await).await.json().await.unwrap();
    let r = b.get(app.url("/logout")).query(&[("id_token_hint", other["id_token"].as_str().unwrap())]).send().await;
    assert!(r.unwrap().text().await.unwrap().contains("Sign out of braid?"));
    assert!(signed_in(&b).await);
    // A forged confirmation, or one from another origin: asked again.
    let r = b.post(app.url("/logout")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Sign out of braid?"));
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    let r = b.post(app.url("/logout")).header("origin", "https://evil.example").form(&[("csrf", csrf.as_str())]);
    assert!(r.send().await.unwrap().text().await.unwrap().contains("Sign out of braid?"));
    assert!(signed_in(&b).await);
    // The person confirms.
    let r = b.post(app.url("/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert!(!signed_in(&b).await);
    assert_eq!(refresh(&app, &tokens).await.0, StatusCode::BAD_REQUEST, "the session's grants ended");
}

#[tokio::test]
async fn an_application_signs_out_with_post_and_its_id_token() {
    let app = spawn_app().await;
    let b = browser();
    let tokens: Value = redeem(&app, &code_for(&app, &b, "wes", "n").await).await.json().await.unwrap();
    let r = b
        .post(app.url("/logout"))
        .form(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=s9");
    assert_eq!(location(&b.get(app.url("/account")).send().await.unwrap()), "/login");
}

#[tokio::test]
async fn authorize_takes_post_and_answers_request_uri_and_oversized_parameters() {
    let app = spawn_app().await;
    let b = browser();
    code_for(&app, &b, "xia", "n").await;
    let q = authorize_query(APP_ID, APP_CB, None, "n2");
    let r = b.post(app.url("/authorize")).form(&q).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(APP_CB) && query_param(&back, "code").is_some(), "POST /authorize: {back}");
    let mut with_uri = q.clone();
    with_uri.push(("request_uri".into(), "urn:example:req".into()));
    let r = b.get(app.url("/authorize")).query(&with_uri).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("request_uri_not_supported"));
    let long = "x".repeat(600);
    for name in ["state", "nonce", "login_hint"] {
        let mut big = authorize_query(APP_ID, APP_CB, None, "n3");
        big.retain(|(k, _)| k != name);
        big.push((name.into(), long.clone()));
        let r = browser().get(app.url("/authorize")).query(&big).send().await.unwrap();
        let to = location(&r);
        assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{name}: {to}");
        assert!(!to.contains(&long), "{name} is not reflected");
    }
    let r = browser().get(app.url("/login")).query(&[("login_hint", long.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn auth_time_is_never_invented_when_the_upstream_gives_none() {
    let s = crate::upstream_oidc::setup("").await;
    let b = browser();
    // The mock's ID tokens carry no auth_time.
    let r = b.get(s.app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    let r = b.get(s.app.url(&location(&r))).send().await.unwrap();
    let start = location(&r);
    let r = b.get(s.app.url(&start)).send().await.unwrap();
    let to_idp = location(&r);
    assert_eq!(query_param(&to_idp, "max_age").as_deref(), Some("31536000"), "max_age is always sent upstream");
    let r = b.get(&to_idp).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let code = query_param(&location(&r), "code").unwrap();
    let t: Value = redeem(&s.app, &code).await.json().await.unwrap();
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    assert!(id.get("auth_time").is_none(), "no auth_time claim: {id}");
    // max_age is not satisfied by an unknown authentication time: no single sign-on.
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.push(("max_age".into(), "86400".into()));
    let r = b.get(s.app.url("/authorize")).query(&q).send().await.unwrap();
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    // Nor is /account's fresh sign-in gate.
    let page = b.get(s.app.url("/account")).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    let r = b.post(s.app.url("/account/link/mock")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Sign in again"));
}

#[tokio::test]
async fn an_unsolicited_saml_response_never_completes_a_link_proof() {
    use crate::saml_sp::{post_acs, spawn_saml, start};
    use crate::saml_support::{post_encode, signed_response};
    let s = spawn_saml("allow_idp_initiated = true").await;
    // The account: a SAML identity with a verified email (the provider is trusted for email).
    let xml = signed_response(&s.spec(None, "p-owner"), &s.keys);
    assert_eq!(post_acs(&s, &browser(), &post_encode(&xml), None).await.status(), StatusCode::SEE_OTHER);
    std::fs::write(
        s.app.dir().join("providers/dev2.toml"),
        "kind = \"dev\"\non_new_identity = \"link_by_email\"\ntrust_email = true\n",
    )
    .unwrap();
    s.app.state.providers.reload();
    // This browser signs in through dev2 with that email and confirms the link.
    let b = browser();
    let r = b.get(s.app.url("/login/dev2")).send().await.unwrap();
    let state = form_state(&r.text().await.unwrap());
    let form = [
        ("state", state.as_str()),
        ("username", "newbie"),
        ("email", "p-owner@example.org"),
        ("email_verified", "true"),
    ];
    let page = b.post(s.app.url("/login/dev2")).form(&form).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let at = page.find(marker).expect("proof page") + marker.len();
    let csrf = page[at..].split('"').next().unwrap().to_owned();
    let r = b.post(s.app.url("/login/link-proof")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // An unsolicited response for the account's identity lands in this browser: it may sign in
    // (the provider allows it), but it never proves the account.
    let xml = signed_response(&s.spec(None, "p-owner"), &s.keys);
    let r = post_acs(&s, &b, &post_encode(&xml), None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(
        s.app.state.accounts.find_identity("urn:braid:dev:dev2", "newbie").await.unwrap().is_none(),
        "nothing linked by an unsolicited response"
    );
    // A sign-in this browser asked for does.
    let started = start(&s, &b, "/login/idp").await;
    let xml = signed_response(&s.spec(Some(&started), "p-owner"), &s.keys);
    let r = post_acs(&s, &b, &post_encode(&xml), Some(&started.relay)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(s.app.state.accounts.find_identity("urn:braid:dev:dev2", "newbie").await.unwrap().is_some(), "linked");
}
