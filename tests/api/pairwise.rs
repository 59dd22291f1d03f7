//! Pairwise subjects: clients of different sectors see different `sub`s for one account, each
//! the same across the account's linked identities and across a merge (the surviving account's
//! `sub` stays); the ID token, access token, userinfo and introspection agree; `id_token_hint`
//! of a pairwise client names its person at `/authorize` and `/logout`; a pairwise client
//! without one sector is a configuration error naming file and key.

use std::time::Duration;

use braid::accounts::{AccountId, Actor, ExternalIdentity, LinkOutcome};
use braid::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::signing_algs::{SECRET, sign_in_with, verify_by_jwks};

const DEV_ISSUER: &str = "urn:braid:dev:dev";

/// pw1: its own sector; pw2 and pw3: one sector (`localhost`), pw2's from its redirect URIs.
const PAIRWISE_CLIENTS: &str = r#"
[[clients]]
id = "pw1"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/pw1", "http://localhost:9/pw1"]
post_logout_redirect_uris = ["http://127.0.0.1:9/pw1-bye"]
subject_type = "pairwise"
sector_identifier = "https://one.example/sector.json"

[[clients]]
id = "pw2"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://localhost:9/pw2"]
subject_type = "pairwise"
id_token_signed_response_alg = "ES256"

[[clients]]
id = "pw3"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/pw3"]
subject_type = "pairwise"
sector_identifier = "localhost"
"#;

const PW1_CB: &str = "http://127.0.0.1:9/pw1";
const PW2_CB: &str = "http://localhost:9/pw2";
const PW3_CB: &str = "http://127.0.0.1:9/pw3";

/// The `sub` of `user`'s ID token for `client` (verified against the JWKS).
async fn sub_for(app: &TestApp, client: &str, cb: &str, user: &str) -> String {
    let (_, t) = sign_in_with(app, client, cb, user).await;
    verify_by_jwks(app, t["id_token"].as_str().unwrap(), client).await.1["sub"].as_str().unwrap().to_owned()
}

