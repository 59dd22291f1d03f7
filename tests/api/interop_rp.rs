//! Real relying parties against braid: `openid-client` (npm, the OpenID-certified RP library;
//! `tests/interop/rp-node`) and Authlib (PyPI; `tests/interop/rp-python`), pinned by their
//! lockfiles and installed by `scripts/test`. Each does discovery, the code flow with PKCE,
//! validates the ID token itself, reads userinfo, refreshes (rotation), revokes and builds the
//! RP-initiated logout URL; this test walks the browser part (braid's dev sign-in) and the logout.
//! The variant (signing algorithm, client authentication, PAR) is a parameter of the harness.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Which relying party library.
#[derive(Debug, Clone, Copy)]
pub enum Library {
    /// openid-client (Node.js).
    OpenidClient,
    /// Authlib (Python).
    Authlib,
}

/// One interop case: the library and the variant of the flow it runs.
#[derive(Debug, Clone)]
pub struct Case {
    pub library: Library,
    /// `id_token_signed_response_alg` the RP expects (the client's registered algorithm).
    pub alg: &'static str,
    /// `client_secret_basic`, `client_secret_post` (or `private_key_jwt` with `private_key_jwk`).
    pub auth_method: &'static str,
    /// Push the authorization request first (RFC 9126).
    pub par: bool,
    /// Extra `braid.toml` for this case (e.g. a client's algorithm or keys).
    pub extra_toml: String,
    /// The client the RP is (registered in `extra_toml` unless it is the test app).
    pub client_id: String,
    /// The client's private JWK, for `private_key_jwt`.
    pub private_key_jwk: Option<Value>,
}

impl Case {
    pub fn new(library: Library, alg: &'static str, auth_method: &'static str) -> Self {
        Self {
            library,
            alg,
            auth_method,
            par: false,
            extra_toml: String::new(),
            client_id: APP_ID.into(),
            private_key_jwk: None,
        }
    }

    /// The same as a client of its own whose tokens are signed with `alg` (ID and access tokens).
    pub fn signed_with(library: Library, alg: &'static str, auth_method: &'static str) -> Self {
        let id = format!("rp-{}", alg.to_ascii_lowercase());
        let extra_toml = format!(
            "\n[[clients]]\nid = \"{id}\"\nsecret = \"{APP_SECRET}\"\nredirect_uris = [\"{APP_CB}\"]\n\
             post_logout_redirect_uris = [\"http://127.0.0.1:9/bye\"]\n\
             id_token_signed_response_alg = \"{alg}\"\naccess_token_signed_response_alg = \"{alg}\"\n"
        );
        Self { extra_toml, client_id: id, ..Self::new(library, alg, auth_method) }
    }
}

fn command(library: Library) -> std::process::Command {
    let root = env!("CARGO_MANIFEST_DIR");
    match library {
        Library::OpenidClient => {
            let dir = format!("{root}/tests/interop/rp-node");
            assert!(
                std::path::Path::new(&dir).join("node_modules/openid-client").exists(),
                "run scripts/test (it installs the interop packages)"
            );
            let mut c = std::process::Command::new("node");
            c.current_dir(dir).arg("rp.mjs");
            c
        }
        Library::Authlib => {
            let dir = format!("{root}/tests/interop/rp-python");
            let python = format!("{dir}/.venv/bin/python");
            assert!(std::path::Path::new(&python).exists(), "run scripts/test (it installs the interop packages)");
            let mut c = std::process::Command::new(python);
            c.current_dir(dir).args(["-W", "ignore::DeprecationWarning", "rp.py"]);
            c
        }
    }
}

/// Run one step of the RP script (off the runtime: braid serves in this very runtime).
async fn step(library: Library, args: Vec<String>) -> Value {
    let out =
        tokio::task::spawn_blocking(move || command(library).args(&args).output().expect("the RP runs")).await.unwrap();
    assert!(
        out.status.success(),
        "{library:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{library:?} printed no JSON ({e})"))
}

