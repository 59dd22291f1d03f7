//! Signing algorithms per client: RS256, ES256 and EdDSA ID and access tokens, each verified with
//! the key `/jwks.json` publishes under its `kid` (jsonwebtoken, the algorithm taken from the
//! key); discovery lists them all; `braid keys rotate --alg` publishes one algorithm's new key
//! before it signs; a token whose header names another published key's algorithm is refused;
//! a key directory of an older braid keeps its key; catalog clients choose too.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub const SECRET: &str = "secret-of-the-signing-test-clients-0123456789";

/// Clients of each algorithm, and one with different ID and access token algorithms.
const ALG_CLIENTS: &str = r#"
[[clients]]
id = "rs"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/rs"]
id_token_signed_response_alg = "RS256"
access_token_signed_response_alg = "RS256"

[[clients]]
id = "es"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/es"]
id_token_signed_response_alg = "ES256"
access_token_signed_response_alg = "ES256"

[[clients]]
id = "ed"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/ed"]
id_token_signed_response_alg = "EdDSA"
access_token_signed_response_alg = "EdDSA"

[[clients]]
id = "mixed"
secret = "secret-of-the-signing-test-clients-0123456789"
redirect_uris = ["http://127.0.0.1:9/mixed"]
id_token_signed_response_alg = "EdDSA"
access_token_signed_response_alg = "ES256"
"#;

