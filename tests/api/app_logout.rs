//! Telling applications that a session or an account ended: back-channel logout tokens that a
//! real relying party's JOSE library (joserfc, pinned in `tests/interop/logout/requirements.txt`,
//! run by `tests/interop/logout/receiver.py`) verifies against braid's JWKS, for RP-initiated
//! logout, admin session end, unlink, disable, merge and delete; delivery once after the
//! receiver was down; nothing for a client that got no tokens in the session; the front-channel
//! logout page; and the tokens of a merged-away account inactive.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_ops::{TOKEN, admin_toml};
use crate::helpers::*;

const SECRET: &str = "secret-of-a-logout-test-client-0123456789";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// joserfc's receiver on a fixed loopback port, recording into a directory that outlives restarts.
struct Receiver {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    issuer: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Receiver {
    async fn start(port: u16, issuer: &str) -> Self {
        let mut r = Self { child: None, dir: tempfile::tempdir().unwrap(), port, issuer: issuer.to_owned() };
        r.up().await;
        r
    }

    async fn up(&mut self) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/logout");
        let python = std::path::Path::new(root).join(".venv/bin/python");
        assert!(
            python.exists(),
            "run scripts/test (it installs the interop packages: ensure_venv tests/interop/logout)"
        );
        let child = Command::new(python)
            .current_dir(root)
            .args(["receiver.py", &self.port.to_string()])
            .arg(self.dir.path())
            .args([self.issuer.as_str(), "600"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python runs");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the logout receiver did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every request received so far, in order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| serde_json::from_slice(&std::fs::read(self.dir.path().join(n)).unwrap()).unwrap())
            .collect()
    }

    /// Wait until `n` requests arrived; then all of them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} logout tokens, got {:?}", self.received());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// braid with three clients that have logout endpoints on `port` (`bcl`: front-channel with
/// `iss`/`sid`; `sidreq`: requires `sid` in logout tokens; `idle`: never gets tokens here) and
/// the admin API.
async fn logout_app(port: u16) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&dir);
    logout_app_in(dir, &url, port).await
}

/// The same on the account store at `accounts`.
async fn logout_app_in(dir: tempfile::TempDir, accounts: &str, port: u16) -> TestApp {
    let mut extra = format!("[notify]\npoll_interval_ms = 50\ntimeout_ms = 2000\n{}\n", admin_toml());
    for (id, more) in [
        (
            "bcl",
            format!(
                "post_logout_redirect_uris = [\"http://127.0.0.1:9/bcl-bye\"]\n\
                 frontchannel_logout_uri = \"http://127.0.0.1:{port}/fcl?app=bcl\"\nfrontchannel_logout_session_required = true\n"
            ),
        ),
        (
            "sidreq",
            format!(
                "backchannel_logout_session_required = true\nfrontchannel_logout_uri = \"http://localhost:{port}/fcl-sidreq\"\n"
            ),
        ),
        ("idle", format!("frontchannel_logout_uri = \"http://127.0.0.1:{port}/fcl-idle\"\n")),
    ] {
        extra.push_str(&format!(
            "\n[[clients]]\nid = \"{id}\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"http://127.0.0.1:9/{id}-cb\"]\n\
             backchannel_logout_uri = \"http://127.0.0.1:{port}/bcl/{id}\"\n{more}"
        ));
    }
    write_dev_provider(dir.path());
    let accounts = accounts.to_owned();
    spawn_in(dir, move |d| settings(d, &accounts, "memory", &extra)).await
}

fn cb(client: &str) -> String {
    format!("http://127.0.0.1:9/{client}-cb")
}

/// Tokens for `client` in `browser`'s session: a first sign-in as `user` walks the dev
/// provider, later ones are answered by the session (single sign-on).
async fn tokens(app: &TestApp, b: &reqwest::Client, client: &str, user: &str) -> Value {
    let q = authorize_query(client, &cb(client), None, "n-1");
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let back = if location(&r).starts_with(&cb(client)) {
        location(&r)
    } else {
        walk_sign_in(b, &[&app.base], &q, user, &format!("{user}@example.com")).await
    };
    let code = query_param(&back, "code").expect("a code");
    let (s, body) = token_request(
        app,
        (client, Some(SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &cb(client))],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

fn admin(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.bearer_auth(TOKEN)
}

/// Every received token was verified by joserfc and is a logout token of `client`.
fn check(entry: &Value, client: &str) -> Value {
    assert_eq!(entry["ok"], true, "joserfc refused it: {entry}");
    assert_eq!(entry["client"], client, "{entry}");
    assert_eq!(entry["content_type"], "application/x-www-form-urlencoded", "{entry}");
    let c = entry["claims"].clone();
    assert_eq!(c["aud"], client);
    assert_eq!(c["events"][EVENT], json!({}));
    assert!(c.get("nonce").is_none());
    assert_eq!(entry["header"]["typ"], "logout+jwt");
    c
}

fn by_client<'a>(got: &'a [Value], client: &str) -> Vec<&'a Value> {
    got.iter().filter(|e| e["client"] == client).collect()
}

#[tokio::test]
async fn rp_logout_tells_each_client_of_the_session_and_no_other_through_both_channels() {
    let port = free_port();
    let app = logout_app(port).await;
    let rx = Receiver::start(port, &app.base).await;
    let disc: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    for k in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(disc[k], true, "{k}");
    }

