//! Fresh sign-in on demand (prompt=login, max_age, id_token_hint), what logout and /revoke end,
//! and what braid refuses to expose: the session id never leaves the cookie.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mock_idp::MockIdp;
use crate::upstream_oidc::{Setup, setup};

/// Follow an application sign-in through the mock upstream; returns braid's callback response.
async fn app_sign_in(s: &Setup, b: &reqwest::Client, extra: &[(&str, &str)]) -> (String, reqwest::Response) {
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let r = b.get(s.app.url("/authorize")).query(&q).send().await.unwrap();
    let mut url = s.app.url(&location(&r));
    if url.contains("/login?") {
        let r = b.get(&url).send().await.unwrap();
        url = s.app.url(&location(&r));
    }
    let r = b.get(&url).send().await.unwrap();
    let to_idp = location(&r);
    let r = b.get(&to_idp).send().await.unwrap();
    (to_idp, b.get(location(&r)).send().await.unwrap())
}

#[tokio::test]
async fn prompt_login_asks_the_upstream_again_and_checks_its_auth_time() {
    let s = setup("").await;
    let b = browser();
    let now = braid::clock::Clock::now_secs(s.app.clock.as_ref());
    s.mock.claim("auth_time", json!(now - 3600));
    let (to_idp, r) = app_sign_in(&s, &b, &[]).await;
    assert_eq!(query_param(&to_idp, "prompt"), None);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let t: Value = redeem(&s.app, &query_param(&location(&r), "code").unwrap()).await.json().await.unwrap();
    assert_eq!(jwt_payload(t["id_token"].as_str().unwrap())["auth_time"], now - 3600, "auth_time is the upstream's");

    // prompt=login: no single sign-on, and the upstream is asked for a fresh sign-in.
    let (to_idp, r) = app_sign_in(&s, &b, &[("prompt", "login")]).await;
    assert_eq!(query_param(&to_idp, "prompt").as_deref(), Some("login"));
    assert_eq!(query_param(&to_idp, "max_age").as_deref(), Some("0"));
    assert!(r.status().is_client_error(), "the upstream answered with an old sign-in: refused");
    s.mock.claim("auth_time", json!(now));
    let (_, r) = app_sign_in(&s, &b, &[("max_age", "60")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a fresh upstream sign-in is accepted");
}

#[tokio::test]
async fn a_bad_id_token_hint_is_refused_and_another_persons_hint_is_not_answered_silently() {
    let app = spawn_app().await;
    let b = browser();
    let code = code_for(&app, &b, "liz", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let hint = t["id_token"].as_str().unwrap().to_owned();
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.push(("prompt".into(), "none".into()));
    q.push(("id_token_hint".into(), hint.clone()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    assert!(query_param(&location(&r), "code").is_some(), "a matching hint: silent");
    let tampered = format!("{}x", &hint[..hint.len() - 1]);
    q.retain(|(k, _)| k != "id_token_hint");
    q.push(("id_token_hint".into(), tampered));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
    // Another person's hint in this browser: login_required, never this person's code.
    let other = browser();
    let code = code_for(&app, &other, "max", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    q.retain(|(k, _)| k != "id_token_hint");
    q.push(("id_token_hint".into(), t["id_token"].as_str().unwrap().to_owned()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn logout_ends_the_sessions_refresh_tokens_but_offline_ones_stay() {
    let app = spawn_app().await;
    let b = browser();
    let code = code_for(&app, &b, "nia", "n").await;
    let online: Value = redeem(&app, &code).await.json().await.unwrap();
    let mut q = authorize_query(APP_ID, APP_CB, None, "n");
    q.retain(|(k, _)| k != "scope");
    q.push(("scope".into(), "openid offline_access".into()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let offline: Value = redeem(&app, &query_param(&location(&r), "code").unwrap()).await.json().await.unwrap();
    let cookie_sid = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(cookie_sid.status(), StatusCode::OK);
    let hint = online["id_token"].as_str().unwrap();
    b.get(app.url("/logout")).query(&[("id_token_hint", hint)]).send().await.unwrap();
    let refresh = |rt: &Value| {
        let rt = rt["refresh_token"].as_str().unwrap().to_owned();
        let app = &app;
        async move {
            token_request(app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                .await
                .0
        }
    };
    assert_eq!(refresh(&online).await, StatusCode::BAD_REQUEST, "ended with the session");
    assert_eq!(refresh(&offline).await, StatusCode::OK, "offline access outlives the session");
}

#[tokio::test]
async fn a_client_revokes_its_own_tokens_and_nobody_elses() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "oli", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let revoke = |client: (&'static str, &'static str), token: String| {
        let url = app.url("/revoke");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(client.0, Some(client.1))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke((APP_ID, "wrong"), rt.to_owned()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        revoke((OTHER_ID, OTHER_SECRET), rt.to_owned()).await,
        StatusCode::OK,
        "another client's token: ignored"
    );
    assert_eq!(
        token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .await
            .0,
        StatusCode::OK
    );
    // The refresh above rotated the token; revoke the access token instead: the grant ends.
    assert_eq!(revoke((APP_ID, APP_SECRET), t["access_token"].as_str().unwrap().to_owned()).await, StatusCode::OK);
    let r = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(revoke((APP_ID, APP_SECRET), "unknown".into()).await, StatusCode::OK);
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(d["revocation_endpoint"], app.url("/revoke"));
}

#[tokio::test]
async fn the_session_id_never_leaves_the_cookie() {
    let app = spawn_app().await;
    let b = browser();
    let r = b.get(app.url("/login/dev")).send().await.unwrap();
    let state = form_state(&r.text().await.unwrap());
    let r = b.post(app.url("/login/dev")).form(&[("state", state.as_str()), ("username", "pia")]).send().await.unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("braid_session="))
        .unwrap();
    let sid = cookie.trim_start_matches("braid_session=").split(';').next().unwrap().to_owned();
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    let t: Value = redeem(&app, &query_param(&location(&r), "code").unwrap()).await.json().await.unwrap();
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_ne!(id["sid"], sid.as_str(), "the sid claim is not the session id");
    assert!(app.state.records.store().get(&format!("sess:{sid}")).await.unwrap().is_none(), "stored under a hash");
}

#[tokio::test]
async fn two_providers_with_one_issuer_are_refused() {
    let clock = std::sync::Arc::new(braid::clock::TestClock::starting_now());
    let mock = MockIdp::start(clock).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), mock.provider_toml("")).unwrap();
    std::fs::write(dir.path().join("b.toml"), mock.provider_toml("")).unwrap();
    let (registry, problems) =
        braid::upstream::ProviderRegistry::load(dir.path(), braid::upstream::RegistryPolicy { allow_dev: true });
    assert_eq!(registry.snapshot().all().count(), 1);
    assert!(problems.iter().any(|p| p.source.ends_with("b.toml") && p.key == "issuer"), "{problems:?}");
}

#[tokio::test]
async fn introspection_reports_active_tokens_only_to_their_client() {
    let app = spawn_app().await;
    let code = code_for(&app, &browser(), "quin", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let introspect = |client: (&'static str, &'static str), token: String| {
        let url = app.url("/introspect");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(client.0, Some(client.1))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let (status, v) = introspect((APP_ID, APP_SECRET), at.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], APP_ID);
    assert!(v["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(introspect((APP_ID, APP_SECRET), rt.clone()).await.1["active"], true);
    assert_eq!(
        introspect((OTHER_ID, OTHER_SECRET), at.clone()).await.1,
        json!({"active": false}),
        "not another client's business"
    );
    assert_eq!(introspect((APP_ID, "wrong"), at.clone()).await.0, StatusCode::UNAUTHORIZED);
    // Rotated out: the old refresh token is inactive, the new one active.
    let (_, fresh) =
        token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
            .await;
    assert_eq!(introspect((APP_ID, APP_SECRET), rt).await.1["active"], false);
    assert_eq!(
        introspect((APP_ID, APP_SECRET), fresh["refresh_token"].as_str().unwrap().to_owned()).await.1["active"],
        true
    );
    // Revoked: inactive.
    reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect((APP_ID, APP_SECRET), at).await.1["active"], false);
    assert_eq!(introspect((APP_ID, APP_SECRET), "junk".into()).await.1["active"], false);
}
