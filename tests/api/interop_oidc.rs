//! Interop with a real, independent OpenID Provider: the certified `oidc-provider` npm package
//! (pinned in `tests/interop/oidc-provider/package-lock.json`), started on loopback. A person
//! signs in through braid with it and gets braid's tokens; again gives the same `sub`; another
//! upstream user gets another account.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

pub struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn start_op(port: u16, redirect_uri: &str) -> Node {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/oidc-provider");
    assert!(
        std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
        "run scripts/test (it installs the interop packages)"
    );
    let child = Command::new("node")
        .current_dir(dir)
        .args(["server.mjs", &port.to_string(), redirect_uri])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let node = Node(child);
    let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("oidc-provider did not start");
}

/// Follow the browser through oidc-provider's login and consent pages back to braid; returns
/// braid's final response.
pub async fn through_op(app: &TestApp, b: &reqwest::Client, start: &str, login: &str) -> reqwest::Response {
    through_op_at(&app.base, b, start, login).await
}

/// [`through_op`] for the braid at `base` (`start` relative to it, or absolute).
pub async fn through_op_at(base: &str, b: &reqwest::Client, start: &str, login: &str) -> reqwest::Response {
    let mut url = if start.starts_with("http") { start.to_owned() } else { format!("{base}{start}") };
    for _ in 0..20 {
        let r = b.get(&url).send().await.unwrap();
        if r.status() == StatusCode::OK && url.contains("/interaction/") {
            let html = r.text().await.unwrap();
            let action =
                html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).expect("form action").to_owned();
            let prompt = html
                .split("name=\"prompt\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_owned();
            let form: Vec<(&str, &str)> = if prompt == "login" {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                vec![("prompt", prompt.as_str())]
            };
            let r = b.post(&action).form(&form).send().await.unwrap();
            url = absolute(&url, &location(&r));
            continue;
        }
        let at_braid_callback = url.starts_with(&format!("{base}/callback/"));
        if at_braid_callback || !r.status().is_redirection() {
            return r;
        }
        url = absolute(&url, &location(&r));
    }
    panic!("too many redirects");
}

fn absolute(current: &str, loc: &str) -> String {
    url::Url::parse(current).unwrap().join(loc).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_oidc_provider_and_get_braid_tokens() {
    let app = spawn_app_with("").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _op = start_op(port, &app.url("/callback/op")).await;
    // The provider file arrives while braid runs.
    std::fs::write(
        app.dir().join("providers/op.toml"),
        format!(
            "kind = \"oidc\"\ndisplay_name = \"oidc-provider\"\nissuer = \"http://127.0.0.1:{port}\"\n\
             client_id = \"braid\"\nclient_secret = \"braid-interop-secret\"\nscopes = [\"openid\", \"email\", \"profile\"]\nuserinfo = true\ntrust_email = true\n"
        ),
    )
    .unwrap();
    assert!(app.state.providers.reload().is_empty());
    let issuer = format!("http://127.0.0.1:{port}");

    let mut subs = Vec::new();
    for person in ["alice", "alice", "bob"] {
        let b = browser();
        let (verifier, challenge) = pkce();
        let mut q = authorize_query(SPA_ID, SPA_CB, Some(&challenge), "n-interop");
        q.push(("idp_hint".into(), "op".into()));
        let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
        let r = through_op(&app, &b, &location(&r), person).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "braid's callback accepted oidc-provider's answer");
        let back = location(&r);
        assert!(back.starts_with(SPA_CB), "{back}");
        let code = query_param(&back, "code").unwrap();
        let (status, t) = token_request(
            &app,
            (SPA_ID, None),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        let claims = verify_id_token(&app.base, t["id_token"].as_str().unwrap(), SPA_ID).await;
        assert_eq!(claims["idp"], issuer.as_str());
        assert_eq!(claims["email"], format!("{person}@op.example"));
        subs.push(claims["sub"].clone());
    }
    assert_eq!(subs[0], subs[1], "the same upstream user gets the same sub");
    assert_ne!(subs[0], subs[2], "another upstream user gets another account");
    let alice =
        app.state.accounts.find_identity(&issuer, "alice").await.unwrap().expect("identity keyed on (issuer, sub)");
    assert!(alice.email_verified);
    assert_eq!(alice.name.as_deref(), Some("Person alice"));
}
