//! The admin API on two `braid` processes sharing one PostgreSQL and one Redis: a provider (the
//! real `oidc-provider` upstream) and a client made over HTTP on one replica serve a whole sign-in
//! and code flow on the other within 5 s, without a restart; a secret rotated and a provider
//! deleted on the first are in force on the second within 5 s too.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_ops::{TOKEN, admin_toml};
use crate::helpers::*;
use crate::interop_oidc::{start_op, through_op_at};
use crate::replicas::{free_port, start_braid};
use crate::support;

/// Wait (up to 5 s from `since`) until `ready` holds.
async fn within_5s<F, Fut>(since: Instant, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !ready().await {
        assert!(since.elapsed() < Duration::from_secs(5), "{what}: not in force on the other replica within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token request at `base` with client `id` and `secret`.
async fn token(base: &str, id: &str, secret: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(format!("{base}/token")).basic_auth(id, Some(secret)).form(form).send().await;
    let r = r.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_and_a_client_made_on_one_replica_serve_a_sign_in_on_the_other_within_5s() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let pg = support::fresh_pg_url().await;
    let prefix = support::unique("braidtest:");
    let (pa, pb, op_port) = (free_port(), free_port(), free_port());
    let (a, b) = (format!("http://127.0.0.1:{pa}"), format!("http://127.0.0.1:{pb}"));
    // People reach the second replica: its address is the public one.
    let _op = start_op(op_port, &format!("{b}/callback/op")).await;
    let mut procs = Vec::new();
    for (port, base) in [(pa, &a), (pb, &b)] {
        let cfg = dir.path().join(format!("braid-{port}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{b}\"\n\
                 [store]\naccounts = \"{pg}\"\nsessions = \"{}\"\nredis_key_prefix = \"{prefix}\"\n\
                 [keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n[log]\nlevel = \"warn\"\n{}",
                support::redis_url(),
                dir.path().join("keys").display(),
                dir.path().join("providers").display(),
                admin_toml(),
            ),
        )
        .unwrap();
        // One after the other, so both load the key the first one made.
        procs.push(start_braid(&cfg, base).await);
    }
    let admin = reqwest::Client::new();
    let on_a = |p: &str| format!("{a}/admin/v1{p}");

    // On A: a client and an OIDC provider for the real oidc-provider.
    let cb = "http://127.0.0.1:9/replica-app";
    let r = admin.post(on_a("/clients")).bearer_auth(TOKEN).json(&json!({"id": "replica-app", "redirect_uris": [cb]}));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let secret = r.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let definition = json!({
        "id": "op", "kind": "oidc", "display_name": "oidc-provider", "issuer": issuer,
        "client_id": "braid", "client_secret": "braid-interop-secret",
        "scopes": ["openid", "email", "profile"], "userinfo": true, "trust_email": true,
    });
    let r = admin.post(on_a("/providers")).bearer_auth(TOKEN).json(&definition).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made = Instant::now();

    // On B, within 5 s: the client's authorization request goes to the new provider.
    let (verifier, challenge) = pkce();
    let mut q = authorize_query("replica-app", cb, Some(&challenge), "n-replicas");
    q.push(("idp_hint".into(), "op".into()));
    let probe = browser();
    within_5s(made, "the client and the provider", || {
        let req = probe.get(format!("{b}/authorize")).query(&q);
        async move { req.send().await.unwrap().status() == StatusCode::SEE_OTHER }
    })
    .await;

    // A whole sign-in on B through the provider made on A, and the code redeemed on B with the
    // client made on A.
    let br = browser();
    let r = br.get(format!("{b}/authorize")).query(&q).send().await.unwrap();
    let back = through_op_at(&b, &br, &location(&r), "rhea").await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "braid's callback on B");
    let mut to_app = location(&back);
    for _ in 0..5 {
        if to_app.starts_with(cb) {
            break;
        }
        let url = if to_app.starts_with("http") { to_app.clone() } else { format!("{b}{to_app}") };
        to_app = location(&br.get(&url).send().await.unwrap());
    }
    let code = query_param(&to_app, "code").unwrap_or_else(|| panic!("a code: {to_app}"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", verifier.as_str()),
    ];
    let (s, t) = token(&b, "replica-app", &secret, &form).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let claims = verify_id_token(&b, t["id_token"].as_str().unwrap(), "replica-app").await;
    // A sees the account the sign-in on B made.
    let r = admin.get(on_a("/accounts")).bearer_auth(TOKEN).query(&[("issuer", issuer.as_str()), ("subject", "rhea")]);
    let found: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(found["items"][0]["account"]["id"], claims["sub"], "{found}");
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    // The secret rotated on A: B refuses the old one within 5 s (asked with a refresh token that
    // is not one, so the probe never spends the real one), and takes the new one.
    let r = admin.post(on_a("/clients/replica-app/secret")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let new_secret = r.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let rotated = Instant::now();
    let bogus = [("grant_type", "refresh_token"), ("refresh_token", "not-a-refresh-token")];
    within_5s(rotated, "the rotated secret", || {
        let (b, secret) = (b.clone(), secret.clone());
        async move { token(&b, "replica-app", &secret, &bogus).await.0 == StatusCode::UNAUTHORIZED }
    })
    .await;
    let (s, t) =
        token(&b, "replica-app", &new_secret, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(s, StatusCode::OK, "{t}");

    // The provider deleted on A: B refuses to start a sign-in through it within 5 s.
    let r = admin.delete(on_a("/providers/op")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let deleted = Instant::now();
    within_5s(deleted, "the deletion", || {
        let req = probe.get(format!("{b}/login/op"));
        async move { req.send().await.unwrap().status().is_client_error() }
    })
    .await;
    drop(procs);
}