/// Sign in as `user` with a fresh browser through confidential `client` (secret [`SECRET`]) and
/// redeem the code; returns the browser (signed in) and the token response.
pub async fn sign_in_with(app: &TestApp, client: &str, cb: &str, user: &str) -> (reqwest::Client, Value) {
    let b = browser();
    let q = authorize_query(client, cb, None, "n-alg");
    let back = walk_sign_in(&b, &[&app.base], &q, user, &format!("{user}@example.com")).await;
    assert!(back.starts_with(cb), "{back}");
    let code = query_param(&back, "code").expect("code");
    let (s, t) = token_request(
        app,
        (client, Some(SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    (b, t)
}

/// Verify `token` with the key `/jwks.json` publishes under its `kid`, with that key's own
/// algorithm (never the header's alone); returns the algorithm and the claims.
pub async fn verify_by_jwks(app: &TestApp, token: &str, aud: &str) -> (String, Value) {
    let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().expect("kid in the header");
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid published");
    let alg_name = jwk["alg"].as_str().unwrap().to_owned();
    let alg: jsonwebtoken::Algorithm = alg_name.parse().unwrap();
    assert_eq!(header.alg, alg, "the header names the key's algorithm");
    let key = jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[app.base.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).expect("verifies with the published key");
    (alg_name, data.claims)
}

async fn userinfo(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn introspect(app: &TestApp, client: &str, token: &str) -> Value {
    let r = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(client, Some(SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn alg_app() -> TestApp {
    spawn_app_with(ALG_CLIENTS).await
}

#[tokio::test]
async fn each_client_gets_id_and_access_tokens_of_its_algorithm_verifiable_by_kid() {
    let app = alg_app().await;
    for (client, id_alg, at_alg) in
        [("rs", "RS256", "RS256"), ("es", "ES256", "ES256"), ("ed", "EdDSA", "EdDSA"), ("mixed", "EdDSA", "ES256")]
    {
        let cb = format!("http://127.0.0.1:9/{client}");
        let (_, t) = sign_in_with(&app, client, &cb, "alice").await;
        let (alg, id) = verify_by_jwks(&app, t["id_token"].as_str().unwrap(), client).await;
        assert_eq!(alg, id_alg, "{client}: ID token");
        assert_eq!(id["nonce"], "n-alg");
        let access = t["access_token"].as_str().unwrap();
        let (alg, at) = verify_by_jwks(&app, access, client).await;
        assert_eq!(alg, at_alg, "{client}: access token");
        assert_eq!(jsonwebtoken::decode_header(access).unwrap().typ.as_deref(), Some("at+jwt"));
        assert_eq!(at["sub"], id["sub"]);
        // braid accepts its own token of every algorithm, by kid.
        let (s, info) = userinfo(&app, access).await;
        assert_eq!((s, &info["sub"]), (StatusCode::OK, &id["sub"]), "{client}: {info}");
        assert_eq!(introspect(&app, client, access).await["active"], true, "{client}");
    }
    // A client that names no algorithm gets the `[keys] algorithm` (RS256 by default).
    let code = code_for(&app, &browser(), "alice", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    assert_eq!(verify_by_jwks(&app, t["id_token"].as_str().unwrap(), APP_ID).await.0, "RS256");
    assert_eq!(verify_by_jwks(&app, t["access_token"].as_str().unwrap(), APP_ID).await.0, "RS256");
}

#[tokio::test]
async fn discovery_lists_every_algorithm_and_the_jwks_a_key_of_each() {
    let app = alg_app().await;
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256", "ES256", "EdDSA"]));
    assert_eq!(d["subject_types_supported"], json!(["public", "pairwise"]));
    let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let described: Vec<(&str, &str, Option<&str>)> =
        keys.iter().map(|k| (k["alg"].as_str().unwrap(), k["kty"].as_str().unwrap(), k["crv"].as_str())).collect();
    assert_eq!(described, [("RS256", "RSA", None), ("ES256", "EC", Some("P-256")), ("EdDSA", "OKP", Some("Ed25519"))]);
    for k in keys {
        assert_eq!(k["kid"], braid::issuer::keys::thumbprint(k).as_str());
        assert_eq!(k["use"], "sig");
        assert!(k.get("d").is_none(), "no private material");
    }
}

fn kid_of(token: &Value, which: &str) -> String {
    jsonwebtoken::decode_header(token[which].as_str().unwrap()).unwrap().kid.unwrap()
}

#[tokio::test]
async fn rotating_one_algorithm_publishes_its_new_key_before_it_signs() {
    // Access tokens outlive the activation delay, to be presented after it.
    let app = spawn_app_with(&format!("[tokens]\naccess_token_ttl_secs = 3600\n{ALG_CLIENTS}")).await;
    let (_, es_before) = sign_in_with(&app, "es", "http://127.0.0.1:9/es", "rita").await;
    let (_, rs_before) = sign_in_with(&app, "rs", "http://127.0.0.1:9/rs", "rita").await;
    let jwks = || async {
        let v: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let published = jwks().await;

    // `braid keys rotate --alg ES256` on the same key directory (another replica, say).
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(cfg.path().join("braid.toml"), format!("[keys]\ndir = \"{}\"\n", app.dir().join("keys").display()))
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_braid"))
        .current_dir(cfg.path())
        .args(["keys", "rotate", "--alg", "ES256"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("new ES256 signing key: "), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_braid"))
        .current_dir(cfg.path())
        .args(["keys", "rotate", "--alg", "HS256"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "an unknown algorithm is refused");

    app.state.keys.reload().unwrap();
    let now_published = jwks().await;
    assert_eq!(now_published.len(), published.len() + 1, "the new ES256 key is published at once");
    let new_kid = now_published.iter().find(|k| !published.contains(k)).unwrap().clone();
    let (_, es_mid) = sign_in_with(&app, "es", "http://127.0.0.1:9/es", "rita").await;
    assert_eq!(kid_of(&es_mid, "id_token"), kid_of(&es_before, "id_token"), "but does not sign yet");

    app.clock.advance(Duration::from_secs(700));
    app.state.keys.reload().unwrap();
    let (_, es_after) = sign_in_with(&app, "es", "http://127.0.0.1:9/es", "rita").await;
    assert_eq!(kid_of(&es_after, "id_token"), new_kid, "after the delay the new ES256 key signs");
    assert_eq!(kid_of(&es_after, "access_token"), new_kid);
    assert_eq!(verify_by_jwks(&app, es_after["id_token"].as_str().unwrap(), "es").await.0, "ES256");
    let (_, rs_after) = sign_in_with(&app, "rs", "http://127.0.0.1:9/rs", "rita").await;
    assert_eq!(kid_of(&rs_after, "id_token"), kid_of(&rs_before, "id_token"), "RS256 was not rotated");
    // Tokens of the old ES256 key keep verifying.
    verify_by_jwks(&app, es_before["id_token"].as_str().unwrap(), "es").await;
    let (s, v) = userinfo(&app, es_mid["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// `token` with its header replaced by `header` (payload and signature kept).
fn reheader(token: &str, header: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    parts.join(".")
}

#[tokio::test]
async fn a_token_whose_header_names_another_published_algorithm_is_refused() {
    let app = alg_app().await;
    let (_, rs) = sign_in_with(&app, "rs", "http://127.0.0.1:9/rs", "mallory").await;
    let (_, ed) = sign_in_with(&app, "ed", "http://127.0.0.1:9/ed", "mallory").await;
    let (_, es) = sign_in_with(&app, "es", "http://127.0.0.1:9/es", "mallory").await;
    let (rs_at, ed_at, es_at) = (
        rs["access_token"].as_str().unwrap(),
        ed["access_token"].as_str().unwrap(),
        es["access_token"].as_str().unwrap(),
    );
    let (rs_kid, ed_kid, es_kid) =
        (kid_of(&rs, "access_token"), kid_of(&ed, "access_token"), kid_of(&es, "access_token"));
    for t in [rs_at, ed_at, es_at] {
        assert_eq!(userinfo(&app, t).await.0, StatusCode::OK, "the untouched tokens are accepted");
    }
    let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let ed_x = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == ed_kid.as_str()).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    // An HS256 token "signed" with the public Ed25519 key as an HMAC secret (classic confusion).
    let hs_claims = ed_at.split('.').nth(1).unwrap();
    let hs_input = format!(
        "{}.{hs_claims}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": ed_kid, "typ": "at+jwt"}).to_string())
    );
    let hs_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, ed_x.as_bytes());
    let hs_token =
        format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&hs_key, hs_input.as_bytes())));
    let forged = [
        (
            "RS256 token, header alg ES256, its own kid",
            reheader(rs_at, &json!({"alg": "ES256", "kid": rs_kid, "typ": "at+jwt"})),
        ),
        (
            "RS256 token, header alg and kid of the ES256 key",
            reheader(rs_at, &json!({"alg": "ES256", "kid": es_kid, "typ": "at+jwt"})),
        ),
        (
            "EdDSA token, header alg RS256, its own kid",
            reheader(ed_at, &json!({"alg": "RS256", "kid": ed_kid, "typ": "at+jwt"})),
        ),
        (
            "EdDSA token, header alg and kid of the RS256 key",
            reheader(ed_at, &json!({"alg": "RS256", "kid": rs_kid, "typ": "at+jwt"})),
        ),
        (
            "ES256 token, header alg EdDSA, kid of the EdDSA key",
            reheader(es_at, &json!({"alg": "EdDSA", "kid": ed_kid, "typ": "at+jwt"})),
        ),
        ("ES256 token without kid", reheader(es_at, &json!({"alg": "ES256", "typ": "at+jwt"}))),
        ("HS256 with the EdDSA public key as secret", hs_token),
    ];
    for (what, token) in &forged {
        let (s, v) = userinfo(&app, token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert_eq!(v["error"], "invalid_token", "{what}");
        for client in ["rs", "ed", "es"] {
            assert_eq!(introspect(&app, client, token).await, json!({"active": false}), "{what}");
        }
    }
}

#[tokio::test]
async fn a_key_directory_of_an_older_braid_keeps_its_key_and_gains_the_others() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let keys = dir.path().join("keys");
    // What an older braid left: one RS256 key, nothing else.
    let path = braid::issuer::keys::KeySet::rotate(&keys, braid::config::SigningAlg::RS256).unwrap();
    assert_eq!(path.file_name().unwrap(), "signing-0001-RS256.pem");
    let old_kid = braid::issuer::keys::KeySet::load_existing(&keys, braid::config::SigningAlg::RS256)
        .unwrap()
        .current()
        .kid
        .clone();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", ALG_CLIENTS)).await;
    let code = code_for(&app, &browser(), "olga", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    assert_eq!(kid_of(&t, "id_token"), old_kid, "the existing key still signs");
    let (_, ed) = sign_in_with(&app, "ed", "http://127.0.0.1:9/ed", "olga").await;
    assert_eq!(verify_by_jwks(&app, ed["id_token"].as_str().unwrap(), "ed").await.0, "EdDSA");
    let mut files: Vec<String> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("signing-"))
        .collect();
    files.sort();
    assert_eq!(files, ["signing-0001-ES256.pem", "signing-0001-EdDSA.pem", "signing-0001-RS256.pem"]);
}

#[tokio::test]
async fn an_es256_default_signs_clients_that_name_no_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| {
        let mut s = settings(d, &url, "memory", "");
        s.keys.algorithm = braid::config::SigningAlg::ES256;
        s
    })
    .await;
    let code = code_for(&app, &browser(), "eve", "n").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    assert_eq!(verify_by_jwks(&app, t["id_token"].as_str().unwrap(), APP_ID).await.0, "ES256");
    assert_eq!(verify_by_jwks(&app, t["access_token"].as_str().unwrap(), APP_ID).await.0, "ES256");
}

#[test]
fn an_unknown_algorithm_is_a_configuration_error_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("braid.toml");
    std::fs::write(
        &file,
        "[[clients]]\nid = \"x\"\nredirect_uris = [\"http://127.0.0.1:9/x\"]\nid_token_signed_response_alg = \"HS256\"\n",
    )
    .unwrap();
    let e = braid::config::Settings::load(&file, true).unwrap_err().to_string();
    assert!(e.contains("braid.toml") && e.contains("id_token_signed_response_alg") && e.contains("HS256"), "{e}");
}

#[tokio::test]
async fn a_catalog_client_chooses_its_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", &crate::admin_ops::admin_toml())).await;
    let h = reqwest::Client::new();
    let cb = "http://127.0.0.1:9/api-ed";
    let def = json!({
        "id": "api-ed", "redirect_uris": [cb],
        "id_token_signed_response_alg": "EdDSA", "access_token_signed_response_alg": "ES256",
    });
    let r = h.post(app.url("/admin/v1/clients")).bearer_auth(crate::admin_ops::TOKEN).json(&def).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["client"]["id_token_signed_response_alg"], "EdDSA");
    assert_eq!(made["client"]["access_token_signed_response_alg"], "ES256");
    assert_eq!(made["client"]["subject_type"], "public");
    let secret = made["secret"].as_str().unwrap();
    let b = browser();
    let back = walk_sign_in(&b, &[&app.base], &authorize_query("api-ed", cb, None, "n"), "cleo", "c@example.com").await;
    let code = query_param(&back, "code").unwrap();
    let (s, t) = token_request(
        &app,
        ("api-ed", Some(secret)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(verify_by_jwks(&app, t["id_token"].as_str().unwrap(), "api-ed").await.0, "EdDSA");
    assert_eq!(verify_by_jwks(&app, t["access_token"].as_str().unwrap(), "api-ed").await.0, "ES256");
    let bad = json!({"id": "api-bad", "redirect_uris": [cb], "id_token_signed_response_alg": "none"});
    let r = h.post(app.url("/admin/v1/clients")).bearer_auth(crate::admin_ops::TOKEN).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["pointer"], "/id_token_signed_response_alg", "{v}");
}