    let b = browser();
    let t = tokens(&app, &b, "bcl", "alice").await;
    tokens(&app, &b, "sidreq", "alice").await;
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    let sid = id["sid"].as_str().unwrap().to_owned();
    // Another person's session with `idle`: not this session's client.
    let other = browser();
    tokens(&app, &other, "idle", "bob").await;

    let r = b
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", t["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bcl-bye"),
            ("state", "s-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the front-channel page first");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let iss = url::form_urlencoded::byte_serialize(app.base.as_bytes()).collect::<String>();
    assert!(
        html.contains(&format!("src=\"http://127.0.0.1:{port}/fcl?app=bcl&amp;iss={iss}&amp;sid={sid}\"")),
        "{html}"
    );
    assert!(html.contains(&format!("src=\"http://localhost:{port}/fcl-sidreq\"")), "no iss/sid unless asked: {html}");
    assert!(!html.contains("fcl-idle"), "a client without tokens in the session gets no frame");
    assert!(html.contains("href=\"http://127.0.0.1:9/bcl-bye?state=s-1\""), "a link continues without JavaScript");
    assert!(
        csp.contains(&format!("frame-src http://127.0.0.1:{port} http://localhost:{port};")),
        "frames from those origins only: {csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"), "{csp}");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), StatusCode::SEE_OTHER, "signed out");

    let got = rx.wait_for(2).await;
    for client in ["bcl", "sidreq"] {
        let mine = by_client(&got, client);
        assert_eq!(mine.len(), 1, "{got:?}");
        let c = check(mine[0], client);
        assert_eq!(c["sid"], sid.as_str(), "the sid of the client's ID token");
        assert_eq!(c["sub"], id["sub"]);
        assert_eq!(c["iss"], app.base.as_str());
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.received().len(), 2, "nothing for `idle`, nothing twice: {:?}", rx.received());
}

#[tokio::test]
async fn a_receiver_down_then_up_gets_the_logout_token_once() {
    let port = free_port();
    let app = logout_app(port).await;
    let db = sqlx::AnyPool::connect(&crate::support::sqlite_url(&app._dir)).await.unwrap();
    down_then_up(&app, port, db).await;
}