/// `user`'s account id: the public `sub` of client `app`.
async fn account_of(app: &TestApp, user: &str) -> String {
    let code = code_for(app, &browser(), user, "n").await;
    let t: Value = redeem(app, &code).await.json().await.unwrap();
    jwt_payload(t["id_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned()
}

async fn subs(app: &TestApp, user: &str) -> [String; 3] {
    [
        sub_for(app, "pw1", PW1_CB, user).await,
        sub_for(app, "pw2", PW2_CB, user).await,
        sub_for(app, "pw3", PW3_CB, user).await,
    ]
}

async fn link(app: &TestApp, account: &str, subject: &str) {
    let ext = ExternalIdentity {
        issuer: DEV_ISSUER.into(),
        subject: subject.into(),
        email: None,
        email_verified: false,
        name: None,
        claims: Default::default(),
    };
    let id = AccountId(account.to_owned());
    let r = app.state.accounts.link(&id, "dev", &ext, &Actor::admin("test"), app.clock.now_ms()).await.unwrap();
    assert!(matches!(r, LinkOutcome::Linked(_)), "{r:?}");
    // Sessions made at the change's instant count as before it.
    app.clock.advance(Duration::from_secs(1));
}

#[tokio::test]
async fn pairwise_clients_see_their_own_sub_the_same_for_every_linked_identity() {
    let app = spawn_app_with(PAIRWISE_CLIENTS).await;
    let account = account_of(&app, "amy").await;
    let [pw1, pw2, pw3] = subs(&app, "amy").await;
    assert_ne!(pw1, account, "a pairwise sub is not the account id");
    assert_ne!(pw1, pw2, "clients of different sectors see different subs");
    assert_eq!(pw2, pw3, "clients of one sector see one sub");
    let secret = app.state.keys.pairwise();
    assert_eq!(pw1, secret.subject("one.example", &account), "keyed on the sector and the account");
    assert_eq!(pw2, secret.subject("localhost", &account));
    assert_eq!(pw1.len(), 43, "base64url of a SHA-256 HMAC");

    // Another identity linked to the account: the same subs.
    link(&app, &account, "amy-two").await;
    assert_eq!(subs(&app, "amy-two").await, [pw1.clone(), pw2.clone(), pw3.clone()]);
    assert_eq!(subs(&app, "amy").await, [pw1.clone(), pw2, pw3]);
    // Another account: other subs.
    assert_ne!(sub_for(&app, "pw1", PW1_CB, "ben").await, pw1);
}

#[tokio::test]
async fn the_id_token_access_token_userinfo_and_introspection_agree_on_the_pairwise_sub() {
    let app = spawn_app_with(PAIRWISE_CLIENTS).await;
    let account = account_of(&app, "ida").await;
    let (_, t) = sign_in_with(&app, "pw1", PW1_CB, "ida").await;
    let sub = verify_by_jwks(&app, t["id_token"].as_str().unwrap(), "pw1").await.1["sub"].clone();
    assert_ne!(sub, json!(account));
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(verify_by_jwks(&app, access, "pw1").await.1["sub"], sub, "the access token carries it too");
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], sub, "{info}");
    assert_eq!(info["email"], "ida@example.com");
    for token in [access, t["refresh_token"].as_str().unwrap()] {
        let v: Value = reqwest::Client::new()
            .post(app.url("/introspect"))
            .basic_auth("pw1", Some(SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!((&v["active"], &v["sub"]), (&json!(true), &sub), "{v}");
    }
    // A refresh keeps the sub.
    let (s, r) = token_request(
        &app,
        ("pw1", Some(SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(jwt_payload(r["id_token"].as_str().unwrap())["sub"], sub);
    assert_eq!(jwt_payload(r["access_token"].as_str().unwrap())["sub"], sub);
}

#[tokio::test]
async fn a_merge_keeps_the_surviving_accounts_pairwise_subs() {
    let app = spawn_app_with(PAIRWISE_CLIENTS).await;
    let (a, b) = (account_of(&app, "ann").await, account_of(&app, "bea").await);
    let ann_before = subs(&app, "ann").await;
    let bea_before = subs(&app, "bea").await;
    assert_ne!(ann_before, bea_before);
    let (_, ann_tokens) = sign_in_with(&app, "pw1", PW1_CB, "ann").await;

    // Account A (ann) merged into B (bea).
    let merged = app
        .state
        .accounts
        .merge(&AccountId(a.clone()), &AccountId(b.clone()), &Actor::admin("test"), app.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(merged, Ok(1));
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(subs(&app, "ann").await, bea_before, "ann's identity now signs in to B, with B's subs");
    assert_eq!(subs(&app, "bea").await, bea_before, "B's subs are unchanged");
    assert_eq!(account_of(&app, "ann").await, b);
    let r = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(ann_tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a token of the merged account is refused");
}

#[tokio::test]
async fn an_id_token_hint_of_a_pairwise_client_names_its_person() {
    let app = spawn_app_with(PAIRWISE_CLIENTS).await;
    let (b, t) = sign_in_with(&app, "pw1", PW1_CB, "hal").await;
    let hint = t["id_token"].as_str().unwrap().to_owned();
    let (_, other) = sign_in_with(&app, "pw1", PW1_CB, "ivy").await;
    let authorize = |hint: String| {
        let mut q = authorize_query("pw1", PW1_CB, None, "n");
        q.push(("prompt".into(), "none".into()));
        q.push(("id_token_hint".into(), hint));
        b.get(app.url("/authorize")).query(&q).send()
    };
    let r = authorize(hint.clone()).await.unwrap();
    assert!(query_param(&location(&r), "code").is_some(), "the person's own pairwise hint: silent sign-on");
    let r = authorize(other["id_token"].as_str().unwrap().to_owned()).await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"), "another person's hint");

    // RP-initiated logout with the pairwise hint: no confirmation, the session ends.
    let r = b
        .get(app.url("/logout"))
        .query(&[("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", "http://127.0.0.1:9/pw1-bye")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "http://127.0.0.1:9/pw1-bye");
    let r = authorize(hint).await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"), "signed out");
}

#[test]
fn a_pairwise_client_on_two_hosts_without_a_sector_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("braid.toml"),
        "[[clients]]\nid = \"two\"\nredirect_uris = [\"https://a.example/cb\", \"https://b.example/cb\"]\n\
         subject_type = \"pairwise\"\n",
    )
    .unwrap();
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(
            "braid.toml: key `clients[0].sector_identifier`: the redirect URIs are on 2 hosts (a.example, b.example)"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_catalog_client_may_be_pairwise_with_one_sector() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", &crate::admin_ops::admin_toml())).await;
    let post = |def: Value| {
        reqwest::Client::new().post(app.url("/admin/v1/clients")).bearer_auth(crate::admin_ops::TOKEN).json(&def).send()
    };
    let two_hosts = ["http://127.0.0.1:9/api-pw", "http://localhost:9/api-pw"];
    let r = post(json!({"id": "api-pw", "redirect_uris": two_hosts, "subject_type": "pairwise"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["pointer"], "/sector_identifier", "{v}");
    let def = json!({"id": "api-pw", "redirect_uris": two_hosts, "subject_type": "pairwise", "sector_identifier": "apps.example"});
    let r = post(def).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert_eq!(
        (&made["client"]["subject_type"], &made["client"]["sector_identifier"]),
        (&json!("pairwise"), &json!("apps.example"))
    );
    let secret = made["secret"].as_str().unwrap();
    let cb = two_hosts[1];
    let back =
        walk_sign_in(&browser(), &[&app.base], &authorize_query("api-pw", cb, None, "n"), "kim", "k@example.com").await;
    let code = query_param(&back, "code").unwrap();
    let (s, t) = token_request(
        &app,
        ("api-pw", Some(secret)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let account = app.state.accounts.find_identity(DEV_ISSUER, "kim").await.unwrap().unwrap().account_id;
    let sub = jwt_payload(t["id_token"].as_str().unwrap())["sub"].clone();
    assert_eq!(sub, json!(app.state.keys.pairwise().subject("apps.example", account.as_str())));
}