/// Follow the browser from an absolute authorization URL through the chooser and the dev
/// provider back to the client; returns the final redirect location.
pub async fn sign_in_from(app: &TestApp, b: &reqwest::Client, url: &str, username: &str) -> String {
    let r = b.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let mut next = location(&r);
    for _ in 0..5 {
        if !next.starts_with('/') {
            return next;
        }
        let r = b.get(app.url(&next)).send().await.unwrap();
        if r.status() == StatusCode::OK {
            let state = form_state(&r.text().await.unwrap());
            let email = format!("{username}@example.com");
            let r = b
                .post(app.url("/login/dev"))
                .form(&[
                    ("state", state.as_str()),
                    ("username", username),
                    ("email", &email),
                    ("email_verified", "true"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            return location(&r);
        }
        next = location(&r);
    }
    panic!("the sign-in did not finish");
}

/// Run `case` end to end against a fresh braid.
pub async fn run(case: Case) {
    let app = spawn_app_with(&case.extra_toml).await;
    let mut cfg = json!({
        "issuer": app.base, "client_id": case.client_id, "client_secret": APP_SECRET,
        "redirect_uri": APP_CB, "post_logout_redirect_uri": "http://127.0.0.1:9/bye",
        "auth_method": case.auth_method, "alg": case.alg, "par": case.par,
    });
    if let Some(jwk) = &case.private_key_jwk {
        cfg["private_key_jwk"] = jwk.clone();
    }
    let cfg = cfg.to_string();
    let started = step(case.library, vec!["start".into(), cfg.clone()]).await;
    let url = started["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/authorize?")), "{url}");
    let b = browser();
    let back = sign_in_from(&app, &b, url, "rp-alice").await;
    assert!(back.starts_with(APP_CB), "{back}");
    let s = |k: &str| started[k].as_str().unwrap().to_owned();
    let done = step(case.library, vec!["finish".into(), cfg, back, s("verifier"), s("state"), s("nonce")]).await;

    // What the library validated and read.
    let claims = &done["claims"];
    assert_eq!(claims["iss"], json!(app.base));
    assert_eq!(claims["aud"], json!(case.client_id));
    assert_eq!(claims["nonce"], json!(s("nonce")));
    assert_eq!(claims["email"], json!("rp-alice@example.com"));
    assert_eq!(done["userinfo"]["sub"], claims["sub"]);
    assert_eq!(done["userinfo"]["email"], json!("rp-alice@example.com"));
    assert_eq!(done["rotated"], json!(true), "refresh rotates the refresh token");
    assert_eq!(done["refreshed_claims"]["sub"], claims["sub"], "the refreshed ID token is validated too");
    assert_eq!(done["revoked_refresh_error"], json!("invalid_grant"), "a revoked refresh token is refused");

    // RP-initiated logout with the library's URL: back to the registered address with state,
    // and the session is over.
    let logout = done["logout_url"].as_str().unwrap();
    assert!(logout.starts_with(&app.url("/logout?")), "{logout}");
    let r = b.get(logout).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=bye-state");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), StatusCode::SEE_OTHER, "signed out");
    if !case.par {
        let mut q = authorize_query(&case.client_id, APP_CB, None, "n");
        q.push(("prompt".into(), "none".into()));
        let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
    }
}

#[tokio::test]
async fn openid_client_rs256_client_secret_basic() {
    run(Case::new(Library::OpenidClient, "RS256", "client_secret_basic")).await;
}

#[tokio::test]
async fn openid_client_rs256_client_secret_post() {
    run(Case::new(Library::OpenidClient, "RS256", "client_secret_post")).await;
}

#[tokio::test]
async fn authlib_rs256_client_secret_basic() {
    run(Case::new(Library::Authlib, "RS256", "client_secret_basic")).await;
}

#[tokio::test]
async fn authlib_rs256_client_secret_post() {
    run(Case::new(Library::Authlib, "RS256", "client_secret_post")).await;
}

/// The private key of the `private_key_jwt` test client (P-256; a fixture made for these tests).
fn rp_key() -> Value {
    json!({
        "kty": "EC", "crv": "P-256", "kid": "rp-test-es256", "alg": "ES256",
        "x": "prjtIoRSwwrQffgyMzJUbywSS0MhSUkErOZn63a4noU",
        "y": "4hkW5RkOWp_gp95oKN5f7SSe4Z-anqMz3JYT70gudPg",
        "d": "kQpD6IqtmMky69mbsBIS27QmLaR_b9R-QcO0lDptKyg",
    })
}

/// A client registered with `private_key_jwt` and the public half of [`rp_key`], which must
/// push its authorization requests; the RP authenticates with a signed assertion everywhere.
fn private_key_jwt_with_par(library: Library) -> Case {
    let mut public = rp_key();
    if let Some(o) = public.as_object_mut() {
        o.remove("d");
    }
    let extra_toml = format!(
        "\n[[clients]]\nid = \"rp-pkjwt\"\nredirect_uris = [\"{APP_CB}\"]\n\
         post_logout_redirect_uris = [\"http://127.0.0.1:9/bye\"]\n\
         token_endpoint_auth_method = \"private_key_jwt\"\nrequire_pushed_authorization_requests = true\n\
         jwks = '{}'\n",
        json!({ "keys": [public] })
    );
    Case {
        extra_toml,
        client_id: "rp-pkjwt".into(),
        par: true,
        private_key_jwk: Some(rp_key()),
        ..Case::new(library, "RS256", "private_key_jwt")
    }
}

#[tokio::test]
async fn openid_client_private_key_jwt_and_par() {
    run(private_key_jwt_with_par(Library::OpenidClient)).await;
}

#[tokio::test]
async fn authlib_private_key_jwt_and_par() {
    run(private_key_jwt_with_par(Library::Authlib)).await;
}

#[tokio::test]
async fn openid_client_es256_client_secret_basic() {
    run(Case::signed_with(Library::OpenidClient, "ES256", "client_secret_basic")).await;
}

#[tokio::test]
async fn openid_client_eddsa_client_secret_basic() {
    run(Case::signed_with(Library::OpenidClient, "EdDSA", "client_secret_basic")).await;
}

#[tokio::test]
async fn authlib_es256_client_secret_basic() {
    run(Case::signed_with(Library::Authlib, "ES256", "client_secret_basic")).await;
}

#[tokio::test]
async fn authlib_eddsa_client_secret_post() {
    run(Case::signed_with(Library::Authlib, "EdDSA", "client_secret_post")).await;
}