#[tokio::test]
async fn a_receiver_down_then_up_gets_the_logout_token_once_on_postgres() {
    let port = free_port();
    let url = crate::support::fresh_pg_url().await;
    let app = logout_app_in(tempfile::tempdir().unwrap(), &url, port).await;
    down_then_up(&app, port, sqlx::AnyPool::connect(&url).await.unwrap()).await;
}

async fn down_then_up(app: &TestApp, port: u16, db: sqlx::AnyPool) {
    let mut rx = Receiver::start(port, &app.base).await;
    rx.stop();
    let b = browser();
    let t = tokens(app, &b, "bcl", "carol").await;
    let hint = t["id_token"].as_str().unwrap();
    let r = b.get(app.url("/logout")).query(&[("id_token_hint", hint)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the person is signed out at once, the receiver down or not");

    let mut failed = false;
    for _ in 0..100 {
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT attempts, last_error FROM logout_outbox WHERE client_id = 'bcl'")
                .fetch_optional(&db)
                .await
                .unwrap();
        if row.as_ref().is_some_and(|(a, _)| *a >= 1) {
            assert!(row.unwrap().1.unwrap().contains("unreachable"));
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed, "a first attempt failed against the stopped receiver");
    rx.up().await;
    app.clock.advance(Duration::from_secs(3));
    let got = rx.wait_for(1).await;
    check(&got[0], "bcl");
    app.clock.advance(Duration::from_secs(7200));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.received().len(), 1, "delivered once: {:?}", rx.received());
    let (delivered,): (Option<i64>,) =
        sqlx::query_as("SELECT delivered_at FROM logout_outbox WHERE client_id = 'bcl'").fetch_one(&db).await.unwrap();
    assert!(delivered.is_some());
}

/// Sign `user` in for `bcl` and `sidreq`; the account id and the session's sid.
async fn session_of(app: &TestApp, user: &str) -> (reqwest::Client, String, String, Value) {
    let b = browser();
    let t = tokens(app, &b, "bcl", user).await;
    tokens(app, &b, "sidreq", user).await;
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    (b, id["sub"].as_str().unwrap().to_owned(), id["sid"].as_str().unwrap().to_owned(), t)
}

/// After an account change that ends the account's sessions: `bcl` and `sidreq` each hear of
/// `sid` (sub and sid).
fn heard_of_session(got: &[Value], sub: &str, sid: &str) {
    for client in ["bcl", "sidreq"] {
        let mine: Vec<Value> = by_client(got, client).into_iter().map(|e| check(e, client)).collect();
        assert!(mine.iter().any(|c| c["sub"] == sub && c["sid"] == sid), "{client}: {got:?}");
    }
}

/// After the account itself ended: `bcl` hears `sub` only, `sidreq` (which requires sid) hears
/// `sub` and the session's sid.
fn heard_of_account(got: &[Value], sub: &str, sid: &str) {
    let bcl: Vec<Value> = by_client(got, "bcl").into_iter().map(|e| check(e, "bcl")).collect();
    assert_eq!(bcl.len(), 1, "{got:?}");
    assert_eq!(bcl[0]["sub"], sub);
    assert!(bcl[0].get("sid").is_none(), "sub only: the whole account ended");
    let sidreq: Vec<Value> = by_client(got, "sidreq").into_iter().map(|e| check(e, "sidreq")).collect();
    assert_eq!(sidreq.len(), 1, "{got:?}");
    assert_eq!((sidreq[0]["sub"].as_str(), sidreq[0]["sid"].as_str()), (Some(sub), Some(sid)));
}

#[tokio::test]
async fn admin_session_end_and_unlink_send_logout_tokens_with_the_sid() {
    let port = free_port();
    let app = logout_app(port).await;
    let rx = Receiver::start(port, &app.base).await;
    let h = reqwest::Client::new();

    let (_, sub, sid, _) = session_of(&app, "dave").await;
    let r = admin(h.delete(app.url(&format!("/admin/v1/accounts/{sub}/sessions")))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    heard_of_session(&rx.wait_for(2).await, &sub, &sid);

    // A second identity linked (which ends the sessions: no live grant then), a new session, and
    // the unlink that ends it.
    let r = admin(h.post(app.url(&format!("/admin/v1/accounts/{sub}/identities"))))
        .json(&json!({"issuer": "https://up.example", "subject": "dave-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let linked: Value = h
        .get(app.url(&format!("/admin/v1/accounts/{sub}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = linked["identities"].as_array().unwrap().iter().find(|i| i["subject"] == "dave-2").unwrap()["id"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2, "the link found no live grant: nothing more sent");
    let (_, sub2, sid2, _) = session_of(&app, "dave").await;
    assert_eq!(sub2, sub);
    let r = admin(h.delete(app.url(&format!("/admin/v1/identities/{second}")))).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let got = rx.wait_for(4).await;
    heard_of_session(&got[2..], &sub, &sid2);
}

#[tokio::test]
async fn disable_merge_and_delete_tell_every_client_of_the_account() {
    let port = free_port();
    let app = logout_app(port).await;
    let rx = Receiver::start(port, &app.base).await;
    let h = reqwest::Client::new();

    let (_, erin, sid, _) = session_of(&app, "erin").await;
    let r = admin(h.post(app.url(&format!("/admin/v1/accounts/{erin}/disable")))).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    heard_of_account(&rx.wait_for(2).await, &erin, &sid);

    let (_, frank, sid, _) = session_of(&app, "frank").await;
    let (_, gina, _, _) = session_of(&app, "gina").await;
    let r = admin(h.post(app.url(&format!("/admin/v1/accounts/{frank}/merge"))))
        .json(&json!({"into": gina}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    // frank's account ended (sub only / per session), gina's sessions ended (sub and sid).
    let got = rx.wait_for(6).await;
    let frank_tokens: Vec<Value> = got[2..].iter().filter(|e| e["claims"]["sub"] == frank.as_str()).cloned().collect();
    heard_of_account(&frank_tokens, &frank, &sid);
    assert_eq!(got[2..].iter().filter(|e| e["claims"]["sub"] == gina.as_str()).count(), 2, "{got:?}");

    let (_, hank, sid, _) = session_of(&app, "hank").await;
    let r = admin(h.delete(app.url(&format!("/admin/v1/accounts/{hank}")))).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let got = rx.wait_for(8).await;
    heard_of_account(&got[6..], &hank, &sid);
}

#[tokio::test]
async fn the_tokens_of_a_merged_away_account_are_inactive_everywhere() {
    let port = free_port();
    let app = logout_app(port).await;
    let _rx = Receiver::start(port, &app.base).await;
    let (_, ivan, _, t) = session_of(&app, "ivan").await;
    let (_, june, _, _) = session_of(&app, "june").await;
    let access = t["access_token"].as_str().unwrap();
    let h = reqwest::Client::new();
    let introspect = |token: String| {
        let url = app.url("/introspect");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("bcl", Some(SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(h.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(introspect(access.to_owned()).await["active"], true);

    let r = admin(h.post(app.url(&format!("/admin/v1/accounts/{ivan}/merge"))))
        .json(&json!({"into": june}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);

    let r = h.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_eq!(introspect(access.to_owned()).await, json!({"active": false}));
    assert_eq!(introspect(t["refresh_token"].as_str().unwrap().to_owned()).await, json!({"active": false}));
    let (s, body) = token_request(
        &app,
        ("bcl", Some(SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // ivan's identity now signs in to june's account: new tokens carry june's sub, and work.
    let b = browser();
    let t = tokens(&app, &b, "bcl", "ivan").await;
    assert_eq!(jwt_payload(t["id_token"].as_str().unwrap())["sub"], june.as_str());
    let r = h.get(app.url("/userinfo")).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn catalog_clients_take_the_logout_keys_and_bad_uris_are_refused() {
    let app = logout_app(free_port()).await;
    let h = reqwest::Client::new();
    let def = json!({
        "id": "rp-logout",
        "redirect_uris": ["https://rp.example/cb"],
        "backchannel_logout_uri": "https://rp.example/bcl",
        "backchannel_logout_session_required": true,
        "frontchannel_logout_uri": "https://rp.example/fcl",
        "frontchannel_logout_session_required": true,
    });
    let r = admin(h.post(app.url("/admin/v1/clients"))).json(&def).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let v: Value = admin(h.get(app.url("/admin/v1/clients/rp-logout"))).send().await.unwrap().json().await.unwrap();
    let v = if v.get("client").is_some() { v["client"].clone() } else { v };
    for k in ["backchannel_logout_uri", "frontchannel_logout_uri"] {
        assert_eq!(v[k], def[k], "{v}");
    }
    assert_eq!(v["backchannel_logout_session_required"], true);
    assert_eq!(
        app.state.clients.get("rp-logout").unwrap().logout.backchannel_logout_uri.as_deref(),
        Some("https://rp.example/bcl")
    );

    let mut bad = def.clone();
    bad["id"] = json!("rp-bad");
    bad["backchannel_logout_uri"] = json!("http://rp.example/bcl");
    let r = admin(h.post(app.url("/admin/v1/clients"))).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert!(v.to_string().contains("/backchannel_logout_uri"), "{v}");
}

#[test]
fn braid_check_names_a_bad_logout_uri_of_a_client() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let client = "[[clients]]\nid = \"x\"\nredirect_uris = [\"https://app.example/cb\"]\n";
    for (key, line) in [
        ("clients[0].backchannel_logout_uri", "backchannel_logout_uri = \"http://app.example/bcl\"\n"),
        ("clients[0].frontchannel_logout_uri", "frontchannel_logout_uri = \"https://app.example/fcl#x\"\n"),
    ] {
        std::fs::write(dir.path().join("braid.toml"), format!("{client}{line}")).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(key), "{err}");
    }
    std::fs::write(
        dir.path().join("braid.toml"),
        format!("{client}backchannel_logout_uri = \"https://app.example/bcl\"\nfrontchannel_logout_uri = \"https://app.example/fcl\"\n"),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir.path()).arg("check").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test]
async fn a_pairwise_es256_client_gets_its_own_sub_in_a_logout_token_signed_like_its_id_tokens() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(&dir);
    let extra = format!(
        "[notify]\npoll_interval_ms = 50\ntimeout_ms = 2000\n\
         [[clients]]\nid = \"pw\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"http://127.0.0.1:9/pw-cb\"]\n\
         subject_type = \"pairwise\"\nid_token_signed_response_alg = \"ES256\"\n\
         backchannel_logout_uri = \"http://127.0.0.1:{port}/bcl/pw\"\n"
    );
    write_dev_provider(dir.path());
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", &extra)).await;
    let rx = Receiver::start(port, &app.base).await;
    let b = browser();
    let t = tokens(&app, &b, "pw", "pat").await;
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    let account = account_of_sub_free(&app, "pat").await;
    assert_ne!(id["sub"], account.as_str(), "a pairwise sub, not the account id");

    let r =
        b.get(app.url("/logout")).query(&[("id_token_hint", t["id_token"].as_str().unwrap())]).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let got = rx.wait_for(1).await;
    let c = check(&got[0], "pw");
    assert_eq!(c["sub"], id["sub"], "the sub this client knows");
    assert_eq!(c["sid"], id["sid"]);
    assert_eq!(got[0]["header"]["alg"], "ES256", "signed with the client's ID-token algorithm");
}

/// The account of the dev identity `user`.
async fn account_of_sub_free(app: &TestApp, user: &str) -> braid::accounts::AccountId {
    app.state.accounts.find_identity("urn:braid:dev:dev", user).await.unwrap().expect("signed in").account_id
}
