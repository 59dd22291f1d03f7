//! Account operations as an admin runs them, once through `braid accounts …` (the binary, against
//! the same SQLite and real Redis a running braid uses) and once through the admin API, with the
//! same cases: show, link, unlink, move, merge, disable, enable, delete, each with its rule, its
//! audit event (actor `admin:ops`) and its effect on sessions.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The admin token the API tests use (its name is `ops`, like the CLI's `USER`).
pub const TOKEN: &str = "braid_admin_test-token-of-the-ops-admin-0123456789";

/// `[admin]` accepting [`TOKEN`] as `ops`.
pub fn admin_toml() -> String {
    format!("\n[admin]\n[[admin.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\n", braid::admin::settings::digest_hex(TOKEN))
}

/// What an operation gave.
#[derive(Debug)]
pub enum Outcome {
    /// Done; what it said (JSON for `show`).
    Done(Value),
    /// A rule refused it; the reason.
    Refused(String),
    /// No such account or identity.
    NotFound,
}

/// One admin operation.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    Show(&'a str),
    Link(&'a str, &'a str, &'a str),
    Unlink(&'a str, &'a str),
    Move(&'a str, &'a str, &'a str),
    Merge(&'a str, &'a str),
    Disable(&'a str),
    Enable(&'a str),
    Delete(&'a str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Cli,
    Api,
}

pub struct Ctx {
    pub app: TestApp,
    config: std::path::PathBuf,
    via: Via,
}

pub async fn setup(via: Via) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let db = crate::support::sqlite_url(&dir);
    let redis = crate::support::redis_url();
    let app = spawn_in(dir, move |d| settings(d, &db, &redis, &admin_toml())).await;
    let s = &app.state.settings;
    let config = app.dir().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\naccounts = \"{}\"\nsessions = \"{}\"\nredis_key_prefix = \"{}\"\n[providers]\ndir = \"{}\"\n[keys]\ndir = \"{}\"\n",
            s.store.accounts,
            s.store.sessions,
            s.store.redis_key_prefix,
            app.dir().join("providers").display(),
            app.dir().join("keys").display()
        ),
    )
    .unwrap();
    Ctx { app, config, via }
}

impl Ctx {
    pub async fn run(&self, op: Op<'_>) -> Outcome {
        match self.via {
            Via::Cli => self.cli(op).await,
            Via::Api => self.api(op).await,
        }
    }

    async fn cli(&self, op: Op<'_>) -> Outcome {
        let args: Vec<&str> = match op {
            Op::Show(a) => vec!["show", a],
            Op::Link(a, i, s) => vec!["link", a, i, s],
            Op::Unlink(i, s) => vec!["unlink", i, s],
            Op::Move(i, s, to) => vec!["move", i, s, to],
            Op::Merge(f, t) => vec!["merge", f, t],
            Op::Disable(a) => vec!["disable", a],
            Op::Enable(a) => vec!["enable", a],
            Op::Delete(a) => vec!["delete", a, "--yes"],
        };
        let mut all = vec!["--config".to_owned(), self.config.display().to_string(), "accounts".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let o = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_braid")).args(&all).env("USER", "ops").output().unwrap()
        })
        .await
        .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        match o.status.code() {
            Some(0) => match op {
                Op::Show(_) => {
                    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
                    let one = &v[0];
                    Outcome::Done(json!({
                        "account": one["account"]["id"],
                        "status": match &one["account"]["status"] {
                            Value::String(s) => s.to_lowercase(),
                            Value::Object(m) if m.contains_key("MergedInto") => "merged".into(),
                            other => panic!("status {other}"),
                        },
                        "subjects": one["identities"].as_array().unwrap().iter().map(|i| i["subject"].clone()).collect::<Vec<_>>(),
                        "audit": one["audit"],
                    }))
                }
                _ => Outcome::Done(Value::String(text)),
            },
            Some(1) => Outcome::Refused(text),
            Some(3) => Outcome::NotFound,
            other => panic!("braid accounts exited {other:?}: {text}"),
        }
    }

    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = req.bearer_auth(TOKEN).send().await.unwrap();
        let status = r.status();
        if status.is_client_error() {
            assert_eq!(r.headers()["content-type"], "application/problem+json", "{status}");
        }
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn identity_id(&self, issuer: &str, subject: &str) -> Option<i64> {
        let (s, v) = self
            .send(
                self.http().get(self.app.url("/admin/v1/accounts")).query(&[("issuer", issuer), ("subject", subject)]),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["identities"].as_array().unwrap().iter())
            .find_map(|i| (i["issuer"] == issuer && i["subject"] == subject).then(|| i["id"].as_i64().unwrap()))
    }

    async fn api(&self, op: Op<'_>) -> Outcome {
        let h = self.http();
        let url = |p: &str| self.app.url(&format!("/admin/v1{p}"));
        let (status, body) = match op {
            Op::Show(a) => {
                let (s, v) = self.send(h.get(url(&format!("/accounts/{a}")))).await;
                if s != StatusCode::OK {
                    (s, v)
                } else {
                    let (_, audit) = self.send(h.get(url("/audit")).query(&[("account", a)])).await;
                    let mut events: Vec<Value> = audit["items"].as_array().unwrap().clone();
                    events.reverse();
                    for e in &mut events {
                        e["action"] = e["type"].clone();
                    }
                    let shown = json!({
                        "account": v["account"]["id"],
                        "status": v["account"]["status"],
                        "subjects": v["identities"].as_array().unwrap().iter().map(|i| i["subject"].clone()).collect::<Vec<_>>(),
                        "audit": events,
                    });
                    (s, shown)
                }
            }
            Op::Link(a, i, s) => {
                self.send(h.post(url(&format!("/accounts/{a}/identities"))).json(&json!({"issuer": i, "subject": s})))
                    .await
            }
            Op::Unlink(i, s) => match self.identity_id(i, s).await {
                None => return Outcome::NotFound,
                Some(id) => self.send(h.delete(url(&format!("/identities/{id}")))).await,
            },
            Op::Move(i, s, to) => match self.identity_id(i, s).await {
                None => return Outcome::NotFound,
                Some(id) => self.send(h.post(url(&format!("/identities/{id}/move"))).json(&json!({"to": to}))).await,
            },
            Op::Merge(f, t) => self.send(h.post(url(&format!("/accounts/{f}/merge"))).json(&json!({"into": t}))).await,
            Op::Disable(a) => self.send(h.post(url(&format!("/accounts/{a}/disable")))).await,
            Op::Enable(a) => self.send(h.post(url(&format!("/accounts/{a}/enable")))).await,
            Op::Delete(a) => self.send(h.delete(url(&format!("/accounts/{a}")))).await,
        };
        match status {
            s if s.is_success() => Outcome::Done(body),
            StatusCode::NOT_FOUND => Outcome::NotFound,
            StatusCode::CONFLICT => Outcome::Refused(format!("{} {}", body["type"], body["detail"])),
            other => panic!("admin API answered {other}: {body}"),
        }
    }

    pub async fn sign_in(&self, user: &str) -> (reqwest::Client, String) {
        let b = browser();
        let page = b.get(self.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
        let state = form_state(&page);
        let email = format!("{user}@example.com");
        let r = b
            .post(self.app.url("/login/dev"))
            .form(&[("state", state.as_str()), ("username", user), ("email", email.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let id = self.app.state.accounts.find_identity("urn:braid:dev:dev", user).await.unwrap().unwrap();
        (b, id.account_id.0)
    }

    /// The webhook notifications queued for `action` (the payloads' `type`).
    pub async fn outbox(&self, action: &str) -> Vec<Value> {
        use sqlx::Row as _;
        let db = braid::db::Db::connect(&self.app.state.settings.store.accounts).await.unwrap();
        let rows = sqlx::query("SELECT payload FROM webhook_outbox ORDER BY id").fetch_all(&db.pool).await.unwrap();
        rows.iter()
            .map(|r| serde_json::from_str::<Value>(&r.get::<String, _>("payload")).unwrap())
            .filter(|v| v["type"] == action)
            .collect()
    }

    pub async fn signed_in(&self, b: &reqwest::Client) -> bool {
        b.get(self.app.url("/account")).send().await.unwrap().status() == StatusCode::OK
    }

    /// `user` signed in at braid and at the test app: the browser, the account id and the app's
    /// refresh token.
    pub async fn sign_in_app(&self, user: &str) -> Person {
        let browser = browser();
        let code = code_for(&self.app, &browser, user, "n-ops").await;
        let r = redeem(&self.app, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let t: Value = r.json().await.unwrap();
        let id = self.app.state.accounts.find_identity("urn:braid:dev:dev", user).await.unwrap().unwrap();
        Person { browser, account: id.account_id.0, refresh: t["refresh_token"].as_str().unwrap().to_owned() }
    }

    /// Whether the person's browser session and refresh token both ended. (Asked once: a refresh
    /// that still works rotates the token.)
    pub async fn ended(&self, p: &Person) -> bool {
        let form = [("grant_type", "refresh_token"), ("refresh_token", p.refresh.as_str())];
        let (status, _) = token_request(&self.app, (APP_ID, Some(APP_SECRET)), &form).await;
        match (self.signed_in(&p.browser).await, status == StatusCode::OK) {
            (false, false) => true,
            (true, true) => false,
            (session, refresh) => panic!("only one ended: session live {session}, refresh works {refresh}"),
        }
    }
}

/// Someone signed in at braid and at an application.
pub struct Person {
    pub browser: reqwest::Client,
    pub account: String,
    pub refresh: String,
}

fn done(o: Outcome) -> Value {
    match o {
        Outcome::Done(v) => v,
        other => panic!("expected success, got {other:?}"),
    }
}

fn refused(o: Outcome) -> String {
    match o {
        Outcome::Refused(why) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const DEV: &str = "urn:braid:dev:dev";

async fn show_finds_an_account(via: Via) {
    let c = setup(via).await;
    let (_, alice) = c.sign_in("alice").await;
    let v = done(c.run(Op::Show(&alice)).await);
    assert_eq!((v["account"].as_str(), v["status"].as_str()), (Some(alice.as_str()), Some("active")));
    assert_eq!(v["subjects"], json!(["alice"]));
    assert!(matches!(c.run(Op::Show("no-such-account")).await, Outcome::NotFound));
}

async fn merge_moves_identities_marks_the_old_account_and_ends_its_sessions(via: Via) {
    let c = setup(via).await;
    let alice = c.sign_in_app("alice").await;
    let bob = c.sign_in_app("bob").await;
    let carol = c.sign_in_app("carol").await;
    done(c.run(Op::Merge(&bob.account, &alice.account)).await);
    assert!(c.ended(&bob).await, "the merged account's sessions (in Redis) and refresh tokens ended");
    assert!(c.ended(&alice).await, "so did the target's");
    assert!(!c.ended(&carol).await, "another account keeps its own");
    let (_, now_bob) = c.sign_in("bob").await;
    assert_eq!(now_bob, alice.account, "bob's identity signs in to alice's account");
    let v = done(c.run(Op::Show(&bob.account)).await);
    assert_eq!(v["status"], "merged");
    let merged =
        v["audit"].as_array().unwrap().iter().find(|e| e["action"] == "account.merged").expect("merge audited");
    assert_eq!(merged["actor"], "admin:ops");
    let notified = c.outbox("account.merged").await;
    assert_eq!(notified.len(), 1, "one webhook notification queued");
    assert!(notified[0].to_string().contains(bob.account.as_str()), "{}", notified[0]);
    refused(c.run(Op::Merge(&bob.account, &alice.account)).await);
    assert_eq!(c.outbox("account.merged").await.len(), 1, "a refused change notifies nobody");
}

/// The audit event `action` of `account` (oldest first), as the operations show it; its actor.
async fn actor_of(c: &Ctx, account: &str, action: &str) -> Option<Value> {
    let audit = done(c.run(Op::Show(account)).await)["audit"].clone();
    audit.as_array().unwrap().iter().rev().find(|e| e["action"] == action).map(|e| e["actor"].clone())
}

async fn link_move_and_unlink_follow_the_rules(via: Via) {
    let c = setup(via).await;
    let alice = c.sign_in_app("alice").await;
    let bob = c.sign_in_app("bob").await;
    done(c.run(Op::Link(&alice.account, DEV, "alice-alt")).await);
    assert!(c.ended(&alice).await, "a link ends the account's sessions and refresh tokens");
    assert_eq!(actor_of(&c, &alice.account, "identity.linked").await, Some("admin:ops".into()), "link audited");
    let (_, alt) = c.sign_in("alice-alt").await;
    assert_eq!(alt, alice.account, "a pre-provisioned identity signs in to its account");
    refused(c.run(Op::Link(&alice.account, DEV, "bob")).await);
    assert_eq!(c.outbox("identity.linked").await.len(), 1, "the link's notification, none for the refused one");
    assert!(!c.ended(&bob).await, "a refused link ends nothing");
    // Moving a primary is refused; moving the other identity works and ends both sides.
    let (alice, bob) = (c.sign_in_app("alice").await, c.sign_in_app("bob").await);
    assert!(refused(c.run(Op::Move(DEV, "alice", &bob.account)).await).contains("primary"));
    done(c.run(Op::Move(DEV, "alice-alt", &bob.account)).await);
    assert!(c.ended(&alice).await && c.ended(&bob).await, "a move ends both accounts' sessions and tokens");
    let (_, alt) = c.sign_in("alice-alt").await;
    assert_eq!(alt, bob.account);
    let bob = c.sign_in_app("bob").await;
    done(c.run(Op::Unlink(DEV, "alice-alt")).await);
    assert!(c.ended(&bob).await, "an unlink ends the account's sessions and tokens");
    assert!(c.app.state.accounts.find_identity(DEV, "alice-alt").await.unwrap().is_none());
    refused(c.run(Op::Unlink(DEV, "alice")).await);
    assert!(matches!(c.run(Op::Unlink(DEV, "nobody")).await, Outcome::NotFound));
    for action in ["identity.moved", "identity.unlinked"] {
        assert_eq!(actor_of(&c, &bob.account, action).await, Some("admin:ops".into()), "{action} audited");
    }
    assert_eq!(c.outbox("identity.moved").await.len(), 1, "the move's webhook notification");
    assert_eq!(c.outbox("identity.unlinked").await.len(), 1, "the unlink's, and none for the refused one");
}

async fn disable_enable_and_delete(via: Via) {
    let c = setup(via).await;
    let alice = c.sign_in_app("alice").await;
    done(c.run(Op::Disable(&alice.account)).await);
    assert!(c.ended(&alice).await, "sessions and refresh tokens ended");
    let other = browser();
    let page = other.get(c.app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let state = form_state(&page);
    let r = other
        .post(c.app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a disabled account cannot sign in");
    done(c.run(Op::Enable(&alice.account)).await);
    let again = c.sign_in_app("alice").await;
    for action in ["account.disabled", "account.enabled"] {
        assert_eq!(actor_of(&c, &alice.account, action).await, Some("admin:ops".into()), "{action} audited");
        assert_eq!(c.outbox(action).await.len(), 1, "{action}: one webhook notification");
    }
    done(c.run(Op::Delete(&alice.account)).await);
    assert!(c.ended(&again).await, "a deletion ends sessions and refresh tokens");
    assert_eq!(c.outbox("account.deleted").await.len(), 1, "the deletion's webhook notification");
    assert!(c.app.state.accounts.find_identity(DEV, "alice").await.unwrap().is_none());
    let (_, fresh) = c.sign_in("alice").await;
    assert_ne!(fresh, alice.account, "a new account, never the old id");
    assert!(matches!(c.run(Op::Delete(&alice.account)).await, Outcome::NotFound));
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod cli {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::Via::Cli).await })*
        }
        mod api {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::Via::Api).await })*
        }
    };
}

both!(
    show_finds_an_account,
    merge_moves_identities_marks_the_old_account_and_ends_its_sessions,
    link_move_and_unlink_follow_the_rules,
    disable_enable_and_delete,
);
