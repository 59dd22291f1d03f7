//! `spawn_app()`: braid on port 0 with real stores, a pinned clock, the dev provider and test
//! clients; and a browser-like client that walks the code flow.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid::clock::TestClock;
use braid::config::Settings;
use braid::state::AppState;
use reqwest::StatusCode;
use serde_json::Value;

pub const APP_ID: &str = "app";
pub const APP_SECRET: &str = "s3cret-of-the-test-app-0123456789";
pub const APP_CB: &str = "http://127.0.0.1:9/cb";
pub const SPA_ID: &str = "spa";
pub const SPA_CB: &str = "http://127.0.0.1:9/spa";
pub const OTHER_ID: &str = "other";
pub const OTHER_SECRET: &str = "0ther-secret-of-the-test-app-98765";

/// Test clients, as a `braid.toml` fragment.
pub const CLIENTS_TOML: &str = r#"
[[clients]]
id = "app"
secret = "s3cret-of-the-test-app-0123456789"
redirect_uris = ["http://127.0.0.1:9/cb", "http://127.0.0.1:9/cb2"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]

[[clients]]
id = "spa"
redirect_uris = ["http://127.0.0.1:9/spa"]

[[clients]]
id = "other"
secret = "0ther-secret-of-the-test-app-98765"
redirect_uris = ["http://127.0.0.1:9/other"]
"#;

pub struct TestApp {
    pub base: String,
    pub clock: Arc<TestClock>,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Write the dev provider file into `dir/providers`.
pub fn write_dev_provider(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("providers")).unwrap();
    std::fs::write(dir.join("providers/dev.toml"), "kind = \"dev\"\ndisplay_name = \"Demo sign-in\"\n").unwrap();
}

/// Settings for a test braid in `dir` with `extra` TOML appended.
pub fn settings(dir: &std::path::Path, accounts: &str, sessions: &str, extra: &str) -> Settings {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_secs = 5\n\
         [store]\naccounts = \"{accounts}\"\nsessions = \"{sessions}\"\nredis_key_prefix = \"{}\"\nredis_timeout_ms = 1000\n\
         [keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n{extra}\n{CLIENTS_TOML}",
        super::support::unique("braidtest:"),
        dir.join("keys").display(),
        dir.join("providers").display(),
    );
    let s: Settings = toml::from_str(&text).expect("test settings parse");
    s.check("test").expect("test settings are valid");
    s
}

/// braid on port 0 with SQLite, the memory session store and a pinned clock.
pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Like `spawn_app`, with extra settings.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = super::support::sqlite_url(&dir);
    spawn_in(dir, settings_for(&url, "memory", extra)).await
}

fn settings_for(accounts: &str, sessions: &str, extra: &str) -> impl FnOnce(&std::path::Path) -> Settings {
    let (a, s, e) = (accounts.to_owned(), sessions.to_owned(), extra.to_owned());
    move |dir| settings(dir, &a, &s, &e)
}

/// Start braid in `dir` with the settings `make` returns.
pub async fn spawn_in(dir: tempfile::TempDir, make: impl FnOnce(&std::path::Path) -> Settings) -> TestApp {
    spawn_in_with_clock(dir, Arc::new(TestClock::starting_now()), make).await
}

/// Start braid in `dir` with `clock` and the settings `make` returns.
pub async fn spawn_in_with_clock(
    dir: tempfile::TempDir,
    clock: Arc<TestClock>,
    make: impl FnOnce(&std::path::Path) -> Settings,
) -> TestApp {
    let app = braid::Application::build_with_clock(make(dir.path()), clock.clone()).await.expect("braid builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp { base, clock, state, _dir: dir, stop: Some(tx), task: Some(task) }
}

impl TestApp {
    /// Stop serving and wait for the drain to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A browser: cookie jar, no automatic redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = braid::ids::random_token(32);
    let challenge = braid::ids::sha256_b64(verifier.as_bytes());
    (verifier, challenge)
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("expected a redirect, got {}", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).or_else(|_| url::Url::parse(&format!("http://x{url}"))).unwrap();
    parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// An authorization request's query for `client` (with S256 PKCE when `challenge` is given).
pub fn authorize_query(
    client: &str,
    redirect_uri: &str,
    challenge: Option<&str>,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut q = vec![
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", nonce),
    ];
    if let Some(c) = challenge {
        q.push(("code_challenge", c));
        q.push(("code_challenge_method", "S256"));
    }
    q.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect()
}

/// Extract the hidden `state` of the dev sign-in form.
pub fn form_state(html: &str) -> String {
    let marker = "name=\"state\" value=\"";
    let start = html.find(marker).expect("dev form has a state") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Walk from `/authorize` (on `bases[0]`) through the chooser and the dev provider to the
/// client's redirect URI; each step goes to the next base in turn (one base = one braid).
/// Returns the final redirect location.
pub async fn walk_sign_in(
    browser: &reqwest::Client,
    bases: &[&str],
    query: &[(String, String)],
    username: &str,
    email: &str,
) -> String {
    let base = |i: usize| bases[i % bases.len()];
    let r = browser.get(format!("{}/authorize", base(0))).query(query).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "authorize redirects to the chooser");
    let to_login = location(&r);
    assert!(to_login.starts_with("/login?tx="), "{to_login}");
    let r = browser.get(format!("{}{to_login}", base(1))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "one provider: chooser skipped");
    let to_dev = location(&r);
    assert!(to_dev.starts_with("/login/dev?tx="), "{to_dev}");
    let r = browser.get(format!("{}{to_dev}", base(2))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state = form_state(&r.text().await.unwrap());
    let r = browser
        .post(format!("{}/login/dev", base(3)))
        .form(&[("state", state.as_str()), ("username", username), ("email", email), ("email_verified", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in completes: {:?}", r.text().await);
    location(&r)
}

/// Sign in at `app` as `username` with the confidential client; returns the code.
pub async fn code_for(app: &TestApp, browser: &reqwest::Client, username: &str, nonce: &str) -> String {
    let q = authorize_query(APP_ID, APP_CB, None, nonce);
    let back = walk_sign_in(browser, &[&app.base], &q, username, &format!("{username}@example.com")).await;
    assert!(back.starts_with(APP_CB), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    query_param(&back, "code").expect("code")
}

/// Redeem a code as the confidential client `app` (client_secret_basic).
pub async fn redeem(app: &TestApp, code: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(APP_ID, Some(APP_SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", APP_CB)])
        .send()
        .await
        .unwrap()
}

/// Verify an ID token against braid's JWKS and return its claims.
pub async fn verify_id_token(base: &str, token: &str, aud: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(format!("{base}/jwks.json")).await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.expect("kid in header");
    let jwk = jwks.find(&kid).expect("kid published in jwks");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).expect("ID token verifies against /jwks.json");
    data.claims
}

/// The payload of a JWT, unverified.
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// POST a form to /token as `app` (basic auth) and return status and JSON body.
pub async fn token_request(app: &TestApp, client: (&str, Option<&str>), form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(app.url("/token"));
    req = match client.1 {
        Some(secret) => req.basic_auth(client.0, Some(secret)).form(form),
        None => {
            let mut f: Vec<(&str, &str)> = form.to_vec();
            f.push(("client_id", client.0));
            req.form(&f)
        }
    };
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}
